"""Request bodies (pydantic): one model per command verb, strict, with bounded sizes.

Amounts are whole-token decimal strings or numbers (`"1.5"`), exactly as in scenario files;
the builder turns them into base units and refuses more decimals than the asset has. Ids are
short names. `at` is optional: by default a command happens at the engine's current time
(time moves only by `advance`, which the oracle sends; the engine has no clock).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..scenario.model import MarketSpec

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Amount = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[0-9]+(\.[0-9]+)?$", examples=["1.5"])]
At = Annotated[int | None, Field(default=None, ge=0, le=2**53)]
Cause = Literal["exploit", "bug", "oracle", "tech_failure"]
Collateral = Annotated[dict[Id, Amount], Field(max_length=16)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssetBody(Body):
    symbol: Id
    decimals: int = Field(18, ge=0, le=36)
    price: Amount | None = None


class PriceBody(Body):
    asset: Id
    price: Amount
    at: At = None


class LayerBody(Body):
    id: Id
    kind: Literal[
        "insurance_fund", "staking_pool", "stability_pool", "treasury", "socialize", "guarantor", "mint", "cover_pool"
    ]
    asset: Id | None = None
    max_payout_per_event: Amount | None = None
    swap: bool | None = None
    haircut_bps: int | None = Field(None, ge=0, le=10_000)
    cap: Amount | None = None
    mode: Literal["cooldown", "queue"] | None = None
    cooldown_seconds: int | None = Field(None, ge=0, le=10**10)
    unstake_window_seconds: int | None = Field(None, ge=0, le=10**10)
    queue_seconds: int | None = Field(None, ge=0, le=10**10)
    max_slash_bps: int | None = Field(None, ge=0, le=10_000)
    min_remaining_assets: Amount | None = None
    freeze_borrow_queued_bps: int | None = Field(None, ge=0, le=10_000)
    freeze_supply_queued_bps: int | None = Field(None, ge=0, le=10_000)
    guarantor: Id | None = None
    attachment: Amount | None = None
    limit: Amount | None = None
    aggregate_limit: Amount | None = None
    premium_bps_per_year: int | None = Field(None, ge=0, le=10_000)
    payer: Id | None = None
    collateral: Amount | None = None
    token: Id | None = None
    discount_bps: int | None = Field(None, ge=0, le=10_000)
    capacity_ratio_bps: int | None = Field(None, ge=0, le=1_000_000)


class MarketBody(MarketSpec):
    id: Id


class DepositBody(Body):
    layer: Id
    account: Id
    amount: Amount
    at: At = None


class SharesBody(Body):
    layer: Id
    account: Id
    amount: Amount | None = None
    shares: Annotated[str, Field(pattern=r"^[0-9]{1,78}$")] | None = None
    at: At = None


class CancelBody(Body):
    layer: Id
    account: Id
    at: At = None


class MarketAmountBody(Body):
    market: Id
    account: Id
    amount: Amount
    at: At = None


class OpenBody(Body):
    market: Id
    account: Id
    collateral: Collateral | None = None
    debt: Amount | None = None
    at: At = None


class AddCollateralBody(Body):
    market: Id
    account: Id
    collateral: Collateral
    at: At = None


class LiquidateBody(Body):
    market: Id
    account: Id
    at: At = None


class IncidentBody(Body):
    market: Id
    asset: Id
    amount: Amount
    cause: Cause
    at: At = None


class RewardBody(Body):
    layer: Id
    amount: Amount
    from_: Id | None = Field(None, alias="from")
    at: At = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AdvanceBody(Body):
    at: int = Field(ge=0, le=2**53)


class BuyCoverBody(Body):
    pool: Id
    account: Id
    market: Id
    causes: Annotated[list[Cause], Field(min_length=1, max_length=4)]
    amount: Amount
    period_days: int = Field(ge=1, le=3650)
    at: At = None


class FileClaimBody(Body):
    policy: Id
    incident: Id
    loss: Amount
    at: At = None


class AssessClaimBody(Body):
    claim: Id
    approve: bool
    reason: Annotated[str, Field(max_length=500)] = ""
    assessor: Id | None = None
    """Only an admin may name the assessor; anyone else assesses as their own account."""
    at: At = None


class GuarantorDefaultsBody(Body):
    layer: Id
    at: At = None


class SimulationBody(Body):
    scenario: Annotated[str, Field(max_length=200)] = "risk_lab_cdp"
    """The name of an example scenario shipped with backstop (examples/<name>.yaml). The risk
    lab measures losses in one asset, so the scenario's markets must share a debt asset (the
    flagship's do not)."""
    paths: int = Field(1000, ge=1, le=1_000_000)
    horizon_days: int = Field(365, ge=1, le=3650)
    seed: int = Field(0, ge=0, le=2**32)
