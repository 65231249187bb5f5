"""Durable storage on SQLite and PostgreSQL (docs/service.md, "Storage"): one command = one transaction, a 2xx
means durable, a restart rebuilds the very same state, amounts are exact."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backstop.api.service import RebuildMismatch, Service
from backstop.domain import commands as c
from backstop.domain.errors import InsufficientFunds
from backstop.store import SqlStore
from backstop.store.sql import StoreLocked

from .conftest import Api


def test_commands_are_durable_and_a_restart_rebuilds_the_same_state(api: Api, db_url: str) -> None:
    r = api.post("/v1/deposit", {"layer": "sp", "account": "bob", "amount": "12.5"})
    assert r.status_code == 200, r.text
    live = api.service.state_hash()
    events = api.service.engine.next_seq
    api.store.close()
    restarted = Service(SqlStore(db_url))
    assert restarted.state_hash() == live
    assert restarted.engine.next_seq == events > 0
    assert restarted.head == api.service.head
    restarted.store.close()


def test_a_refused_command_writes_nothing(api: Api) -> None:
    before_hash, before_rows = api.service.state_hash(), len(api.store.load_events())
    r = api.post("/v1/withdraw", {"layer": "sp", "account": "nobody", "amount": "1"})
    assert r.status_code == 409, r.text
    assert r.json()["error"]["type"] == InsufficientFunds.__name__
    assert api.service.state_hash() == before_hash
    assert len(api.store.load_events()) == before_rows


def test_amounts_beyond_64_bits_are_stored_exactly(api: Api, db_url: str) -> None:
    huge = "123456789012345678901234567.123456789012345678"  # 1.2e44 base units of an 18-decimal asset
    units = int(huge.replace(".", ""))
    key = ("layer:sp:assets", "LUSD")
    before = api.service.engine.state.ledger.balance(*key)
    assert api.post("/v1/deposit", {"layer": "sp", "account": "bob", "amount": huge}).status_code == 200
    assert api.store.balances()[key] == before + units  # the projection row (NUMERIC(78,0) / TEXT)
    api.store.close()
    assert Service(SqlStore(db_url)).engine.state.ledger.balance(*key) == before + units


def test_a_group_commit_stores_every_string_and_amount_exactly(db_url: str) -> None:
    """The group commit passes rows as JSON on PostgreSQL (`store/sql.py`, `_PG_APPEND`): quotes,
    backslashes, control and non-ASCII characters and a uint256 amount come back as written."""
    from backstop.store.base import IdempotencyRecord, StoredEvent

    store = SqlStore(db_url)
    odd = 'q"uote \\back\\slash \n tab\t é ü 漢字 🙂 {"k": [1, "2"]}'
    data = json.dumps({"memo": odd, "amount": 2**256 - 1}, ensure_ascii=False)
    row = StoredEvent(0, 7, "note", data).chained("0" * 64)
    record = IdempotencyRecord("key-é", f"idem {odd}", "h" * 64, 409, json.dumps({"error": odd}))
    store.append([row], {(f"acct {odd}", "LUSD"): 2**256 - 1}, [record])
    [back] = store.load_events()
    assert (back.seq, back.at, back.kind, back.data, back.hash) == (row.seq, row.at, row.kind, row.data, row.hash)
    assert store.balances() == {(f"acct {odd}", "LUSD"): 2**256 - 1}
    found = store.idempotency_many([(record.key_id, record.idem_key), ("key-é", "absent")])
    assert found == {(record.key_id, record.idem_key): record}
    store.close()


class FailingStore:
    """Wraps a store; its next append fails like a lost database connection."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.fail_next = False
        self.error: BaseException | None = None

    def append(self, *args: Any) -> None:
        if self.fail_next:
            self.fail_next = False
            from backstop.store.sql import StoreError

            raise self.error if self.error is not None else StoreError("db", "db: connection lost")
        self.inner.append(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_when_the_commit_fails_memory_does_not_run_ahead_of_disk(tmp_path: Any) -> None:
    store = FailingStore(SqlStore(f"sqlite:///{tmp_path / 'f.db'}"))
    service = Service(store)
    from backstop.store.base import KeyRecord

    admin = KeyRecord("t", "", "admin", None)
    assert service.execute(admin, "a", "a", lambda e: c.AddAsset(0, "USDC", 6))[0] == 200
    before = service.state_hash()
    store.fail_next = True
    status, body = service.execute(admin, "b", "b", lambda e: c.AddAsset(0, "ETH", 18))
    assert status == 503 and body["error"]["field"] == "db"
    assert service.state_hash() == before
    # the retry with the same idempotency key is not poisoned by the failure
    assert service.execute(admin, "b", "b", lambda e: c.AddAsset(0, "ETH", 18))[0] == 200
    assert Service(SqlStore(f"sqlite:///{tmp_path / 'f.db'}")).state_hash() == service.state_hash()


def test_an_untyped_store_failure_answers_503_and_takes_the_command_back(tmp_path: Any) -> None:
    """A driver error that is not one of ours (e.g. a RuntimeError) must not escape as a 2xx for
    anyone: the group is undone and answered 503, and the next try with the same key applies."""
    store = FailingStore(SqlStore(f"sqlite:///{tmp_path / 'g.db'}"))
    service = Service(store)
    from backstop.store.base import KeyRecord

    admin = KeyRecord("t", "", "admin", None)
    assert service.execute(admin, "a", "a", lambda e: c.AddAsset(0, "USDC", 6))[0] == 200
    before, log_len = service.state_hash(), service.engine.next_seq
    store.fail_next, store.error = True, RuntimeError("disk I/O error")
    status, body = service.execute(admin, "b", "b", lambda e: c.AddAsset(0, "ETH", 18))
    assert status == 503 and body["error"]["field"] == "store"
    assert service.state_hash() == before and service.engine.next_seq == log_len
    assert service.execute(admin, "b", "b", lambda e: c.AddAsset(0, "ETH", 18))[0] == 200


def _queue_then_release(service: Service, admin: Any, n: int, before_release: Any = None) -> dict[int, int]:
    """Hold the write lock while `n` requests (each adding asset T<i>) queue up, then let them
    go, so they are grouped as the service would group concurrent clients; their statuses."""
    import threading

    results: dict[int, int] = {}
    with service.write_lock:
        threads = [
            threading.Thread(
                target=lambda i=i: results.__setitem__(
                    i, service.execute(admin, f"k{i}", f"k{i}", lambda e, i=i: c.AddAsset(0, f"T{i}", 6))[0]
                )
            )
            for i in range(n)
        ]
        for t in threads:
            t.start()
        while len(service._queue) < n:
            threading.Event().wait(0.005)
        if before_release is not None:
            before_release()
    for t in threads:
        t.join(timeout=10)
    return results


def test_a_failed_group_commit_answers_no_one_with_a_2xx(tmp_path: Any) -> None:
    """Group commit: commands queued together share one transaction; when it fails, every one
    of them is taken back and answered 503, so no client holds a 2xx for what is not on disk."""
    store = FailingStore(SqlStore(f"sqlite:///{tmp_path / 'h.db'}"))
    service = Service(store)
    from backstop.store.base import KeyRecord

    admin = KeyRecord("t", "", "admin", None)
    assert service.execute(admin, "a", "a", lambda e: c.AddAsset(0, "USDC", 6))[0] == 200
    before = service.state_hash()

    def fail_next_commit() -> None:
        store.fail_next = True

    results = _queue_then_release(service, admin, 8, before_release=fail_next_commit)
    assert sorted(results.values()) == [503] * 8
    assert service.state_hash() == before
    assert Service(SqlStore(f"sqlite:///{tmp_path / 'h.db'}")).state_hash() == before


def test_a_tampered_log_is_refused_on_start(sqlite_api: Api, tmp_path: Any) -> None:
    from sqlalchemy import text

    with sqlite_api.store.engine.begin() as conn:
        conn.execute(
            text("UPDATE events SET data = replace(data, '\"amount\": 100', '\"amount\": 101') WHERE kind='posting'")
        )
    url = sqlite_api.store.url
    sqlite_api.store.close()
    with pytest.raises(RebuildMismatch):
        Service(SqlStore(url))


def test_postgresql_allows_one_writer_only(pg_url: str) -> None:
    first = SqlStore(pg_url)
    try:
        with pytest.raises(StoreLocked):
            SqlStore(pg_url)
    finally:
        first.close()
    SqlStore(pg_url).close()  # the lock is released with the first store


def test_requests_beyond_one_group_are_applied_once_each_in_later_groups(tmp_path: Any) -> None:
    """More requests queue than one group takes (max_batch 4, 11 waiting): each is applied
    exactly once, in a later group, and every one is answered 200."""
    store = SqlStore(f"sqlite:///{tmp_path / 'q.db'}")
    service = Service(store, max_batch=4)
    from backstop.store.base import KeyRecord

    admin = KeyRecord("t", "", "admin", None)
    results = _queue_then_release(service, admin, 11)
    assert sorted(results.values()) == [200] * 11
    commands = [e for e in store.load_events() if e.kind == "command"]
    assert len(commands) == 11 and not service._queue
    assert sorted(service.engine.state.assets) == sorted(f"T{i}" for i in range(11))


class HeldStore:
    """Wraps a store; `append` or `checkpoint` (the one named) waits at `gate` once entered, so
    a test can read while a group's commit or a checkpoint is in flight."""

    def __init__(self, inner: Any, hold: str) -> None:
        import threading

        self.inner = inner
        self.hold = hold
        self.entered = threading.Event()
        self.gate = threading.Event()

    def _held(self, name: str, *args: Any) -> None:
        if name == self.hold and not self.gate.is_set():
            self.entered.set()
            assert self.gate.wait(30), "the test never opened the gate"
        getattr(self.inner, name)(*args)

    def append(self, *args: Any) -> None:
        self._held("append", *args)

    def checkpoint(self, *args: Any) -> None:
        self._held("checkpoint", *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _read_within(service: Service, fn: Any, seconds: float = 5.0) -> Any:
    """`service.read(fn)` from another thread; fails if it has not answered within `seconds`
    (a read stuck behind the write path would)."""
    import threading

    out: list[Any] = []
    reader = threading.Thread(target=lambda: out.append(service.read(fn)), daemon=True)
    reader.start()
    reader.join(seconds)
    assert not reader.is_alive(), "the read waited for the write path"
    return out[0]


def test_a_read_does_not_wait_for_a_commit_in_flight_and_never_sees_it(tmp_path: Any) -> None:
    """docs/service.md, "Reads and the write path": while a group's transaction is in flight the
    state lock is free and the engine holds the state before the group; once the commit
    returned, reads see the group."""
    import threading

    from backstop.store.base import KeyRecord

    store = HeldStore(SqlStore(f"sqlite:///{tmp_path / 'r.db'}"), "append")
    store.gate.set()
    service = Service(store)
    admin = KeyRecord("t", "", "admin", None)
    assert service.execute(admin, "a", "a", lambda e: c.AddAsset(0, "USDC", 6))[0] == 200
    before, seq = service.state_hash(), service.engine.next_seq
    store.gate.clear()
    result: list[Any] = []
    writer = threading.Thread(
        target=lambda: result.append(service.execute(admin, "b", "b", lambda e: c.AddAsset(0, "ETH", 18)))
    )
    writer.start()
    assert store.entered.wait(10)
    assert _read_within(service, lambda e: ("ETH" in e.state.assets, e.next_seq)) == (False, seq)
    assert _read_within(service, lambda e: e.state_hash()) == before
    assert service.health()["events"] == seq
    store.gate.set()
    writer.join(10)
    assert result and result[0][0] == 200
    assert service.read(lambda e: "ETH" in e.state.assets) and service.engine.next_seq > seq
    assert service.health()["events"] == service.engine.next_seq
    store.inner.close()
    reopened = Service(SqlStore(f"sqlite:///{tmp_path / 'r.db'}"))
    assert reopened.state_hash() == service.state_hash()
    reopened.store.close()


def test_a_checkpoint_hashes_the_state_while_reads_go_on(tmp_path: Any) -> None:
    """The checkpoint runs under the write lock alone: a read answers while it is in flight, and
    the hash it records is the state's at that seq (checked by `backstop verify`)."""
    import threading

    from backstop.store.base import KeyRecord
    from backstop.store.verify import verify_store

    store = HeldStore(SqlStore(f"sqlite:///{tmp_path / 'k.db'}"), "checkpoint")
    service = Service(store, checkpoint_every=2, checkpoint_budget=0)
    admin = KeyRecord("t", "", "admin", None)
    assert service.execute(admin, "a", "a", lambda e: c.AddAsset(0, "USDC", 6))[0] == 200
    writer = threading.Thread(target=lambda: service.execute(admin, "b", "b", lambda e: c.AddAsset(0, "ETH", 18)))
    writer.start()
    assert store.entered.wait(10)
    assert _read_within(service, lambda e: ("ETH" in e.state.assets, e.commands_applied)) == (True, 2)
    store.gate.set()
    writer.join(10)
    assert store.inner.checkpoints() == {service.engine.next_seq - 1: service.state_hash()}
    assert verify_store(store.inner).ok
    store.inner.close()


def test_checkpoints_are_spaced_by_their_hashing_budget(tmp_path: Any) -> None:
    """With a budget, a checkpoint whose hash took h seconds is followed by none for h / budget
    seconds, whatever the command count; without one, every `checkpoint_every` commands."""
    from backstop.store.base import KeyRecord

    admin = KeyRecord("t", "", "admin", None)
    counts = {}
    for budget in (0.0, 1e-9):
        store = SqlStore(f"sqlite:///{tmp_path / f'b{budget}.db'}")
        service = Service(store, checkpoint_every=1, checkpoint_budget=budget)
        for i in range(6):
            assert service.execute(admin, f"k{i}", f"k{i}", lambda e, i=i: c.AddAsset(0, f"T{i}", 6))[0] == 200
        counts[budget] = len(store.checkpoints())
        store.close()
    assert counts == {0.0: 6, 1e-9: 1}


def test_a_forked_child_computes_and_a_failed_one_is_none() -> None:
    """`store/cow.py`: the child's bytes come back whole (more than a pipe's buffer), and a child
    that raises gives None, never a partial result."""
    from backstop.store.cow import Forked, fork_available

    if not fork_available():
        pytest.skip("os.fork: Linux only; the service computes in process elsewhere")
    big = bytes(range(256)) * 4096  # 1 MiB
    assert Forked(lambda: big).result() == big

    def boom() -> bytes:
        raise RuntimeError("in the child")

    assert Forked(boom).result() is None


def test_offloaded_checkpoints_and_snapshots_hold_the_state_at_their_seq(tmp_path: Any) -> None:
    """With `offload` (as `backstop serve` runs), the checkpoint hashes and snapshots come from a
    forked child's copy-on-write view: every one must be the state at its seq (`verify_store`
    replays the log and checks them), and a restart restores the newest snapshot."""
    from backstop.store.base import KeyRecord
    from backstop.store.cow import fork_available
    from backstop.store.verify import verify_store

    if not fork_available():
        pytest.skip("os.fork: Linux only")
    url = f"sqlite:///{tmp_path / 'o.db'}"
    store = SqlStore(url)
    service = Service(
        store, checkpoint_every=2, checkpoint_budget=0, snapshot_every=3, offload=True, offload_above_seconds=0
    )
    admin = KeyRecord("t", "", "admin", None)
    for i in range(9):
        assert service.execute(admin, f"k{i}", f"k{i}", lambda e, i=i: c.AddAsset(0, f"T{i}", 6))[0] == 200
        service.settle(30)
    assert len(store.checkpoints()) >= 2 and len(store.snapshots()) >= 2
    assert service._background is not None  # they were computed in a child
    verdict = verify_store(store)
    assert verdict.ok, verdict.problem
    assert verdict.snapshots == len(store.snapshots()) and verdict.state_hash == service.state_hash()
    newest = store.snapshots()[0]
    store.close()
    restarted = Service(SqlStore(url))
    assert restarted.state_hash() == service.state_hash()
    assert restarted.tail_replayed == service.engine.commands_applied - newest.commands
    restarted.store.close()


def test_a_small_state_is_hashed_in_process_even_with_offload(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Forking costs more than hashing a small state: the first checkpoint forks (its cost is
    unknown yet); once a hash is measured below `offload_above_seconds` the service hashes in
    process."""
    from backstop.store import cow
    from backstop.store.base import KeyRecord

    if not cow.fork_available():
        pytest.skip("os.fork: Linux only")
    forks: list[int] = []
    real = cow.Forked.__init__

    def counted(self: Any, work: Any) -> None:
        forks.append(1)
        real(self, work)

    monkeypatch.setattr(cow.Forked, "__init__", counted)
    store = SqlStore(f"sqlite:///{tmp_path / 's.db'}")
    service = Service(
        store, checkpoint_every=1, checkpoint_budget=0, snapshot_every=0, offload=True, offload_above_seconds=60
    )
    admin = KeyRecord("t", "", "admin", None)
    for i in range(4):
        assert service.execute(admin, f"k{i}", f"k{i}", lambda e, i=i: c.AddAsset(0, f"T{i}", 6))[0] == 200
        service.settle(30)
    assert forks == [1]
    assert len(store.checkpoints()) == 4
    store.close()


def test_a_group_that_applies_differently_after_its_commit_is_rebuilt_from_the_store(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The second apply of a committed group must derive the events the first one did; if it
    ever did not (a nondeterministic engine), the stored log is the truth: the engine is
    rebuilt from it, and the committed command is in the state."""
    from backstop.engine import Engine
    from backstop.store.base import KeyRecord

    service = Service(SqlStore(f"sqlite:///{tmp_path / 'd.db'}"))
    admin = KeyRecord("t", "", "admin", None)
    assert service.execute(admin, "a", "a", lambda e: c.AddAsset(0, "USDC", 6))[0] == 200
    real_apply = Engine.apply
    calls = {"n": 0}

    def flaky_apply(self: Engine, command: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:  # the group's second apply (the first goes through apply_pending)
            raise RuntimeError("nondeterministic")
        return real_apply(self, command)

    monkeypatch.setattr(Engine, "apply", flaky_apply)
    with caplog.at_level("ERROR", logger="backstop.service"):
        assert service.execute(admin, "b", "b", lambda e: c.AddAsset(0, "ETH", 18))[0] == 200
    assert calls["n"] >= 1 and "rebuilding from the store" in caplog.text
    monkeypatch.setattr(Engine, "apply", real_apply)
    assert service.read(lambda e: "ETH" in e.state.assets)
    reopened = Service(SqlStore(f"sqlite:///{tmp_path / 'd.db'}"))
    assert reopened.state_hash() == service.state_hash()
    assert reopened.head == service.head
    service.store.close()
    reopened.store.close()
