"""Liquidation (docs/engine.md, "Markets"): stability-pool offset first, then a sale of collateral with
depth-based price impact, and bad debt when the collateral is gone.

The sale is made by the protocol (Maker/Blend auctions, or a keeper who must sell on a DEX):
proceeds = amount × price × (1 − impact), impact_bps = min(max_impact_bps, k × sold / depth).
The keeper's bonus comes out of the proceeds; `liquidation_fee_bps` of the bonus goes to the
fee layer (Aave's liquidation protocol fee). When impact exceeds the bonus the sale repays
less than the debt it was meant to, which is how thin collateral turns into bad debt (Aave's
CRV position, November 2022).
"""

from __future__ import annotations

from ..context import Ctx
from ..errors import PositionHealthy
from ..layers.stability_pool import StabilityPool
from ..ledger import DEX, ISSUER, user
from ..money import BPS, WAD, amount_for_value_down, amount_for_value_up, bps_up, mul_div_down, mul_div_up, value_down
from ..waterfall import run_loss
from .market import Market


def impact_bps(depth_value: int, k_bps: int, max_impact_bps: int, sold_value_e18: int) -> int:
    """Price impact of selling `sold_value_e18` into a book `depth_value` (whole quote units) deep.

    Rounded up: a risk model should not flatter the sale."""
    if depth_value <= 0:
        return 0
    return min(max_impact_bps, mul_div_up(k_bps, sold_value_e18, depth_value * WAD))


def liquidate(ctx: Ctx, market: Market, account: str, keeper: str) -> None:
    market.accrue(ctx)
    pos = market.position(account)
    debt = market.debt_of(pos)
    health = market.health_bps(ctx, pos)
    if debt == 0 or health is None:
        raise PositionHealthy("account", f"account: {account} has no debt in {market.id}, nothing to liquidate")
    if health >= BPS:
        raise PositionHealthy(
            "account", f"account: position of {account} in {market.id} is healthy (health {health} bps)"
        )
    cfg = market.config
    layers = ctx.state.layers
    debt_asset = market.debt_asset
    burn_to = market.reserve if market.kind == "lending" else ISSUER
    full_close = False

    first = layers[cfg.waterfall[0]]
    if isinstance(first, StabilityPool) and first.total_deposits > 0:
        full_close = True
        absorbed = min(debt, first.total_deposits)
        if absorbed == debt:
            share = {a: v for a, v in pos.collateral.items() if v > 0}
        else:
            share = {a: mul_div_down(v, absorbed, debt) for a, v in pos.collateral.items() if v > 0}
        first.offset(ctx, absorbed, share, market.collateral_account, burn_to)
        for a, v in share.items():
            ctx.j.put(pos.collateral, a, pos.collateral[a] - v)
        market._reduce_debt(ctx, pos, absorbed)
        debt = market.debt_of(pos)
    elif isinstance(first, StabilityPool) or market.kind == "cdp":
        full_close = True

    if debt > 0:
        close_bps = BPS if (full_close or health < cfg.full_close_health_bps) else cfg.close_factor_bps
        target = min(debt, bps_up(debt, close_bps))
        debt_price = ctx.price(debt_asset)
        debt_dec = ctx.decimals(debt_asset)
        target_value = mul_div_up(target, debt_price, 10**debt_dec)
        fee_account = ctx.state.fee_layer_account(market)
        repaid_total = 0
        for cc in cfg.collateral:
            held = pos.collateral.get(cc.asset, 0)
            if held == 0 or target_value <= 0:
                continue
            price = ctx.price(cc.asset)
            dec = ctx.decimals(cc.asset)
            want_value = mul_div_up(target_value, BPS + cc.liquidation_bonus_bps, BPS)
            seize = min(held, amount_for_value_up(want_value, price, dec))
            gross = value_down(seize, price, dec)
            imp = impact_bps(cc.depth_value, cc.impact_k_bps, cc.max_impact_bps, gross)
            net_value = mul_div_down(gross, BPS - imp, BPS)
            proceeds = amount_for_value_down(net_value, debt_price, debt_dec)
            keeper_cut = mul_div_down(proceeds, cc.liquidation_bonus_bps, BPS + cc.liquidation_bonus_bps)
            repay = proceeds - keeper_cut
            owed = debt - repaid_total
            excess = max(0, repay - owed)
            repay -= excess
            fee = bps_up(keeper_cut, cfg.liquidation_fee_bps) if fee_account is not None else 0
            ctx.j.put(pos.collateral, cc.asset, held - seize)
            ctx.transfer(market.collateral_account, DEX, cc.asset, seize, "collateral")
            ctx.transfer(DEX, burn_to, debt_asset, repay, "debt")
            if fee_account is not None:
                ctx.transfer(DEX, fee_account, debt_asset, fee, "liquidation_fee")
            ctx.transfer(DEX, user(keeper), debt_asset, keeper_cut - fee, "keeper")
            ctx.transfer(DEX, user(account), debt_asset, excess, "excess")
            repaid_total += repay
            # What is still to be covered, in oracle terms of the gross value sold.
            target_value -= mul_div_down(gross, BPS, BPS + cc.liquidation_bonus_bps)
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
