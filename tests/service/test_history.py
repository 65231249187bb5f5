"""History in the store (issue 13 §1, §2, §5), on SQLite and PostgreSQL: the service keeps no
event list, `/v1/events` pages from the store, snapshots shorten the restart and a bad one is
skipped with a warning, and the hash chain names the first altered, deleted or reordered row.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from backstop.api.cli import FALLBACK, FLAGSHIP, load_demo
from backstop.api.service import RebuildMismatch, Service
from backstop.engine import Engine
from backstop.scenario.loader import load_scenario
from backstop.scenario.report import event_json
from backstop.store import MemoryStore, SqlStore
from backstop.store import snapshot as snapshots
from backstop.store.base import GENESIS, StoredEvent, event_hash
from backstop.store.verify import verify_store

from .conftest import Api


def _built(url: str, snapshot_every: int = 0) -> tuple[SqlStore, Service, int]:
    store = SqlStore(url)
    service = Service(store, snapshot_every=snapshot_every)
    return store, service, load_demo(service, FALLBACK)


def _sql(store: SqlStore, statement: str, **params: Any) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(statement), params)


def _posting_seq(store: SqlStore) -> int:
    return next(e.seq for e in store.iter_events() if e.kind == "posting" and e.seq > 10)


def _cli_verify(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backstop.cli", "verify", "--db", url],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )


# -- history out of memory ----------------------------------------------------------------------


def test_the_service_keeps_no_event_list_and_pages_events_from_the_store(api: Api) -> None:
    assert api.service.engine.log == [] and not api.service.engine.keep_log
    expected = Engine()
    for step in load_scenario(FALLBACK).steps:
        if not step.expect_error:
            expected.apply(step.command)
    assert api.service.engine.next_seq == len(expected.log)
    got: list[dict[str, Any]] = []
    after, pages = -1, 0
    while True:
        body = api.get(f"/v1/events?after={after}&limit=7").json()
        got.extend(body["events"])
        pages += 1
        assert body["total"] == len(expected.log)
        if body["next_after"] is None:
            break
        after = body["next_after"]
    assert got == [event_json(e) for e in expected.log]  # the same contract as the in-memory log had
    assert pages == -(-len(expected.log) // 7)


def test_any_integer_is_a_valid_events_cursor(api: Api) -> None:
    """Found by schemathesis: a cursor beyond 64 bits reached SQLite and overflowed (500)."""
    beyond = api.get(f"/v1/events?after={2**63}").json()
    assert beyond["events"] == [] and beyond["next_after"] is None
    below = api.get("/v1/events?after=-5&limit=1").json()
    assert below["events"][0]["seq"] == 0


def test_health_shows_the_head_hash_of_the_chain(api: Api) -> None:
    body = api.get("/v1/health").json()
    head = api.store.head()
    assert head is not None
    assert body["head_hash"] == head[1] and body["events"] == head[0] + 1
    prev = GENESIS
    for row in api.store.iter_events(page=5):
        prev = event_hash(prev, row)
    assert body["head_hash"] == prev  # recomputed from the rows, not read back


# -- snapshots ----------------------------------------------------------------------------------


def test_a_restart_loads_the_newest_snapshot_and_replays_only_the_tail(db_url: str) -> None:
    store, service, n = _built(db_url, snapshot_every=5)
    live = service.state_hash()
    metas = store.snapshots()
    assert len(metas) == 3  # kept: the newest three
    store.close()
    store = SqlStore(db_url)
    restarted = Service(store, snapshot_every=5)
    assert restarted.state_hash() == live
    assert restarted.tail_replayed == n - metas[0].commands < 5
    assert restarted.warnings == []
    assert restarted.head == service.head
    store.close()


def test_a_corrupt_snapshot_is_skipped_with_a_warning_and_an_older_one_used(db_url: str) -> None:
    store, service, n = _built(db_url, snapshot_every=5)
    live = service.state_hash()
    newest, older = store.snapshots()[:2]
    snap = store.load_snapshot(newest.seq)
    assert snap is not None
    flipped = bytes([snap.blob[0] ^ 1]) + snap.blob[1:]
    _sql(store, "UPDATE snapshots SET blob = :b WHERE seq = :s", b=flipped, s=newest.seq)
    store.close()
    store = SqlStore(db_url)
    restarted = Service(store, snapshot_every=0)
    assert restarted.state_hash() == live
    assert restarted.tail_replayed == n - older.commands
    assert any(f"seq {newest.seq}" in w and "digest" in w for w in restarted.warnings)
    verdict = verify_store(store)
    assert verdict.problem is not None and verdict.problem.startswith(f"snapshots row seq {newest.seq}:")
    store.close()


def test_with_every_snapshot_bad_the_full_log_is_replayed(db_url: str) -> None:
    store, service, n = _built(db_url, snapshot_every=5)
    live = service.state_hash()
    _sql(store, "UPDATE snapshots SET state_hash = :h", h="0" * 64)
    store.close()
    store = SqlStore(db_url)
    restarted = Service(store, snapshot_every=0)
    assert restarted.state_hash() == live and restarted.tail_replayed == n
    assert len(restarted.warnings) == 3 and all("state hash" in w for w in restarted.warnings)
    store.close()


class _Payload:
    """A pickle that would run a shell command when loaded by a plain `pickle.loads`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_a_tampered_snapshot_cannot_run_code(sqlite_api: Api, tmp_path: Path) -> None:
    store, service = sqlite_api.store, sqlite_api.service
    service.snapshot()
    meta = store.snapshots()[0]
    marker = tmp_path / "pwned"
    blob = pickle.dumps(_Payload(marker))
    digest = hashlib.sha256(blob).hexdigest()  # the attacker fixes the digest too
    _sql(store, "UPDATE snapshots SET blob = :b, digest = :d WHERE seq = :s", b=blob, d=digest, s=meta.seq)
    snap = store.load_snapshot(meta.seq)
    assert snap is not None
    with pytest.raises(snapshots.SnapshotError, match="forbidden global"):
        snapshots.restore(snap)
    restarted = Service(store, snapshot_every=0)
    assert restarted.state_hash() == service.state_hash()
    assert any("forbidden global" in w for w in restarted.warnings)
    assert not marker.exists()


