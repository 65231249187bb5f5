"""Write a command log back out as a scenario file: the inverse of `scenario/loader.py`.

`backstop export` and the service's live simulations use it. The live state is whatever its
command log made it, so the exact way to carry it into a file is the log itself: each command
becomes the scenario step that the loader turns back into that very command (base units back
to whole-token decimals with `format_units`; layer-config amounts by the unit each field
declares in `domain/layers/spec.py`). `backstop run` on the file then re-derives the same
events and the same `state_hash`, and `backstop simulate` starts from the same state as the
live job. The file grows with the history; docs/decisions.md says what would replace it.

A leading run of set-up commands at time 0 (assets, prices, layers, markets, in that order, as a
scenario's header builds them) is written as the header; every later command, set-up included
(`add_asset`, `add_layer`, `add_market` steps), keeps its place and its time in `steps`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import yaml

from ..domain import commands as c
from ..domain.errors import InvalidConfig
from ..domain.layers.spec import AMOUNT, LayerConfig, unit_of
from ..domain.money import format_units
from .loader import SECONDS_PER_DAY

PRICE_DECIMALS = 18
"""`price_e18`: prices are written as whole quote units with 18 decimals."""

_HEADER_RANK: dict[type, int] = {c.AddAsset: 0, c.SetPrice: 1, c.AddLayer: 2, c.AddMarket: 3}
_COLLATERAL_DEFAULTS = {f.name: f.default for f in dataclasses.fields(c.CollateralConfig)}
_MARKET_DEFAULTS = {f.name: f.default for f in dataclasses.fields(c.MarketConfig)}


class _Exporter:
    """Walks the log once, knowing (as the loader does) every asset's decimals, every layer's
    asset, every market's debt asset and every policy's asset when it meets a command."""

    def __init__(self) -> None:
        self.decimals: dict[str, int] = {}
        self.layer_assets: dict[str, str | None] = {}
        self.debt_assets: dict[str, str] = {}
        self.policy_assets: dict[str, str] = {}
        self.index = 0

    def fail(self, field: str, message: str) -> InvalidConfig:
        return InvalidConfig(field, f"{field}: command {self.index} of the log: {message}")

    def units(self, amount: int, asset: str | None, field: str) -> str:
        if asset is None or asset not in self.decimals:
            raise self.fail(field, f"unknown asset {asset!r}")
        return format_units(amount, self.decimals[asset])

    def layer_units(self, amount: int, layer: str, field: str) -> str:
        return self.units(amount, self.layer_assets.get(layer), field)

    def market_units(self, amount: int, market: str, field: str) -> str:
        return self.units(amount, self.debt_assets.get(market), field)

    # -- set-up ------------------------------------------------------------------------------
    def note(self, cmd: Any) -> None:
        """Remember what later commands need to write their amounts."""
        if isinstance(cmd, c.AddAsset):
            self.decimals[cmd.symbol] = cmd.decimals
        elif isinstance(cmd, c.AddLayer):
            self.layer_assets[cmd.layer] = cmd.config.asset
        elif isinstance(cmd, c.AddMarket):
            self.debt_assets[cmd.market] = cmd.config.debt_asset
        elif isinstance(cmd, c.BuyCover):
            # The loader names policies pol-1, pol-2... in the order cover is bought, as the engine does.
            asset = self.layer_assets.get(cmd.pool)
            if asset is not None:
                self.policy_assets[f"pol-{len(self.policy_assets) + 1}"] = asset

    def layer_config(self, cfg: LayerConfig) -> dict[str, Any]:
        """A layer's file mapping: `kind`, `asset`, then every field that differs from its default,
        amounts as whole tokens of the layer's asset."""
        out: dict[str, Any] = {"kind": cfg.kind}
        if cfg.asset is not None:
            out["asset"] = cfg.asset
        for f in type(cfg).declared():
            value = getattr(cfg, f.name)
            if value == f.default and not f.metadata.get("required"):
                continue
            if unit_of(f) == AMOUNT and value is not None:
                value = self.units(value, cfg.asset, f.name)
            out[f.name] = value
        return out

    def market_config(self, cfg: c.MarketConfig) -> dict[str, Any]:
        collateral: dict[str, Any] = {}
        for coll in cfg.collateral:
            entry: dict[str, Any] = {"ltv_bps": coll.ltv_bps}
            for name in ("liquidation_threshold_bps", "liquidation_bonus_bps", "impact_k_bps", "max_impact_bps"):
                entry[name] = getattr(coll, name)
            if coll.depth_value != _COLLATERAL_DEFAULTS["depth_value"]:
                entry["depth_value"] = coll.depth_value
            collateral[coll.asset] = entry
        out: dict[str, Any] = {
            "kind": cfg.kind,
            "debt_asset": cfg.debt_asset,
            "collateral": collateral,
            "waterfall": list(cfg.waterfall),
        }
        for name, default in _MARKET_DEFAULTS.items():
            if name in ("kind", "debt_asset", "collateral", "waterfall"):
                continue
            value = getattr(cfg, name)
            if value == default:
                continue
            out[name] = self.units(value, cfg.debt_asset, name) if name == "gas_compensation" else value
        return out

    # -- steps -------------------------------------------------------------------------------
    def step(self, cmd: Any) -> dict[str, Any]:
        """The scenario step the loader builds back into `cmd`."""
        writer = getattr(self, f"s_{type(cmd).__name__}", None)
        if writer is None:
            raise self.fail("type", f"no scenario step writes a {type(cmd).__name__} command yet")
        body: dict[str, Any] = writer(cmd)
        return {"at": cmd.at, **body}

    def s_AddAsset(self, cmd: c.AddAsset) -> dict[str, Any]:
        return {"do": "add_asset", "symbol": cmd.symbol, "decimals": cmd.decimals}

    def s_AddLayer(self, cmd: c.AddLayer) -> dict[str, Any]:
        return {"do": "add_layer", "layer": cmd.layer, **self.layer_config(cmd.config)}

    def s_AddMarket(self, cmd: c.AddMarket) -> dict[str, Any]:
        return {"do": "add_market", "market": cmd.market, **self.market_config(cmd.config)}

    def s_SetPrice(self, cmd: c.SetPrice) -> dict[str, Any]:
        return {"do": "price", "asset": cmd.asset, "price": format_units(cmd.price_e18, PRICE_DECIMALS)}

    def s_Deposit(self, cmd: c.Deposit) -> dict[str, Any]:
        amount = self.layer_units(cmd.amount, cmd.layer, "amount")
        return {"do": "deposit", "layer": cmd.layer, "account": cmd.account, "amount": amount}

    def _shares_or_amount(self, cmd: c.RequestWithdraw | c.Withdraw) -> dict[str, Any]:
        if cmd.shares is not None:
            return {"shares": cmd.shares}
        if cmd.amount is not None:
            return {"amount": self.layer_units(cmd.amount, cmd.layer, "amount")}
        return {}

    def s_RequestWithdraw(self, cmd: c.RequestWithdraw) -> dict[str, Any]:
        return {"do": "request_withdraw", "layer": cmd.layer, "account": cmd.account, **self._shares_or_amount(cmd)}

    def s_CancelWithdraw(self, cmd: c.CancelWithdraw) -> dict[str, Any]:
        return {"do": "cancel_withdraw", "layer": cmd.layer, "account": cmd.account}

    def s_Withdraw(self, cmd: c.Withdraw) -> dict[str, Any]:
        return {"do": "withdraw", "layer": cmd.layer, "account": cmd.account, **self._shares_or_amount(cmd)}

    def s_Supply(self, cmd: c.Supply) -> dict[str, Any]:
        amount = self.market_units(cmd.amount, cmd.market, "amount")
        return {"do": "supply", "market": cmd.market, "account": cmd.account, "amount": amount}

    def s_WithdrawSupply(self, cmd: c.WithdrawSupply) -> dict[str, Any]:
        amount = self.market_units(cmd.amount, cmd.market, "amount")
        return {"do": "withdraw_supply", "market": cmd.market, "account": cmd.account, "amount": amount}

    def _collateral(self, pairs: tuple[tuple[str, int], ...]) -> dict[str, str]:
        out: dict[str, str] = {}
        for asset, amount in pairs:
            if asset in out:  # the file's mapping holds one amount per asset
                raise self.fail("collateral", f"asset {asset!r} appears twice")
            out[asset] = self.units(amount, asset, f"collateral.{asset}")
        return out

    def s_OpenPosition(self, cmd: c.OpenPosition) -> dict[str, Any]:
        out: dict[str, Any] = {"do": "open", "market": cmd.market, "account": cmd.account}
        if cmd.collateral:
            out["collateral"] = self._collateral(cmd.collateral)
        if cmd.debt:
            out["debt"] = self.market_units(cmd.debt, cmd.market, "debt")
        return out

    def s_Repay(self, cmd: c.Repay) -> dict[str, Any]:
        amount = self.market_units(cmd.amount, cmd.market, "amount")
        return {"do": "repay", "market": cmd.market, "account": cmd.account, "amount": amount}

    def s_AddCollateral(self, cmd: c.AddCollateral) -> dict[str, Any]:
        coll = self._collateral(cmd.collateral)
        return {"do": "add_collateral", "market": cmd.market, "account": cmd.account, "collateral": coll}

    def s_Liquidate(self, cmd: c.Liquidate) -> dict[str, Any]:
        return {"do": "liquidate", "market": cmd.market, "account": cmd.account, "keeper": cmd.keeper}

    def s_ClaimCollateral(self, cmd: c.ClaimCollateral) -> dict[str, Any]:
        return {"do": "claim_collateral", "market": cmd.market, "account": cmd.account}

    def s_Incident(self, cmd: c.Incident) -> dict[str, Any]:
        amount = self.units(cmd.amount, cmd.asset, "amount")
        return {"do": "incident", "market": cmd.market, "asset": cmd.asset, "amount": amount, "cause": cmd.cause}

    def s_Reward(self, cmd: c.Reward) -> dict[str, Any]:
        amount = self.layer_units(cmd.amount, cmd.layer, "amount")
        return {"do": "reward", "layer": cmd.layer, "amount": amount, "from": cmd.source}

    def s_Advance(self, cmd: c.Advance) -> dict[str, Any]:
        return {"do": "advance"}

    def s_BuyCover(self, cmd: c.BuyCover) -> dict[str, Any]:
        days, rest = divmod(cmd.period_seconds, SECONDS_PER_DAY)
        if rest:
            raise self.fail("period_seconds", f"{cmd.period_seconds} s is not a whole number of days")
        out: dict[str, Any] = {
            "do": "buy_cover",
            "pool": cmd.pool,
            "account": cmd.account,
            "market": cmd.market,
            "causes": list(cmd.causes),
            "amount": self.layer_units(cmd.amount, cmd.pool, "amount"),
            "period_days": days,
        }
        if cmd.quote is not None:
            q = cmd.quote
            out["quote"] = {
                "id": q.id,
                "premium": self.layer_units(q.premium, cmd.pool, "quote.premium"),
                "pool_assets": self.layer_units(q.pool_assets, cmd.pool, "quote.pool_assets"),
                "market_tvl": self.market_units(q.market_tvl, cmd.market, "quote.market_tvl"),
                "tolerance_bps": q.tolerance_bps,
            }
        return out

    def s_FileClaim(self, cmd: c.FileClaim) -> dict[str, Any]:
        asset = self.policy_assets.get(cmd.policy)
        loss = self.units(cmd.loss, asset, "loss") if asset else format_units(cmd.loss, PRICE_DECIMALS)
        out: dict[str, Any] = {"do": "file_claim", "policy": cmd.policy, "incident": cmd.incident, "loss": loss}
        if cmd.claimant is not None:
            out["claimant"] = cmd.claimant
        return out

    def s_AssessClaim(self, cmd: c.AssessClaim) -> dict[str, Any]:
        return {
            "do": "assess_claim",
            "claim": cmd.claim,
            "assessor": cmd.assessor,
            "approve": cmd.approve,
            "reason": cmd.reason,
        }

    def s_GuarantorDefaults(self, cmd: c.GuarantorDefaults) -> dict[str, Any]:
        return {"do": "guarantor_defaults", "layer": cmd.layer}

    def s_AssessorStake(self, cmd: c.AssessorStake) -> dict[str, Any]:
        amount = self.layer_units(cmd.amount, cmd.pool, "amount")
        return {"do": "assessor_stake", "pool": cmd.pool, "account": cmd.account, "amount": amount}

    def s_AssessorUnstake(self, cmd: c.AssessorUnstake) -> dict[str, Any]:
        amount = self.layer_units(cmd.amount, cmd.pool, "amount")
        return {"do": "assessor_unstake", "pool": cmd.pool, "account": cmd.account, "amount": amount}

    def s_SettleClaim(self, cmd: c.SettleClaim) -> dict[str, Any]:
        return {"do": "settle_claim", "claim": cmd.claim}

    def s_SettleSlashing(self, cmd: c.SettleSlashing) -> dict[str, Any]:
        return {"do": "settle_slashing", "layer": cmd.layer}

    def s_ClaimRewards(self, cmd: c.ClaimRewards) -> dict[str, Any]:
        return {"do": "claim_rewards", "layer": cmd.layer, "account": cmd.account}

    def s_CoverDeficit(self, cmd: c.CoverDeficit) -> dict[str, Any]:
        if cmd.asset is None:
            amount = self.market_units(cmd.amount, cmd.market, "amount")
            return {"do": "cover_deficit", "market": cmd.market, "layer": cmd.layer, "amount": amount}
        amount = self.units(cmd.amount, cmd.asset, "amount")
        return {"do": "cover_deficit", "market": cmd.market, "layer": cmd.layer, "amount": amount, "asset": cmd.asset}

    def s_SetStatus(self, cmd: c.SetStatus) -> dict[str, Any]:
        return {"do": "set_status", "layer": cmd.layer, "status": cmd.status}

    def s_FillAuction(self, cmd: c.FillAuction) -> dict[str, Any]:
        out = {"do": "fill_auction", "layer": cmd.layer, "account": cmd.account, "block": cmd.block}
        return out if cmd.percent == 100 else {**out, "percent": cmd.percent}


