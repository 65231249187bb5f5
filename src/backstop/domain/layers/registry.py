"""The registry of layer kinds: one registration line per kind. Everything that needs to know
the kinds (engine dispatch, the scenario loader, the API's request bodies and OpenAPI, the risk
lab's compiler, waterfall and sizing, the reports) iterates over `KINDS`."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidConfig
from . import (
    cover_pool,
    deficit,
    guarantor,
    insurance_fund,
    mint,
    redistribution,
    socialize,
    stability_pool,
    staking_pool,
    treasury,
)
from .spec import Kind, LayerConfig

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        insurance_fund.KIND,
        treasury.KIND,
        staking_pool.KIND,
        stability_pool.KIND,
        redistribution.KIND,
        guarantor.KIND,
        mint.KIND,
        cover_pool.KIND,
        socialize.KIND,
        deficit.KIND,
    )
}


def kind(name: Any, field: str = "kind") -> Kind:
    k = KINDS.get(name) if isinstance(name, str) else None
    if k is None:
        raise InvalidConfig(field, f"{field}: unknown layer kind {name!r} (kinds: {', '.join(KINDS)})")
    return k


def make_config(**fields: Any) -> LayerConfig:
    """A kind's config from keyword fields, `kind` included (tests, benchmarks, fuzzers)."""
    return kind(fields.get("kind")).config(**fields)


def kind_of_layer(layer: Any) -> Kind:
    """The registered kind of an exact layer object."""
    return KINDS[layer.kind]
