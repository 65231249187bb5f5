"""Executors: one small interface that runs chunk tasks, with inline (one thread, or drawing the
next chunk ahead in a second thread), process and Dask behind it.

As httpx's transport does for I/O, the executor separates the simulation from where
it runs. Every executor returns results in task order, so what it ran on never changes a number;
`on_done(task_index, result)` is called as each task finishes (for the progress bar).

Workers are long-lived, because a worker's first chunk pays for imports and for loading the
compiled kernels (jit.py), which costs more than a chunk: local worker processes form one pool per
worker count, kept for the life of the calling process and reused by every run after the first
(chunks of one run, the `worlds` of every `size` call, `simulate` then `size` for a report, jobs of
the service); each worker loads the kernels once, when it starts. `shutdown_pools()` (also run at
exit) ends them. On Dask, the executor loads the kernels on every worker when it connects; Dask
workers are long-lived processes, so they keep them for every later task.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from typing import Any, NamedTuple, Protocol

from ..domain.errors import InvalidConfig
from .buffers import release_work_buffers

Task = tuple[Any, ...]
OnDone = Callable[[int, Any], None]


class Executor(Protocol):
    name: str

    def map(self, fn: Callable[..., Any], tasks: Sequence[Task], on_done: OnDone | None = None) -> list[Any]: ...

    def close(self) -> None: ...


class InlineExecutor:
    name = "inline"

    def map(self, fn: Callable[..., Any], tasks: Sequence[Task], on_done: OnDone | None = None) -> list[Any]:
        out = []
        try:
            for i, task in enumerate(tasks):
                result = fn(*task)
                out.append(result)
                if on_done is not None:
                    on_done(i, result)
        finally:
            release_work_buffers()  # the chunks reused them; the calling thread need not keep them
        return out

    def close(self) -> None:
        pass


class Prefetch(NamedTuple):
    """How `PrefetchingExecutor` runs a task function ahead: `draw(*task, slot=)` in its background
    thread (what it returns is passed to the function as its last argument), `load(*task)` in the
    calling thread while the first task's draws are made."""

    draw: Callable[..., Any]
    load: Callable[..., None]


def prefetch_for(fn: Callable[..., Any]) -> Prefetch | None:
    """The task functions that can be run ahead: `chunk.run_chunk` on the compiled path (the NumPy
    path draws its normals time-major as it goes)."""
    from . import chunk, jit

    if fn is chunk.run_chunk and jit.enabled():
        return Prefetch(chunk.draw_ahead, chunk.load_kernels)
    return None


def prefetch_enabled() -> bool:
    """`BACKSTOP_PREFETCH=0` runs one process's chunks in one thread (`InlineExecutor`), for comparison."""
    return os.environ.get("BACKSTOP_PREFETCH", "1") != "0"


class PrefetchingExecutor(InlineExecutor):
    """Inline, on two threads of this process: while task i runs in the calling thread, task i+1's
    random numbers are drawn in one background thread (`Prefetch.draw`).

    Why: on the compiled path a chunk's diffusion normals are ~40% of its CPU time (issue 15:
    ~105 ms of ~240 per 10,000-path chunk of the cdp example). NumPy's fills and the compiled
    kernels release the GIL, so with a second core the draws leave the critical path; and the
    first two chunks' draws are made while the calling thread loads the compiled kernels (`import
    numba` and its CPU target, ~0.2 s of a command's start, `Prefetch.load`). Memory stays bounded:
    while a task runs at most the next one is drawn ahead, into the other of two buffers that
    alternate (~88 MB each for the cdp example's chunks), freed when the run ends with the thread
    that holds them. Results are those of `InlineExecutor` bit for bit: each chunk draws from its
    own stream, whichever thread draws it. A function without a `prefetch_for` entry runs as on `InlineExecutor`;
    `BACKSTOP_PREFETCH=0` makes `make_executor` give the one-thread executor instead."""

    name = "inline"

    def map(self, fn: Callable[..., Any], tasks: Sequence[Task], on_done: OnDone | None = None) -> list[Any]:
        ahead = prefetch_for(fn)
        if ahead is None or not tasks:
            return super().map(fn, tasks, on_done)
        out = []
        drawer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backstop-draws")
        try:
            # The first two tasks' draws are queued at once: both are made while the kernels load
            # (the drawing thread is otherwise idle then), so task 0 does not run beside task 1's
            # draws, which fault in the second buffer's pages.
            drawn = {k: drawer.submit(ahead.draw, *tasks[k], slot=k) for k in range(min(2, len(tasks)))}
            ahead.load(*tasks[0])
            for i, task in enumerate(tasks):
                normals = drawn.pop(i).result()
                result = fn(*task, normals)
                del normals
                if i + 2 < len(tasks):  # into this task's buffer, now that it has returned
                    drawn[i + 2] = drawer.submit(ahead.draw, *tasks[i + 2], slot=i % 2)
                out.append(result)
                if on_done is not None:
                    on_done(i, result)
        except BaseException:
            drawer.shutdown(wait=True, cancel_futures=True)  # its thread ends, and its buffers with it
            raise
        else:
            # Every draw is done: the thread ends on its own, and unmapping its two buffers (~35 ms
            # for the cdp example's, without the GIL) overlaps what the caller does next (the
            # summary; at exit the interpreter joins the thread).
            drawer.shutdown(wait=False)
        finally:
            release_work_buffers()
        return out


