"""`POST /v1/simulations` runs the risk lab in the background and `GET` returns the same summary
as `backstop simulate --json` (docs/service.md)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from backstop.sim.api import simulate_summary

from ..service.conftest import make_api
from .helpers import CDP


@pytest.mark.slow  # background jobs on threads and timers: not the in-process tier
def test_simulation_job_returns_the_cli_summary(tmp_path: Path) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        body = {"scenario": "risk_lab_cdp", "paths": 300, "horizon_days": 30, "seed": 4}
        r = api.post("/v1/simulations", body, who="risk")
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        for _ in range(600):
            job = api.get(f"/v1/simulations/{job_id}", who="risk").json()
            if job["status"] not in ("queued", "running"):
                break
            time.sleep(0.05)
        assert job["status"] == "done", job
        assert job["progress"] == 1.0
        assert job["result"] == simulate_summary(CDP, paths=300, horizon_days=30, seed=4)
        assert job["has_report"] is True and "report_html" not in job
        report = api.get(f"/v1/simulations/{job_id}/report", who="risk")
        assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
        assert report.text.count("<img ") >= 5
        missing = api.get("/v1/simulations/nosuchjob/report", who="risk")
        assert missing.status_code == 404 and missing.json()["error"]["field"] == "id"
        unknown = api.post("/v1/simulations", {"scenario": "../../etc/passwd", "paths": 10}, who="risk")
        assert unknown.status_code in (404, 422) and "scenario" in unknown.text
    finally:
        api.store.close()


def test_progress_callback_counts_paths() -> None:
    seen: list[tuple[int, int]] = []
    simulate_summary(CDP, paths=250, horizon_days=5, seed=0, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1] == (250, 250)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