# -- the tamper-evident log -----------------------------------------------------------------------


def test_an_altered_row_is_named_by_verify(db_url: str) -> None:
    store, _service, _ = _built(db_url)
    assert verify_store(store).ok
    seq = _posting_seq(store)
    _sql(store, "UPDATE events SET data = replace(data, '\"amount\": ', '\"amount\": 1') WHERE seq = :s", s=seq)
    verdict = verify_store(store)
    assert verdict.problem is not None and verdict.problem.startswith(f"events row seq {seq}:")
    assert verdict.events == seq  # every row before it verified
    done = _cli_verify(db_url)
    assert done.returncode == 1 and f"events row seq {seq}:" in done.stderr, done.stderr
    store.close()
    with pytest.raises(RebuildMismatch, match=f"event {seq}"):
        Service(SqlStore(db_url))


def test_a_deleted_row_is_named_by_verify(db_url: str) -> None:
    store, _service, _ = _built(db_url)
    seq = _posting_seq(store)
    _sql(store, "DELETE FROM events WHERE seq = :s", s=seq)
    verdict = verify_store(store)
    assert verdict.problem == f"events row seq {seq}: missing (the next row has seq {seq + 1}): deleted"
    done = _cli_verify(db_url)
    assert done.returncode == 1 and f"events row seq {seq}:" in done.stderr
    store.close()


def test_reordered_rows_are_named_by_verify(db_url: str) -> None:
    store, _service, _ = _built(db_url)
    a = _posting_seq(store) + 3
    rows = {e.seq: e for e in store.iter_events() if e.seq in (a, a + 1)}
    assert rows[a].data != rows[a + 1].data
    for seq, other in ((a, rows[a + 1]), (a + 1, rows[a])):  # swap the two rows' contents, hashes included
        _sql(
            store,
            "UPDATE events SET at = :at, kind = :k, data = :d, hash = :h WHERE seq = :s",
            at=other.at,
            k=other.kind,
            d=other.data,
            h=other.hash,
            s=seq,
        )
    verdict = verify_store(store)
    assert verdict.problem is not None and verdict.problem.startswith(f"events row seq {a}:")
    store.close()


