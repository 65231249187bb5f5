"""Background risk-lab jobs for `POST /v1/simulations` (in memory: a job does not survive a
restart; its inputs are small and it can simply be run again)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..domain.errors import UnknownEntity

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def find_scenario(name: str) -> Path:
    path = EXAMPLES / f"{name}.yaml"
    if not name.replace("_", "").replace("-", "").isalnum() or not path.is_file():
        raise UnknownEntity("scenario", f"scenario: no example scenario named {name!r}")
    return path


def run_job(job: dict[str, Any], path: Path, body: Any) -> None:
    try:
        from ..sim.api import simulate_summary
    except ImportError:
        job.update(status="failed", error="the risk lab (backstop.sim) is not available")
        return

    def progress(done: int, total: int) -> None:
        job["progress"] = done / max(1, total)

    try:
        job["result"] = simulate_summary(
            path, paths=body.paths, horizon_days=body.horizon_days, seed=body.seed, progress=progress
        )
        job.update(status="done", progress=1.0)
    except Exception as exc:  # a job reports its failure instead of dying silently
        job.update(status="failed", error=f"{type(exc).__name__}: {exc}")
