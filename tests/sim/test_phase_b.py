"""Phase B has two implementations: the NumPy rounds (`waterfall.run_backstop`, always there) and the
compiled driver that runs each path's events in order through each kind's scalar rule
(`phase_b.py`, with numba). They must give the same outcome bit for bit, on both risk-lab examples
and on the worlds `test_kind_equivalence.py` draws for every kind; a world the driver does not
cover must be planned out (None) and run by the NumPy rounds.

The compiled half needs numba and is skipped without it; the driver's logic is still checked
without numba by running its Python source in the interpreter (`interpreted`), on small worlds."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from backstop.domain.layers import share_vault_vector
from backstop.scenario.loader import load_scenario
from backstop.sim import jit, phase_b
from backstop.sim.model import SimModel, compile_model
from backstop.sim.waterfall import Outcome, run_backstop
from backstop.sim.world import World, simulate_world

from .helpers import CDP, EXAMPLES
from .test_kind_equivalence import CASES, worlds

BLACK_THURSDAY = EXAMPLES / "risk_lab_black_thursday.yaml"
needs_numba = pytest.mark.skipif(
    not jit.available(), reason="numba is not installed (pip install 'backstop[fast]'); the interpreted half still runs"
)


def numpy_phase_b(model: SimModel, world: World, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    monkeypatch.setenv("BACKSTOP_JIT", "0")
    out = run_backstop(model, world)
    monkeypatch.setenv("BACKSTOP_JIT", "1")
    return out


def differing(a: Outcome, b: Outcome) -> list[str]:
    """The outcome fields that are not the same bit for bit (dtype, shape and bytes)."""
    bad = []
    for f in dataclasses.fields(Outcome):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
            bad.append(f.name)
    return bad


@pytest.fixture
def interpreted(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every kernel run by the interpreter (works without numba)."""
    for k in jit._KERNELS:
        monkeypatch.setattr(k, "compiled", k.fn)
    yield


def test_the_examples_plan_as_expected() -> None:
    """risk_lab_cdp (the benchmark's example) runs compiled; Black Thursday's debt auctions (a mint
    layer with `lot`) are not in the driver, so it runs the NumPy rounds."""
    assert phase_b.plan(compile_model(CDP, seed=1)) is not None
    assert phase_b.plan(compile_model(BLACK_THURSDAY, seed=1)) is None


