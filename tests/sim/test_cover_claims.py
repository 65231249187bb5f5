"""Cover policies and claims in the risk lab (docs/risk-lab.md, "Cover policies and claims"): the
figures `simulate --json` and the report give, and the engine's rule that only a socialized loss
of a supplier is provable. The rule itself is proved against the engine in
`test_kind_equivalence.py::test_cover_claims_and_pool_balance_match_the_exact_engine`."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from backstop.scenario.loader import load_scenario
from backstop.sim import api
from backstop.sim.report import build_report

from .test_kind_equivalence import _cover_world

PATHS = 400


def _run(spec: dict[str, Any]) -> api.SimulationResult:
    return api.simulate(load_scenario(copy.deepcopy(spec)), paths=PATHS, seed=5, keep_paths=0)


def test_the_summary_gives_payouts_per_policy_and_pool() -> None:
    res = _run(_cover_world(False, True))
    cover = res.summary()["cover"]["x"]
    pols = cover["policies"]
    assert list(pols) == ["pol-1", "pol-2", "pol-3"]
    claims = res.outcome.claims
    # per policy: the mean of what it was paid; per pool: the sum over its policies
    for col, pid in enumerate(pols):
        assert float(pols[pid]["expected_payout"]) == round(float(claims[:, col].mean()), 6)
        assert pols[pid]["p_claim_paid"]["value"] == float((claims[:, col] > 0).mean())
    assert abs(float(cover["expected_payout"]) - float(claims.sum(axis=1).mean())) < 1e-5
    # never more than the cover amount (800,000 each), and one loss is not paid twice
    assert claims.max() <= 800_000 + 1e-6
    socialized = res.socialized() * 0.2  # ivy holds 25M of the 125M supplied
    assert np.all(claims[:, :2].sum(axis=1) <= socialized + 1e-6)
    # the premiums the stakers earn: 50% of 3%/year of 800,000 over 60 days, then of 800,000 and
    # again of 800,000 over the 90 days of the horizon (of 365)
    earned = 0.5 * 0.03 * 800_000 * (60 / 365 + 2 * 90 / 365)
    assert abs(float(cover["premiums_earned"]) - earned) < 1e-5
    # over the pool's start assets: the 1,000,000 staked plus the stakers' half of the premiums
    # already paid (60, 365 and 365 days)
    start_assets = 1_000_000 + 0.5 * 0.03 * 800_000 * (60 + 365 + 365) / 365
    net = (earned - claims.sum(axis=1)) / start_assets
    assert abs(cover["staker_return_net"]["mean"] - float(net.mean())) < 1e-9
    assert 0 < cover["p_exhausted"]["value"] < 1
    assert "cover policies and claims" in build_report(res)


def test_nothing_is_provable_when_the_market_ends_in_a_deficit() -> None:
    """`Market.write_off` cuts no supplier when the waterfall ends in `deficit` (Aave v3.3), so the
    engine finds no proven loss and no policy pays."""
    spec = _cover_world(False, False)
    spec["layers"]["rest"] = {"kind": "deficit"}
    res = _run(spec)
    assert res.outcome.incident_loss.max() > 0
    assert res.outcome.claims.max() == 0.0
    assert res.summary()["cover"]["x"]["p_claim_paid"]["value"] == 0.0


def test_without_policies_the_summary_has_no_cover_section() -> None:
    spec = _cover_world(False, False)
    spec["steps"] = [s for s in spec["steps"] if s["do"] != "buy_cover"]
    assert "cover" not in _run(spec).summary()
