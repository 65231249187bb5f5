"""Commands and events to and from plain JSON-ready dicts, for the event store, the API and `--json`.

`event_to_dict` is the one event encoder: the store writes it as canonical JSON, `run --json`
and the API print it with integers as strings. Amounts stay integers (base units): JSON
numbers in Python are arbitrary precision, and adapters that need strings (browsers) convert
at their own edge.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .commands import COMMAND_TYPES, BuyCover, CollateralConfig, Command, FillAuction, MarketConfig, QuoteTerms
from .errors import BackstopError
from .events import Event
from .layers.registry import kind
from .layers.spec import LayerConfig

_PAIR_FIELDS = {"collateral"}
_OMIT_IF_DEFAULT: dict[type, frozenset[str]] = {
    MarketConfig: frozenset({"gas_compensation", "gas_compensation_collateral_bps", "recovery_ccr_bps"}),
    FillAuction: frozenset({"percent"}),
    BuyCover: frozenset({"quote"}),
}
"""Fields added after the log format was fixed: written only when set, so the logs (and hashes)
of scenarios that do not use them stay byte-identical; decoding fills in the default."""


def command_to_dict(cmd: Any) -> dict[str, Any]:
    return {"type": type(cmd).__name__, **_plain(cmd)}


def event_to_dict(event: Event) -> dict[str, Any]:
    """An event as `{"seq", "at", "kind", "data"}`, ready for `json.dumps(..., default=json_default)`.

    Only a `command` event's command needs converting (to `command_to_dict`): every other value
    an event carries is already JSON-ready, and this runs for every event the service stores.
    """
    data = event.data
    if event.kind == "command":
        data = {**data, "command": command_to_dict(data["command"])}
    return {"seq": event.seq, "at": event.at, "kind": event.kind, "data": data}


def json_default(value: Any) -> Any:
    """`json.dumps`' fallback for the one non-JSON value events may hold: a set, written sorted."""
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if isinstance(value, LayerConfig):
            # A layer config logs its kind and the options set away from their default, so an
            # option added to a kind later leaves the logs of configs that do not use it unchanged.
            return {
                f.name: _plain(getattr(value, f.name))
                for f in dataclasses.fields(value)
                if f.name == "kind" or getattr(value, f.name) != f.default
            }
        omit = _OMIT_IF_DEFAULT.get(type(value), frozenset())
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not (f.name in omit and getattr(value, f.name) == f.default)
        }
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def command_from_dict(data: dict[str, Any]) -> Command:
    """Rebuild a command from `command_to_dict` output; unknown types or fields are errors."""
    kind = data.get("type")
    cls = COMMAND_TYPES.get(str(kind))
    if cls is None:
        raise BackstopError("type", f"type: unknown command {kind!r}")
    types = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key == "type":
            continue
        if key not in types:
            raise BackstopError(key, f"{key}: not a field of {cls.__name__}")
        kwargs[key] = _field_value(cls.__name__, key, _int_if_declared(types[key], value))
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise BackstopError("type", f"{cls.__name__}: {exc}") from exc


def _int_if_declared(declared: str, value: Any) -> Any:
    """JSON output writes big integers as strings (browsers lose precision past 2^53); turn
    them back into ints where the field is declared an int."""
    if isinstance(value, str) and "int" in declared and value.lstrip("-").isdigit():
        return int(value)
    return value


def _config(cls: type, value: dict[str, Any]) -> Any:
    types = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    unknown = set(value) - set(types)
    if unknown:
        name = sorted(unknown)[0]
        raise BackstopError(name, f"{name}: not a field of {cls.__name__}")
    return cls(**{k: _int_if_declared(types[k], v) for k, v in value.items()})


LEGACY_LAYER_DEFAULTS: dict[str, Any] = {
    "max_payout_per_event": None,
    "swap": False,
    "haircut_bps": 0,
    "cap": None,
    "mode": "cooldown",
    "cooldown_seconds": 0,
    "unstake_window_seconds": 0,
    "queue_seconds": 0,
    "max_slash_bps": 10_000,
    "min_remaining_assets": 0,
    "virtual_shares": 1_000,
    "virtual_assets": 1,
    "freeze_borrow_queued_bps": None,
    "freeze_supply_queued_bps": None,
    "guarantor": None,
    "attachment": 0,
    "limit": 0,
    "aggregate_limit": None,
    "premium_bps_per_year": 0,
    "payer": None,
    "collateral": 0,
    "token": None,
    "discount_bps": 0,
    "capacity_ratio_bps": 10_000,
}
"""Stores written before layer configs were typed per kind hold every kind's fields. A field
that is not the kind's and still has its old default carries no information and is dropped;
any other value of a foreign field is refused as before."""


def drop_legacy_layer_fields(value: dict[str, Any]) -> dict[str, Any]:
    """A stored layer config without the other kinds' fields that still hold their old default."""
    cls = kind(value.get("kind"), "config.kind").config
    own = {f.name for f in dataclasses.fields(cls)}
    legacy = LEGACY_LAYER_DEFAULTS
    return {k: v for k, v in value.items() if k in own or k not in legacy or v != legacy[k]}


def _layer_config(value: dict[str, Any]) -> Any:
    return _config(kind(value.get("kind"), "config.kind").config, drop_legacy_layer_fields(value))


def _field_value(cls_name: str, key: str, value: Any) -> Any:
    if key == "config" and cls_name == "AddLayer":
        return _layer_config(value)
    if key == "config" and cls_name == "AddMarket":
        cfg = dict(value)
        collateral = tuple(_config(CollateralConfig, c) for c in cfg.pop("collateral", ()))
        waterfall = tuple(cfg.pop("waterfall", ()))
        return _config(MarketConfig, {**cfg, "waterfall": waterfall, "collateral": collateral})
    if key == "quote" and cls_name == "BuyCover" and isinstance(value, dict):
        return _config(QuoteTerms, value)
    if key in _PAIR_FIELDS and isinstance(value, (list, tuple)):
        return tuple((str(a), int(b)) for a, b in value)
    if key in _PAIR_FIELDS and isinstance(value, dict):
        return tuple((str(a), int(b)) for a, b in value.items())
    if isinstance(value, list):
        return tuple(value)
    return value
