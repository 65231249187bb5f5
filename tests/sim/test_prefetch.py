"""The prefetching executor (`executors.PrefetchingExecutor`, issue 15): one process's chunks run in
the calling thread while the next chunk's normals are drawn in a background thread. It must give
the inline executor's results bit for bit, draw at most one chunk ahead, end its thread when a
chunk fails, and be off with `BACKSTOP_PREFETCH=0`."""

from __future__ import annotations

import threading
from dataclasses import fields
from typing import Any

import numpy as np
import pytest

from backstop.sim import api, chunk, jit
from backstop.sim.executors import InlineExecutor, PrefetchingExecutor, make_executor, prefetch_for
from backstop.sim.model import compile_model
from backstop.sim.world import World, simulate_world

from .helpers import CDP, EXAMPLES, assert_same_results

BLACK_THURSDAY = EXAMPLES / "risk_lab_black_thursday.yaml"
needs_numba = pytest.mark.skipif(not jit.available(), reason="numba is not installed: nothing is drawn ahead")


same = assert_same_results


@needs_numba
@pytest.mark.parametrize(("path", "horizon_days"), [(CDP, 60), (BLACK_THURSDAY, None)])
def test_prefetching_gives_the_inline_results(
    path: Any, horizon_days: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKSTOP_JIT", "1")
    model = compile_model(path, seed=5, horizon_days=horizon_days, chunk_paths=300)
    paths = 1000  # 4 chunks, the last one shorter: both buffers alternate and one is re-shaped
    inline = api.simulate(model, paths, 5, keep_paths=3, executor=InlineExecutor())
    ahead = api.simulate(model, paths, 5, keep_paths=3, executor=PrefetchingExecutor())
    same(inline, ahead)


def same_world(a: World, b: World) -> bool:
    return all(
        np.asarray(getattr(a, f.name)).tobytes() == np.asarray(getattr(b, f.name)).tobytes()
        and np.asarray(getattr(a, f.name)).shape == np.asarray(getattr(b, f.name)).shape
        for f in fields(a)
    )


@needs_numba
def test_normals_drawn_ahead_give_the_same_world(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKSTOP_JIT", "1")
    model = compile_model(CDP, seed=3, horizon_days=30)
    ahead = chunk.draw_ahead(model, 2, 50, slot=0)
    assert ahead is not None and ahead.normals.shape == (len(model.prices.assets), 50, model.n_steps)
    given = simulate_world(model, 2, 50, 2, normals=ahead.normals.copy())  # the normals alone
    drawn = simulate_world(model, 2, 50, 2)
    assert same_world(given, drawn)
    # control: another chunk's normals give another world
    other = chunk.draw_ahead(model, 3, 50, slot=1)
    assert other is not None
    assert (
        simulate_world(model, 2, 50, 2, normals=other.normals.copy()).end_prices.tobytes() != drawn.end_prices.tobytes()
    )


@needs_numba
@pytest.mark.parametrize(("path", "horizon_days"), [(CDP, 120), (BLACK_THURSDAY, None)])
def test_every_draw_made_ahead_gives_the_same_world(
    path: Any, horizon_days: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The jumps, shock starts and outages drawn ahead with the normals (`world.DrawnAhead`) are
    those `simulate_world` draws itself; each is used (a control swaps in another chunk's)."""
    monkeypatch.setenv("BACKSTOP_JIT", "1")
    model = compile_model(path, seed=3, horizon_days=horizon_days)
    n = 400
    own = simulate_world(model, 2, n, 2)
    ahead = chunk.draw_ahead(model, 2, n, slot=0)
    assert ahead is not None and ahead.down is not None and ahead.down.any()  # both examples have outages
    assert same_world(simulate_world(model, 2, n, 2, normals=ahead), own)
    ahead = chunk.draw_ahead(model, 2, n, slot=0)
    other = chunk.draw_ahead(model, 5, n, slot=1)
    assert ahead is not None and other is not None and other.down is not None
    swapped_down = ahead._replace(down=other.down.copy())
    assert not same_world(simulate_world(model, 2, n, 2, normals=swapped_down), own)
    if path == CDP:  # jumps (Black Thursday has none, and its shock starts on a set day)
        ahead = chunk.draw_ahead(model, 2, n, slot=0)
        other = chunk.draw_ahead(model, 5, n, slot=1)
        assert ahead is not None and other is not None
        swapped_prices = ahead._replace(prices=other.prices)
        assert not same_world(simulate_world(model, 2, n, 2, normals=swapped_prices), own)


@needs_numba
def test_normals_of_the_wrong_shape_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKSTOP_JIT", "1")
    model = compile_model(CDP, seed=3, horizon_days=30)
    with pytest.raises(ValueError, match="normals"):
        simulate_world(model, 0, 50, normals=np.zeros((len(model.prices.assets), 49, model.n_steps)))


@needs_numba
def test_at_most_one_chunk_is_drawn_ahead_in_another_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKSTOP_JIT", "1")
    model = compile_model(CDP, seed=5, horizon_days=20, chunk_paths=100)
    log: list[tuple[str, int, int]] = []  # (what, chunk, thread)
    draw, run = chunk.draw_ahead, chunk.run_chunk

    def logged_draw(*task: Any, slot: int) -> Any:
        log.append(("draw", task[1], threading.get_ident()))
        return draw(*task, slot=slot)

    def logged_run(*args: Any) -> Any:
        log.append(("run", args[1], threading.get_ident()))
        out = run(*args)
        log.append(("done", args[1], threading.get_ident()))
        return out

    monkeypatch.setattr(chunk, "draw_ahead", logged_draw)
    ahead = prefetch_for(chunk.run_chunk)
    assert ahead is not None
    tasks = [(model, i, 100, 0) for i in range(5)]
    assert prefetch_for(logged_run) is None  # only run_chunk is drawn ahead
    monkeypatch.setattr(chunk, "run_chunk", logged_run)
    monkeypatch.setattr(chunk, "load_kernels", lambda *task: None)
    results = PrefetchingExecutor().map(logged_run, tasks)
    assert [r.index for r in results] == list(range(5))
    main = threading.get_ident()
    assert {t for w, _, t in log if w == "draw"} - {main}, "drawn in another thread"
    assert all(t == main for w, _, t in log if w != "draw")
    where = {(w, c): k for k, (w, c, _) in enumerate(log)}
    for i in range(5):
        assert where[("draw", i)] < where[("run", i)]
        if i >= 2:  # chunk i's draw reuses chunk i-2's buffer: only once that chunk is done
            assert where[("draw", i)] > where[("done", i - 2)]


@needs_numba
def test_a_failing_chunk_ends_the_drawing_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKSTOP_JIT", "1")
    model = compile_model(CDP, seed=5, horizon_days=20, chunk_paths=100)
    run = chunk.run_chunk

    def failing(*args: Any) -> Any:
        if args[1] == 1:
            raise RuntimeError("chunk 1 failed")
        return run(*args)

    monkeypatch.setattr(chunk, "run_chunk", failing)
    with pytest.raises(RuntimeError, match="chunk 1 failed"):
        PrefetchingExecutor().map(failing, [(model, i, 100, 0) for i in range(4)])
    assert not [t for t in threading.enumerate() if t.name.startswith("backstop-draws")]


@needs_numba
def test_after_a_run_the_drawing_thread_ends_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """On success the executor does not wait for its drawing thread (unmapping its buffers overlaps
    the caller's next steps), but the thread still ends, with nothing left queued."""
    monkeypatch.setenv("BACKSTOP_JIT", "1")
    model = compile_model(CDP, seed=5, horizon_days=20, chunk_paths=100)
    results = PrefetchingExecutor().map(chunk.run_chunk, [(model, i, 100, 0) for i in range(3)])
    assert [r.index for r in results] == [0, 1, 2]
    for t in [t for t in threading.enumerate() if t.name.startswith("backstop-draws")]:
        t.join(timeout=30)
    assert not [t for t in threading.enumerate() if t.name.startswith("backstop-draws")]


def test_the_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BACKSTOP_PREFETCH", raising=False)
    assert type(make_executor(1)) is PrefetchingExecutor
    monkeypatch.setenv("BACKSTOP_PREFETCH", "0")
    assert type(make_executor(1)) is InlineExecutor


def test_the_numpy_path_draws_nothing_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKSTOP_JIT", "0")
    assert prefetch_for(chunk.run_chunk) is None
    model = compile_model(CDP, seed=5, horizon_days=20, chunk_paths=100)
    assert chunk.draw_ahead(model, 0, 100, slot=0) is None
    inline = api.simulate(model, 250, 5, keep_paths=2, executor=InlineExecutor())
    same(inline, api.simulate(model, 250, 5, keep_paths=2, executor=PrefetchingExecutor()))


@pytest.mark.parametrize("enabled_before", [True, False])
def test_loading_kernels_collects_nothing_then_freezes(enabled_before: bool) -> None:
    """`jit.loading_kernels` (around `chunk.load_kernels` and each worker's warm-up): no cyclic
    collection inside, everything frozen after, and the collector left as it was found."""
    import gc

    was = gc.isenabled()
    (gc.enable if enabled_before else gc.disable)()
    try:
        gc.unfreeze()  # an earlier test may have loaded the kernels (and frozen) in this process
        assert gc.get_freeze_count() == 0  # control
        with jit.loading_kernels():
            assert not gc.isenabled()
            kept = [[i] for i in range(1000)]  # tracked objects made while loading
        assert gc.isenabled() == enabled_before
        assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.unfreeze()
        (gc.enable if was else gc.disable)()
