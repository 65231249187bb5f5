"""Executors: one small interface that runs chunk tasks, with inline, process and Dask behind it.

As httpx's transport does for I/O, the executor separates the simulation from where
it runs. Every executor returns results in task order, so what it ran on never changes a number;
`on_done(task_index, result)` is called as each task finishes (for the progress bar).
"""

from __future__ import annotations

import multiprocessing
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


class ProcessExecutor:
    """Local worker processes (`spawn`: a clean interpreter, no inherited locks or threads)."""

    name = "processes"

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise InvalidConfig("workers", f"workers: must be at least 1, got {workers}")
        self.workers = workers
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))

    def map(self, fn: Callable[..., Any], tasks: Sequence[Task], on_done: OnDone | None = None) -> list[Any]:
        futures: dict[Future[Any], int] = {self.pool.submit(fn, *task): i for i, task in enumerate(tasks)}
        out: list[Any] = [None] * len(tasks)
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: futures[f]):
                i = futures[fut]
                out[i] = fut.result()
                if on_done is not None:
                    on_done(i, out[i])
        return out

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


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
