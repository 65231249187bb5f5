"""Pydantic models of a scenario file. Amounts are whole-token decimals (strings or ints);
floats are accepted only where they are exact enough to be written as a short decimal."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Amount = str | int | float


class AssetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decimals: int = Field(18, ge=0, le=36)


class CollateralSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ltv_bps: int | None = None
    liquidation_threshold_bps: int = 8500
    liquidation_bonus_bps: int = 500
    depth_value: Amount = 0
    impact_k_bps: int = 10_000
    max_impact_bps: int = 9_000


class MarketSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    debt_asset: str
    collateral: dict[str, CollateralSpec]
    waterfall: list[str]
    close_factor_bps: int = 10_000
    full_close_health_bps: int = 9_500
    liquidation_fee_bps: int = 0
    min_collateral_ratio_bps: int = 0
    reserve_factor_bps: int = 0
    base_rate_bps: int = 0
    slope1_bps: int = 0
    slope2_bps: int = 0
    optimal_utilization_bps: int = 8_000
    fee_layer: str | None = None
    gas_compensation: Amount = 0
    """Whole units of the debt asset (Liquity: 200)."""
    gas_compensation_collateral_bps: int = 0
    recovery_ccr_bps: int = 0


class ScenarioSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str | None = None
    assets: dict[str, AssetSpec]
    prices: dict[str, Amount] = {}
    layers: dict[str, dict[str, Any]]
    markets: dict[str, MarketSpec] = {}
    steps: list[dict[str, Any]] = []
    simulation: dict[str, Any] | None = None
