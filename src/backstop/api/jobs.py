"""Risk-lab jobs for `POST /v1/simulations` and `POST /v1/sizings`: durable rows, a bounded
queue, workers, cancel. A sizing is a job whose request carries `size` (`is_sizing`); it shares
the table, the queue and the limits, and its result is `sizing_result` instead of a summary.

A job is a row in the store (`store/jobs.py`) from the moment it is accepted, so its status,
progress, result and HTML report outlive the process. A restart cannot resume a half-run job
(its inputs, such as the live state it started from, may be gone), so on start every job left
`queued` or `running` is marked `failed` with that reason; the caller can start it again.

At most `max_jobs` jobs run at once, each on a worker thread of its own (default: cores − 1, at
least 1), and at most `max_queued` more wait; past that a new job is refused with 429 and a
`Retry-After` (docs/service.md). With a Dask `scheduler` address the chunks of every job run on
that cluster instead of in the worker thread. The same (API key, Idempotency-Key) names the
same job, so a retried POST does not start a second one.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from ..bundled import example_path
from ..domain.errors import BackstopError, UnknownEntity
from ..store.base import StoredEvent
from ..store.jobs import UNFINISHED, AlertRecord, JobRecord, ProfileRecord
from .alerts import Alerts, Webhook
from .errors import Conflict, RateLimited

RETRY_AFTER_SECONDS = 5
"""What a 429 for a full queue asks the caller to wait: about one chunk of a typical job."""

DEFAULT_EXAMPLE = "risk_lab_cdp"


def find_scenario(name: str) -> Path:
    return example_path(name, "scenario")


def default_max_jobs() -> int:
    """Cores − 1, at least 1: one core stays free for the API and the group commit."""
    return max(1, (os.cpu_count() or 2) - 1)


class QueueFull(RateLimited):
    """Every job slot and every queue place is taken."""


class Cancelled(BaseException):
    """Raised inside a job's progress callback to stop it (a BaseException, so no
    `except Exception` on the way out can swallow it)."""


class JobStore(Protocol):
    """What the job table needs of the store (SqlStore and MemoryStore have it)."""

    def save_job(self, job: JobRecord) -> None: ...

    def get_job(self, job_id: str) -> JobRecord | None: ...

    def jobs_with_status(self, statuses: tuple[str, ...]) -> list[JobRecord]: ...

    def get_risk_profile(self) -> ProfileRecord | None: ...

    def put_risk_profile(self, record: ProfileRecord) -> None: ...

    def iter_events(self, after: int = -1, page: int = 5000) -> Iterator[StoredEvent]: ...

    def done_jobs(self) -> list[JobRecord]: ...

    def put_alert_rules(self, rules: str, updated_at: int, updated_by: str) -> None: ...

    def get_alert_rules(self) -> str | None: ...

    def save_alert(self, alert: AlertRecord) -> None: ...

    def alerts(self) -> list[AlertRecord]: ...


@dataclass
class Job:
    """One simulation: its stored row, plus what only the running process holds (its input)."""

    row: JobRecord
    source: Any = None
    """A scenario path (example) or mapping (live), to simulate; None once finished or restored."""
    cancel_requested: bool = False
    last_saved: float = field(default=0.0)

    @property
    def status(self) -> str:
        return self.row.status

    @property
    def progress(self) -> float:
        return self.row.progress

    @property
    def error(self) -> str | None:
        return self.row.error

    @property
    def report_html(self) -> str | None:
        return self.row.report_html

    def public(self) -> dict[str, Any]:
        """The job as the API shows it, without its report (which has its own route)."""
        r = self.row
        out: dict[str, Any] = {
            "status": r.status,
            "progress": r.progress,
            "request": json.loads(r.request),
            "state_hash": r.state_hash,
            "result": None if r.result is None else json.loads(r.result),
            "has_report": r.report_html is not None,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
        }
        if r.error is not None:
            out["error"] = r.error
        if self.cancel_requested and r.status in UNFINISHED:
            out["cancel_requested"] = True
        return out


class JobTable:
    """The service's simulations by id: stored rows, a bounded queue and `max_jobs` workers."""

    def __init__(
        self,
        store: Any,
        max_jobs: int | None = None,
        max_queued: int | None = None,
        scheduler: str | None = None,
        clock: Any = time.time,
    ) -> None:
        self.store: JobStore = store
        self.clock = clock
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._workers: list[threading.Thread] = []
        self._stopping = False
        self._schedules: list[threading.Event] = []
        self.alerts = Alerts(store)
        self.configure(max_jobs, max_queued, scheduler)
        self._fail_interrupted()
        _LIVE_TABLES.add(self)

    def configure(
        self,
        max_jobs: int | None = None,
        max_queued: int | None = None,
        scheduler: str | None = None,
        webhook: Webhook | None = None,
    ) -> None:
        """Set the limits (`serve --max-jobs`), the Dask scheduler (`serve --scheduler`) and the
        alert webhook (`serve --alert-webhook`)."""
        self.alerts.webhook = webhook
        self.max_jobs = default_max_jobs() if max_jobs is None else max_jobs
        if self.max_jobs < 1:
            raise BackstopError("max_jobs", f"max_jobs: must be at least 1, got {self.max_jobs}")
        self.max_queued = self.max_jobs if max_queued is None else max_queued
        self.scheduler = scheduler

    def _fail_interrupted(self) -> None:
        now = int(self.clock())
        for row in self.store.jobs_with_status(UNFINISHED):
            reason = f"interrupted: the service restarted while the job was {row.status}; start it again"
            self.store.save_job(replace(row, status="failed", error=reason, updated_at=now))

    # -- submit --------------------------------------------------------------------------------
    def submit(
        self, job_id: str, key_id: str, request: dict[str, Any], prepare: Callable[[], tuple[Any, str | None]]
    ) -> Job:
        """Queue a job, or hand back the one already started under this id (409 if the request
        differs); 429 (`QueueFull`) when every slot and queue place is taken. `prepare` gives the
        job's input and the state hash it starts from; it runs only for a job accepted as new."""
        text = json.dumps(request, sort_keys=True)
        with self._lock:
            job = self._known(job_id)
            if job is not None:
                if job.row.request != text:
                    raise Conflict("idempotency-key", "idempotency-key: this key already started another simulation")
                return job
            if self._stopping:
                raise QueueFull("queue", "queue: the service is stopping; retry later", RETRY_AFTER_SECONDS)
            active = sum(1 for j in self._jobs.values() if j.status in UNFINISHED)
            if active >= self.max_jobs + self.max_queued:
                raise QueueFull(
                    "queue",
                    f"queue: {active} simulations are running or waiting (at most {self.max_jobs} run at once, "
                    f"{self.max_queued} wait); retry in {RETRY_AFTER_SECONDS} s",
                    RETRY_AFTER_SECONDS,
                )
            source, state_hash = prepare()
            now = int(self.clock())
            row = JobRecord(job_id, key_id, "queued", 0.0, text, state_hash, created_at=now, updated_at=now)
            self.store.save_job(row)
            job = self._jobs[job_id] = Job(row, source)
            self._start_workers()
        self._queue.put(job)
        return job

    def _known(self, job_id: str) -> Job | None:
        """The job in memory (queued or running here), else as stored (finished: not kept in
        memory, so reading old jobs and their reports never grows the process)."""
        job = self._jobs.get(job_id)
        if job is None:
            row = self.store.get_job(job_id)
            job = None if row is None else Job(row)
        return job

    def _start_workers(self) -> None:
        self._workers = [t for t in self._workers if t.is_alive()]
        while len(self._workers) < self.max_jobs:
            worker = threading.Thread(target=self._work, name=f"backstop-job-{len(self._workers)}", daemon=True)
            worker.start()
            self._workers.append(worker)

    # -- read, cancel -----------------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._known(job_id)
        if job is None:
            raise UnknownEntity("id", f"id: unknown simulation {job_id!r}")
        return job

    def report(self, job_id: str) -> str:
        with self._lock:
            job = self._known(job_id)
        if job is None or job.report_html is None:
            raise UnknownEntity("id", f"id: no finished simulation {job_id!r}")
        return job.report_html

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job at once, a running one when its current chunk ends; 409 once finished."""
        job = self.get(job_id)
        with self._lock:
            if job.status not in UNFINISHED:
                raise Conflict("id", f"id: simulation {job_id!r} is already {job.status}")
            job.cancel_requested = True
            if job.status == "queued":
                self._save(job, status="cancelled", error="cancelled before it started")
        return job

    # -- run ------------------------------------------------------------------------------------
    def _save(self, job: Job, **changes: Any) -> None:
        job.row = replace(job.row, updated_at=int(self.clock()), **changes)
        self.store.save_job(job.row)
        job.last_saved = time.monotonic()

    def shutdown(self, timeout_s: float = 30.0) -> bool:
        """Stop the workers before the interpreter goes away (also run at exit for every table).

        Why: the workers are daemon threads. Left running at exit, one inside the risk lab (NumPy,
        Numba, a process pool, the store's driver) is frozen or unwound by the finalising
        interpreter in the middle of native code, which can abort the process ("terminate called
        without an active exception", exit 134) after all its work is done. So every unfinished
        job is asked to cancel (a running one stops when its current chunk ends and is stored as
        cancelled; the restart rule would mark it failed anyway), the schedules stop, and the
        workers are joined. Returns True when every worker ended within `timeout_s`."""
        with self._lock:
            self._stopping = True
            for job in self._jobs.values():
                job.cancel_requested = True
            for stop in self._schedules:
                stop.set()
            workers = list(self._workers)
        for _ in workers:
            self._queue.put(None)
        deadline = time.monotonic() + timeout_s
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        return not any(worker.is_alive() for worker in workers)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:  # shutdown(): one sentinel per worker
                return
            try:
                self._run(job)
            except Exception as exc:  # the store failed while saving: keep the worker alive
                job.row = replace(job.row, status="failed", error=f"{type(exc).__name__}: {exc}")
            with self._lock:  # a finished job is read back from the store: memory stays bounded
                if job.status not in UNFINISHED and self._jobs.get(job.row.id) is job:
                    del self._jobs[job.row.id]

    def _run(self, job: Job) -> None:
        with self._lock:
            if job.cancel_requested or job.status != "queued":
                return
            self._save(job, status="running")
        try:
            from ..sim.api import simulate
            from ..sim.report import build_report
        except ImportError:
            self._save(job, status="failed", error="the risk lab (backstop.sim) is not available")
            return

        def progress(done: int, total: int) -> None:
            if job.cancel_requested:
                raise Cancelled
            job.row = replace(job.row, progress=done / max(1, total))
            if time.monotonic() - job.last_saved >= 1.0 and done < total:
                self._save(job)

        request = json.loads(job.row.request)
        report: str | None = None
        try:
            if is_sizing(request):
                result = json.dumps(self._size(job, request, progress), allow_nan=False)
                if job.cancel_requested:  # asked while the bisection ran (it has no chunks to stop at)
                    raise Cancelled
            else:
                res = simulate(
                    self._scenario(job.source),
                    paths=request["paths"],
                    seed=request["seed"],
                    horizon_days=request.get("horizon_days"),
                    scheduler=self.scheduler,
                    progress=progress,
                )
                result = json.dumps(res.summary(), allow_nan=False)
                report = build_report(res)
        except Cancelled:
            self._save(job, status="cancelled", error="cancelled while running")
        except BaseException as exc:  # a job reports its failure instead of dying silently
            message = exc.message if isinstance(exc, BackstopError) else f"{type(exc).__name__}: {exc}"
            self._save(job, status="failed", error=message)
            if not isinstance(exc, Exception):
                raise
        else:
            self._save(job, status="done", progress=1.0, result=result, report_html=report)
            try:
                self.alerts.on_done(job.row)
            except Exception:
                pass
        finally:
            job.source = None

    def _size(self, job: Job, request: dict[str, Any], progress: Callable[[int, int], None]) -> dict[str, Any]:
        """A sizing job (`POST /v1/sizings`): phase A reports progress (to 90%), the bisection
        on those same worlds follows; the answer rounded up to whole units (`sizing_result`)."""
        from ..sim.api import size
        from ..sim.model import compile_model

        def worlds_progress(done: int, total: int) -> None:
            progress(9 * done, 10 * total)

        ask = request["size"]
        model = compile_model(
            self._scenario(job.source), seed=request["seed"], horizon_days=request.get("horizon_days")
        )
        run = size(
            model,
            ask["layer"],
            ask["target_p"],
            paths=request["paths"],
            seed=request["seed"],
            scheduler=self.scheduler,
            progress=worlds_progress,
        )
        return sizing_result(run, model, request, job.row.state_hash)

    # -- the risk desk's schedule (`serve --risk-every`) -------------------------------------------
    def run_every(self, service: Any, seconds: float, paths: int, seed: int = 0) -> threading.Event:
        """Start a live job every `seconds` (skipped, and tried again next time, while there is no
        risk profile or the queue is full). Setting the returned event stops the schedule."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(seconds):
                request = {"source": "live", "paths": paths, "seed": seed}
                try:
                    self.submit(f"every-{int(self.clock())}", "schedule", request, lambda: live_source(service))
                except BackstopError:
                    continue

        with self._lock:
            self._schedules.append(stop)
        threading.Thread(target=loop, name="backstop-risk-every", daemon=True).start()
        return stop

    @staticmethod
    def _scenario(source: Any) -> Any:
        if isinstance(source, dict):
            from ..scenario.loader import scenario_from_data

            return scenario_from_data(source)
        return source


def is_sizing(request: dict[str, Any]) -> bool:
    """A sizing job's request carries `size` (`POST /v1/sizings`); a simulation's does not."""
    return "size" in request


def sizing_result(run: Any, model: Any, request: dict[str, Any], state_hash: str | None) -> dict[str, Any]:
    """A sizing run as the API shows it: the smallest size meeting the target, rounded up to a
    whole unit of the layer's asset (a bigger backstop, never a smaller one), the current size,
    and the curve of P(socialized) against the size on the same paths (`sim/sizing.py`)."""
    from ..sim.metrics import format_amount

    r = run.result
    layer = model.layers[model.layer_index(r.layer)]
    asset = model.assets[layer.asset] if layer.asset >= 0 else model.loss_asset_name

    def whole(x: float) -> str | None:
        return str(math.ceil(x)) if math.isfinite(x) else None

    return {
        "layer": r.layer,
        "kind": r.kind,
        "size_meaning": type(layer).size_meaning,
        "asset": asset,
        "metric": "p_socialized",
        "target_p": r.target_p,
        "reached": r.reached,
        "size": whole(r.size),
        "size_ci": [whole(x) for x in r.size_ci],
        "current_size": format_amount(r.current_size),
        "p_at_size": {"value": r.p_at_size.value, "se": r.p_at_size.se},
        "curve": [{"size": float(s), "p": float(p)} for s, p in sorted(r.curve)],
        "evaluations": r.evaluations,
        "paths": request["paths"],
        "seed": request["seed"],
        "state_hash": state_hash,
        "seconds": round(run.seconds, 3),
    }


def live_source(service: Any) -> tuple[Any, str]:
    """The live state as a `StartState` (a copy of the engine's state, with the stored risk
    profile as its `simulation:` section), and the state hash it was taken at; 409 without a
    profile.

    Why a copy and not the log: the log grows for years, the state does not have to. The copy is
    the snapshot encoding (`store/snapshot.encode`: the hash and a pickle of the state, O(state))
    taken under the write lock, so it is exactly the state at that hash; it is decoded with no
    lock held. Nothing here reads the stored events (`scenario/export.py` still turns the log
    into a scenario file for `backstop export`)."""
    from ..sim.model import StartState
    from ..store import snapshot as snapshots

    profile = service.store.get_risk_profile()
    if profile is None:
        raise Conflict("source", "source: a live simulation needs a risk profile; PUT /v1/risk/profile first")
    with service.write_lock:  # no group in flight: the state stands still and is what the store holds
        state_hash, blob = snapshots.encode(service.engine)
    state = snapshots.decode_state(blob)
    return StartState("live", json.loads(profile.profile), state), state_hash


DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_duration(text: str, field: str = "risk_every") -> int:
    """`90s`, `30m`, `1h`, `1d` (or plain seconds) as whole seconds, at least 1."""
    text = text.strip()
    unit = DURATION.get(text[-1:])
    number = text[:-1] if unit else text
    if not number.isdigit() or int(number) * (unit or 1) < 1:
        raise BackstopError(field, f"{field}: a duration such as 90s, 30m, 1h or 1d, got {text!r}")
    return int(number) * (unit or 1)


_LIVE_TABLES: weakref.WeakSet[JobTable] = weakref.WeakSet()
"""Every job table of this process, so that `_shutdown_all` can stop their workers at exit."""


def _shutdown_all() -> None:
    for table in list(_LIVE_TABLES):
        table.shutdown()


def _run_at_exit_before_executors(fn: Callable[[], None]) -> None:
    """Run `fn` as the interpreter starts to exit, before `concurrent.futures` refuses new work.

    Why: a running job's chunks use a thread pool (the drawing thread of
    `sim.executors.PrefetchingExecutor`); at exit `concurrent.futures` sets a flag, from threading's
    own exit hooks, after which every new `submit` raises "cannot schedule new futures after
    shutdown". A plain `atexit` handler runs after that, so the job failed with that error instead of
    being cancelled. threading's hooks run in reverse order of registration, and
    concurrent.futures.thread registers its hook when imported, so importing it first puts ours
    before it. `threading._register_atexit` is the hook the standard library itself uses; where it
    is missing, plain `atexit`."""
    import concurrent.futures.thread  # noqa: F401  (registers its hook first: ours then runs before it)

    register = getattr(threading, "_register_atexit", None)
    if register is None:
        atexit.register(fn)
    else:
        register(fn)


_run_at_exit_before_executors(_shutdown_all)
