"""Treasury, exact rule: the platform's own funds. Same rule as the insurance fund's (it is a
`BalanceLayer`), bounded per event by `cap`, and it always sells other holdings when the loss
asset runs out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from ..insurance_fund.exact import BalanceLayer
from ..spec import LayerConfig, amount, bps


@dataclass(frozen=True, slots=True, kw_only=True)
class TreasuryConfig(LayerConfig):
    kind: Literal["treasury"] = "treasury"
    cap: int | None = amount()
    """Most the treasury pays for one event, in units of the loss asset (None: no cap)."""
    haircut_bps: int = bps(0)

    NEEDS_ASSET: ClassVar[bool] = False


class Treasury(BalanceLayer[TreasuryConfig]):
    kind: ClassVar[str] = "treasury"

    @property
    def event_cap(self) -> int | None:
        return self.config.cap

    @property
    def haircut_bps(self) -> int:
        return self.config.haircut_bps
