"""The time-major phase-A kernels give bit for bit what the plain path-major definitions give:
log prices (correlation, drift, jumps — duplicates on one cell included — and the running sum),
the oracle's new minima with outages, the stakers' run start, and the outage cells."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from backstop.sim.liquidation import new_minima_tm
from backstop.sim.model import compile_model
from backstop.sim.outages import outage_cells
from backstop.sim.prices import PriceModel, simulate_log_prices_tm
from backstop.sim.stakers import run_start_tm

from .helpers import CDP
from .reference_kernels import new_minima, outage_mask, run_start, stale_oracle


def reference_log_prices(model: PriceModel, n: int, T: int, seed: int) -> np.ndarray:
    """The path-major definition: whole-array passes, np.add.at for jumps, np.cumsum over steps."""
    rd, rj = (np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(k,)))) for k in (0, 1))
    A = len(model.assets)
    x = np.empty((A, n, T))
    rd.standard_normal(out=x)
    for j in range(A - 1, -1, -1):
        x[j] *= model.chol[j, j]
        for i in range(j):
            if model.chol[j, i] != 0.0:
                x[j] += x[i] * model.chol[j, i]
        x[j] += model.drift_step[j]
    for j in range(A):
        rate = model.jump_rate_step[j] * T
        if rate <= 0:
            continue
        counts = rj.poisson(rate, n)
        total = int(counts.sum())
        if total:
            rows = np.repeat(np.arange(n), counts)
            cols = rj.integers(0, T, total)
            sizes = rj.normal(model.jump_mean[j], model.jump_std[j], total)
            np.add.at(x[j], (rows, cols), sizes)
    np.cumsum(x, axis=2, out=x)
    x += model.log_p0[:, None, None]
    return x


@pytest.mark.parametrize("jumps_per_step", [0.01, 3.0])  # 3 per step: many jumps land on the same cell
@pytest.mark.parametrize("n", [1, 300, 517])
def test_time_major_log_prices_are_the_path_major_ones(jumps_per_step: float, n: int) -> None:
    model = compile_model(CDP, seed=1).prices
    model = dataclasses.replace(model, jump_rate_step=np.full(len(model.assets), jumps_per_step))
    T = 40
    rngs = [np.random.Generator(np.random.PCG64(np.random.SeedSequence(9, spawn_key=(k,)))) for k in range(3)]
    tm = simulate_log_prices_tm(model, n, T, *rngs)
    ref = reference_log_prices(model, n, T, 9)
    assert np.array_equal(tm.transpose(0, 2, 1), ref)


def test_minima_run_start_and_outages_match_their_definitions() -> None:
    rng = np.random.default_rng(5)
    n, T, lp0 = 700, 90, 7.6
    logp = lp0 + np.cumsum(rng.normal(0, 0.05, (n, T)), axis=1)
    seq = np.random.SeedSequence(3)
    down = outage_mask(n, T, 6.0, 2.5, np.random.Generator(np.random.PCG64(seq)))
    cells = outage_cells(n, T, 6.0, 2.5, np.random.Generator(np.random.PCG64(seq)))
    assert down is not None and cells is not None
    again = np.zeros((T, n), dtype=bool)
    again[cells] = True
    assert np.array_equal(again.T, down)
    ref = new_minima(stale_oracle(logp, down, lp0), lp0)
    got = new_minima_tm(np.ascontiguousarray(logp.T), cells, lp0)
    for a, b in ((ref.rows, got.rows), (ref.cols, got.cols), (ref.values, got.values)):
        assert np.array_equal(a, b)
    no_outage = new_minima(logp, lp0)
    got = new_minima_tm(np.ascontiguousarray(logp.T), None, lp0)
    assert np.array_equal(no_outage.values, got.values) and np.array_equal(no_outage.cols, got.cols)
    trigger = float(np.log(0.9))
    assert np.array_equal(run_start(logp, lp0, trigger), run_start_tm(np.ascontiguousarray(logp.T), lp0, trigger))


@pytest.mark.parametrize("seed", range(6))
def test_grid_searchsorted_is_numpy_searchsorted(seed: int) -> None:
    from backstop.sim.search import searchsorted_left

    rng = np.random.default_rng(seed)
    m = int(rng.integers(2, 700))
    table = np.sort(rng.normal(rng.normal(), rng.uniform(0.001, 3.0), m))
    if seed % 2:
        table = np.sort(np.repeat(table, rng.integers(1, 4, m)))  # repeated entries
    near = rng.choice(table, 3000)
    keys = np.concatenate(
        [
            rng.normal(table.mean(), 2 * table.std(), 40_000),
            table,
            np.nextafter(near, np.inf),
            np.nextafter(near, -np.inf),
            [np.inf, -np.inf, np.nan, 1e300, -1e300, table[0], table[-1]],
        ]
    )
    rng.shuffle(keys)
    assert np.array_equal(searchsorted_left(table, keys), np.searchsorted(table, keys, side="left"))


def test_an_inline_run_keeps_no_work_buffers() -> None:
    from backstop.sim import api, buffers

    model = compile_model(CDP, seed=1, horizon_days=30, chunk_paths=200)
    api.simulate(model, 400, 1, keep_paths=0)
    assert not buffers._local.__dict__.get("buffers")
    a = buffers.work_buffer("x", (3, 4))
    assert buffers.work_buffer("x", (3, 4)) is a  # reused while it lives
    buffers.release_work_buffers()
    assert buffers.work_buffer("x", (3, 4)) is not a
    buffers.release_work_buffers()


def test_an_unpopulated_work_buffer_is_an_ordinary_buffer() -> None:
    """`populate=False` (the normals drawn ahead: faulted in by the draw, not inside `mmap()` with
    the GIL held) changes only when the pages are faulted in, not the buffer or what is drawn into it."""
    from backstop.sim import buffers

    try:
        lazy = buffers.work_buffer("lazy", (2, 3, 500), populate=False)
        assert lazy.shape == (2, 3, 500) and lazy.dtype == np.float64 and lazy.flags.writeable
        assert buffers.work_buffer("lazy", (2, 3, 500), populate=False) is lazy  # reused like any other
        np.random.Generator(np.random.PCG64(7)).standard_normal(out=lazy)
        eager = np.empty((2, 3, 500))
        np.random.Generator(np.random.PCG64(7)).standard_normal(out=eager)
        assert lazy.tobytes() == eager.tobytes()
        np.random.Generator(np.random.PCG64(8)).standard_normal(out=eager)
        assert lazy.tobytes() != eager.tobytes()  # control: another stream differs
    finally:
        buffers.release_work_buffers()
