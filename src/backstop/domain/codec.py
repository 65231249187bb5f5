"""Commands and events to and from plain JSON-ready dicts, for the event store, the API and `--json`.

`event_to_dict` is the one event encoder: the store writes it as canonical JSON, `run --json`
and the API print it with integers as strings. Amounts stay integers (base units): JSON
numbers in Python are arbitrary precision, and adapters that need strings (browsers) convert
at their own edge.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .commands import COMMAND_TYPES, CollateralConfig, Command, LayerConfig, MarketConfig
from .errors import BackstopError
from .events import Event

_PAIR_FIELDS = {"collateral"}


def command_to_dict(cmd: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(cmd).__name__}
    for f in dataclasses.fields(cmd):
        out[f.name] = _plain(getattr(cmd, f.name))
    return out


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
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
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


def _field_value(cls_name: str, key: str, value: Any) -> Any:
    if key == "config" and cls_name == "AddLayer":
        return _config(LayerConfig, value)
    if key == "config" and cls_name == "AddMarket":
        cfg = dict(value)
        collateral = tuple(_config(CollateralConfig, c) for c in cfg.pop("collateral", ()))
        waterfall = tuple(cfg.pop("waterfall", ()))
        return _config(MarketConfig, {**cfg, "waterfall": waterfall, "collateral": collateral})
    if key in _PAIR_FIELDS and isinstance(value, (list, tuple)):
        return tuple((str(a), int(b)) for a, b in value)
    if key in _PAIR_FIELDS and isinstance(value, dict):
        return tuple((str(a), int(b)) for a, b in value.items())
    if isinstance(value, list):
        return tuple(value)
    return value
