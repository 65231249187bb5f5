"""Background risk-lab jobs for `POST /v1/simulations` (in memory: a job does not survive a
restart; its inputs are small and it can simply be run again)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..bundled import example_path


def find_scenario(name: str) -> Path:
    return example_path(name, "scenario")


def run_job(job: dict[str, Any], path: Path, body: Any) -> None:
    """Run one job; its summary goes to `job["result"]` (what `backstop simulate --json` prints)
    and its self-contained HTML report to `job["report_html"]` (served by
    `GET /v1/simulations/{id}/report`, shown in the dashboard)."""
    try:
        from ..sim.api import simulate
        from ..sim.report import build_report
    except ImportError:
        job.update(status="failed", error="the risk lab (backstop.sim) is not available")
        return

    def progress(done: int, total: int) -> None:
        job["progress"] = done / max(1, total)

    try:
        res = simulate(path, paths=body.paths, horizon_days=body.horizon_days, seed=body.seed, progress=progress)
        job["result"] = res.summary()
        job["report_html"] = build_report(res)
        job.update(status="done", progress=1.0)
    except Exception as exc:  # a job reports its failure instead of dying silently
        job.update(status="failed", error=f"{type(exc).__name__}: {exc}")
