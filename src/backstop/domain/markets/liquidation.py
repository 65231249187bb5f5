"""Liquidation (docs/engine.md, "Markets"): stability-pool offset first, then a sale of collateral with
depth-based price impact, and bad debt when the collateral is gone.

The sale is made by the protocol (Maker/Blend auctions, or a keeper who must sell on a DEX):
proceeds = amount × price × (1 − impact), impact_bps = min(max_impact_bps, k × sold / depth).
The keeper's bonus comes out of the proceeds; `liquidation_fee_bps` of the bonus goes to the
fee layer (Aave's liquidation protocol fee). When impact exceeds the bonus the sale repays
less than the debt it was meant to, which is how thin collateral turns into bad debt (Aave's
CRV position, November 2022).

A cdp market whose waterfall starts with a stability pool follows Liquity v1 (liquity/dev at the
deployed commit 5174ecd0da4842157aba989499200d690b7e374f, `TroveManager.sol`):
- gas compensation: the liquidator takes the position's reserve from the gas pool and
  `gas_compensation_collateral_bps` of its collateral (`_getCollGasCompensation`);
- the pool offsets min(debt, deposits) of the whole debt, reserve included, and takes
  `coll × debtToOffset / debt` of the rest of the collateral (`_getOffsetAndRedistributionVals`);
- the borrower keeps nothing: the collateral the pool did not take goes with the debt it did not
  offset to the market's `redistribution` layer, which spreads both over the other troves
  (`_redistributeDebtAndColl`); without that layer (or with no other trove) the collateral is
  sold and any proceeds beyond the debt go to the protocol's fee layer;
- Recovery Mode (`_liquidateRecoveryMode`): below `recovery_ccr_bps` a position with ICR <= 100%
  skips the pool, one with 100% < ICR < MCR is liquidated as in Normal Mode, and one with
  MCR <= ICR < TCR whose whole debt the pool can offset is closed against the pool at 110% of its
  debt in collateral (`_getCappedOffsetVals`), the surplus left for `claim_collateral`.
"""

from __future__ import annotations

from ..context import Ctx
from ..errors import PositionHealthy
from ..layers.stability_pool import StabilityPool
from ..ledger import DEX, ISSUER, user
from ..money import BPS, WAD, amount_for_value_down, amount_for_value_up, bps_up, mul_div_down, mul_div_up, value_down
from ..waterfall import run_loss
from .market import Market, Position


def impact_bps(depth_value: int, k_bps: int, max_impact_bps: int, sold_value_e18: int) -> int:
    """Price impact of selling `sold_value_e18` into a book `depth_value` (whole quote units) deep.

    Rounded up: a risk model should not flatter the sale."""
    if depth_value <= 0:
        return 0
    return min(max_impact_bps, mul_div_up(k_bps, sold_value_e18, depth_value * WAD))


def _recovery_plan(ctx: Ctx, market: Market, pos: Position, pool: StabilityPool | None) -> str:
    """Which Liquity Recovery Mode branch applies: "no_offset", "offset" or "capped"; refuse the rest."""
    coll_value, _, _, debt_value = market.values(ctx, pos)
    mcr = market.config.min_collateral_ratio_bps
    if coll_value <= debt_value:
        return "no_offset"
    if coll_value * BPS < debt_value * mcr:
        return "offset"
    icr = mul_div_down(coll_value, BPS, debt_value)
    system_coll, system_debt = market.system_values(ctx)
    deposits = pool.total_deposits if pool is not None else 0
    if coll_value * system_debt >= system_coll * debt_value:
        raise PositionHealthy(
            "account",
            f"account: {market.id} is in Recovery Mode but the position's collateral ratio {icr} bps is not "
            f"below the total {mul_div_down(system_coll, BPS, system_debt)} bps",
        )
    if market.debt_of(pos) > deposits:
        raise PositionHealthy(
            "account",
            f"account: {market.id} is in Recovery Mode but the stability pool ({deposits}) cannot offset the "
            f"position's whole debt ({market.debt_of(pos)}) and its collateral ratio {icr} bps is at least {mcr}",
        )
    return "capped"


