"""Treasury in the risk lab: the insurance fund's vectorized rule (`BalanceVector`) with the
treasury's cap, always selling other holdings (see `exact.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..insurance_fund.vector import BalanceVector


@dataclass(frozen=True)
class Vector(BalanceVector):
    pass
