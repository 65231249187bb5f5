"""Command handlers: validate, then mutate through the context's journal.

`apply_command` is pure: given a state and a command it mutates the state and returns
events, or raises a `BackstopError` after the caller rolls the journal back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import commands as c
from .context import Ctx
from .cover import assess_claim, assessor_stake, assessor_unstake, buy_cover, file_claim, settle_claim
from .errors import (
    DuplicateEntity,
    InsufficientFunds,
    InvalidAmount,
    InvalidConfig,
    NotPermitted,
    TimeWentBackwards,
    UnknownEntity,
)
from .layers.base import Layer
from .layers.guarantor import Guarantor
from .layers.registry import kind as layer_kind
from .layers.staking_pool import StakingPool, auction
from .markets.liquidation import liquidate
from .markets.market import Market
from .validation import known_asset, layer_config, market_config, positive
from .waterfall import run_loss


def _layer(ctx: Ctx, layer_id: str, field: str = "layer") -> Layer[Any]:
    layer = ctx.state.layers.get(layer_id)
    if layer is None:
        raise UnknownEntity(field, f"{field}: unknown layer {layer_id!r}")
    return layer


def _market(ctx: Ctx, market_id: str, field: str = "market") -> Market:
    market = ctx.state.markets.get(market_id)
    if market is None:
        raise UnknownEntity(field, f"{field}: unknown market {market_id!r}")
    return market


def _account(name: str, field: str = "account") -> str:
    if not isinstance(name, str) or not name or name.startswith(("external:", "layer:", "market:")):
        raise InvalidAmount(field, f"{field}: {name!r} is not a valid account name")
    return name


def _add_asset(ctx: Ctx, cmd: c.AddAsset) -> None:
    if not cmd.symbol or not isinstance(cmd.symbol, str):
        raise InvalidConfig("symbol", "symbol: an asset needs a name")
    if cmd.symbol in ctx.state.assets:
        raise DuplicateEntity("symbol", f"symbol: asset {cmd.symbol!r} exists")
    if isinstance(cmd.decimals, bool) or not isinstance(cmd.decimals, int) or not 0 <= cmd.decimals <= 36:
        raise InvalidConfig("decimals", f"decimals: must be an integer in [0, 36], got {cmd.decimals!r}")
    ctx.j.put(ctx.state.assets, cmd.symbol, cmd.decimals)
    ctx.emit("asset_added", {"asset": cmd.symbol, "decimals": cmd.decimals})


def _set_price(ctx: Ctx, cmd: c.SetPrice) -> None:
    known_asset(ctx.state, cmd.asset, "asset")
    positive(cmd.price_e18, "price")
    ctx.j.put(ctx.state.prices, cmd.asset, cmd.price_e18)
    ctx.emit("price", {"asset": cmd.asset, "price_e18": cmd.price_e18})


def _add_layer(ctx: Ctx, cmd: c.AddLayer) -> None:
    if not cmd.layer or cmd.layer in ctx.state.layers:
        raise DuplicateEntity("layer", f"layer: id {cmd.layer!r} is empty or taken")
    k = layer_kind(cmd.config.kind)
    if not isinstance(cmd.config, k.config):
        raise InvalidConfig("kind", f"kind: the config given is not a {k.name} config")
    layer_config(ctx.state, cmd.config)
    layer = k.exact(cmd.layer, cmd.config)
    ctx.j.put(ctx.state.layers, cmd.layer, layer)
    ctx.emit("layer_added", {"layer": cmd.layer, "kind": cmd.config.kind})
    layer.on_added(ctx)


def _add_market(ctx: Ctx, cmd: c.AddMarket) -> None:
    if not cmd.market or cmd.market in ctx.state.markets:
        raise DuplicateEntity("market", f"market: id {cmd.market!r} is empty or taken")
    market_config(ctx.state, cmd.config, cmd.market)
    ctx.j.put(ctx.state.markets, cmd.market, Market(cmd.market, cmd.config, ctx.at))
    for lid in cmd.config.waterfall:
        ctx.state.layers[lid].on_market_added(ctx, cmd.market)
    ctx.emit("market_added", {"market": cmd.market, "kind": cmd.config.kind})


def _deposit(ctx: Ctx, cmd: c.Deposit) -> None:
    layer = _layer(ctx, cmd.layer)
    positive(cmd.amount, "amount")
    layer.deposit(ctx, _account(cmd.account), cmd.amount)


def _request_withdraw(ctx: Ctx, cmd: c.RequestWithdraw) -> None:
    _layer(ctx, cmd.layer).request_withdraw(ctx, _account(cmd.account), cmd.shares, cmd.amount)


def _cancel_withdraw(ctx: Ctx, cmd: c.CancelWithdraw) -> None:
    _layer(ctx, cmd.layer).cancel_withdraw(ctx, _account(cmd.account))


def _withdraw(ctx: Ctx, cmd: c.Withdraw) -> None:
    layer = _layer(ctx, cmd.layer)
    if cmd.amount is not None:
        positive(cmd.amount, "amount")
    if cmd.shares is not None:
        positive(cmd.shares, "shares")
    layer.withdraw(ctx, _account(cmd.account), cmd.shares, cmd.amount)


def _supply(ctx: Ctx, cmd: c.Supply) -> None:
    market = _market(ctx, cmd.market)
    positive(cmd.amount, "amount")
    market.accrue(ctx)
    market.supply(ctx, _account(cmd.account), cmd.amount)


def _withdraw_supply(ctx: Ctx, cmd: c.WithdrawSupply) -> None:
    market = _market(ctx, cmd.market)
    positive(cmd.amount, "amount")
    market.accrue(ctx)
    market.withdraw_supply(ctx, _account(cmd.account), cmd.amount)


def _open(ctx: Ctx, cmd: c.OpenPosition) -> None:
    market = _market(ctx, cmd.market)
    market.accrue(ctx)
    market.open(ctx, _account(cmd.account), cmd.collateral, cmd.debt)


def _repay(ctx: Ctx, cmd: c.Repay) -> None:
    market = _market(ctx, cmd.market)
    positive(cmd.amount, "amount")
    market.accrue(ctx)
    market.repay(ctx, _account(cmd.account), cmd.amount)


def _add_collateral(ctx: Ctx, cmd: c.AddCollateral) -> None:
    market = _market(ctx, cmd.market)
    market.accrue(ctx)
    market.add_collateral(ctx, _account(cmd.account), cmd.collateral)


def _liquidate(ctx: Ctx, cmd: c.Liquidate) -> None:
    market = _market(ctx, cmd.market)
    liquidate(ctx, market, _account(cmd.account), _account(cmd.keeper, "keeper"))


def _incident(ctx: Ctx, cmd: c.Incident) -> None:
    market = _market(ctx, cmd.market)
    known_asset(ctx.state, cmd.asset, "asset")
    positive(cmd.amount, "amount")
    if cmd.cause not in c.INCIDENT_CAUSES:
        raise InvalidConfig("cause", f"cause: must be one of {', '.join(c.INCIDENT_CAUSES)}; got {cmd.cause!r}")
    market.accrue(ctx)
    if cmd.asset != market.debt_asset and cmd.asset not in market.coll:
        raise UnknownEntity("asset", f"asset: market {market.id} holds no {cmd.asset}")
    source = market.loss_sink(cmd.asset)
    if source.startswith("external:"):
        raise InvalidConfig("asset", f"asset: cdp market {market.id} holds no {cmd.asset} to lose")
    held = ctx.state.ledger.balance(source, cmd.asset)
    if cmd.amount > held:
        raise InvalidAmount("amount", f"amount: market {market.id} holds only {held} of {cmd.asset}")
    incident_id = f"inc-{len(ctx.state.incidents) + 1}"
    ctx.transfer(source, "external:attacker", cmd.asset, cmd.amount)
    loss = run_loss(ctx, market, cmd.asset, cmd.amount, cmd.cause, incident_id)
    record = {
        "market": market.id,
        "asset": cmd.asset,
        "amount": cmd.amount,
        "cause": cmd.cause,
        "at": ctx.at,
        "loss": loss.id,
    }
    ctx.j.put(ctx.state.incidents, incident_id, record)
    ctx.emit("incident", {"id": incident_id, **record})


def _reward(ctx: Ctx, cmd: c.Reward) -> None:
    layer = _layer(ctx, cmd.layer)
    positive(cmd.amount, "amount")
    source = cmd.source
    if source in ctx.state.layers:
        # A layer pays rewards only from what it holds (no top-up from outside, unlike a wallet).
        payer = ctx.state.layers[source]
        if not payer.protocol_owned:
            # Stakers' assets, stability-pool deposits, cover capital and guarantor collateral
            # belong to their depositors: the protocol may not hand them to another layer.
            raise NotPermitted(
                "from", f"from: layer {cmd.source} is a {payer.kind}; rewards come from a fund or treasury"
            )
        source = payer.account
        asset = layer.asset
        held = ctx.state.ledger.balance(source, asset or "")
        if held < cmd.amount:
            raise InsufficientFunds(
                "from", f"from: layer {cmd.source} holds {held} of {asset}, cannot pay {cmd.amount}"
            )
    elif not source.startswith(("external:", "user:")):
        source = f"user:{_account(source, 'from')}"
    layer.reward(ctx, cmd.amount, source)


def _advance(ctx: Ctx, cmd: c.Advance) -> None:
    state = ctx.state
    for market_id in sorted(state.markets):
        state.markets[market_id].accrue(ctx)
    for layer_id in sorted(state.layers):
        state.layers[layer_id].advance(ctx)
    ctx.emit("advanced", {"to": ctx.at})


def _guarantor_defaults(ctx: Ctx, cmd: c.GuarantorDefaults) -> None:
    layer = _layer(ctx, cmd.layer)
    if not isinstance(layer, Guarantor):
        raise NotPermitted("layer", f"layer: {cmd.layer} is not a guarantor layer")
    if layer.defaulted:
        raise NotPermitted("layer", f"layer: {cmd.layer} has already defaulted")
    layer.default(ctx)


def _buy_cover(ctx: Ctx, cmd: c.BuyCover) -> None:
    _account(cmd.account)
    buy_cover(ctx, cmd)


def _file_claim(ctx: Ctx, cmd: c.FileClaim) -> None:
    if cmd.claimant is not None:
        _account(cmd.claimant, "claimant")
    file_claim(ctx, cmd)


def _assess_claim(ctx: Ctx, cmd: c.AssessClaim) -> None:
    _account(cmd.assessor, "assessor")
    assess_claim(ctx, cmd)


def _claim_collateral(ctx: Ctx, cmd: c.ClaimCollateral) -> None:
    market = _market(ctx, cmd.market)
    market.claim_collateral(ctx, _account(cmd.account))


def _assessor_stake(ctx: Ctx, cmd: c.AssessorStake) -> None:
    _account(cmd.account)
    assessor_stake(ctx, cmd)


def _assessor_unstake(ctx: Ctx, cmd: c.AssessorUnstake) -> None:
    _account(cmd.account)
    assessor_unstake(ctx, cmd)


def _settle_claim(ctx: Ctx, cmd: c.SettleClaim) -> None:
    settle_claim(ctx, cmd)


def _staking_pool(ctx: Ctx, layer_id: str, what: str) -> StakingPool:
    layer = _layer(ctx, layer_id)
    if not isinstance(layer, StakingPool):
        raise NotPermitted("layer", f"layer: {layer_id} is a {layer.kind} layer; {what} needs a staking pool")
    return layer


def _settle_slashing(ctx: Ctx, cmd: c.SettleSlashing) -> None:
    _staking_pool(ctx, cmd.layer, "settle_slashing").settle_slashing(ctx)


def _set_status(ctx: Ctx, cmd: c.SetStatus) -> None:
    _staking_pool(ctx, cmd.layer, "set_status").set_status(ctx, cmd.status)


def _claim_rewards(ctx: Ctx, cmd: c.ClaimRewards) -> None:
    _staking_pool(ctx, cmd.layer, "claim_rewards").claim_rewards(ctx, _account(cmd.account))


def _fill_auction(ctx: Ctx, cmd: c.FillAuction) -> None:
    pool = _staking_pool(ctx, cmd.layer, "fill_auction")
    if pool.config.auction_premium_bps is None:
        raise NotPermitted("layer", f"layer: {cmd.layer} is not a Blend backstop (no auction_premium_bps)")
    auction.fill(pool, ctx, _account(cmd.account), cmd.block, cmd.percent)


def _cover_deficit(ctx: Ctx, cmd: c.CoverDeficit) -> None:
    market = _market(ctx, cmd.market)
    positive(cmd.amount, "amount")
    asset = market.debt_asset if cmd.asset is None else cmd.asset
    known_asset(ctx.state, asset, "asset")
    layer = _layer(ctx, cmd.layer)
    market.accrue(ctx)
    if layer.protocol_owned:

        def pay(units: int, sink: str) -> None:
            held = ctx.state.ledger.balance(layer.account, asset)
            if held < units:
                raise InsufficientFunds(
                    "amount",
                    f"amount: layer {cmd.layer} holds {ctx.tokens(asset, held)}, "
                    f"cannot cover {ctx.tokens(asset, units)}",
                )
            ctx.transfer(layer.account, sink, asset, units, "amount")

    elif isinstance(layer, StakingPool):

        def pay(units: int, sink: str) -> None:
            layer.cover_deficit(ctx, asset, units, sink)

    else:
        raise NotPermitted(
            "layer", f"layer: {cmd.layer} is a {layer.kind}; a deficit is covered by a treasury or staking pool"
        )
    market.cover_deficit(ctx, asset, cmd.amount, pay)


HANDLERS: dict[type, Callable[[Ctx, Any], None]] = {
    c.AddAsset: _add_asset,
    c.SetPrice: _set_price,
    c.AddLayer: _add_layer,
    c.AddMarket: _add_market,
    c.Deposit: _deposit,
    c.RequestWithdraw: _request_withdraw,
    c.CancelWithdraw: _cancel_withdraw,
    c.Withdraw: _withdraw,
    c.Supply: _supply,
    c.WithdrawSupply: _withdraw_supply,
    c.OpenPosition: _open,
    c.Repay: _repay,
    c.AddCollateral: _add_collateral,
    c.Liquidate: _liquidate,
    c.Incident: _incident,
    c.Reward: _reward,
    c.Advance: _advance,
    c.BuyCover: _buy_cover,
    c.FileClaim: _file_claim,
    c.AssessClaim: _assess_claim,
    c.AssessorStake: _assessor_stake,
    c.AssessorUnstake: _assessor_unstake,
    c.SettleClaim: _settle_claim,
    c.GuarantorDefaults: _guarantor_defaults,
    c.ClaimCollateral: _claim_collateral,
    c.SettleSlashing: _settle_slashing,
    c.SetStatus: _set_status,
    c.ClaimRewards: _claim_rewards,
    c.CoverDeficit: _cover_deficit,
    c.FillAuction: _fill_auction,
}


def apply_command(ctx: Ctx, cmd: c.Command) -> None:
    handler = HANDLERS.get(type(cmd))
    if handler is None:
        raise InvalidConfig("type", f"type: not a command: {type(cmd).__name__}")
    at = cmd.at
    if isinstance(at, bool) or not isinstance(at, int) or at < 0:
        raise TimeWentBackwards("at", f"at: must be a non-negative integer of seconds, got {at!r}")
    if at < ctx.state.now:
        raise TimeWentBackwards("at", f"at: {at} is before the current time {ctx.state.now}")
    if at != ctx.state.now:
        ctx.j.set(ctx.state, "now", at)
    ctx.emit("command", {"command": cmd})
    handler(ctx, cmd)
