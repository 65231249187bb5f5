"""Request bodies (pydantic): one model per command verb, strict, with bounded sizes.

Amounts are whole-token decimal strings or numbers (`"1.5"`), exactly as in scenario files;
the builder turns them into base units and refuses more decimals than the asset has. Ids are
short names. `at` is optional: by default a command happens at the engine's current time
(time moves only by `advance`, which the oracle sends; the engine has no clock).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..domain.layers import spec
from ..domain.layers.registry import KINDS
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


class LayerBodyBase(Body):
    """What every layer body has; each kind's body (generated from its config) adds its fields."""

    id: Id
    kind: str
    asset: Id | None = None


def _layer_field(f: dataclasses.Field[Any], hints: dict[str, Any]) -> tuple[Any, Any]:
    """The request-body type of one declared config field, from its unit (spec.py)."""
    unit = spec.unit_of(f)
    if unit == spec.AMOUNT:
        return Amount | None, None
    if unit == spec.BPS_RATE:
        return int | None, Field(None, ge=0, le=f.metadata["upper"])
    if unit == spec.SECONDS:
        return int | None, Field(None, ge=0, le=10**10)
    if unit == spec.COUNT:
        return int | None, Field(None, ge=0, le=f.metadata["upper"])
    if unit == spec.POSITIVE:
        return int | None, Field(None, ge=1, le=10**30)
    if unit in (spec.LAYER_REF, spec.ACCOUNT, spec.ASSET):
        return Id | None, None
    if unit == spec.FLAG:
        return bool | None, None
    if unit == spec.CHOICE:
        return hints[f.name] | None, None
    raise TypeError(f"{f.name}: config field without a declared unit")


def _layer_body(name: str, config: type[spec.LayerConfig]) -> type[LayerBodyBase]:
    """One request body per kind, so OpenAPI shows each kind's own fields."""
    hints = typing.get_type_hints(config)
    fields: dict[str, Any] = {"kind": (Literal[name], ...)}
    for f in config.declared():
        fields[f.name] = _layer_field(f, hints)
    title = "".join(part.title() for part in name.split("_")) + "LayerBody"
    model: type[LayerBodyBase] = create_model(title, __base__=LayerBodyBase, **fields)
    return model


LAYER_BODIES: tuple[type[LayerBodyBase], ...] = tuple(_layer_body(name, k.config) for name, k in KINDS.items())
if TYPE_CHECKING:
    LayerBody = LayerBodyBase
else:
    LayerBody = Annotated[Union[LAYER_BODIES], Field(discriminator="kind")]  # noqa: UP007
    """`POST /v1/layers`: a layer of any registered kind, with that kind's fields only."""


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
    quote: Id | None = None
    """A quote from `POST /v1/quotes` for these terms: its premium is charged instead of the pool's rate."""
    at: At = None


class QuoteBody(Body):
    """`POST /v1/quotes`: price this cover by the risk lab on the live state (docs/service.md)."""

    pool: Id
    market: Id
    amount: Amount
    period_days: int = Field(ge=1, le=3650)
    causes: Annotated[list[Cause], Field(min_length=1, max_length=4)]
    account: Id | None = None
    """Whose cover: an investor key's own account (the default); an admin key must name one."""
    paths: int = Field(2000, ge=1, le=100_000)
    seed: int = Field(0, ge=0, le=2**32)


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


class AssessorStakeBody(Body):
    """`assessor_stake` / `assessor_unstake`: an assessor's stake in a cover pool's assessment stake."""

    pool: Id
    account: Id
    amount: Amount
    at: At = None


class SettleClaimBody(Body):
    """`settle_claim`: decide a voted claim after its poll and the payout cooldown."""

    claim: Id
    at: At = None


class ClaimCollateralBody(Body):
    """Liquity `claimCollateral`: the surplus of a capped Recovery Mode liquidation."""

    market: Id
    account: Id
    at: At = None


class GuarantorDefaultsBody(Body):
    layer: Id
    at: At = None


class SettleSlashingBody(Body):
    layer: Id
    at: At = None


class SetStatusBody(Body):
    """Blend `set_status` (admin): `active`, `on_ice`, `frozen` or `none` (permissionless)."""

    layer: Id
    status: Literal["active", "on_ice", "frozen", "none"]
    at: At = None


class ClaimRewardsBody(Body):
    layer: Id
    account: Id
    at: At = None


class CoverDeficitBody(Body):
    market: Id
    layer: Id
    amount: Amount
    asset: Id | None = None
    at: At = None


class FillAuctionBody(Body):
    layer: Id
    account: Id
    block: int = Field(ge=0, le=10**9)
    percent: int = Field(default=100, ge=1, le=100)
    at: At = None


class SimulationBody(Body):
    scenario: Annotated[str, Field(max_length=200)] = "risk_lab_cdp"
    """The name of an example scenario shipped with backstop (examples/<name>.yaml). The risk
    lab measures losses in one asset, so the scenario's markets must share a debt asset (the
    flagship's do not)."""
    paths: int = Field(1000, ge=1, le=1_000_000)
    horizon_days: int = Field(365, ge=1, le=3650)
    seed: int = Field(0, ge=0, le=2**32)


class SimulationRequest(Body):
    """`POST /v1/simulations`: the live book with the stored risk profile, or a bundled example."""

    source: Literal["live", "example"] = "example"
    """`live`: the service's current state, with the risk profile (`PUT /v1/risk/profile`) as its
    model; `example`: a bundled example scenario, named by `name`."""
    name: Annotated[str, Field(max_length=200)] | None = None
    """source=example: the example's name (default `risk_lab_cdp`)."""
    scenario: Annotated[str, Field(max_length=200)] | None = None
    """The former name of `name`, still accepted."""
    paths: int = Field(1000, ge=1, le=1_000_000)
    horizon_days: int | None = Field(None, ge=1, le=3650)
    """Overrides the model's `horizon_days` (default: the profile's or the example's own)."""
    seed: int = Field(0, ge=0, le=2**32)


class SizeAsk(Body):
    """What to size: one layer of the live book, and the P(socialized) it must keep to."""

    layer: Id
    """A layer of the live book whose kind has a size (`GET /v1/sizings/layers` lists them)."""
    target_p: float = Field(allow_inf_nan=False, examples=[0.01])
    """The largest acceptable probability that a loss is socialized, strictly between 0 and 1."""


class SizingRequest(Body):
    """`POST /v1/sizings`: the smallest size of a live layer meeting a target probability."""

    source: Literal["live"] = "live"
    """Only the live book (with the stored risk profile) is sized; examples: `backstop size`."""
    size: SizeAsk
    paths: int = Field(2000, ge=1, le=1_000_000)
    horizon_days: int | None = Field(None, ge=1, le=3650)
    """Overrides the profile's `horizon_days`."""
    seed: int = Field(0, ge=0, le=2**32)
