"""Turn an HTTP request body into an engine command, with the scenario loader's rules.

The scenario loader already knows how to read whole-token amounts exactly and name the field
at fault; the service reuses it, reading assets, layers, markets and policies from the live
engine instead of a YAML header.
"""

from __future__ import annotations

from typing import Any, cast

from ..domain.commands import Command
from ..domain.errors import UnknownEntity
from ..engine import Engine
from ..scenario.loader import _Builder
from ..scenario.model import MarketSpec


class LiveBuilder(_Builder):
    def __init__(self, engine: Engine) -> None:
        state = engine.state
        self.engine = engine
        self.decimals = dict(state.assets)
        self.step = None
        self.used = set()
        self.expecting_error = False
        self.policy_assets = {
            pid: getattr(state.layers[p.pool], "asset", "")
            for pid, p in state.policies.items()
            if p.pool in state.layers
        }

    def layer_asset(self, layer_id: str, field: str = "layer") -> str:
        layer = self.engine.state.layers.get(layer_id)
        if layer is None:
            raise self.fail(field, f"unknown layer {layer_id!r}", UnknownEntity)
        asset = getattr(layer, "asset", None) or layer.config.asset
        if asset is None:
            raise self.fail(field, f"layer {layer_id!r} has no asset")
        return str(asset)

    def market(self, market_id: str) -> Any:
        m = self.engine.state.markets.get(market_id)
        if m is None:
            raise self.fail("market", f"unknown market {market_id!r}", UnknownEntity)
        return m.config

    def command(self, verb: str, body: dict[str, Any]) -> Command:
        raw = {k: v for k, v in body.items() if v is not None}
        raw["do"] = verb
        raw.setdefault("at", self.engine.state.now)
        return cast(Command, self.build_step(raw).command)

    def market_spec(self, market_id: str, body: dict[str, Any]) -> Any:
        return self.market_config(market_id, MarketSpec.model_validate(body))
