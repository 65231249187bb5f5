"""Reserve deficit, exact rule: whatever no layer paid is booked as the market's reserve
deficit (Aave v3.3 `ReserveData.deficit`); suppliers' balances are NOT cut.

In Aave v3.3 a liquidation that leaves a borrower with no collateral burns the rest of the debt
and adds it to `reserve.deficit` (aave-v3-origin v3.3.0 LiquidationLogic.sol:544-585); nothing
touches the liquidity index or aToken balances, so suppliers keep their claims and the reserve
is short of cash by the deficit: the last suppliers to leave find no liquidity
(`virtualUnderlyingBalance -= amount` reverts, ReserveLogic.sol:196-198) until the deficit is
eliminated (`eliminateReserveDeficit`, LiquidationLogic.sol:95-165), which Umbrella does from
slashed funds or the treasury. The market applies this (`Market.write_off` books the deficit,
`Market.withdraw_supply` refuses withdrawals beyond cash, `cover_deficit` covers it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from ...context import Ctx
from ...loss import Loss
from ..base import Layer
from ..spec import LayerConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class DeficitConfig(LayerConfig):
    kind: Literal["deficit"] = "deficit"

    NEEDS_ASSET: ClassVar[bool] = False


class Deficit(Layer[DeficitConfig]):
    kind: ClassVar[str] = "deficit"
    terminal: ClassVar[bool] = True
    records_deficit: ClassVar[bool] = True
    """The market books what this end takes as its reserve deficit instead of writing it off
    from suppliers (read by `Market.write_off`)."""

    def absorb(self, ctx: Ctx, loss: Loss, remaining: int) -> int:
        return remaining
