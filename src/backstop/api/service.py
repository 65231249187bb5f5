"""The service core: one engine, one store, one lock; every command applied exactly once.

A command joins a queue; the thread holding the writer lock takes a group of queued commands,
applies each to the in-memory engine (all-or-nothing per command, its idempotency record
looked up first), and writes the group's events, the balance rows they touched and the
idempotency records in one database transaction. If that commit fails the group is undone in
the engine, so memory never runs ahead of the disk. On start the engine is rebuilt with
`Engine.replay` over the stored log: every derived event must come out byte-identical, and the
last checkpoint's state hash and the balance projection must match (docs/service.md).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..domain.commands import Command
from ..domain.errors import BackstopError
from ..domain.events import Event
from ..domain.journal import Journal
from ..engine import Engine, ReplayMismatch
from ..scenario.report import event_json
from ..store.base import IdempotencyRecord, KeyRecord, Store, StoredLog, encode_event
from ..store.sql import StoreError
from .errors import Conflict, InternalError, error_body, status_of

T = TypeVar("T")
Answer = tuple[int, dict[str, Any]]
"""An HTTP status and its JSON body."""

_REUSED = Conflict("idempotency-key", "idempotency-key: this key was already used with a different request")


class RebuildMismatch(RuntimeError):
    """The stored log does not rebuild to the same events or state: refuse to serve."""


def body_hash(path: str, body: Any) -> str:
    blob = json.dumps([path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class _Pending:
    """One request waiting in the queue; `result` is set once its group is on disk."""

    key: KeyRecord
    idem_key: str
    digest: str
    build: Callable[[Engine], Command]
    result: Answer | None = None

    @property
    def idem(self) -> tuple[str, str]:
        return (self.key.key_id, self.idem_key)


@dataclass
class _Group:
    """One group commit in the making: what it applied to the engine and what it must write."""

    applied: list[tuple[list[Event], Journal]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    records: list[IdempotencyRecord] = field(default_factory=list)
    new_keys: dict[tuple[str, str], _Pending] = field(default_factory=dict)
    duplicates: list[tuple[_Pending, _Pending]] = field(default_factory=list)


class Service:
    def __init__(self, store: Store, checkpoint_every: int = 500, max_batch: int = 64) -> None:
        self.store = store
        self.engine = Engine()
        self.lock = threading.RLock()
        self.checkpoint_every = checkpoint_every
        self.max_batch = max_batch
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self.rebuild()
        self._checkpointed = self.engine.commands_applied // checkpoint_every
        # The service is the only writer, so an in-memory index of used idempotency keys answers
        # the common case (a new key) without a database round trip; a hit reads the stored answer.
        self.idem_index: dict[tuple[str, str], str] = store.idempotency_keys()

    def rebuild(self) -> None:
        """Replace the engine by one replayed from the store, or raise RebuildMismatch."""
        checkpoint = self.store.last_checkpoint()
        try:
            engine = Engine.replay(
                self.store.load_events(), fmt=StoredLog(), checkpoints=dict([checkpoint]) if checkpoint else None
            )
        except ReplayMismatch as exc:
            raise RebuildMismatch(f"the stored log does not replay: {exc}") from exc
        live = {k: v for k, v in engine.state.ledger.balances.items() if v}
        projected = {k: v for k, v in self.store.balances().items() if v}
        if live != projected:
            raise RebuildMismatch("the balance projection differs from the replayed ledger")
        self.engine = engine

    def state_hash(self) -> str:
        with self.lock:
            return self.engine.state_hash()

    def read(self, fn: Callable[[Engine], T]) -> T:
        with self.lock:
            return fn(self.engine)

    def execute(self, key: KeyRecord, idem_key: str, digest: str, build: Callable[[Engine], Command]) -> Answer:
        """Apply one command built from the live engine (so amounts use its assets' decimals).

        Group commit, leader/follower style: the request joins a queue; whichever thread holds
        the writer lock applies every queued command in order, writes them all in one database
        transaction (one fsync for the group), and only then answers each of them. If that
        transaction fails, the whole group is taken back from the engine and every request in
        it gets a 503, so an answer is never sent for anything that is not on disk.
        """
        item = _Pending(key, idem_key, digest, build)
        with self._queue_lock:
            self._queue.append(item)
        while item.result is None:  # queued behind a full group: lead (or join) the next one
            with self.lock:
                if item.result is None:
                    with self._queue_lock:
                        batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                    if batch:
                        self._run_batch(batch)
        return item.result

    # -- one group ---------------------------------------------------------------------------
    def _run_batch(self, batch: list[_Pending]) -> None:
        group = _Group()
        for item in batch:
            self._admit(item, group)
        if group.records and not self._commit(batch, group):
            return
        for item, first in group.duplicates:
            assert first.result is not None
            item.result = first.result if item.digest == first.digest else (409, error_body(_REUSED))
        if group.applied and self.engine.commands_applied // self.checkpoint_every != self._checkpointed:
            self._checkpointed = self.engine.commands_applied // self.checkpoint_every
            self.store.checkpoint(len(self.engine.log) - 1, self.engine.state_hash())

    def _admit(self, item: _Pending, group: _Group) -> None:
        """Answer a retry from its stored record, or apply the command to the engine."""
        first = group.new_keys.get(item.idem)
        if first is not None:  # the same key twice in one group: answered like a retry
            group.duplicates.append((item, first))
            return
        if item.idem in self.idem_index:
            seen = self.store.get_idempotency(*item.idem)
            if seen is not None:
                if seen.body_hash != item.digest:
                    item.result = (409, error_body(_REUSED))
                else:
                    item.result = (seen.status, json.loads(seen.response))
                return
        group.new_keys[item.idem] = item
        self._apply(item, group)

    def _apply(self, item: _Pending, group: _Group) -> None:
        engine = self.engine
        try:
            events, journal = engine.apply_pending(item.build(engine))
        except BackstopError as exc:
            status = status_of(exc)
            item.result = (status, error_body(exc))
            if status < 500:
                group.records.append(IdempotencyRecord(*item.idem, item.digest, status, json.dumps(item.result[1])))
            return
        except Exception as exc:  # a bug in one command must not strand the rest of the group
            item.result = (500, error_body(InternalError("command", f"command: internal error ({exc!r})")))
            return
        group.applied.append((events, journal))
        group.events.extend(events)
        body = {"seq": events[0].seq, "events": [event_json(e) for e in events]}
        item.result = (200, body)
        group.records.append(IdempotencyRecord(*item.idem, item.digest, 200, json.dumps(body)))

    def _commit(self, batch: list[_Pending], group: _Group) -> bool:
        """Write the group in one transaction. If that fails, nothing of it is on disk: take it
        all back from the engine, answer every member with the failure, and return False."""
        balances = self.engine.state.ledger.balances
        touched: dict[tuple[str, str], int] = {}
        for e in group.events:
            if e.kind == "posting":
                for acct in (e.data["credit"], e.data["debit"]):
                    touched[(acct, e.data["asset"])] = 0
        touched = {k: balances.get(k, 0) for k in touched}
        try:
            self.store.append([encode_event(e) for e in group.events], touched, group.records)
        except BaseException as exc:
            self.engine.undo(group.applied)
            failure = exc if isinstance(exc, BackstopError) else StoreError("store", f"store: {exc}")
            for item in batch:
                item.result = (status_of(failure), error_body(failure))
            if not isinstance(exc, Exception):
                raise
            return False
        for r in group.records:
            self.idem_index[(r.key_id, r.idem_key)] = r.body_hash
        return True
