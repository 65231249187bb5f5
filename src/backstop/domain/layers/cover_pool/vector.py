"""Cover pool in the risk lab: slashed like a share vault when it sits in a waterfall, and paying
the claims of the policies in force at the start (the twin of `domain/cover.py`).

What a policy pays, as the engine decides it (`cover._approve`):

    min(claimed, cover amount − already paid, proven loss − recovered elsewhere, pool balance)

where the proven loss is the owner's recorded share of the *socialized* part of an incident's
loss (`Market.write_off` splits it over the suppliers pro rata to their supply shares; a market
that ends in a reserve deficit, or a cdp's unbacked debt, cuts nobody, so nothing is provable).
The incident must hit the policy's market with a covered cause while the policy is active
(`start ≤ at ≤ end`, `cover.file_claim`).

Assumptions of the risk lab (docs/risk-lab.md, "Cover policies and claims"; docs/decisions.md):
the owner files a claim for the whole proven loss right after each covered incident, the claim
is approved (single assessor or stake-weighted vote: the loss is provable by the engine's own
record, so the honest outcome is approval); the claim deposit is returned with the payout, so it
moves nothing. A single-assessor pool pays at once, before the path's next event; a pool with
assessment stake pays `payout_delay_seconds` later (`cover.payout_delay_seconds`: the vote, cast
at filing, and the payout cooldown), before the path's first event at or after that time, or at
the horizon, from the pool as it stands then, converted at the prices of then (`sim/cover.py`
keeps those claims pending). The policies of a path are claimed in policy-id order (the engine's
`recovered elsewhere` then makes a loss good once across them).

Premiums: the engine takes a policy's whole premium when the cover is bought, so the premiums of
the policies in force are already in the start's pool balance (the stakers' share) and its
capital pool (the rest); nothing is added again during the horizon. What the stakers *earn* over
the horizon is their share of each premium pro rata to the part of the policy's period that falls
in it (`premium_earned`), which with the payouts gives the stakers' return net of claims.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from ...money import BPS
from ..base_vector import EPS
from ..share_vault_vector import VaultState, VaultVector

if TYPE_CHECKING:
    from ....sim.model import LayerCompiler


@dataclass(frozen=True)
class PolicyVector:
    """One policy in force at the start, compiled to floats (pool-asset whole tokens)."""

    id: str
    owner: str
    market: str
    causes: tuple[str, ...]
    left: float
    """Cover amount not yet paid, whole tokens of the pool's asset."""
    start: int
    end: int
    """Engine seconds: the policy covers incidents at `start ≤ at ≤ end`."""
    share: float
    """The owner's fraction of the market's socialized loss (supply shares; 0: none provable)."""
    premium_earned: float
    """Stakers' share of the premium, pro rata to the part of the period inside the horizon."""

    def covers(self, market: str, cause: str) -> bool:
        return market == self.market and cause in self.causes


@dataclass
class CoverState(VaultState):
    paid: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    """(paths, policies) paid so far over the horizon."""


def owner_share(state: Any, market_id: str, owner: str) -> float:
    """The owner's fraction of a socialized loss of the market, as `Market.write_off` splits it."""
    m = state.markets[market_id]
    if m.kind != "lending" or m.ends_in_deficit(state) or m.supply_shares_total <= 0:
        return 0.0
    return float(m.supply_shares.get(owner, 0) / m.supply_shares_total)


@dataclass(frozen=True)
class Vector(VaultVector):
    policies: tuple[PolicyVector, ...] = ()
    payout_delay_seconds: int = 0
    """From an incident to its claims' payout: 0 for a single assessor, else the vote and the
    payout cooldown (`cover.payout_delay_seconds`)."""

    @classmethod
    def compile(cls, c: LayerCompiler, layer: Any) -> Self:
        from ...cover import payout_delay_seconds  # the claim rules import this kind's exact rule

        base = super().compile(c, layer)
        return replace(base, policies=cls.compile_policies(c, layer), payout_delay_seconds=payout_delay_seconds(layer))

    @staticmethod
    def compile_policies(c: LayerCompiler, layer: Any, extra: tuple[Any, ...] = ()) -> tuple[PolicyVector, ...]:
        """The pool's policies still in force at the start (not ended, cover left), in id order,
        then `extra` ones (a quote's hypothetical policy)."""
        state = c.state
        now = int(state.now)
        horizon_end = now + c.spec.horizon_days * 86_400
        keep = sorted(
            (p for p in state.policies.values() if p.pool == layer.id and p.end >= now and p.amount > p.paid),
            key=lambda p: (len(p.id), p.id),
        )
        out = []
        staker_part = layer.config.staker_reward_bps / BPS
        for p in (*keep, *extra):
            period = max(1, p.end - p.start)
            inside = max(0, min(p.end, horizon_end) - max(p.start, now))
            out.append(
                PolicyVector(
                    id=p.id,
                    owner=p.owner,
                    market=p.market,
                    causes=tuple(p.causes),
                    left=c.units(layer.config.asset, p.amount - p.paid),
                    start=p.start,
                    end=p.end,
                    share=owner_share(state, p.market, p.owner),
                    premium_earned=c.units(layer.config.asset, p.premium) * staker_part * inside / period,
                )
            )
        return tuple(out)

    def start(self, n: int, defaulted: np.ndarray) -> CoverState:
        base = super().start(n, defaulted)
        return CoverState(base.assets, base.shares, np.zeros((n, len(self.policies))))

    def claim(
        self,
        s: CoverState,
        k: int,
        q: np.ndarray,
        at: np.ndarray,
        proven: np.ndarray,
        loss_price: np.ndarray,
        pool_price: np.ndarray,
        same_asset: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Policy k's claims on events at paths `q` (state rows), engine time `at`, whose owner's
        proven loss less what other policies already paid for it is `proven` (loss-asset tokens).
        Pays, lowers the pool; returns (paid in pool tokens, short: the pool's balance cut it)."""
        pol = self.policies[k]
        active = (at >= pol.start) & (at <= pol.end)
        owed = np.maximum(0.0, proven)
        if not same_asset:
            owed = owed * loss_price / pool_price
        left = np.maximum(0.0, pol.left - s.paid[q, k])
        want = np.where(active, np.minimum(left, owed), 0.0)
        have = s.assets[q]
        pay = np.minimum(want, np.maximum(0.0, have))
        s.assets[q] = have - pay
        s.paid[q, k] += pay
        short = want > pay + EPS * np.maximum(1.0, want)
        return pay, short
