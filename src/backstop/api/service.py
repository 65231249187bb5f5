"""The service core: one engine, one store, one lock; every command applied exactly once.

A command runs under the lock: the idempotency record is looked up, the command is applied to
the in-memory engine, and inside `Engine.apply`'s commit hook its events, the balance rows it
touched and the idempotency record are written in one database transaction. If the commit
fails the engine rolls back, so memory never runs ahead of the disk. On start the engine is
rebuilt by replaying the stored commands; every derived event must come out byte-identical,
and the last checkpoint's state hash and the balance projection must match.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..domain.codec import command_from_dict
from ..domain.errors import BackstopError
from ..domain.events import Event
from ..engine import Engine
from ..scenario.report import event_json
from ..store.base import IdempotencyRecord, KeyRecord, Store, encode_event
from ..store.sql import StoreError

T = TypeVar("T")


class Conflict(BackstopError):
    http_status = 409


_REUSED = Conflict("idempotency-key", "idempotency-key: this key was already used with a different request")


@dataclass
class _Pending:
    key: KeyRecord
    idem_key: str
    digest: str
    build: Callable[[Engine], Any]
    result: tuple[int, dict[str, Any]] | None = None


class InternalError(BackstopError):
    """An unexpected failure while applying one command: that command was rolled back."""

    http_status = 500


class RebuildMismatch(RuntimeError):
    """The stored log does not rebuild to the same events or state: refuse to serve."""


def error_body(exc: BackstopError) -> dict[str, Any]:
    return {"error": {"type": getattr(exc, "cause", None) or exc.type, "message": exc.message, "field": exc.field}}


def body_hash(path: str, body: Any) -> str:
    blob = json.dumps([path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


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
        stored = self.store.load_events()
        engine = Engine()
        checkpoint = self.store.last_checkpoint()
        for row in stored:
            if row.kind == "command":
                engine.apply(command_from_dict(json.loads(row.data)["command"]))
                at_checkpoint = checkpoint is not None and checkpoint[0] == len(engine.log) - 1
                if at_checkpoint and checkpoint is not None and engine.state_hash() != checkpoint[1]:
                    raise RebuildMismatch(f"state hash at checkpoint {checkpoint[0]} differs after replay")
        rebuilt = [encode_event(e) for e in engine.log]
        if rebuilt != stored:
            first = next((i for i, (a, b) in enumerate(zip(rebuilt, stored, strict=False)) if a != b), None)
            raise RebuildMismatch(
                f"replay differs from the stored log at event {first} ({len(rebuilt)} vs {len(stored)})"
            )
        live = {k: v for k, v in engine.state.ledger.balances.items() if v}
        projected = {k: v for k, v in self.store.balances().items() if v}
        if live != projected:
            raise RebuildMismatch("the balance projection differs from the replayed ledger")
        self.engine = engine

    def state_hash(self) -> str:
        with self.lock:
            return self.engine.state_hash()

    def execute(
        self, key: KeyRecord, idem_key: str, digest: str, build: Callable[[Engine], Any]
    ) -> tuple[int, dict[str, Any]]:
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

    def _run_batch(self, batch: list[_Pending]) -> None:
        engine = self.engine
        applied: list[tuple[list[Event], Any]] = []
        records: list[IdempotencyRecord] = []
        new_keys: dict[tuple[str, str], _Pending] = {}
        events_out: list[Event] = []
        duplicates: list[tuple[_Pending, _Pending]] = []
        for item in batch:
            k = (item.key.key_id, item.idem_key)
            first = new_keys.get(k)
            if first is not None:  # the same key twice in one group: answered like a retry
                duplicates.append((item, first))
                continue
            if k in self.idem_index:
                seen = self.store.get_idempotency(*k)
                if seen is not None:
                    if seen.body_hash != item.digest:
                        item.result = (409, error_body(_REUSED))
                    else:
                        item.result = (seen.status, json.loads(seen.response))
                    continue
            new_keys[k] = item
            try:
                events, journal = engine.apply_pending(item.build(engine))
            except BackstopError as exc:
                item.result = (exc.http_status, error_body(exc))
                if exc.http_status < 500:
                    records.append(IdempotencyRecord(*k, item.digest, exc.http_status, json.dumps(item.result[1])))
                continue
            except Exception as exc:  # a bug in one command must not strand the rest of the group
                item.result = (500, error_body(InternalError("command", f"command: internal error ({exc!r})")))
                continue
            applied.append((events, journal))
            events_out.extend(events)
            body = {"seq": events[0].seq, "events": [event_json(e) for e in events]}
            item.result = (200, body)
            records.append(IdempotencyRecord(*k, item.digest, 200, json.dumps(body)))
        balances = engine.state.ledger.balances
        touched: dict[tuple[str, str], int] = {}
        for e in events_out:
            if e.kind == "posting":
                for acct in (e.data["credit"], e.data["debit"]):
                    touched[(acct, e.data["asset"])] = 0
        touched = {k: balances.get(k, 0) for k in touched}
        if records:
            try:
                self.store.append([encode_event(e) for e in events_out], touched, records)
            except BaseException as exc:
                # Nothing of the group is on disk: take it all back and answer no one with a 2xx.
                engine.undo(applied)
                failure = exc if isinstance(exc, BackstopError) else StoreError("store", f"store: {exc}")
                for item in batch:
                    item.result = (failure.http_status, error_body(failure))
                if not isinstance(exc, Exception):
                    raise
                return
            for r in records:
                self.idem_index[(r.key_id, r.idem_key)] = r.body_hash
        for item, first in duplicates:
            assert first.result is not None
            item.result = first.result if item.digest == first.digest else (409, error_body(_REUSED))
        if applied and engine.commands_applied // self.checkpoint_every != self._checkpointed:
            self._checkpointed = engine.commands_applied // self.checkpoint_every
            self.store.checkpoint(len(engine.log) - 1, engine.state_hash())

    def read(self, fn: Callable[[Engine], T]) -> T:
        with self.lock:
            return fn(self.engine)
