"""Cover policies and claims in phase B, and their figures (docs/risk-lab.md, "Cover policies and
claims").

After each round's loss events have run down their market's waterfall, every incident's
socialized part is checked against the policies in force at the start: each policy that covers
the incident's market and cause claims its owner's proven loss, in policy-id order across pools,
and its pool pays what its rule allows (`cover_pool/vector.py`, the twin of `domain/cover.py`).
This module only orders the policies and keeps the per-path results; the rule is the kind's.
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

    @classmethod
    def of(cls, model: SimModel) -> ClaimPlan:
        cols = policy_columns(model)
        covered = np.array(
            [[pol.covers(model.markets[inc.market].id, inc.cause) for inc in model.incidents] for _, _, pol in cols],
            dtype=bool,
        ).reshape(len(cols), len(model.incidents))
        return cls(cols, covered)


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
) -> None:
    """Claims on one round's loss events of one market: paths (state rows) `q`, at `step`, incident
    spec `cause_ref` (-1: not an incident), socialized part `socialized` in whole tokens of asset
    `la` (the asset the market's losses are counted in), `prices` (events, assets) at the events."""
    inc = (cause_ref >= 0) & (socialized > 0)
    if not inc.any():
        return
    q, step, ref, soc, prices = q[inc], step[inc], cause_ref[inc], socialized[inc], prices[inc]
    at = model.start_at + step * model.step_seconds
    recovered: dict[str, np.ndarray] = {}
    for col, (j, k, pol) in enumerate(plan.cols):
        if pol.share <= 0:
            continue
        hit = plan.covered[col][ref]
        if not hit.any():
            continue
        layer = model.layers[j]
        assert isinstance(layer, CoverVector)
        before = recovered.setdefault(pol.owner, np.zeros(len(q)))
        proven = soc[hit] * pol.share - before[hit]
        pool_price = prices[hit, layer.asset] if layer.asset >= 0 else np.ones(int(hit.sum()))
        paid, short = layer.claim(states[j], k, q[hit], at[hit], proven, prices[hit, la], pool_price, layer.asset == la)
        value = paid if layer.asset == la else paid * pool_price / prices[hit, la]
        before[hit] += value
        out.claims[q[hit], col] += paid
        out.claims_short[q[hit], col] |= short


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
