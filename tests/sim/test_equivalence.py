"""The vectorized risk lab against the exact engine, path by path (docs/risk-lab.md, docs/architecture.md).

For a sample of simulated paths, the same prices, liquidation triggers, incidents and guarantor
defaults the simulator drew are replayed through `Engine.apply` (`SetPrice`, `Advance`,
`Liquidate`, `Incident`, `GuarantorDefaults`), and what each layer paid is compared with the
simulator's per-path allocation (`Outcome.alloc`), together with bad debt and the stability
pool's absorption. The sample is the paths whose liquidations each settle one position per
step: with several positions in one step the simulator prices the sale of the whole range
together (shared depth) and spreads the stability pool pro rata, where the engine liquidates
one call at a time (a documented simplification, docs/risk-lab.md).

Tolerances, and why:
* no price impact (depth 0): the engine is integer (18 decimals, every division rounded in the
  pool's favour) and the sim is float64, so they agree to ~1e-12 relative; we allow 1e-9 of the
  path's loss plus 1e-9 tokens;
* with impact: the engine rounds impact *up to a whole bps* (`impact_bps`, "a risk model should
  not flatter the sale") while the sim uses the exact fraction, so each sale's proceeds may
  differ by up to 1 bps of the value sold, and the bad debt by up to 1e-4 × the debt liquidated
  on the path; that difference then flows down the waterfall, so we allow
  1e-4 × liquidated debt + 1e-9 × loss + 1e-9 per layer.
"""

from __future__ import annotations

import numpy as np
import pytest

from backstop.scenario.loader import load_scenario
from backstop.sim.model import compile_model
from backstop.sim.waterfall import run_backstop
from backstop.sim.world import simulate_world

from .helpers import bucket_accounts, drive_engine, equivalence_spec, single_bucket_paths

N_PATHS = 400
SAMPLE = 40


@pytest.mark.parametrize("depth_value", [0, 20_000_000], ids=["no-impact", "impact"])
def test_allocations_by_layer_match_the_exact_engine(depth_value: int) -> None:
    scenario = load_scenario(equivalence_spec(depth_value))
    model = compile_model(scenario, seed=7)
    world = simulate_world(model, 0, N_PATHS)
    out = run_backstop(model, world)
    accounts = bucket_accounts(model, scenario)

    ok = single_bucket_paths(world)
    sample = ok[out.loss[ok] > 0][:SAMPLE]
    assert len(sample) == SAMPLE, "the scenario should give enough paths with a loss"
    cols = {layer.id: j for j, layer in enumerate(model.layers)}
    sp = cols["sp"]
    liquidations = incidents = 0
    for p in sample:
        d = drive_engine(model, scenario, world, int(p), accounts)
        liquidations += d.liquidations
        incidents += d.incidents
        if depth_value == 0:
            tol = 1e-9 * out.loss[p] + 1e-9
        else:
            tol = 1e-4 * out.liquidated_debt[p] + 1e-9 * out.loss[p] + 1e-9
        for lid, j in cols.items():
            assert abs(d.alloc[lid] - out.alloc[p, j]) <= tol, (p, lid, d.alloc[lid], out.alloc[p, j])
        assert abs(d.bad_debt - out.bad_debt[p]) <= tol, (p, d.bad_debt, out.bad_debt[p])
        assert abs(d.absorbed - out.absorbed[p, sp]) <= 1e-9 * max(1.0, d.absorbed), (p, d.absorbed)

    # The sample exercises every rule: sales, incidents, the pool, every paying layer, defaults.
    assert liquidations > SAMPLE and incidents > 0
    for lid in ("fund", "stake", "g1", "dao", "rest"):
        assert (out.alloc[sample, cols[lid]] > 0).any(), f"no sampled path reaches {lid}"
    assert (out.absorbed[sample, sp] > 0).any()
    assert (world.defaulted[sample, cols["g1"]] & (out.alloc[sample, cols["rest"]] > 0)).any()
    assert (out.bad_debt[sample] > 0).any() and (out.incident_loss[sample] > 0).any()


def test_a_sampled_path_that_differs_is_caught() -> None:
    """The comparison is not vacuous: a rule changed on the engine side (the insurance fund's
    per-event cap halved) shows up as a difference on the sampled paths."""
    spec = equivalence_spec(0)
    scenario = load_scenario(spec)
    model = compile_model(scenario, seed=7)
    world = simulate_world(model, 0, N_PATHS)
    out = run_backstop(model, world)
    spec["layers"]["fund"]["max_payout_per_event"] = 500_000
    changed = load_scenario(spec)
    accounts = bucket_accounts(model, changed)
    ok = single_bucket_paths(world)
    sample = ok[out.loss[ok] > 0][:SAMPLE]
    j = [layer.id for layer in model.layers].index("fund")
    diffs = [abs(drive_engine(model, changed, world, int(p), accounts).alloc["fund"] - out.alloc[p, j]) for p in sample]
    assert max(diffs) > 1.0


def test_positions_from_steps_are_one_bucket_each() -> None:
    """The books the equivalence relies on: the ten borrowers of the scenario, one per bucket,
    ordered by liquidation price (highest first), with the engine's exact debt and collateral."""
    scenario = load_scenario(equivalence_spec())
    model = compile_model(scenario, seed=7)
    (book,) = model.books
    assert book.n_positions == book.n_buckets == 10
    liq = np.exp(-book.neg_log_liq)
    assert np.all(np.diff(liq) < 0)
    # L = D·p_debt / (C·lt): the healthiest borrower (2.6) is liquidated at 2000/2.6
    assert liq[-1] == pytest.approx(2000 / 2.6, rel=1e-6)