def _pay_gas_compensation(
    ctx: Ctx, market: Market, pos: Position, account: str, keeper: str, base: dict[str, int]
) -> None:
    """Liquity `_sendGasCompensation`: the reserve from the gas pool, and a share of `base`."""
    bps = market.config.gas_compensation_collateral_bps
    coll = {a: mul_div_down(v, bps, BPS) for a, v in sorted(base.items()) if v > 0}
    for a, v in coll.items():
        ctx.transfer(market.collateral_account, user(keeper), a, v, "gas_compensation")
        ctx.j.put(pos.collateral, a, pos.collateral[a] - v)
    reserve = pos.gas_reserve
    if reserve:
        ctx.transfer(market.gas_pool, user(keeper), market.debt_asset, reserve, "gas_compensation")
        ctx.j.set(pos, "gas_reserve", 0)
    if reserve or any(coll.values()):
        ctx.emit(
            "gas_compensation",
            {"market": market.id, "account": account, "keeper": keeper, "debt_asset": reserve, "collateral": coll},
        )


def _capped_offset(
    ctx: Ctx, market: Market, pos: Position, account: str, keeper: str, pool: StabilityPool, burn_to: str
) -> None:
    """Liquity `_getCappedOffsetVals`: the pool offsets the whole debt and takes collateral worth
    MCR × debt (less the gas compensation on it); the rest is the borrower's to claim."""
    debt = market.debt_of(pos)
    ((asset, held),) = ((a, v) for a, v in pos.collateral.items() if v > 0)
    dec_d, dec_c = ctx.decimals(market.debt_asset), ctx.decimals(asset)
    mcr = market.config.min_collateral_ratio_bps
    # collToOffset = debt × MCR / price, floor (in base units of both assets).
    to_offset = min(
        held,
        mul_div_down(debt * ctx.price(market.debt_asset) * mcr, 10**dec_c, 10**dec_d * BPS * ctx.price(asset)),
    )
    surplus = held - to_offset
    _pay_gas_compensation(ctx, market, pos, account, keeper, {asset: to_offset})
    to_pool = pos.collateral[asset] - surplus
    pool.offset(ctx, debt, {asset: to_pool}, market.collateral_account, burn_to)
    ctx.j.put(pos.collateral, asset, 0)
    market._reduce_debt(ctx, pos, debt)
    if surplus:
        ctx.transfer(market.collateral_account, market.surplus_account, asset, surplus, "collateral")
        owed = dict(market.claimable.get(account, {}))
        owed[asset] = owed.get(asset, 0) + surplus
        ctx.j.put(market.claimable, account, owed)
        ctx.emit("collateral_surplus", {"market": market.id, "account": account, "asset": asset, "amount": surplus})
    ctx.emit("liquidated", {"market": market.id, "account": account, "debt_left": 0})


def liquidate(ctx: Ctx, market: Market, account: str, keeper: str) -> None:
    market.accrue(ctx)
    pos = market.position(account)
    market.touch(ctx, account)  # a trove is liquidated with its pending redistribution rewards
    _liquidate(ctx, market, account, keeper, pos)
    layer = market.redistribution(ctx)
    if layer is not None:
        market.sync_stake(ctx, account)
        layer.after_liquidation(ctx, market)


