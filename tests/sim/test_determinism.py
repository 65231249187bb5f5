"""Determinism (docs/risk-lab.md): chunk i draws only from `SeedSequence(seed).spawn(n_chunks)[i]`, and
chunks are put back in order before any statistic, so a seed gives bit-identical results inline,
on local processes and on Dask, with any number of workers."""

from __future__ import annotations

import numpy as np
import pytest

from backstop.sim import api
from backstop.sim.model import compile_model

from .helpers import CDP, assert_same_results
from .reference_kernels import chunk_seed_sequence

PATHS = 2500
CHUNK = 500  # 5 chunks, so workers really interleave


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    return compile_model(CDP, seed=42, horizon_days=90, chunk_paths=CHUNK)


@pytest.fixture(scope="module")
def inline(model):  # type: ignore[no-untyped-def]
    return api.simulate(model, PATHS, 42, workers=1)


same = assert_same_results


def test_chunk_streams_are_the_spawned_children() -> None:
    children = np.random.SeedSequence(42).spawn(7)
    for i, child in enumerate(children):
        assert np.array_equal(chunk_seed_sequence(42, i).generate_state(4), child.generate_state(4))


@pytest.mark.slow  # worker processes
@pytest.mark.xdist_group("processes")
@pytest.mark.parametrize("workers", [2, 3])
def test_local_processes_match_inline(model, inline, workers: int) -> None:  # type: ignore[no-untyped-def]
    res = api.simulate(model, PATHS, 42, workers=workers)
    assert res.executor == "processes"
    same(inline, res)


@pytest.mark.slow  # a local Dask cluster
@pytest.mark.xdist_group("processes")
def test_dask_matches_inline(model, inline) -> None:  # type: ignore[no-untyped-def]
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        res = api.simulate(model, PATHS, 42, scheduler=client)
    assert res.executor == "dask"
    same(inline, res)


def test_another_seed_changes_the_numbers(model, inline) -> None:  # type: ignore[no-untyped-def]
    other = api.simulate(compile_model(CDP, seed=43, horizon_days=90, chunk_paths=CHUNK), PATHS, 43)
    assert other.summary() != inline.summary()
    assert not np.array_equal(other.outcome.loss, inline.outcome.loss)


def test_a_prefix_of_chunks_is_a_prefix_of_paths(model, inline) -> None:  # type: ignore[no-untyped-def]
    """More paths add chunks and leave the first ones as they were (chunk i depends on i only)."""
    fewer = api.simulate(model, 2 * CHUNK, 42)
    assert fewer.outcome.loss.tobytes() == inline.outcome.loss[: 2 * CHUNK].tobytes()


@pytest.mark.slow  # worker processes
@pytest.mark.xdist_group("processes")
@pytest.mark.parametrize("workers", [2, 3])
def test_sizing_on_kept_worker_worlds_matches_inline(model, workers: int) -> None:  # type: ignore[no-untyped-def]
    """`size` with workers keeps each chunk's world in the worker that drew it (`sizing.KeptWorlds`)
    and runs every candidate there: the very result of sizing inline, curve included; and the
    workers forget the worlds afterwards."""
    from backstop.sim import sizing
    from backstop.sim.executors import pinned_pools

    inline_run = api.size(model, "fund", 0.01, PATHS, 42, workers=1).result
    kept_run = api.size(model, "fund", 0.01, PATHS, 42, workers=workers).result
    assert inline_run.evaluations > 5  # a real search
    assert kept_run == inline_run  # every field: size, interval, P at size, evaluations, curve
    for pool in pinned_pools(workers):
        assert pool.submit(_kept_tokens).result() == []
    assert sizing._kept == {}  # nothing was kept in this process


def _kept_tokens() -> list[str]:
    from backstop.sim import sizing

    return list(sizing._kept)