def warm_worker() -> None:
    """Run in each new worker (process-pool initializer, Dask `client.run`): import the risk lab and
    load the compiled kernels from their on-disk cache, so no task pays for it. Idempotent."""
    from . import chunk, jit, phase_b  # noqa: F401  (the imports a task needs, and every kernel registered)

    if jit.enabled() and not jit.warmed():
        with jit.loading_kernels():
            jit.warmup()


_pools: dict[int, ProcessPoolExecutor] = {}
_pools_lock = threading.Lock()


def shared_pool(workers: int) -> ProcessPoolExecutor:
    """The process pool of `workers` workers that this process keeps (a new one if the last broke)."""
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is None or getattr(pool, "_broken", False) or getattr(pool, "_shutdown_thread", False):
            pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=warm_worker
            )
            _pools[workers] = pool
        return pool


_single: dict[int, ProcessPoolExecutor] = {}


def pinned_pools(workers: int) -> list[ProcessPoolExecutor]:
    """`workers` one-process pools that this process keeps, so a caller can send a task to the very
    worker that holds its data (sizing keeps each chunk's world in one worker, `sizing.KeptWorlds`);
    a pool that broke is replaced (what it held is lost, and its user rebuilds it)."""
    if workers < 1:
        raise InvalidConfig("workers", f"workers: must be at least 1, got {workers}")
    out = []
    with _pools_lock:
        for i in range(workers):
            pool = _single.get(i)
            if pool is None or getattr(pool, "_broken", False) or getattr(pool, "_shutdown_thread", False):
                pool = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=warm_worker
                )
                _single[i] = pool
            out.append(pool)
    return out


def shutdown_pools() -> None:
    """End every kept worker process (at exit, or when a caller wants its memory back)."""
    with _pools_lock:
        pools = list(_pools.values()) + list(_single.values())
        _pools.clear()
        _single.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


atexit.register(shutdown_pools)


class ProcessExecutor:
    """Local worker processes (`spawn`: a clean interpreter, no inherited locks or threads), from the
    pool this process keeps for that worker count; `close` leaves the pool for the next run."""

    name = "processes"

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise InvalidConfig("workers", f"workers: must be at least 1, got {workers}")
        self.workers = workers
        self.pool = shared_pool(workers)

    def map(self, fn: Callable[..., Any], tasks: Sequence[Task], on_done: OnDone | None = None) -> list[Any]:
        futures: dict[Future[Any], int] = {self.pool.submit(fn, *task): i for i, task in enumerate(tasks)}
        out: list[Any] = [None] * len(tasks)
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=lambda f: futures[f]):
                    i = futures[fut]
                    out[i] = fut.result()
                    if on_done is not None:
                        on_done(i, out[i])
        except BaseException:
            for fut in pending:  # a failed or interrupted run leaves nothing queued in the kept pool
                fut.cancel()
            raise
        return out

    def close(self) -> None:
        pass  # the pool is kept for the next run (`shutdown_pools` ends it)


class DaskExecutor:
    """Chunks as Dask tasks on a `distributed` cluster (`--scheduler tcp://host:8786`)."""

    name = "dask"

    def __init__(self, scheduler: Any) -> None:
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - distributed is a dependency
            raise InvalidConfig("scheduler", f"scheduler: dask.distributed is not installed ({exc})") from None
        if isinstance(scheduler, Client):
            self.client = scheduler
            self.owned = False
        else:
            try:
                self.client = Client(scheduler, timeout="10s")  # type: ignore[no-untyped-call]
            except (OSError, TimeoutError, ValueError) as exc:
                raise InvalidConfig("scheduler", f"scheduler: cannot reach {scheduler}: {exc}") from None
            self.owned = True
        self.client.run(warm_worker)  # every worker loads the kernels once and keeps them

    def map(self, fn: Callable[..., Any], tasks: Sequence[Task], on_done: OnDone | None = None) -> list[Any]:
        from distributed import as_completed

        futures = [self.client.submit(fn, *task, pure=False) for task in tasks]
        index = {f.key: i for i, f in enumerate(futures)}
        out: list[Any] = [None] * len(tasks)
        for fut in as_completed(futures):  # type: ignore[no-untyped-call]
            i = index[fut.key]
            out[i] = fut.result()
            if on_done is not None:
                on_done(i, out[i])
            fut.release()
        return out

    def close(self) -> None:
        if self.owned:
            self.client.close()  # type: ignore[no-untyped-call]


def make_executor(workers: int = 1, scheduler: Any = None) -> Executor:
    """Dask if a scheduler is given, local processes if workers > 1, else inline (drawing ahead in a
    second thread unless `BACKSTOP_PREFETCH=0`)."""
    if scheduler is not None:
        return DaskExecutor(scheduler)
    if workers < 1:
        raise InvalidConfig("workers", f"workers: must be at least 1, got {workers}")
    if workers == 1:
        return PrefetchingExecutor() if prefetch_enabled() else InlineExecutor()
    return ProcessExecutor(workers)
