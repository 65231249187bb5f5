"""The whole state of one backstop: assets, prices, ledger, layers, markets, losses, cover."""

from __future__ import annotations

from typing import Any

from .layers.base import Layer
from .ledger import Ledger
from .loss import Loss
from .markets.market import Market, Position


class State:
    def __init__(self) -> None:
        self.now = 0
        self.assets: dict[str, int] = {}
        """Asset symbol -> decimals."""
        self.prices: dict[str, int] = {}
        self.ledger = Ledger()
        self.layers: dict[str, Layer[Any]] = {}
        self.markets: dict[str, Market] = {}
        self.losses: list[Loss] = []
        self.incidents: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, Any] = {}
        self.claims: dict[str, Any] = {}
        self.minted: dict[str, int] = {}

    def fee_layer_account(self, market: Market) -> str | None:
        """Where reserve-factor interest and liquidation fees go: the configured fee layer, or the
        first insurance fund of the waterfall, or nowhere (they stay with suppliers/keepers)."""
        lid = market.config.fee_layer
        if lid is None:
            for candidate in market.config.waterfall:
                if self.layers[candidate].default_fee_layer:
                    lid = candidate
                    break
        return None if lid is None else self.layers[lid].account

    def has_prices(self, market: Market, pos: Position) -> bool:
        if market.debt_asset not in self.prices:
            return False
        return all(a in self.prices for a, v in pos.collateral.items() if v)

    def hash_state(self) -> Any:
        return {
            "now": self.now,
            "assets": sorted(self.assets.items()),
            "prices": sorted(self.prices.items()),
            "ledger": sorted([list(k), v] for k, v in self.ledger.balances.items() if v),
            "layers": {k: [v.kind, v.hash_state()] for k, v in sorted(self.layers.items())},
            "markets": {k: v.hash_state() for k, v in sorted(self.markets.items())},
            "losses": [loss.to_dict() for loss in self.losses],
            "incidents": sorted(self.incidents.items()),
            "policies": sorted((k, _plain(v)) for k, v in self.policies.items()),
            "claims": sorted((k, _plain(v)) for k, v in self.claims.items()),
            "minted": sorted(self.minted.items()),
        }


def _plain(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value
