"""Blend's backstop, exact rule: bad debt becomes the backstop's liability and is paid by a
Dutch auction of the backstop's own tokens; it is written off to lenders only when the backstop
falls below Blend's threshold (docs/layers/staking_pool.md, "Blend backstop").

Followed from blend-capital/blend-contracts-v2 at ba22b487b2c5057a4ecc28b05b5193c28e4bd117:
- a loss that reaches the backstop moves to it as a liability (pool/src/pool/bad_debt.rs:53-78),
  unless the backstop is already below the write-off threshold, where it passes on;
- the auction's bid is the liability, its lot the backstop's tokens worth (1 + premium) × the
  debt, at most all of them (pool/src/auctions/bad_debt_auction.rs:85-89, premium 20% there);
- the fill block sets the ramp (pool/src/auctions/auction.rs:189-264): for the first 200 blocks
  the lot grows 0.5% a block with the full bid; then the bid falls 0.5% a block, to 0 at 400;
  bids round up, lots down;
- a fill takes `percent_filled` (1 to 100) of the auction (auction.rs:191-263, `scale_auction`):
  the filled part of each bid is `ceil(bid × pct / 100)` and of the lot `floor(lot × pct / 100)`,
  each then scaled by the block's modifier; what is left (`bid − filled part`, `lot − filled
  part`) stays as the auction, with its start block unchanged, for a later fill;
- the filler takes the bid's debt (here: pays it into the market), the backstop pays the lot;
  the unfilled part of the bid stays the backstop's liability (bad_debt_auction.rs:96-129);
- after a full fill (nothing of the auction left), if liabilities remain and the backstop's threshold is below 0_0000003
  (~5% of the threshold), they are written off to lenders (bad_debt.rs:100-120); otherwise a
  keeper starts the next auction (modelled: it starts at once);
- withdrawals wait while the backstop holds bad debt (backstop/src/backstop/withdrawal.rs:55-59).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...context import Ctx
from ...errors import InvalidAmount, NotPermitted
from ...ledger import user
from ...loss import Loss
from ...money import BPS, amount_for_value_down, mul_div_down, mul_div_up, value_down, value_up

if TYPE_CHECKING:
    from .exact import StakingPool

SCALAR_7 = 10_000_000
PER_BLOCK = 50_000
"""0.5% per block in Blend's 7-decimal fixed point (auction.rs: `per_block_scalar = 0_0050000`)."""
RAMP_BLOCKS = 200
THRESHOLD_NUM, THRESHOLD_DEN = 3, 10_000_000
"""Write-off below 0_0000003 of Blend's threshold, which is measured as percentage^5."""


@dataclass(frozen=True, slots=True)
class Auction:
    started_at: int
    bid: tuple[tuple[str, str, int], ...]
    """(market, asset, debt in base units) the filler takes on."""
    lot: int
    """Base units of the backstop's asset on offer at 100%."""


def modifiers(block: int) -> tuple[int, int]:
    """(lot, bid) modifiers at `block` blocks after the auction's start, SCALAR_7 fixed point."""
    if block > RAMP_BLOCKS:
        bid = SCALAR_7 - (block - RAMP_BLOCKS) * PER_BLOCK if block < 2 * RAMP_BLOCKS else 0
        return SCALAR_7, bid
    return block * PER_BLOCK, SCALAR_7


def below_threshold(pool: StakingPool, state: Any) -> bool:
    """Blend's write-off test: (assets / threshold)^5 < 3e-7, in integers."""
    t = pool.config.backstop_threshold or 0
    tokens = pool.total_assets(state)
    return tokens**5 * THRESHOLD_DEN < THRESHOLD_NUM * t**5


def take_liability(pool: StakingPool, ctx: Ctx, loss: Loss, remaining: int) -> int:
    if remaining <= 0 or below_threshold(pool, ctx.state):
        return 0
    key = (loss.market, loss.asset)
    ctx.j.put(pool.liabilities, key, pool.liabilities.get(key, 0) + remaining)
    ctx.emit("backstop_liability", {"layer": pool.id, "loss": loss.id, "amount": remaining})
    if pool.auction is None:
        start(pool, ctx)
    return remaining


def start(pool: StakingPool, ctx: Ctx) -> None:
    """Open the auction of all current liabilities (bad_debt_auction.rs:14-93)."""
    c = pool.config
    bid = tuple((m, a, v) for (m, a), v in sorted(pool.liabilities.items()) if v > 0)
    debt_value = sum(value_down(v, ctx.price(a), ctx.decimals(a)) for _, a, v in bid)
    premium = c.auction_premium_bps or 0
    lot_value = mul_div_down(debt_value, BPS + premium, BPS)
    lot = min(
        pool.total_assets(ctx.state), amount_for_value_down(lot_value, ctx.price(pool.asset), pool_dec(ctx, pool))
    )
    ctx.j.set(pool, "auction", Auction(ctx.at, bid, lot))
    ctx.emit("auction_started", {"layer": pool.id, "bid": [list(b) for b in bid], "lot": lot})


def pool_dec(ctx: Ctx, pool: StakingPool) -> int:
    return ctx.decimals(pool.asset)