def test_a_rewritten_chain_is_still_caught_by_the_replay(db_url: str) -> None:
    """An attacker who alters a derived event and recomputes every hash after it keeps the chain
    whole; the replay from empty still derives a different event at that row."""
    store, _service, _ = _built(db_url)
    seq = _posting_seq(store)
    prev = GENESIS
    for row in store.load_events():
        if row.seq == seq:
            row = StoredEvent(row.seq, row.at, row.kind, row.data.replace('"amount": ', '"amount": 1', 1))
        h = event_hash(prev, row)
        if row.seq >= seq:
            _sql(store, "UPDATE events SET data = :d, hash = :h WHERE seq = :s", d=row.data, h=h, s=row.seq)
        prev = h
    verdict = verify_store(store)
    assert verdict.problem is not None and verdict.problem.startswith(f"events row seq {seq}: does not replay")
    store.close()


def test_verify_passes_a_clean_store_and_checks_its_snapshots(db_url: str) -> None:
    store, service, n = _built(db_url, snapshot_every=5)
    verdict = verify_store(store)
    assert verdict.ok and verdict.commands == n and verdict.snapshots == 3
    assert verdict.state_hash == service.state_hash() and verdict.head_hash == service.head[1]
    done = _cli_verify(db_url)
    assert done.returncode == 0 and f"head_hash {service.head[1]}" in done.stdout, done.stderr
    store.close()


def test_verify_of_a_missing_file_exits_2(tmp_path: Path) -> None:
    done = _cli_verify(f"sqlite:///{tmp_path / 'nothing.db'}")
    assert done.returncode == 2 and "no such file" in done.stderr


# -- the upgrade path -----------------------------------------------------------------------------

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store_0001.db"
HEAD_REVISION = "0004_quotes"
"""The newest Alembic revision: an old store is migrated all the way to it."""
FIXTURE_FACTS = json.loads(FIXTURE.with_suffix(".json").read_text())


def test_a_store_written_before_the_hash_chain_migrates_and_replays_to_its_hash(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    db.write_bytes(FIXTURE.read_bytes())
    store = SqlStore(f"sqlite:///{db}")
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD_REVISION
    service = Service(store, snapshot_every=0)
    assert service.state_hash() == FIXTURE_FACTS["state_hash"]
    assert service.engine.commands_applied == FIXTURE_FACTS["commands"]
    assert verify_store(store).ok
    fresh = Service(MemoryStore(), snapshot_every=0)  # the same commands written by today's code
    load_demo(fresh, FLAGSHIP)
    # The migration chained the old rows as they were written; today's code writes a layer config
    # with only the options it sets, so the same commands hash differently now: the rows, their
    # number and their replayed state are what must agree.
    assert service.head is not None and fresh.head is not None and service.head[0] == fresh.head[0]
    store.close()


def test_a_postgresql_store_of_revision_0001_migrates_too(pg_url: str) -> None:
    from alembic import command as alembic_command
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import create_engine

    from backstop.store.sql import MIGRATIONS

    engine = create_engine(pg_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        alembic_command.upgrade(cfg, "0001")
    old = create_engine(f"sqlite:///{FIXTURE}")
    with old.connect() as src, engine.begin() as dst:
        for table in ("events", "balances", "idempotency", "api_keys", "checkpoints"):
            rows = [dict(r._mapping) for r in src.execute(text(f"SELECT * FROM {table}"))]
            if rows:
                cols = ", ".join(rows[0])
                dst.execute(text(f"INSERT INTO {table} ({cols}) VALUES ({', '.join(':' + c for c in rows[0])})"), rows)
    old.dispose()
    engine.dispose()
    store = SqlStore(pg_url)
    service = Service(store, snapshot_every=0)
    assert service.state_hash() == FIXTURE_FACTS["state_hash"]
    assert verify_store(store).ok
    store.close()