def export_scenario(
    commands: Iterable[Any],
    simulation: dict[str, Any] | None = None,
    name: str = "live",
    description: str | None = None,
) -> dict[str, Any]:
    """The scenario mapping whose load and run re-applies `commands` exactly, with `simulation`
    (the risk profile) as its `simulation:` section."""
    ex = _Exporter()
    assets: dict[str, Any] = {}
    prices: dict[str, str] = {}
    layers: dict[str, Any] = {}
    markets: dict[str, Any] = {}
    steps: list[dict[str, Any]] = []
    rank = 0
    in_header = True
    for ex.index, cmd in enumerate(commands):
        cmd_rank = _HEADER_RANK.get(type(cmd))
        if in_header and (cmd_rank is None or cmd_rank < rank or cmd.at != 0 or _repeated(cmd, prices)):
            in_header = False
        if in_header:
            assert cmd_rank is not None
            rank = cmd_rank
            if isinstance(cmd, c.AddAsset):
                assets[cmd.symbol] = {"decimals": cmd.decimals}
            elif isinstance(cmd, c.SetPrice):
                prices[cmd.asset] = format_units(cmd.price_e18, PRICE_DECIMALS)
            elif isinstance(cmd, c.AddLayer):
                layers[cmd.layer] = ex.layer_config(cmd.config)
            else:
                markets[cmd.market] = ex.market_config(cmd.config)
        else:
            steps.append(ex.step(cmd))
        ex.note(cmd)
    out: dict[str, Any] = {"name": name}
    if description:
        out["description"] = description
    out["assets"] = assets
    if prices:
        out["prices"] = prices
    out["layers"] = layers
    if markets:
        out["markets"] = markets
    out["steps"] = steps
    if simulation is not None:
        out["simulation"] = simulation
    return out


def _repeated(cmd: Any, prices: dict[str, str]) -> bool:
    """A second header price for one asset cannot be written in the header's mapping."""
    return isinstance(cmd, c.SetPrice) and cmd.asset in prices


def dump_scenario(data: dict[str, Any]) -> str:
    """The scenario as YAML, keys in the order written (header first, then steps, then simulation)."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
