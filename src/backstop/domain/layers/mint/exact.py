"""Mint layer, exact rule: sell newly minted governance tokens to cover the rest (Maker's "flop"
debt auctions, used after Black Thursday, March 2020).

Without `lot`, tokens are sold at the oracle price × (1 − `discount_bps`) at the time of the
loss, up to `cap` tokens over the layer's life, through the same `pay_in_kind` rule as any payer
selling an asset.

With `lot` (Maker's `sump`), the layer works as Maker's Vow and Flopper do (makerdao/dss
@ 6fd7de01e3807e65edbcab52591828d93adea539, src/vow.sol, src/flop.sol; docs/layers/mint.md):
- the bad debt that reaches it becomes the protocol's: it is queued with its time (`Vow.fess`),
  and the loss is allocated to this layer in full;
- once `auction_delay_seconds` (`Vow.wait`) have passed, the debt is released (`Vow.flog`), the
  layer before it in the market's waterfall, if it is the protocol's own fund (the surplus
  buffer), pays what it holds of the debt asset (`Vow.heal`: a flop needs a zero surplus), and
  what it pays is re-attributed to it in the loss's allocation;
- the rest is covered lot by lot (`Vow.flop`: one auction per `sump`, a remainder smaller than a
  lot waits), each lot bought with newly minted tokens at the oracle price less the discount
  (the price at which the reverse auction cleared).
This processing runs on every `advance` (the keepers' `flog`/`heal`/`flop` calls).

Minting comes from the issuer (an external account), so it shows in the ledger as new supply; the
tokens minted are the holders' dilution and are always reported.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple

from ...context import Ctx
from ...errors import InvalidConfig
from ...ledger import DEX, ISSUER
from ...loss import Loss
from ...money import BPS, convert_up, mul_div_down
from ..base import Layer, LayerView, count, pay_in_kind, view_amount
from ..spec import POSITIVE, LayerConfig, amount, bps, seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class MintConfig(LayerConfig):
    kind: Literal["mint"] = "mint"
    cap: int | None = amount()
    """Most governance tokens the layer may ever mint (None: no cap)."""
    discount_bps: int = bps(0)
    """Discount the buyers of minted tokens win on the oracle price (where the auction clears)."""
    lot: int | None = dataclasses.field(default=None, metadata={"unit": POSITIVE})
    """Whole units of the debt asset bought per debt auction (Maker `sump`: 50,000 DAI); None:
    sell at the time of the loss, in any amount."""
    auction_delay_seconds: int = seconds(0)
    """Wait before queued bad debt may be auctioned (Maker `wait`); needs `lot`."""

    @property
    def auctions(self) -> bool:
        return self.lot is not None


class Debt(NamedTuple):
    """Bad debt the layer took on: queued at `era`, `amount` base units of the loss's asset still
    owed (to `sink`), healed first by `buffer` (None: no protocol fund before the layer)."""

    era: int
    loss: int
    """Index of the loss in `state.losses`."""
    asset: str
    sink: str
    buffer: str | None
    amount: int


@dataclass(frozen=True, slots=True)
class MintView(LayerView):
    minted: int = view_amount()


@dataclass(frozen=True, slots=True)
class FlopView(MintView):
    """A mint layer that holds debt auctions (`lot` set): the debt it took on, by stage."""

    auctions: int = count()
    """Debt auctions held (lots sold)."""
    debt_queued: int = count()
    """Base units of the debt asset waiting out the delay (Maker `Sin`)."""
    debt_owed: int = count()
    """Base units of the debt asset released but not covered yet (less than a lot, or the cap)."""
    debt_healed: int = count()
    """Base units of the debt asset the fund before the layer paid after the delay."""
    debt_covered: int = count()
    """Base units of the debt asset raised by debt auctions."""


class Mint(Layer[MintConfig]):
    kind: ClassVar[str] = "mint"

    def __init__(self, layer_id: str, config: MintConfig) -> None:
        super().__init__(layer_id, config)
        assert config.asset is not None  # checked with the config (`NEEDS_ASSET`)
        self.token: str = config.asset
        self.minted = 0
        self.debts: tuple[Debt, ...] = ()
        self.auctions = 0
        self.healed = 0
        self.covered = 0

    @classmethod
    def check_config(cls, state: Any, config: MintConfig) -> None:
        if config.auction_delay_seconds and config.lot is None:
            raise InvalidConfig(
                "auction_delay_seconds", "auction_delay_seconds: a delay needs debt auctions (set `lot`)"
            )

    # -- the loss ------------------------------------------------------------------------
    def absorb(self, ctx: Ctx, loss: Loss, remaining: int) -> int:
        if self.config.auctions:
            return self._queue(ctx, loss, remaining)
        cap = self.config.cap
        room = None if cap is None else cap - self.minted
        tokens, covered = pay_in_kind(
            ctx, ISSUER, self.token, room, loss, remaining, self.config.discount_bps, "minted"
        )
        if tokens <= 0:
            return 0
        self._mint(ctx, tokens)
        ctx.emit(
            "minted", {"layer": self.id, "loss": loss.id, "token": self.token, "tokens": tokens, "covered": covered}
        )
        return covered

    def _mint(self, ctx: Ctx, tokens: int) -> None:
        ctx.j.set(self, "minted", self.minted + tokens)
        ctx.j.put(ctx.state.minted, self.token, ctx.state.minted.get(self.token, 0) + tokens)

    def _queue(self, ctx: Ctx, loss: Loss, remaining: int) -> int:
        """`Vow.fess`: the protocol takes the whole remainder on; it is covered on later advances."""
        if remaining <= 0:
            return 0
        waterfall = ctx.state.markets[loss.market].config.waterfall
        at = waterfall.index(self.id)
        before = ctx.state.layers[waterfall[at - 1]] if at > 0 else None
        buffer = before.id if before is not None and before.protocol_owned else None
        index = len(ctx.state.losses)  # run_loss appends the loss after the waterfall
        debt = Debt(ctx.at, index, loss.asset, loss.sink, buffer, remaining)
        ctx.j.set(self, "debts", (*self.debts, debt))
        ctx.emit(
            "debt_queued",
            {
                "layer": self.id,
                "loss": loss.id,
                "amount": remaining,
                "until": ctx.at + self.config.auction_delay_seconds,
            },
        )
        return remaining

    # -- later: flog, heal, flop ---------------------------------------------------------
    def advance(self, ctx: Ctx) -> None:
        if not self.config.auctions or not self.debts:
            return
        due = ctx.at - self.config.auction_delay_seconds
        debts = list(self.debts)
        for i, d in enumerate(debts):
            if d.era <= due and d.buffer is not None:
                debts[i] = self._heal(ctx, d)
        for asset in sorted({d.asset for d in debts if d.era <= due and d.amount > 0}):
            self._flop(ctx, debts, asset, due)
        kept = tuple(d for d in debts if d.amount > 0)
        if kept != self.debts:
            ctx.j.set(self, "debts", kept)

    def _heal(self, ctx: Ctx, d: Debt) -> Debt:
        """`Vow.heal`: the protocol's fund before the layer pays what it holds of the debt asset;
        that part of the loss is its, not this layer's, in the allocation."""
        assert d.buffer is not None
        buffer = ctx.state.layers[d.buffer]
        pay = min(d.amount, ctx.state.ledger.balance(buffer.account, d.asset))
        if pay <= 0:
            return d
        ctx.transfer(buffer.account, d.sink, d.asset, pay, "healed")
        loss = ctx.state.losses[d.loss]
        alloc = loss.allocation
        ctx.j.put(alloc, self.id, alloc[self.id] - pay)
        ctx.j.put(alloc, d.buffer, alloc.get(d.buffer, 0) + pay)
        ctx.j.set(self, "healed", self.healed + pay)
        ctx.emit("healed", {"layer": self.id, "loss": loss.id, "by": d.buffer, "amount": pay})
        return d._replace(amount=d.amount - pay)

    def lot_units(self, ctx: Ctx, asset: str) -> int:
        lot = self.config.lot
        assert lot is not None
        units: int = lot * 10 ** ctx.decimals(asset)
        return units

    def tokens_per_lot(self, ctx: Ctx, asset: str) -> int:
        """Tokens one lot costs at the oracle price less the discount, rounded up (the token
        holders pay the rounding, as any payer selling in kind); 0 when the token has no value or
        a price is missing (the debt then waits: `advance` itself never fails for want of a price)."""
        prices = ctx.state.prices
        token_price, debt_price = prices.get(self.token), prices.get(asset)
        if token_price is None or debt_price is None:
            return 0
        eff_price = mul_div_down(token_price, BPS - self.config.discount_bps, BPS)
        if eff_price <= 0:
            return 0
        lot = self.lot_units(ctx, asset)
        return convert_up(lot, debt_price, ctx.decimals(asset), eff_price, ctx.decimals(self.token))

    def _flop(self, ctx: Ctx, debts: list[Debt], asset: str, due: int) -> None:
        """`Vow.flop` for every whole lot of released debt: each lot is one auction; its tokens
        are minted and sold, its proceeds repay the oldest debts first."""
        free = sum(d.amount for d in debts if d.asset == asset and d.era <= due)
        lot = self.lot_units(ctx, asset)
        lots = free // lot
        per_lot = self.tokens_per_lot(ctx, asset)
        if per_lot <= 0 or lots <= 0:
            return
        cap = self.config.cap
        if cap is not None:
            lots = min(lots, (cap - self.minted) // per_lot)
            if lots <= 0:
                return
        tokens, raised = lots * per_lot, lots * lot
        ctx.transfer(ISSUER, DEX, self.token, tokens, "minted")
        self._mint(ctx, tokens)
        left = raised
        for i, d in enumerate(debts):
            if left <= 0:
                break
            if d.asset != asset or d.era > due or d.amount <= 0:
                continue
            pay = min(left, d.amount)
            ctx.transfer(DEX, d.sink, asset, pay)
            debts[i] = d._replace(amount=d.amount - pay)
            left -= pay
        ctx.j.set(self, "auctions", self.auctions + lots)
        ctx.j.set(self, "covered", self.covered + raised)
        ctx.emit(
            "flop",
            {"layer": self.id, "asset": asset, "lots": lots, "raised": raised, "token": self.token, "tokens": tokens},
        )

    # -- views -----------------------------------------------------------------------------
    def view(self, state: Any) -> MintView:
        if not self.config.auctions:
            return MintView(self.kind, self.token, {}, {}, minted=self.minted)
        due = state.now - self.config.auction_delay_seconds
        queued = sum(d.amount for d in self.debts if d.era > due)
        owed = sum(d.amount for d in self.debts if d.era <= due)
        return FlopView(
            self.kind,
            self.token,
            {},
            {},
            minted=self.minted,
            auctions=self.auctions,
            debt_queued=queued,
            debt_owed=owed,
            debt_healed=self.healed,
            debt_covered=self.covered,
        )

    def hash_state(self) -> Any:
        if not self.config.auctions:
            return [self.minted]
        return [self.minted, [list(d) for d in self.debts], self.auctions, self.healed, self.covered]
