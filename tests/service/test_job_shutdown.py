"""Job workers stop before the interpreter goes away (`JobTable.shutdown`, run at exit).

Why: a daemon worker left inside the risk lab's native code while the interpreter finalises can
abort the process after all its work is done ("terminate called without an active exception",
exit 134: seen twice in a pytest run of the live-desk and reliability tests). These tests leave
a long job running and check that the table stops it cleanly, in process and at a real exit.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from backstop.api.jobs import JobTable, QueueFull
from backstop.bundled import example_path
from backstop.scenario.loader import load_scenario
from backstop.store import MemoryStore, SqlStore

CDP = example_path("risk_lab_cdp")
LONG = {"paths": 1_000_000, "seed": 1, "horizon_days": 60}
"""Long in all (100 chunks), each chunk short: a cancel lands within one chunk even on a loaded machine."""


def _running(table: JobTable, job_id: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if table.get(job_id).status == "running":
            return
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never started: {table.get(job_id).public()}")


@pytest.mark.slow  # a job on a worker thread
def test_shutdown_cancels_a_running_job_joins_its_worker_and_refuses_new_ones() -> None:
    table = JobTable(MemoryStore(), max_jobs=1, max_queued=1)
    scenario = load_scenario(CDP)
    table.submit("long", "k", LONG, lambda: (scenario, None))
    table.submit("waiting", "k", LONG, lambda: (scenario, None))
    _running(table, "long")
    assert table.shutdown(timeout_s=60) is True
    assert table.get("long").status == "cancelled"
    assert table.get("waiting").status == "queued"  # never started; a restart marks it failed
    with pytest.raises(QueueFull, match="stopping") as refused:
        table.submit("late", "k", LONG, lambda: (scenario, None))
    assert refused.value.field == "queue"


@pytest.mark.slow  # a child interpreter that exits while its job runs
def test_a_process_that_exits_mid_job_exits_cleanly_and_stores_the_job_cancelled(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'exit.db'}"
    script = textwrap.dedent(
        f"""
        import time
        from backstop.api.jobs import JobTable
        from backstop.scenario.loader import load_scenario
        from backstop.store import SqlStore
        table = JobTable(SqlStore({url!r}), max_jobs=1)
        scenario = load_scenario({str(CDP)!r})
        table.submit("long", "k", {LONG!r}, lambda: (scenario, None))
        deadline = time.monotonic() + 60
        while table.get("long").progress == 0 and time.monotonic() < deadline:
            time.sleep(0.02)  # past the first chunk (imports, kernels loaded): inside the risk lab's loop
        assert table.get("long").status == "running" and table.get("long").progress > 0
        print("leaving", flush=True)
        """
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert child.returncode == 0, child.stderr[-2000:]
    assert "leaving" in child.stdout
    assert "terminate called" not in child.stderr
    store = SqlStore(url, single_writer=False)
    try:
        row = store.get_job("long")
        assert row is not None and row.status == "cancelled", row
    finally:
        store.close()
