"""Pipelined group commits (`Service(pipeline_depth=2)`, docs/service.md, "Architecture"): the next
group is applied on top of the one whose commit is in flight, and answered only after it and
its own commit; a failed commit fails every group applied on top of it, and reads never see
either while they are in flight."""

from __future__ import annotations

import threading
import time
from typing import Any

from backstop.api.service import Service
from backstop.domain import commands as c
from backstop.store import SqlStore
from backstop.store.base import KeyRecord
from backstop.store.sql import StoreError
from backstop.store.verify import verify_store

ADMIN = KeyRecord("t", "", "admin", None)
ETH_PRICE = 2000 * 10**18


class GatedStore:
    """Wraps a store; while `held`, `append` waits at `gate` once entered, then fails if `fail`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.held = False
        self.fail = False
        self.entered = threading.Event()
        self.gate = threading.Event()

    def append(self, *args: Any) -> None:
        if self.held:
            self.held = False
            self.entered.set()
            assert self.gate.wait(30), "the test never opened the gate"
            if self.fail:
                raise StoreError("db", "db: connection lost")
        self.inner.append(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _until(cond: Any, what: str) -> None:
    deadline = time.monotonic() + 10
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def _run(service: Service, results: dict[str, Any], name: str, key: str, command: Any) -> threading.Thread:
    def go() -> None:
        results[name] = service.execute(ADMIN, key, key, lambda _e: command)

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread


def _two_groups_in_flight(service: Service, store: GatedStore) -> tuple[dict[str, Any], list[threading.Thread]]:
    """Group N (`n1`: add ETH) held in its commit; group N+1 applied on top of it: a price for ETH
    (`n2`, only valid after N), a retry of `n1` with the same body (`n1` again) and a second add
    of ETH under a new key (`n4`, refused after N)."""
    results: dict[str, Any] = {}
    store.held = True
    threads = [_run(service, results, "n1", "n1", c.AddAsset(0, "ETH", 18))]
    assert store.entered.wait(10)
    with service.write_lock:  # the three queue while the writer waits, so they make one group
        threads += [
            _run(service, results, "n2", "n2", c.SetPrice(0, "ETH", ETH_PRICE)),
            _run(service, results, "n1 again", "n1", c.AddAsset(0, "ETH", 18)),
            _run(service, results, "n4", "n4", c.AddAsset(0, "ETH", 18)),
        ]
        _until(lambda: len(service._queue) == 3, "the requests never queued")
    _until(lambda: len(service._outstanding) == 2, "the next group was not applied while N committed")
    return results, threads


def test_the_next_group_is_applied_while_one_commits_and_answered_only_after_it(db_url: str) -> None:
    url = db_url
    store = GatedStore(SqlStore(url))
    service = Service(store, pipeline_depth=2)
    assert service.execute(ADMIN, "a", "a", lambda _e: c.AddAsset(0, "USDC", 6))[0] == 200
    before, seq = service.state_hash(), service.engine.next_seq
    results, threads = _two_groups_in_flight(service, store)
    # both groups are out of the engine and unanswered while N's commit is in flight
    assert service.read(lambda e: ("ETH" in e.state.assets, e.next_seq)) == (False, seq)
    assert service.state_hash() == before and results == {}
    store.gate.set()
    for t in threads:
        t.join(10)
    assert results["n1"][0] == 200 and results["n2"][0] == 200, results
    assert results["n1 again"] == results["n1"]  # answered like a retry, not applied twice
    assert 400 <= results["n4"][0] < 500  # refused on top of N, as it would be after it
    assert results["n2"][1]["seq"] > results["n1"][1]["seq"]  # the log's order is the order applied
    assert service.read(lambda e: e.state.prices["ETH"]) == ETH_PRICE
    commands = [r for r in store.inner.load_events() if r.kind == "command"]
    assert len(commands) == 3  # USDC, ETH, the price: the retry and the refused add wrote no event
    _log_verifies_and_a_restart_agrees(store, service, url)


def _log_verifies_and_a_restart_agrees(store: Any, service: Service, url: str) -> None:
    """The stored log verifies (hash chain, snapshots) and a new service over it has the same
    state and head: what was answered is exactly what is on disk."""
    verdict = verify_store(store.inner)
    assert verdict.ok, verdict.problem
    store.inner.close()
    restarted = Service(SqlStore(url))
    assert restarted.state_hash() == service.state_hash() and restarted.head == service.head
    restarted.store.close()


def test_a_failed_commit_fails_the_group_applied_on_top_of_it(db_url: str) -> None:
    """N's commit fails while N+1, applied on top of N, waits: no member of either gets a 2xx,
    nor the 4xx it was given on top of N; the engine, the head and the store are as before N; the
    keys are not spent, and a restart rebuilds the same state."""
    url = db_url
    store = GatedStore(SqlStore(url))
    service = Service(store, pipeline_depth=2)
    assert service.execute(ADMIN, "a", "a", lambda _e: c.AddAsset(0, "USDC", 6))[0] == 200
    before, head, rows = service.state_hash(), service.head, len(store.inner.load_events())
    results, threads = _two_groups_in_flight(service, store)
    store.fail = True
    store.gate.set()
    for t in threads:
        t.join(10)
    assert sorted(status for status, _ in results.values()) == [503] * 4, results
    assert service.state_hash() == before and service.head == head
    assert service.read(lambda e: "ETH" in e.state.assets) is False
    assert len(store.inner.load_events()) == rows and not service._outstanding
    # nothing was spent: the price is refused now (no ETH), then the add and the price apply
    assert 400 <= service.execute(ADMIN, "n2", "n2", lambda _e: c.SetPrice(0, "ETH", ETH_PRICE))[0] < 500
    assert service.execute(ADMIN, "n1", "n1", lambda _e: c.AddAsset(0, "ETH", 18))[0] == 200
    assert service.execute(ADMIN, "n5", "n5", lambda _e: c.SetPrice(0, "ETH", ETH_PRICE))[0] == 200
    _log_verifies_and_a_restart_agrees(store, service, url)


def test_a_failed_commit_with_nothing_on_top_answers_its_group_only(tmp_path: Any) -> None:
    """Control for the test above: with one group in flight (depth 1, the default) a failed
    commit answers that group 503, and the next request, applied after it, is answered 200."""
    store = GatedStore(SqlStore(f"sqlite:///{tmp_path / 'g.db'}"))
    service = Service(store)
    results: dict[str, Any] = {}
    store.held = True
    first = _run(service, results, "n1", "n1", c.AddAsset(0, "ETH", 18))
    assert store.entered.wait(10)
    second = _run(service, results, "n2", "n2", c.AddAsset(0, "USDC", 6))
    _until(lambda: len(service._queue) == 1, "the second request never queued")
    assert len(service._outstanding) == 1  # depth 1: nothing is applied on top of the group in flight
    store.fail = True
    store.gate.set()
    first.join(10)
    second.join(10)
    assert results["n1"][0] == 503 and results["n2"][0] == 200, results
    assert service.read(lambda e: sorted(e.state.assets)) == ["USDC"]
    store.inner.close()


def test_a_group_that_cannot_be_applied_on_top_of_the_one_in_flight_is_refused_not_stranded(
    tmp_path: Any, monkeypatch: Any
) -> None:
    """If the group in flight could not be applied again under the next one (it cannot, for a
    deterministic engine), the next group is answered 500 at once, nothing of it stays in the
    engine, and the group in flight still commits and is answered 200."""
    from backstop.engine import Engine

    store = GatedStore(SqlStore(f"sqlite:///{tmp_path / 'r.db'}"))
    service = Service(store, pipeline_depth=2)
    results: dict[str, Any] = {}
    store.held = True
    first = _run(service, results, "n1", "n1", c.AddAsset(0, "ETH", 18))
    assert store.entered.wait(10)
    real = Engine.apply_pending

    def broken(self: Engine, command: Any) -> Any:
        if command == c.AddAsset(0, "ETH", 18):  # only the re-apply of the group in flight
            raise RuntimeError("nondeterministic")
        return real(self, command)

    monkeypatch.setattr(Engine, "apply_pending", broken)
    second = _run(service, results, "n2", "n2", c.AddAsset(0, "USDC", 6))
    second.join(10)
    assert not second.is_alive() and results["n2"][0] == 500, results
    monkeypatch.setattr(Engine, "apply_pending", real)
    store.gate.set()
    first.join(10)
    assert results["n1"][0] == 200, results
    assert service.read(lambda e: sorted(e.state.assets)) == ["ETH"]
    assert service.execute(ADMIN, "n2", "n2", lambda _e: c.AddAsset(0, "USDC", 6))[0] == 200  # key not spent
    store.inner.close()