def _liquidate(ctx: Ctx, market: Market, account: str, keeper: str, pos: Position) -> None:
    debt = market.debt_of(pos)
    health = market.health_bps(ctx, pos)
    if debt == 0 or health is None:
        raise PositionHealthy("account", f"account: {account} has no debt in {market.id}, nothing to liquidate")
    cfg = market.config
    layers = ctx.state.layers
    first = layers[cfg.waterfall[0]]
    pool = first if isinstance(first, StabilityPool) else None
    plan = "offset"
    if market.kind == "cdp" and market.in_recovery_mode(ctx):
        plan = _recovery_plan(ctx, market, pos, pool)
    elif health >= BPS:
        raise PositionHealthy(
            "account", f"account: position of {account} in {market.id} is healthy (health {health} bps)"
        )
    debt_asset = market.debt_asset
    burn_to = market.reserve if market.kind == "lending" else ISSUER
    if plan == "capped":
        assert pool is not None  # _recovery_plan only caps against a pool
        _capped_offset(ctx, market, pos, account, keeper, pool, burn_to)
        return
    # A Liquity-style trove: the borrower keeps no collateral.
    liquity = market.kind == "cdp" and pool is not None
    if market.kind == "cdp":
        _pay_gas_compensation(ctx, market, pos, account, keeper, dict(pos.collateral))
    full_close = False

    if pool is not None and pool.total_deposits > 0 and plan == "offset":
        full_close = True
        absorbed = min(debt, pool.total_deposits)
        if absorbed == debt:
            share = {a: v for a, v in pos.collateral.items() if v > 0}
        else:
            share = {a: mul_div_down(v, absorbed, debt) for a, v in pos.collateral.items() if v > 0}
        pool.offset(ctx, absorbed, share, market.collateral_account, burn_to)
        for a, v in share.items():
            ctx.j.put(pos.collateral, a, pos.collateral[a] - v)
        market._reduce_debt(ctx, pos, absorbed)
        debt = market.debt_of(pos)
    elif pool is not None or market.kind == "cdp":
        full_close = True

    redistribution = market.redistribution(ctx)
    if debt > 0 and redistribution is not None and redistribution.redistribute(ctx, market, account, pos):
        debt = 0  # the other troves owe it now (Liquity `_redistributeDebtAndColl`)

    if debt > 0:
        close_bps = BPS if (full_close or health < cfg.full_close_health_bps) else cfg.close_factor_bps
        target = min(debt, bps_up(debt, close_bps))
        debt_price = ctx.price(debt_asset)
        debt_dec = ctx.decimals(debt_asset)
        target_value = mul_div_up(target, debt_price, 10**debt_dec)
        fee_account = ctx.state.fee_layer_account(market)
        excess_to = (fee_account or ISSUER) if liquity else user(account)
        repaid_total = 0
        for cc in cfg.collateral:
            held = pos.collateral.get(cc.asset, 0)
            if held == 0 or (target_value <= 0 and not liquity):
                continue
            price = ctx.price(cc.asset)
            dec = ctx.decimals(cc.asset)
            bonus = cc.liquidation_bonus_bps
            want_value = mul_div_up(max(target_value, 0), BPS + bonus, BPS)
            seize = held if liquity else min(held, amount_for_value_up(want_value, price, dec))
            gross = value_down(seize, price, dec)
            imp = impact_bps(cc.depth_value, cc.impact_k_bps, cc.max_impact_bps, gross)
            net_value = mul_div_down(gross, BPS - imp, BPS)
            proceeds = amount_for_value_down(net_value, debt_price, debt_dec)
            owed = debt - repaid_total
            if liquity:
                # The bonus is earned on what repays the debt, not on the collateral sold beyond it.
                keeper_cut = mul_div_down(min(proceeds, mul_div_up(owed, BPS + bonus, BPS)), bonus, BPS + bonus)
            else:
                keeper_cut = mul_div_down(proceeds, bonus, BPS + bonus)
            repay = proceeds - keeper_cut
            excess = max(0, repay - owed)
            repay -= excess
            fee = bps_up(keeper_cut, cfg.liquidation_fee_bps) if fee_account is not None else 0
            ctx.j.put(pos.collateral, cc.asset, held - seize)
            ctx.transfer(market.collateral_account, DEX, cc.asset, seize, "collateral")
            ctx.transfer(DEX, burn_to, debt_asset, repay, "debt")
            if fee_account is not None:
                ctx.transfer(DEX, fee_account, debt_asset, fee, "liquidation_fee")
            ctx.transfer(DEX, user(keeper), debt_asset, keeper_cut - fee, "keeper")
            ctx.transfer(DEX, excess_to, debt_asset, excess, "excess")
            repaid_total += repay
            # What is still to be covered, in oracle terms of the gross value sold.
            target_value -= mul_div_down(gross, BPS, BPS + bonus)
            ctx.emit(
                "collateral_sold",
                {
                    "market": market.id,
                    "account": account,
                    "asset": cc.asset,
                    "amount": seize,
                    "impact_bps": imp,
                    "proceeds": proceeds,
                    "repaid": repay,
                    "keeper": keeper_cut - fee,
                    "fee": fee,
                },
            )
        market._reduce_debt(ctx, pos, repaid_total)
        if market.kind == "lending":
            market.sweep_reserves(ctx)
        debt = market.debt_of(pos)

    ctx.emit("liquidated", {"market": market.id, "account": account, "debt_left": debt})
    if debt > 0 and not any(pos.collateral.values()):
        market._reduce_debt(ctx, pos, debt)
        ctx.j.set(market, "bad_debt_total", market.bad_debt_total + debt)
        run_loss(ctx, market, debt_asset, debt, "bad_debt")
