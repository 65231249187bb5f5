"""Checks of configuration and command arguments that need no state change (fail early, clearly)."""

from __future__ import annotations

from .commands import MarketConfig
from .errors import InvalidAmount, InvalidConfig, UnknownEntity
from .layers.registry import kind
from .layers.spec import LayerConfig, check_fields
from .money import BPS
from .state import State


def positive(value: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(field, f"{field}: must be an integer amount in base units, got {value!r}")
    if value <= 0:
        raise InvalidAmount(field, f"{field}: must be positive, got {value}")
    return value


def bps(value: int, field: str, upper: int = BPS) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > upper:
        raise InvalidConfig(field, f"{field}: must be an integer in [0, {upper}] bps, got {value!r}")


def non_negative(value: int, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidConfig(field, f"{field}: must be a non-negative integer, got {value!r}")


def known_asset(state: State, asset: str | None, field: str) -> str:
    if asset is None or asset not in state.assets:
        raise UnknownEntity(field, f"{field}: unknown asset {asset!r}")
    return asset


def layer_config(state: State, cfg: LayerConfig) -> None:
    """Every field against its declared range, then the kind's own checks."""
    check_fields(state, cfg)
    kind(cfg.kind).exact.check_config(state, cfg)


def market_config(state: State, cfg: MarketConfig, market_id: str = "") -> None:
    if cfg.kind not in ("lending", "cdp"):
        raise InvalidConfig("kind", f"kind: market kind must be lending or cdp, got {cfg.kind!r}")
    known_asset(state, cfg.debt_asset, "debt_asset")
    if not cfg.collateral:
        raise InvalidConfig("collateral", "collateral: a market needs at least one collateral asset")
    seen: set[str] = set()
    for c in cfg.collateral:
        known_asset(state, c.asset, "collateral")
        if c.asset in seen or c.asset == cfg.debt_asset:
            raise InvalidConfig("collateral", f"collateral: {c.asset} listed twice or equal to the debt asset")
        seen.add(c.asset)
        bps(c.ltv_bps, "ltv_bps")
        bps(c.liquidation_threshold_bps, "liquidation_threshold_bps")
        bps(c.liquidation_bonus_bps, "liquidation_bonus_bps")
        bps(c.max_impact_bps, "max_impact_bps")
        non_negative(c.depth_value, "depth_value")
        non_negative(c.impact_k_bps, "impact_k_bps")
        if c.ltv_bps > c.liquidation_threshold_bps:
            raise InvalidConfig("ltv_bps", f"ltv_bps: {c.asset} LTV {c.ltv_bps} exceeds its liquidation threshold")
    for name in (
        "close_factor_bps",
        "full_close_health_bps",
        "liquidation_fee_bps",
        "reserve_factor_bps",
        "optimal_utilization_bps",
    ):
        bps(getattr(cfg, name), name)
    for name in ("base_rate_bps", "slope1_bps", "slope2_bps"):
        bps(getattr(cfg, name), name, 100 * BPS)
    bps(cfg.min_collateral_ratio_bps, "min_collateral_ratio_bps", 100 * BPS)
    if cfg.close_factor_bps == 0:
        raise InvalidConfig("close_factor_bps", "close_factor_bps: must be positive")
    non_negative(cfg.gas_compensation, "gas_compensation")
    bps(cfg.gas_compensation_collateral_bps, "gas_compensation_collateral_bps")
    bps(cfg.recovery_ccr_bps, "recovery_ccr_bps", 100 * BPS)
    if cfg.kind != "cdp":
        for name in ("gas_compensation", "gas_compensation_collateral_bps", "recovery_ccr_bps"):
            if getattr(cfg, name):
                raise InvalidConfig(name, f"{name}: only a cdp market has it (Liquity), this market is {cfg.kind}")
    if cfg.recovery_ccr_bps:
        if cfg.recovery_ccr_bps <= cfg.min_collateral_ratio_bps:
            raise InvalidConfig(
                "recovery_ccr_bps",
                f"recovery_ccr_bps: {cfg.recovery_ccr_bps} must exceed min_collateral_ratio_bps "
                f"{cfg.min_collateral_ratio_bps} (Liquity: CCR 15000 > MCR 11000)",
            )
        if cfg.min_collateral_ratio_bps < BPS:
            raise InvalidConfig(
                "recovery_ccr_bps",
                "recovery_ccr_bps: Recovery Mode needs min_collateral_ratio_bps of at least 10000 (Liquity: 11000)",
            )
        if len(cfg.collateral) != 1:
            raise InvalidConfig(
                "recovery_ccr_bps", "recovery_ccr_bps: Recovery Mode is defined for one collateral asset (Liquity: ETH)"
            )
    if not cfg.waterfall:
        raise InvalidConfig("waterfall", "waterfall: a market needs a waterfall ending in a socialize layer")
    if len(set(cfg.waterfall)) != len(cfg.waterfall):
        raise InvalidConfig("waterfall", "waterfall: a layer appears twice")
    for i, lid in enumerate(cfg.waterfall):
        layer = state.layers.get(lid)
        if layer is None:
            raise UnknownEntity("waterfall", f"waterfall: unknown layer {lid!r}")
        if layer.first_in_waterfall:
            if i != 0:
                raise InvalidConfig("waterfall", f"waterfall: {layer.kind} {lid} must come first")
            if layer.config.asset != cfg.debt_asset:
                raise InvalidConfig("waterfall", f"waterfall: {layer.kind} {lid} must hold {cfg.debt_asset}")
        layer.check_place(state, market_id, cfg, i)
        if layer.terminal and i != len(cfg.waterfall) - 1:
            raise InvalidConfig("waterfall", f"waterfall: {layer.kind} must be the last layer")
    if not state.layers[cfg.waterfall[-1]].terminal:
        raise InvalidConfig("waterfall", "waterfall: the last layer must be a socialize layer")
    if cfg.fee_layer is not None and cfg.fee_layer not in state.layers:
        raise UnknownEntity("fee_layer", f"fee_layer: unknown layer {cfg.fee_layer!r}")
