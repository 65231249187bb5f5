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
from typing import Any, TypeVar

from ..domain.codec import command_from_dict
from ..domain.errors import BackstopError
from ..domain.events import Event
from ..engine import Engine
from ..scenario.report import event_json
from ..store.base import IdempotencyRecord, KeyRecord, Store, encode_event

T = TypeVar("T")


class Conflict(BackstopError):
    http_status = 409


class RebuildMismatch(RuntimeError):
    """The stored log does not rebuild to the same events or state: refuse to serve."""


def error_body(exc: BackstopError) -> dict[str, Any]:
    return {"error": {"type": getattr(exc, "cause", None) or exc.type, "message": exc.message, "field": exc.field}}


def body_hash(path: str, body: Any) -> str:
    blob = json.dumps([path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class Service:
    def __init__(self, store: Store, checkpoint_every: int = 500) -> None:
        self.store = store
        self.engine = Engine()
        self.lock = threading.RLock()
        self.checkpoint_every = checkpoint_every
        self.rebuild()
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
        """Apply one command built from the live engine (so amounts use its assets' decimals)."""
        with self.lock:
            seen = (
                self.store.get_idempotency(key.key_id, idem_key) if (key.key_id, idem_key) in self.idem_index else None
            )
            if seen is not None:
                if seen.body_hash != digest:
                    raise Conflict(
                        "idempotency-key", "idempotency-key: this key was already used with a different request"
                    )
                return seen.status, json.loads(seen.response)
            try:
                command = build(self.engine)
                answer: dict[str, Any] = {}

                def commit(events: list[Event]) -> None:
                    body = {"seq": events[0].seq, "events": [event_json(e) for e in events]}
                    text = json.dumps(body)
                    balances = self.engine.state.ledger.balances
                    touched: dict[tuple[str, str], int] = {}
                    for e in events:
                        if e.kind == "posting":
                            for acct in (e.data["credit"], e.data["debit"]):
                                k = (acct, e.data["asset"])
                                touched[k] = balances.get(k, 0)
                    record = IdempotencyRecord(key.key_id, idem_key, digest, 200, text)
                    self.store.append([encode_event(e) for e in events], touched, record)
                    self.idem_index[(key.key_id, idem_key)] = digest
                    answer["body"] = body

                self.engine.apply(command, commit_hook=commit)
            except BackstopError as exc:
                status, body = exc.http_status, error_body(exc)
                if status < 500:
                    self.store.save_idempotency(
                        IdempotencyRecord(key.key_id, idem_key, digest, status, json.dumps(body))
                    )
                    self.idem_index[(key.key_id, idem_key)] = digest
                return status, body
            if self.engine.commands_applied % self.checkpoint_every == 0:
                self.store.checkpoint(len(self.engine.log) - 1, self.engine.state_hash())
            return 200, answer["body"]

    def read(self, fn: Callable[[Engine], T]) -> T:
        with self.lock:
            return fn(self.engine)
