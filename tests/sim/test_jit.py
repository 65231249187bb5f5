"""Phase A has two implementations, the NumPy one (always there) and the compiled one (Numba, the
`backstop[fast]` extra); they must give the same world bit for bit, on every example and in the
corners (one path, a few steps, kept sample paths, a historical shock, no outages).

The compiled half needs numba and is skipped without it. The kernels' logic is still checked
without numba: `_Lazy.py` runs a kernel's Python source in the interpreter, on small worlds."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from backstop.cli import app
from backstop.sim import api, jit
from backstop.sim import world as world_mod
from backstop.sim.chunk import run_chunk
from backstop.sim.executors import ProcessExecutor, shared_pool, shutdown_pools
from backstop.sim.model import SimModel, compile_model
from backstop.sim.world import World, simulate_world

from .helpers import CDP, EXAMPLES

BLACK_THURSDAY = EXAMPLES / "risk_lab_black_thursday.yaml"
needs_numba = pytest.mark.skipif(
    not jit.available(), reason="numba is not installed (pip install 'backstop[fast]'); the NumPy half still runs"
)


def same_world(a: World, b: World) -> None:
    for f in dataclasses.fields(World):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
            assert x == y, f.name  # n_paths, or no sample kept on either path
            continue
        assert x.dtype == y.dtype and x.shape == y.shape, f.name
        assert x.tobytes() == y.tobytes(), f.name  # bit for bit


def world_with(
    model: SimModel, chunk: int, n: int, keep: int, compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> World:
    monkeypatch.setenv("BACKSTOP_JIT", "1" if compiled else "0")
    return simulate_world(model, chunk, n, keep)


@pytest.fixture
def interpreted_kernels(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The compiled path with every kernel run by the interpreter (works without numba)."""
    monkeypatch.setattr(world_mod, "jit_enabled", lambda: True)
    for k in jit._KERNELS:
        monkeypatch.setattr(k, "compiled", k.fn)
    yield


