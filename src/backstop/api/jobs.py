"""Background risk-lab jobs for `POST /v1/simulations`.

Jobs live in memory: a job does not survive a restart; its inputs are small and it can simply
be run again. The same (API key, Idempotency-Key) names the same job, so a retried POST does
not start a second one.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bundled import example_path
from ..domain.errors import UnknownEntity


def find_scenario(name: str) -> Path:
    return example_path(name, "scenario")


@dataclass
class Job:
    """One simulation: its request, its progress, then its summary and HTML report (or error)."""

    request: dict[str, Any]
    status: str = "running"
    progress: float = 0.0
    result: Any = None
    """What `backstop simulate --json` prints."""
    error: str | None = None
    report_html: str | None = None
    """The self-contained HTML report (served by `GET /v1/simulations/{id}/report`)."""

    def fields(self) -> dict[str, Any]:
        """The job as the API shows it, the report included once there is one."""
        out: dict[str, Any] = {
            "status": self.status,
            "progress": self.progress,
            "request": self.request,
            "result": self.result,
        }
        if self.error is not None:
            out["error"] = self.error
        if self.report_html is not None:
            out["report_html"] = self.report_html
        return out

    def public(self) -> dict[str, Any]:
        """The job without its report (which has its own route), as plain JSON."""
        body = {k: v for k, v in self.fields().items() if k != "report_html"}
        return {"has_report": self.report_html is not None, **json.loads(json.dumps(body, default=str))}


class JobTable:
    """The service's simulations by id, each run on a thread of its own."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, job_id: str, path: Path, body: Any) -> Job:
        """Start a job, or hand back the one already started under this id."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                return job
            job = self._jobs[job_id] = Job(request=body.model_dump())
        threading.Thread(target=run_job, args=(job, path, body), daemon=True).start()
        return job

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise UnknownEntity("id", f"id: unknown simulation {job_id!r}")
        return job

    def report(self, job_id: str) -> str:
        job = self._jobs.get(job_id)
        if job is None or job.report_html is None:
            raise UnknownEntity("id", f"id: no finished simulation {job_id!r}")
        return job.report_html


def run_job(job: Job, path: Path, body: Any) -> None:
    """Run one job to its summary and report, or to a failure it reports."""
    try:
        from ..sim.api import simulate
        from ..sim.report import build_report
    except ImportError:
        job.status, job.error = "failed", "the risk lab (backstop.sim) is not available"
        return

    def progress(done: int, total: int) -> None:
        job.progress = done / max(1, total)

    try:
        res = simulate(path, paths=body.paths, horizon_days=body.horizon_days, seed=body.seed, progress=progress)
        job.result = res.summary()
        job.report_html = build_report(res)
        job.status, job.progress = "done", 1.0
    except Exception as exc:  # a job reports its failure instead of dying silently
        job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
