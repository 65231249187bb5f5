"""Executors: one small interface that runs chunk tasks, with inline, process and Dask behind it.

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
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

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


def warm_worker() -> None:
    """Run in each new worker (process-pool initializer, Dask `client.run`): import the risk lab and
    load the compiled kernels from their on-disk cache, so no task pays for it. Idempotent."""
    from . import chunk, jit, phase_b  # noqa: F401  (the imports a task needs, and every kernel registered)

    if jit.enabled() and not jit.warmed():
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
    """Dask if a scheduler is given, local processes if workers > 1, else inline."""
    if scheduler is not None:
        return DaskExecutor(scheduler)
    if workers < 1:
        raise InvalidConfig("workers", f"workers: must be at least 1, got {workers}")
    if workers == 1:
        return InlineExecutor()
    return ProcessExecutor(workers)
