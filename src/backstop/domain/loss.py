"""A loss event: what was lost, where, why; and how the waterfall allocated it.

See docs/engine.md, "Loss events and the waterfall".
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Loss:
    id: str
    market: str
    asset: str
    amount: int
    cause: str
    at: int
    sink: str
    """Ledger account that layer payments go to (market cash, collateral account, or the issuer)."""
    incident: str | None = None
    allocation: dict[str, int] = field(default_factory=dict)
    by_account: dict[str, int] = field(default_factory=dict)
    """Who bore the socialized part (suppliers or collateral holders), for claims and P&L."""

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "market": self.market,
            "asset": self.asset,
            "amount": self.amount,
            "cause": self.cause,
            "at": self.at,
            "incident": self.incident,
            "allocation": dict(self.allocation),
            "by_account": dict(sorted(self.by_account.items())),
        }
