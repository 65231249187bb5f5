"""Cover pool, exact rule (Nexus Mutual style): capital providers hold shares of a vault that
sells cover. Premiums raise the exchange rate, payouts (claims, and slashes when the pool sits
in a waterfall) lower it. It sells cover up to `capacity_ratio_bps` of its capital, priced at
`premium_bps_per_year` of the amount covered. Policies and claims are in `domain/cover.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from ...context import Ctx
from ...money import BPS, bps_down
from ..share_vault import ShareVault, ShareVaultConfig
from ..spec import bps


@dataclass(frozen=True, slots=True, kw_only=True)
class CoverPoolConfig(ShareVaultConfig):
    kind: Literal["cover_pool"] = "cover_pool"
    capacity_ratio_bps: int = bps(10_000, upper=100 * BPS)
    """Active cover may reach this share of the pool's capital."""
    premium_bps_per_year: int = bps(0, upper=10 * BPS)
    """Price of cover per year, in bps of the amount covered."""


class CoverPool(ShareVault[CoverPoolConfig]):
    kind: ClassVar[str] = "cover_pool"

    def active_cover(self, ctx: Ctx) -> int:
        return sum(p.amount - p.paid for p in ctx.state.policies.values() if p.pool == self.id and p.end > ctx.at)

    def capacity(self, ctx: Ctx) -> int:
        return bps_down(self.total_assets(ctx.state), self.config.capacity_ratio_bps)
