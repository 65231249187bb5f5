"""Crash test for snapshots (issue 13 §2): `backstop serve` is SIGKILLed while a snapshot is
being written, under load from several clients, and restarted on the same database.

The server runs through `slow_snapshot_serve.py`, which holds each snapshot transaction open
for a moment and names it in a marker file; the test kills the server only while that marker
exists, so every kill lands inside a snapshot write. Afterwards: every acknowledged command is
stored exactly once, the half-written snapshot is absent right after the kill (its transaction
never committed), every stored snapshot restores, and `verify_store` passes.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from backstop.api.cli import FALLBACK, load_demo
from backstop.api.keys import new_key
from backstop.api.service import Service
from backstop.store import SqlStore
from backstop.store import snapshot as snapshots
from backstop.store.verify import verify_store

from .server import ServerProcess
from .test_crash import CLIENTS, Client

KILLS = 3
WRAPPER = str(Path(__file__).with_name("slow_snapshot_serve.py"))


@pytest.mark.slow  # a server process killed and restarted under load
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_during_a_snapshot_write_loses_nothing(
    backend: str, tmp_path: Path, request: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    store = SqlStore(url)
    setup = load_demo(Service(store, snapshot_every=0), FALLBACK)
    token, record = new_key("admin", None)
    store.add_key(record)
    store.close()

    marker = tmp_path / "snapshot-in-progress"
    monkeypatch.setenv("BACKSTOP_TEST_SNAPSHOT_MARKER", str(marker))
    server = ServerProcess(url, tmp_path / "server.log", args=("--snapshot-every", "3"), entry=(WRAPPER,))
    server.start()
    stop = threading.Event()
    clients = [Client(n, server.url, token, stop) for n in range(CLIENTS)]
    for c in clients:
        c.start()
    torn: list[int] = []
    deadline = time.monotonic() + 180
    while len(torn) < KILLS and time.monotonic() < deadline:
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        try:
            torn.append(int(marker.read_text()))
        except (OSError, ValueError):  # the marker went between the check and the read: wait for the next
            continue
        server.kill()
        marker.unlink(missing_ok=True)
        probe = SqlStore(url, single_writer=False)
        assert torn[-1] not in {m.seq for m in probe.snapshots()}, "a killed snapshot transaction left its row"
        probe.close()
        server.start()
    time.sleep(0.5)
    stop.set()
    for c in clients:
        c.join(timeout=30)
    live_hash = httpx.get(f"{server.url}/v1/state", headers={"Authorization": f"Bearer {token}"}, timeout=30).json()[
        "state_hash"
    ]
    server.stop()
    assert len(torn) == KILLS, "every kill must land while a snapshot transaction is open"

    store = SqlStore(url)
    rebuilt = Service(store, snapshot_every=0)
    acked = {k: s for c in clients for k, s in c.acked.items()}
    ok = {k for k, s in acked.items() if s == 200}
    for k, status in acked.items():
        rec = store.get_idempotency(record.key_id, k)
        assert rec is not None, f"acknowledged command {k} ({status}) is not in the store"
        assert rec.status == status
    commands = [e for e in store.iter_events() if e.kind == "command"]
    assert len(commands) == setup + len(ok), "a command was lost or applied twice"
    assert rebuilt.state_hash() == live_hash
    stored = {m.seq for m in store.snapshots()}
    assert stored, "the server wrote snapshots between the kills"
    for seq in stored:
        snap = store.load_snapshot(seq)
        assert snap is not None
        snapshots.restore(snap)
    verdict = verify_store(store)
    assert verdict.ok, verdict.problem
    store.close()
    print(json.dumps({"backend": backend, "acknowledged": len(acked), "applied": len(ok), "killed_in_snapshot": torn}))
