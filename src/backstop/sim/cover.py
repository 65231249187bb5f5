"""Cover policies and claims in phase B, and their figures (docs/risk-lab.md, "Cover policies and
claims").

After each round's loss events have run down their market's waterfall, every incident's
socialized part is checked against the policies in force at the start: each policy that covers
the incident's market and cause claims its owner's proven loss, in policy-id order across pools,
and its pool pays what its rule allows (`cover_pool/vector.py`, the twin of `domain/cover.py`).
A pool decided by a stake-weighted vote pays later (`PendingClaims`): the claim waits
`payout_delay_seconds` and is paid before the path's first event at or after then (or at the
horizon), from the pool's balance then, so a loss that drains the pool in between leaves it short,
as in the engine. This module only orders the policies and claims and keeps the per-path results;
the rule is the kind's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..domain.layers.cover_pool.vector import PolicyVector
from ..domain.layers.cover_pool.vector import Vector as CoverVector
from . import metrics

if TYPE_CHECKING:
    from .model import SimModel
    from .waterfall import Outcome


def policy_columns(model: SimModel) -> list[tuple[int, int, PolicyVector]]:
    """(layer column, index in the pool, policy) of every simulated policy, in policy-id order
    (the order claims are filed in); the position in this list is the policy's column in
    `Outcome.claims`."""
    cols = [
        (j, k, pol)
        for j, layer in enumerate(model.layers)
        if isinstance(layer, CoverVector)
        for k, pol in enumerate(layer.policies)
    ]
    return sorted(cols, key=lambda c: (len(c[2].id), c[2].id, c[0]))


@dataclass(frozen=True)
class ClaimPlan:
    """What phase B needs to file claims, computed once per chunk: the policies in claim order and
    which incident specs (market, cause) each one covers."""

    cols: list[tuple[int, int, PolicyVector]]
    covered: np.ndarray
    """(policies, incident specs) bool."""
    delay: tuple[int, ...] = ()
    """Each policy's payout delay, seconds from the incident (its pool's `payout_delay_seconds`)."""

    @classmethod
    def of(cls, model: SimModel) -> ClaimPlan:
        cols = policy_columns(model)
        covered = np.array(
            [[pol.covers(model.markets[inc.market].id, inc.cause) for inc in model.incidents] for _, _, pol in cols],
            dtype=bool,
        ).reshape(len(cols), len(model.incidents))
        delay = tuple(_layer(model, j).payout_delay_seconds for j, _, _ in cols)
        return cls(cols, covered, delay)

    @property
    def delayed(self) -> bool:
        """Whether some claim is paid after its incident (a pool decided by a vote)."""
        return any(d > 0 for d in self.delay)


def _layer(model: SimModel, j: int) -> CoverVector:
    layer = model.layers[j]
    assert isinstance(layer, CoverVector)
    return layer


@dataclass
class _Incidents:
    """One round's incident events of one market whose claims are not all paid yet."""

    q: np.ndarray
    """State rows (paths) of the events."""
    at: np.ndarray
    """Engine seconds of each incident."""
    socialized: np.ndarray
    la: int
    """The market's debt asset (the loss's)."""
    paid_by: dict[str, np.ndarray]
    """Owner → (events, assets) what the owner's claims on each incident were paid so far, in the
    paying pool's asset: the engine's `recovered_elsewhere`, converted when it is used."""
    waiting: dict[int, np.ndarray]
    """Policy column → events (bool) whose claim waits for its payout."""


class PendingClaims:
    """Claims of vote-decided pools, filed at their incident and paid `delay` seconds later: before
    the path's first event at or after that time (the engine: `settle_claim` just before it), at
    that event's prices, or at the horizon (`KIND_END`) at the last event's prices. Claims due in
    the same round are paid by delay, then incident, then policy id: the engine's order by due
    time and claim id, where it matters (one pool's claims; one incident's claims across pools)."""

    def __init__(self, model: SimModel, plan: ClaimPlan, n: int) -> None:
        self.plan = plan
        self.batches: list[_Incidents] = []
        self.prices = np.repeat(model.prices0[None, :], n, axis=0)
        """(paths, assets) prices of each path's latest world event (the engine's last `SetPrice`)."""

    def add(self, batch: _Incidents) -> None:
        self.batches.append(batch)

    def settle(
        self,
        model: SimModel,
        states: list[Any],
        out: Outcome,
        m: int,
        step: np.ndarray,
        prices: np.ndarray | None,
        end: np.ndarray,
    ) -> None:
        """Before round events of rows 0..m-1 at `step`: note their prices (`prices`, NaN rows: not
        a world event), then pay the claims due by then (all of them at the path's `end`)."""
        if prices is not None:
            seen = ~np.isnan(prices[:, 0])
            self.prices[:m][seen] = prices[seen]
        if not self.batches:
            return
        row_at = model.start_at + step * model.step_seconds
        plan = self.plan
        for delay in sorted({plan.delay[col] for b in self.batches for col in b.waiting}):
            for b in self.batches:
                for col in sorted(c for c in b.waiting if plan.delay[c] == delay):
                    live = b.waiting[col] & (b.q < m)
                    rows = np.minimum(b.q, m - 1)
                    due = live & ((b.at + delay <= row_at[rows]) | end[rows])
                    if due.any():
                        self._pay(model, states, out, b, col, np.nonzero(due)[0])
                        b.waiting[col] = b.waiting[col] & ~due
        self.batches = [b for b in self.batches if any(w.any() for w in b.waiting.values())]

    def _pay(self, model: SimModel, states: list[Any], out: Outcome, b: _Incidents, col: int, idx: np.ndarray) -> None:
        j, k, pol = self.plan.cols[col]
        layer = _layer(model, j)
        q = b.q[idx]
        p = self.prices[q]
        loss_price = p[:, b.la]
        recovered = (b.paid_by[pol.owner][idx] * p).sum(axis=1) / loss_price
        proven = b.socialized[idx] * pol.share - recovered
        pool_price = p[:, layer.asset] if layer.asset >= 0 else np.ones(len(idx))
        paid, short = layer.claim(states[j], k, q, b.at[idx], proven, loss_price, pool_price, layer.asset == b.la)
        if layer.asset >= 0:
            b.paid_by[pol.owner][idx, layer.asset] += paid
        out.claims[q, col] += paid
        out.claims_short[q, col] |= short