def test_the_interpreted_driver_gives_the_numpy_outcome(interpreted: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without numba: the driver's Python source on a small world of the benchmark's example."""
    model = compile_model(CDP, seed=1, horizon_days=120)
    pl = phase_b.plan(model)
    assert pl is not None
    world = simulate_world(model, 0, 150)
    ref = numpy_phase_b(model, world, monkeypatch)
    assert ref.loss.max() > 0 and ref.alloc.sum() > 0 and ref.escaped.sum() > 0  # the world exercises the rules
    assert differing(phase_b.run(model, world, pl), ref) == []


def test_a_broken_scalar_rule_is_caught(interpreted: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Control: a vault whose slash is one ulp-scale off changes the outcome (the comparison can fail)."""
    model = compile_model(CDP, seed=1, horizon_days=120)
    pl = phase_b.plan(model)
    assert pl is not None
    world = simulate_world(model, 0, 150)
    ref = numpy_phase_b(model, world, monkeypatch)
    rule = share_vault_vector.vault_absorb

    def broken(
        st: np.ndarray, so: int, par: np.ndarray, po: int, prices: np.ndarray, la: int, asset: int, rem: float
    ) -> float:
        return float(rule(st, so, par, po, prices, la, asset, rem)) * (1.0 + 1e-15)

    monkeypatch.setattr(phase_b, "vault_absorb", broken)
    assert "alloc" in differing(phase_b.run(model, world, pl), ref)


@needs_numba
@pytest.mark.parametrize("path", [CDP, BLACK_THURSDAY], ids=["cdp", "black_thursday"])
def test_compiled_phase_b_is_bit_identical_on_the_examples(path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    model = compile_model(path, seed=1)
    monkeypatch.setenv("BACKSTOP_JIT", "1")
    for chunk, n in ((0, 3000), (1, 1), (2, 257)):
        world = simulate_world(model, chunk, n)
        ref = numpy_phase_b(model, world, monkeypatch)
        assert differing(run_backstop(model, world), ref) == [], (path, chunk)


@needs_numba
def test_compiled_phase_b_under_sizing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sizing re-runs phase B on the same world with one layer resized, to zero included."""
    model = compile_model(CDP, seed=1)
    world = simulate_world(model, 0, 1500)
    monkeypatch.setenv("BACKSTOP_JIT", "1")
    for layer, size in (("fund", 0.0), ("fund", 7e6), ("stake", 0.0), ("g1", 2e7), ("sp", 0.0), ("gov", 1e9)):
        m = model.with_size(layer, size)
        assert phase_b.plan(m) is not None
        assert differing(run_backstop(m, world), numpy_phase_b(m, world, monkeypatch)) == [], (layer, size)


PLANNED = {"insurance_fund", "treasury", "staking_pool", "guarantor", "stability_pool", "socialize", "mint"}
"""Kinds whose drawn worlds the driver covers at least once (a staking pool's fee, offset, lock or
auction, a guarantor's limit bank and a mint's debt auctions are planned out)."""


@needs_numba
@pytest.mark.parametrize("kind", sorted(CASES))
def test_compiled_phase_b_is_bit_identical_on_every_kind(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worlds test_kind_equivalence.py draws for each kind: bit-identical where planned."""
    seen = {"planned": 0, "numpy": 0}

    @settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(worlds(kind))
    def check(spec: dict[str, Any]) -> None:
        model = compile_model(load_scenario(copy.deepcopy(spec)), seed=7)
        pl = phase_b.plan(model)
        if pl is None:
            seen["numpy"] += 1
            return
        seen["planned"] += 1
        world = simulate_world(model, 0, 300)
        ref = numpy_phase_b(model, world, monkeypatch)
        assert differing(phase_b.run(model, world, pl), ref) == [], spec

    check()
    if kind in PLANNED:
        assert seen["planned"] > 0, seen
    else:
        assert seen["planned"] == 0, seen  # a cover pool, a deficit layer: the NumPy rounds


def test_a_subclass_of_a_planned_kind_is_not_planned() -> None:
    """The driver knows exact types: a subclass (e.g. another vault kind) runs the NumPy rounds."""
    model = compile_model(CDP, seed=1)
    j = model.layer_index("stake")

    @dataclasses.dataclass(frozen=True)
    class Other(type(model.layers[j])):  # type: ignore[misc]
        pass

    layers = list(model.layers)
    layers[j] = Other(**{f.name: getattr(layers[j], f.name) for f in dataclasses.fields(layers[j])})
    assert phase_b.plan(dataclasses.replace(model, layers=tuple(layers))) is None


def test_a_changed_rule_makes_a_new_generated_module() -> None:
    """The compiled driver is cached by the hash of its generated source, which holds every part."""
    k = phase_b.phase_b_kernel
    assert isinstance(k, jit._Generated)
    src = k.source()
    for part in k.parts:
        assert f"def {part.__name__}(" in src
    changed = jit._Generated(k.fn, k.parts, {**k.constants, "EPS": 2e-9})
    assert changed.source() != src


@needs_numba
def test_sizing_prepares_each_world_once_and_gives_the_numpy_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sizing keeps phase B's preparation of each world (events in path order, settlements) across
    candidate sizes while the stability pool's deposits stay the same; resizing the pool prepares
    again. The outcomes are the NumPy rounds' bit for bit either way."""
    model = compile_model(CDP, seed=1)
    worlds = [simulate_world(model, i, 700) for i in range(2)]
    monkeypatch.setenv("BACKSTOP_JIT", "1")
    prepared = 0
    prepare = phase_b.prepare

    def counting(*a: Any) -> Any:
        nonlocal prepared
        prepared += 1
        return prepare(*a)

    monkeypatch.setattr(phase_b, "prepare", counting)
    cache: dict[int, Any] = {}
    for layer, size in (("fund", 0.0), ("fund", 5e6), ("g1", 1e7), ("sp", 1e6), ("sp", 3e7)):
        m = model.with_size(layer, size)
        for w in worlds:
            got = run_backstop(m, w, cache)
            assert differing(got, numpy_phase_b(m, w, monkeypatch)) == [], (layer, size)
    assert prepared == 2 + 2 + 2  # the example's deposits (3 sizes), then each pool size


def test_a_world_or_settlement_with_more_to_act_on_is_not_planned(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the driver reads is pinned: an outcome, world or settlement with another field (e.g. a
    redistribution phase A would record) runs the NumPy rounds until the driver reads it."""
    model = compile_model(CDP, seed=1)
    assert phase_b.plan(model) is not None
    for name in ("OUTCOME_FIELDS", "WORLD_FIELDS", "SETTLEMENT_FIELDS"):
        with monkeypatch.context() as m:
            m.setattr(phase_b, name, (*getattr(phase_b, name), "redistributed"))
            assert phase_b.plan(model) is None, name


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize(("path", "chunk", "n"), [(CDP, 1, 4000), (CDP, 3, 1), (BLACK_THURSDAY, 0, 500)])
def test_the_compiled_event_order_is_the_numpy_one(
    path: Any, chunk: int, n: int, compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`phase_b.event_order` (the key built by `_event_key_kernel`, compiled or run in the
    interpreter) against `waterfall._event_order` (the NumPy key) on the examples' worlds: the same
    permutation, element for element."""
    from backstop.sim.waterfall import _event_order, _withdrawal_events
    from backstop.sim.world import KIND_END, KIND_WITHDRAW

    if compiled and not jit.available():
        pytest.skip("numba is not installed")
    if not compiled:
        for k in jit._KERNELS:
            monkeypatch.setattr(k, "compiled", k.fn)
    model = compile_model(path, seed=6)
    world = simulate_world(model, chunk, n)
    wp, ws, wr, _ = _withdrawal_events(model, world)
    T = model.n_steps
    want = _event_order(
        [
            (world.ev_path, world.ev_step, world.ev_kind, world.ev_ref),
            (wp, ws, np.full(len(wp), KIND_WITHDRAW), wr),
            (np.arange(n), np.full(n, T), np.full(n, KIND_END), np.zeros(n, dtype=np.int64)),
        ],
        T,
    )
    got = phase_b.event_order(world, wp, ws, wr, T)
    assert len(want) == len(world.ev_path) + len(wp) + n
    assert n == 1 or not np.array_equal(want, np.arange(len(want)))  # the sort does reorder
    assert got.dtype == want.dtype and np.array_equal(got, want)