def scale(
    bid: tuple[int, ...], lot: int, block: int, percent: int
) -> tuple[tuple[int, ...], tuple[int, ...], int, int]:
    """Blend's `scale_auction` (auction.rs:191-263): (bid to pay, bid left, lot paid, lot left).

    The filled part of each bid rounds up and of the lot down; the block's modifier then rounds
    the bid up and the lot down; what is left is exact (whole − filled part, before the modifier).
    """
    lot_mod, bid_mod = modifiers(block)
    parts = [mul_div_up(amount, percent, 100) for amount in bid]
    pay = tuple(mul_div_up(part, bid_mod, SCALAR_7) for part in parts)
    left = tuple(amount - part for amount, part in zip(bid, parts, strict=True))
    lot_part = mul_div_down(lot, percent, 100)
    return pay, left, mul_div_down(lot_part, lot_mod, SCALAR_7), lot - lot_part


def fill(pool: StakingPool, ctx: Ctx, account: str, block: int, percent: int = 100) -> None:
    a = pool.auction
    if a is None:
        raise NotPermitted("layer", f"layer: {pool.id} has no bad-debt auction to fill")
    if isinstance(block, bool) or not isinstance(block, int) or block < 0:
        raise InvalidAmount("block", f"block: must be a non-negative whole number of blocks, got {block!r}")
    if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 100:
        raise InvalidAmount("percent", f"percent: must be a whole percentage from 1 to 100, got {percent!r}")
    pays, lefts, lot_paid, lot_left = scale(tuple(v for _, _, v in a.bid), a.lot, block, percent)
    paid_bid = []
    for (m, asset, _), pay in zip(a.bid, pays, strict=True):
        market = ctx.state.markets[m]
        if pay:
            ctx.pull(user(account), market.loss_sink(asset), asset, pay, "bid")
        key = (m, asset)
        left = pool.liabilities.get(key, 0) - pay
        if left > 0:
            ctx.j.put(pool.liabilities, key, left)
        else:
            ctx.j.pop(pool.liabilities, key)
        paid_bid.append([m, asset, pay])
    lot = min(lot_paid, pool.total_assets(ctx.state))
    ctx.transfer(pool.account, user(account), pool.asset, lot, "lot")
    rest = tuple((m, asset, v) for (m, asset, _), v in zip(a.bid, lefts, strict=True) if v > 0)
    full = not rest and lot_left <= 0
    ctx.j.set(pool, "auction", None if full else Auction(a.started_at, rest, lot_left))
    filled: dict[str, Any] = {"layer": pool.id, "account": account, "block": block, "bid": paid_bid, "lot": lot}
    ctx.emit("auction_filled", filled if percent == 100 else {**filled, "percent": percent})
    pool.update_status(ctx)  # the lot lowered the backstop: an admin active pool may go on ice
    if not full or not pool.liabilities:
        return
    if below_threshold(pool, ctx.state):
        for (m, asset), amount in sorted(pool.liabilities.items()):
            default(pool, ctx, m, asset, amount)
    else:
        start(pool, ctx)


def default(pool: StakingPool, ctx: Ctx, market_id: str, asset: str, amount: int) -> None:
    """Write `amount` of the backstop's liability off to the market's end (its lenders, or its
    reserve deficit), and move it in the loss records from the backstop to that end, latest
    loss first, so each loss's allocation says who bore it in the end."""
    market = ctx.state.markets[market_id]
    ctx.j.pop(pool.liabilities, (market_id, asset))
    cuts = market.write_off(ctx, asset, amount)
    end = market.config.waterfall[-1]
    left = amount
    for loss in reversed(ctx.state.losses):
        if left <= 0:
            break
        held = loss.allocation.get(pool.id, 0)
        if loss.market != market_id or loss.asset != asset or held <= 0:
            continue
        move = min(left, held)
        ctx.j.put(loss.allocation, pool.id, held - move)
        ctx.j.put(loss.allocation, end, loss.allocation.get(end, 0) + move)
        if cuts:
            for acct, cut in cuts.items():
                ctx.j.put(loss.by_account, acct, loss.by_account.get(acct, 0) + cut)
            cuts = {}
        left -= move
    ctx.emit("bad_debt_defaulted", {"layer": pool.id, "market": market_id, "asset": asset, "amount": amount})


def keeper_fill_block(pool: StakingPool, state: Any) -> int | None:
    """The first block at which the lot is worth the bid at oracle prices (a competitive keeper
    fills there); None without an auction. The risk lab assumes this fill."""
    a = pool.auction
    if a is None:
        return None
    dec = state.assets[pool.asset]
    for block in range(2 * RAMP_BLOCKS + 1):
        lot_mod, bid_mod = modifiers(block)
        lot_v = value_down(mul_div_down(a.lot, lot_mod, SCALAR_7), state.prices[pool.asset], dec)
        bid_v = sum(
            value_up(mul_div_up(v, bid_mod, SCALAR_7), state.prices[asset], state.assets[asset])
            for _, asset, v in a.bid
        )
        if lot_v >= bid_v:
            return block
    return 2 * RAMP_BLOCKS


def hash_of(a: Auction | None) -> Any:
    return None if a is None else [a.started_at, [list(b) for b in a.bid], a.lot]
