"""Utilisation-based borrow rate (the Aave/Compound "kinked" model) and index growth.

rate = base + slope1 × U / U* below the kink U*, and base + slope1 + slope2 × (U − U*) / (1 − U*)
above it. Interest is simple within one accrual period and compounds across periods; the
index rounds up so borrowers are never undercharged.
"""

from __future__ import annotations

from ..commands import MarketConfig
from ..money import BPS, SECONDS_PER_YEAR, mul_div_down, mul_div_up

RAY = 10**27


def utilization_bps(cash: int, borrows: int) -> int:
    total = cash + borrows
    return 0 if total == 0 else mul_div_down(borrows, BPS, total)


def borrow_rate_bps(cfg: MarketConfig, util_bps: int) -> int:
    kink = cfg.optimal_utilization_bps
    if util_bps <= kink or kink >= BPS:
        return cfg.base_rate_bps + (mul_div_down(cfg.slope1_bps, util_bps, kink) if kink > 0 else 0)
    excess = util_bps - kink
    return cfg.base_rate_bps + cfg.slope1_bps + mul_div_down(cfg.slope2_bps, excess, BPS - kink)


def grow_index(index_ray: int, rate_bps: int, dt_seconds: int) -> int:
    return index_ray + mul_div_up(index_ray, rate_bps * dt_seconds, BPS * SECONDS_PER_YEAR)