def pay_claims(
    model: SimModel,
    plan: ClaimPlan,
    states: list[Any],
    out: Outcome,
    q: np.ndarray,
    step: np.ndarray,
    cause_ref: np.ndarray,
    socialized: np.ndarray,
    prices: np.ndarray,
    la: int,
    pending: PendingClaims | None = None,
) -> None:
    """Claims on one round's loss events of one market: paths (state rows) `q`, at `step`, incident
    spec `cause_ref` (-1: not an incident), socialized part `socialized` in whole tokens of asset
    `la` (the asset the market's losses are counted in), `prices` (events, assets) at the events.
    A vote-decided pool's claims go to `pending` (given when the plan has such pools)."""
    inc = (cause_ref >= 0) & (socialized > 0)
    if not inc.any():
        return
    q, step, ref, soc, prices = q[inc], step[inc], cause_ref[inc], socialized[inc], prices[inc]
    at = model.start_at + step * model.step_seconds
    recovered: dict[str, np.ndarray] = {}
    batch = None
    if pending is not None:
        batch = _Incidents(q, at, soc, la, {}, {})
    for col, (j, k, pol) in enumerate(plan.cols):
        if pol.share <= 0:
            continue
        hit = plan.covered[col][ref]
        if not hit.any():
            continue
        layer = model.layers[j]
        assert isinstance(layer, CoverVector)
        if batch is not None:
            batch.paid_by.setdefault(pol.owner, np.zeros((len(q), len(model.assets))))
            if plan.delay[col] > 0:
                batch.waiting[col] = hit & (at >= pol.start) & (at <= pol.end)  # filed while active
                continue
        before = recovered.setdefault(pol.owner, np.zeros(len(q)))
        proven = soc[hit] * pol.share - before[hit]
        pool_price = prices[hit, layer.asset] if layer.asset >= 0 else np.ones(int(hit.sum()))
        paid, short = layer.claim(states[j], k, q[hit], at[hit], proven, prices[hit, la], pool_price, layer.asset == la)
        value = paid if layer.asset == la else paid * pool_price / prices[hit, la]
        before[hit] += value
        out.claims[q[hit], col] += paid
        out.claims_short[q[hit], col] |= short
        if batch is not None and layer.asset >= 0:
            batch.paid_by[pol.owner][np.nonzero(hit)[0], layer.asset] += paid
    if pending is not None and batch is not None and any(w.any() for w in batch.waiting.values()):
        pending.add(batch)


def summary(model: SimModel, outcome: Outcome) -> dict[str, Any]:
    """Per pool and per policy: expected payout (pool-asset tokens, with se), P(claim paid), the
    pool's P(exhausted) (a claim cut by its balance), the stakers' earned premiums and their
    return net of payouts over the horizon."""
    f = metrics.format_amount
    cols = policy_columns(model)
    out: dict[str, Any] = {}
    for j, layer in enumerate(model.layers):
        if not isinstance(layer, CoverVector) or not layer.policies:
            continue
        mine = [c for c, (jj, _, _) in enumerate(cols) if jj == j]
        paid = outcome.claims[:, mine].sum(axis=1)
        payout = metrics.mean(paid)
        earned = sum(pol.premium_earned for pol in layer.policies)
        net = metrics.mean((earned - paid) / layer.assets0) if layer.assets0 > 0 else None
        policies = {}
        for c in mine:
            _, _, pol = cols[c]
            e = metrics.mean(outcome.claims[:, c])
            policies[pol.id] = {
                "owner": pol.owner,
                "market": pol.market,
                "causes": list(pol.causes),
                "amount": f(pol.left),
                "expected_payout": f(e.value),
                "expected_payout_se": f(e.se) if not math.isnan(e.se) else "NaN",
                "p_claim_paid": metrics.probability(outcome.claims[:, c] > 0).as_dict(),
                "premium_earned": f(pol.premium_earned),
            }
        out[layer.id] = {
            "asset": model.assets[layer.asset] if layer.asset >= 0 else None,
            "policies": policies,
            "expected_payout": f(payout.value),
            "expected_payout_se": f(payout.se) if not math.isnan(payout.se) else "NaN",
            "p_claim_paid": metrics.probability(paid > 0).as_dict(),
            "p_exhausted": metrics.probability(np.asarray(outcome.claims_short[:, mine].any(axis=1))).as_dict(),
            "premiums_earned": f(earned),
            "staker_return_net": None if net is None else {"mean": net.value, "se": net.se},
        }
    return out
