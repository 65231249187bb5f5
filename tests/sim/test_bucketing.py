"""Bucketing (docs/risk-lab.md): positions are binned by liquidation price so the cost does not grow
with their number. Asserted structurally: the number of buckets, and so the size of the arrays
and of the event list phase B walks, is bounded by `liquidation.buckets`, whatever the count."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from backstop.scenario.loader import load_scenario
from backstop.sim import api
from backstop.sim.model import compile_model
from backstop.sim.world import KIND_LIQUIDATION, simulate_world

from .helpers import equivalence_spec


def book_spec(count: int, buckets: int = 64, health_sigma: float = 0.4) -> dict[str, Any]:
    spec = equivalence_spec()
    spec["steps"] = [s for s in spec["steps"] if s["do"] != "open"]
    sim = spec["simulation"]
    sim["positions"] = [
        {
            "market": "lend",
            "count": count,
            "collateral": "ETH",
            "debt_total": 30_000_000,
            "health": {"median": 1.5, "sigma": health_sigma},
        }
    ]
    sim["liquidation"] = {"buckets": buckets}
    sim["incidents"] = []
    return copy.deepcopy(spec)


@pytest.mark.parametrize("count", [1_000, 200_000])
def test_buckets_and_events_are_bounded_whatever_the_count(count: int) -> None:
    model = compile_model(load_scenario(book_spec(count)), seed=1)
    (book,) = model.books
    assert book.n_positions == count
    assert book.n_buckets <= 64
    assert book.cum_debt.shape == (book.n_buckets + 1,)
    world = simulate_world(model, 0, 500)
    liq = world.ev_kind == KIND_LIQUIDATION
    # a bucket is liquidated at most once per path: at most `buckets` settlements per path
    per_path = np.bincount(world.ev_path[liq], minlength=500)
    assert per_path.max() <= 64
    assert np.all(world.ev_k_after[liq] <= book.n_buckets)
    # the buckets keep the book's totals exactly
    assert book.total_debt == pytest.approx(30_000_000, rel=1e-12)


def test_a_bucket_of_equal_liquidation_prices_is_exactly_one_position() -> None:
    """Positions with the same D/C share a liquidation price and act as one position holding their
    sums (the shortfall D − C·q is linear in (D, C)): 5,000 of them give the same losses as one."""
    many = api.simulate(load_scenario(book_spec(5_000, health_sigma=0.0)), paths=1000, seed=2, keep_paths=0)
    one = api.simulate(load_scenario(book_spec(1, health_sigma=0.0)), paths=1000, seed=2, keep_paths=0)
    assert many.model.books[0].n_positions == 5_000 and one.model.books[0].n_positions == 1
    assert many.outcome.loss.max() > 0
    np.testing.assert_allclose(many.outcome.loss, one.outcome.loss, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(many.outcome.alloc, one.outcome.alloc, rtol=1e-9, atol=1e-6)