def small(path: Path, **kw: object) -> SimModel:
    return compile_model(path, seed=11, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "horizon_days", "n", "keep"),
    [(CDP, 20, 40, 3), (CDP, 1, 1, 1), (BLACK_THURSDAY, None, 12, 2)],
)
def test_interpreted_kernels_give_the_numpy_world(
    path: Path, horizon_days: int | None, n: int, keep: int, interpreted_kernels: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = small(path, horizon_days=horizon_days)
    monkeypatch.setattr(world_mod, "jit_enabled", lambda: False)
    numpy_world = simulate_world(model, 1, n, keep)
    monkeypatch.setattr(world_mod, "jit_enabled", lambda: True)
    kernel_world = simulate_world(model, 1, n, keep)
    assert len(numpy_world.ev_path) > 0 or n == 1  # the comparison is about something (a 1-path day may be calm)
    same_world(numpy_world, kernel_world)


def test_a_broken_kernel_is_caught(interpreted_kernels: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Control: a trigger rule that walks one bucket too far gives another world, and the check sees it
    (the interpreted fused kernel calls the part `triggers_path` by its name in world.py)."""
    model = small(CDP, horizon_days=30)
    monkeypatch.setattr(world_mod, "jit_enabled", lambda: False)
    numpy_world = simulate_world(model, 0, 60)
    monkeypatch.setattr(world_mod, "jit_enabled", lambda: True)
    same_world(numpy_world, simulate_world(model, 0, 60))  # the real rule agrees
    real = world_mod.triggers_path

    def off_by_one(rows, cols, values, start, end, table, k0, out, count):  # type: ignore[no-untyped-def]
        first = count
        count = real(rows, cols, values, start, end, table, k0, out, count)
        out[3, first:count] = np.minimum(out[3, first:count] + 1, len(table))
        return count

    monkeypatch.setattr(world_mod, "triggers_path", off_by_one)
    with pytest.raises(AssertionError):
        same_world(numpy_world, simulate_world(model, 0, 60))


@pytest.mark.parametrize("compiled", [False, True])
def test_the_fused_pass_grows_its_buffers_midway(compiled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fused phase-A pass starts with room for no range per path, so it stops and grows its
    buffers many times within a chunk (and later chunks start at the grown size): the same world."""
    if compiled and not jit.available():
        pytest.skip("numba is not installed")
    model = small(CDP, horizon_days=60)
    monkeypatch.setattr(world_mod, "jit_enabled", lambda: False)
    numpy_world = simulate_world(model, 2, 300, 2)
    if not compiled:
        for k in jit._KERNELS:
            monkeypatch.setattr(k, "compiled", k.fn)
    monkeypatch.setattr(world_mod, "jit_enabled", lambda: True)
    monkeypatch.setattr(world_mod, "_RANGES_PER_PATH", 0)
    monkeypatch.setattr(world_mod, "_fused_capacity", {})
    kernel = world_mod._phase_a_kernel
    calls = []

    def counted(*args):  # type: ignore[no-untyped-def]
        calls.append(args[-1])
        return kernel(*args)

    monkeypatch.setattr(world_mod, "_phase_a_kernel", counted)
    same_world(numpy_world, simulate_world(model, 2, 300, 2))
    assert len(calls) > 3 and calls[0] == 0 and calls[1] > 0  # it did stop and go on midway
    same_world(numpy_world, simulate_world(model, 2, 300, 2))  # again, from the grown size


@needs_numba
@pytest.mark.parametrize("path", [CDP, BLACK_THURSDAY])
def test_compiled_phase_a_is_the_numpy_one(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = compile_model(path, seed=3)
    for chunk, n, keep in [(0, 2000, 5), (4, 333, 0), (1, 1, 1)]:
        same_world(
            world_with(model, chunk, n, keep, False, monkeypatch), world_with(model, chunk, n, keep, True, monkeypatch)
        )


@needs_numba
def test_compiled_outcomes_are_the_numpy_ones_with_resized_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    model = compile_model(CDP, seed=8, horizon_days=120)
    for layer, size in [("fund", 0.0), ("sp", 1e6), ("stake", 5e7)]:
        m = model.with_size(layer, size)
        monkeypatch.setenv("BACKSTOP_JIT", "0")
        a = run_chunk(m, 2, 1500, keep_paths=2)
        monkeypatch.setenv("BACKSTOP_JIT", "1")
        b = run_chunk(m, 2, 1500, keep_paths=2)
        for f in dataclasses.fields(a.outcome):
            assert getattr(a.outcome, f.name).tobytes() == getattr(b.outcome, f.name).tobytes(), (layer, f.name)


@pytest.mark.parametrize("setting", ["0", "1"])
def test_simulate_json_is_the_same_on_both_paths(setting: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whichever path runs (BACKSTOP_JIT=1 falls back to NumPy without numba), the summary is the
    NumPy path's."""
    monkeypatch.setenv("BACKSTOP_JIT", "0")
    reference = api.simulate(CDP, 3000, 5, horizon_days=90).summary()
    monkeypatch.setenv("BACKSTOP_JIT", setting)
    assert api.simulate(CDP, 3000, 5, horizon_days=90).summary() == reference


def test_warmup_command(monkeypatch: pytest.MonkeyPatch) -> None:
    res = CliRunner().invoke(app, ["warmup", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    if jit.available():
        assert info["numba"] and info["kernels"] == info["of"] == len(jit._KERNELS) > 0
        assert jit.warmed()
    else:
        assert info["numba"] is None and "not installed" in info["note"]
    monkeypatch.setenv("BACKSTOP_JIT", "0")
    off = CliRunner().invoke(app, ["warmup"])
    assert off.exit_code == 0 and "NumPy path" in off.output


@pytest.mark.xdist_group("processes")
@pytest.mark.slow  # background jobs on threads and timers: not the in-process tier
def test_worker_pool_is_kept_across_runs() -> None:
    """Local workers are started once per worker count and reused by the next run (same processes),
    which still gives the inline numbers; shutdown_pools ends them."""
    model = compile_model(CDP, seed=4, horizon_days=30, chunk_paths=200)
    inline = api.simulate(model, 800, 4)
    try:
        first = api.simulate(model, 800, 4, workers=2)
        pool = shared_pool(2)
        pids = set(pool._processes)  # type: ignore[attr-defined]
        second = api.simulate(model, 800, 4, workers=2)
        assert shared_pool(2) is pool and set(pool._processes) == pids  # type: ignore[attr-defined]
        assert ProcessExecutor(2).pool is pool
        for res in (first, second):
            assert res.outcome.loss.tobytes() == inline.outcome.loss.tobytes()
    finally:
        shutdown_pools()
    assert shared_pool(2) is not pool
    shutdown_pools()


@pytest.mark.parametrize("with_pool", [True, False])
def test_interpreted_settlement_is_the_numpy_one(with_pool: bool, interpreted_kernels: None) -> None:
    """`settle` (phase B's liquidation sale) by the kernel, run in the interpreter, against NumPy's
    passes, on ranges that reach every bucket, with a pool that absorbs none, part or all of them."""
    from backstop.sim import liquidation
    from backstop.sim.liquidation import settle, settle_compiled

    model = compile_model(CDP, seed=2)
    rng = np.random.default_rng(7)
    for liquity_book in model.books:
        # The kernel is the default sale rule; a Liquity cdp's book (`seize_all`) never reaches it.
        book = dataclasses.replace(liquity_book, seize_all=False)
        n_b = book.n_buckets
        kb = rng.integers(0, n_b, 400)
        ka = np.minimum(kb + rng.integers(0, 40, 400), n_b)
        price = model.prices0[book.asset_index] * np.exp(rng.normal(-0.3, 0.4, 400))
        debt = book.cum_debt[ka] - book.cum_debt[kb]
        dep = debt * rng.choice([0.0, 0.5, 2.0], 400) if with_pool else None
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(liquidation, "jit_enabled", lambda: False)
            want = settle(book, kb, ka, price, dep)
        got = settle_compiled(book, kb, ka, price, dep)
        assert np.any(want.bad_debt > 0) and np.any(want.fee > 0)
        for f in dataclasses.fields(want):
            assert getattr(want, f.name).tobytes() == getattr(got, f.name).tobytes(), (book.collateral, f.name)


def test_a_liquity_book_is_settled_by_its_own_rule_on_either_path() -> None:
    """A cdp behind a stability pool sells all its collateral (`_settle_seize_all`, NumPy); the
    compiled default rule must not take it over when Numba is on."""
    from backstop.sim import liquidation
    from backstop.sim.liquidation import settle

    model = compile_model(CDP, seed=2)
    book = model.books[0]
    assert book.seize_all
    kb, ka = np.array([0]), np.array([min(3, book.n_buckets)])
    price = np.array(model.prices0[book.asset_index] * 0.5)[None]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(liquidation, "jit_enabled", lambda: True)
        on = settle(book, kb, ka, price, None)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(liquidation, "jit_enabled", lambda: False)
        off = settle(book, kb, ka, price, None)
    assert on.bad_debt.tobytes() == off.bad_debt.tobytes() and on.fee.tobytes() == off.fee.tobytes()


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("gas_collateral", [0.0, 0.005])
@pytest.mark.parametrize("with_pool", [True, False])
def test_seize_all_settlement_by_the_kernel_is_the_numpy_one(
    with_pool: bool, gas_collateral: float, compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Liquity book's sale (`_settle_seize_all`, NumPy passes) against its kernel twin
    (`settle_seize_all_compiled`), bit for bit, on ranges that reach every bucket (long ones bisect,
    short ones walk), prices that put none, some or all of a range under water, with a pool that
    absorbs none, part or all of them, and with Liquity's 0.5% of the collateral to the liquidator
    taken off (`PERCENT_DIVISOR = 200` in liquity/dev packages/contracts/contracts/Dependencies/LiquityBase.sol
    @ 5174ecd0da4842157aba989499200d690b7e374f, as docs/references.md cites)."""
    if compiled and not jit.available():
        pytest.skip("numba is not installed")
    from backstop.sim.liquidation import _settle_seize_all, settle_seize_all_compiled

    if not compiled:
        for k in jit._KERNELS:
            monkeypatch.setattr(k, "compiled", k.fn)
    model = compile_model(CDP, seed=2)
    rng = np.random.default_rng(11)
    n = 600
    for cdp_book in model.books:
        book = dataclasses.replace(cdp_book, gas_collateral=gas_collateral)
        assert book.seize_all
        n_b = book.n_buckets
        kb = rng.integers(0, n_b, n)
        ka = np.minimum(kb + rng.choice([0, 1, 3, 12, 40, n_b], n), n_b)
        price = model.prices0[book.asset_index] * np.exp(rng.normal(-0.4, 0.5, n))
        debt = book.cum_debt[ka] - book.cum_debt[kb]
        dep = debt * rng.choice([0.0, 0.5, 1.0, 2.0], n) if with_pool else None
        want = _settle_seize_all(book, kb, ka, price, dep)
        got = settle_seize_all_compiled(book, kb, ka, price, dep)
        assert np.any(want.bad_debt > 0) and np.any(want.fee > 0) and np.any(want.impact > 0)
        assert np.any((want.bad_debt > 0) & (want.fee > 0))  # ranges split under / above water
        for f in dataclasses.fields(want):
            assert getattr(want, f.name).tobytes() == getattr(got, f.name).tobytes(), (book.collateral, f.name)


@needs_numba
def test_compiled_phase_b_with_the_seize_all_kernel_is_the_numpy_sale(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the cdp example (three Liquity books behind a stability pool), the compiled phase B gives
    the same outcomes bit for bit whether its sales are settled by the kernel twin or by the NumPy
    passes of `_settle_seize_all`, and the kernel did settle them; a kernel one ulp off is caught."""
    from backstop.sim import liquidation

    monkeypatch.setenv("BACKSTOP_JIT", "1")
    model = compile_model(CDP, seed=5, horizon_days=120)
    kernel_twin = liquidation.settle_seize_all_compiled
    calls: list[int] = []

    def counted(*args):  # type: ignore[no-untyped-def]
        calls.append(len(args[1]))
        return kernel_twin(*args)

    def outcome() -> list[bytes]:
        res = run_chunk(model, 1, 3000, keep_paths=2)
        return [getattr(res.outcome, f.name).tobytes() for f in dataclasses.fields(res.outcome)]

    monkeypatch.setattr(liquidation, "settle_seize_all_compiled", counted)
    with_kernel = outcome()
    assert sum(calls) > 0  # the kernel settled the sales
    monkeypatch.setattr(liquidation, "settle_seize_all_compiled", liquidation._settle_seize_all)
    assert outcome() == with_kernel

    def ulp_off(*args):  # type: ignore[no-untyped-def]
        res = kernel_twin(*args)
        return dataclasses.replace(res, bad_debt=np.nextafter(res.bad_debt, np.inf))

    monkeypatch.setattr(liquidation, "settle_seize_all_compiled", ulp_off)
    assert outcome() != with_kernel
