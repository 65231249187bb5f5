"""What a layer kind declares about its configuration, and the checks every kind shares.

A kind's config is a frozen dataclass whose fields say what they are through metadata: an
amount of the layer's asset (whole tokens in files and requests, base units in the engine), a
rate in bps with its upper bound, a duration in seconds, a count, the id of another layer, an
account name. The scenario loader, the API's request bodies (one OpenAPI schema per kind) and
the engine's validation all read that metadata, so a field is declared once, in its kind's home.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import InvalidConfig, UnknownEntity
from ..money import BPS

AMOUNT = "amount"
BPS_RATE = "bps"
SECONDS = "seconds"
POSITIVE = "positive"
LAYER_REF = "layer"
ACCOUNT = "account"
ASSET = "asset"
FLAG = "flag"
CHOICE = "choice"
COUNT = "count"


def amount(default: int | None = None, *, required: bool = False) -> Any:
    """An amount of the layer's own asset: whole tokens in files and bodies, base units here."""
    return dataclasses.field(default=default, metadata={"unit": AMOUNT, "required": required})


def bps(default: int | None = 0, *, upper: int = BPS) -> Any:
    """A rate in basis points, 0 ≤ value ≤ `upper` (None allowed when the default is None)."""
    return dataclasses.field(default=default, metadata={"unit": BPS_RATE, "upper": upper})


def seconds(default: int | None = 0) -> Any:
    """A duration in whole seconds, ≥ 0 (None allowed when the default is None)."""
    return dataclasses.field(default=default, metadata={"unit": SECONDS})


def positive(default: int) -> Any:
    """A strictly positive integer count (virtual shares and assets)."""
    return dataclasses.field(default=default, metadata={"unit": POSITIVE})


def count(default: int | None = None, *, upper: int = 1_000) -> Any:
    """A whole number of times, 0 ≤ value ≤ `upper` (None allowed when the default is None)."""
    return dataclasses.field(default=default, metadata={"unit": COUNT, "upper": upper})


def layer_ref(default: str | None = None) -> Any:
    """The id of another layer, which must exist when this one is added."""
    return dataclasses.field(default=default, metadata={"unit": LAYER_REF})


def account(default: str | None = None, *, required: bool = False) -> Any:
    """An account name (a guarantor's)."""
    return dataclasses.field(default=default, metadata={"unit": ACCOUNT, "required": required})


def asset(default: str | None = None) -> Any:
    """The name of an asset other than the layer's own, which must exist."""
    return dataclasses.field(default=default, metadata={"unit": ASSET})


def flag(default: bool = False) -> Any:
    return dataclasses.field(default=default, metadata={"unit": FLAG})


def choice(default: str) -> Any:
    """One of the values of the field's `Literal` type."""
    return dataclasses.field(default=default, metadata={"unit": CHOICE})


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerConfig:
    """The fields every kind has. Each kind subclasses it with `kind: Literal[<its name>]`."""

    kind: str
    asset: str | None = None

    NEEDS_ASSET: ClassVar[bool] = True
    """The kind holds or pays in one asset, named by `asset`."""

    @classmethod
    def declared(cls) -> tuple[dataclasses.Field[Any], ...]:
        """The kind's own fields, `kind` and `asset` excluded."""
        return tuple(f for f in dataclasses.fields(cls) if f.name not in ("kind", "asset"))


def unit_of(field: dataclasses.Field[Any]) -> str | None:
    unit: str | None = field.metadata.get("unit")
    return unit


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_fields(state: Any, cfg: LayerConfig) -> None:
    """The checks that follow from each field's declaration (ranges, references), in field order."""
    if cfg.asset is not None and cfg.asset not in state.assets:
        raise UnknownEntity("asset", f"asset: unknown asset {cfg.asset!r}")
    if cfg.NEEDS_ASSET and cfg.asset is None:
        raise InvalidConfig("asset", f"asset: a {cfg.kind} layer needs an asset")
    for f in type(cfg).declared():
        value = getattr(cfg, f.name)
        unit = unit_of(f)
        if value is None:
            if f.metadata.get("required"):
                raise InvalidConfig(f.name, f"{f.name}: required for a {cfg.kind} layer")
            continue
        if unit == BPS_RATE:
            upper = f.metadata["upper"]
            if not _int(value) or not 0 <= value <= upper:
                raise InvalidConfig(f.name, f"{f.name}: must be an integer in [0, {upper}] bps, got {value!r}")
        elif unit in (AMOUNT, SECONDS):
            if not _int(value) or value < 0:
                raise InvalidConfig(f.name, f"{f.name}: must be a non-negative integer, got {value!r}")
        elif unit == COUNT:
            upper = f.metadata["upper"]
            if not _int(value) or not 0 <= value <= upper:
                raise InvalidConfig(f.name, f"{f.name}: must be a whole number in [0, {upper}], got {value!r}")
        elif unit == POSITIVE:
            if not _int(value) or value <= 0:
                raise InvalidConfig(f.name, f"{f.name}: must be a positive integer, got {value!r}")
        elif unit == LAYER_REF:
            if value not in state.layers:
                raise UnknownEntity(f.name, f"{f.name}: unknown layer {value!r}")
        elif unit == ASSET:
            if value not in state.assets:
                raise UnknownEntity(f.name, f"{f.name}: unknown asset {value!r}")
        elif unit == ACCOUNT and (not isinstance(value, str) or not value):
            raise InvalidConfig(f.name, f"{f.name}: name the account")


@dataclass(frozen=True)
class Kind:
    """One layer kind's home: its typed config, its exact rule and (imported only by the risk
    lab, so the engine never loads NumPy) its vectorized rule, `<package>.vector.Vector`."""

    config: type[LayerConfig]
    exact: type[Any]
    package: str

    @property
    def name(self) -> str:
        default = next(f.default for f in dataclasses.fields(self.config) if f.name == "kind")
        assert isinstance(default, str), "a kind's config declares `kind: Literal[<name>] = <name>`"
        return default

    def vector(self) -> Any:
        import importlib

        return importlib.import_module(f"{self.package}.vector").Vector
