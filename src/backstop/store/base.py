"""The store interface and the canonical stored form of events.

An event is stored as canonical JSON of `event_to_dict` (sorted keys, integers kept as JSON
integers, which are exact in Python) so that a rebuilt engine can prove it derived
byte-identical events.

Each stored event also carries `hash = SHA-256(previous hash, canonical event)`, the canonical
event being `event_to_dict` as compact JSON with sorted keys; the first event chains from
`GENESIS`. Altering, deleting or reordering a row breaks the chain from that row on, and
`backstop verify` names it (docs/reliability.md, "A tamper-evident log").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from ..domain.codec import command_from_dict, event_to_dict, json_default
from ..domain.commands import Command
from ..domain.events import Event


@dataclass(frozen=True)
class IdempotencyRecord:
    key_id: str
    idem_key: str
    body_hash: str
    status: int
    response: str
    """The JSON body returned the first time, replayed verbatim."""


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    secret_hash: str
    role: str
    account: str | None


GENESIS = "0" * 64
"""The hash the first event chains from."""


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    at: int
    kind: str
    data: str
    hash: str = field(default="", compare=False)
    """The chain hash; not part of equality, so a replayed event (which has none) compares
    equal to the stored row it must reproduce."""

    def chained(self, prev: str) -> StoredEvent:
        return StoredEvent(self.seq, self.at, self.kind, self.data, event_hash(prev, self))


@dataclass(frozen=True)
class SnapshotMeta:
    """What a snapshot covers: the events up to `seq` (inclusive), `commands` commands, the
    state hash there, and the chain hash of event `seq`, which ties it to the log."""

    seq: int
    commands: int
    state_hash: str
    head_hash: str
    digest: str
    """SHA-256 of `blob`: a torn or bit-flipped blob is caught before it is decoded."""
    fmt: str
    created_at: int


@dataclass(frozen=True)
class Snapshot:
    meta: SnapshotMeta
    blob: bytes


def canonical_event(row: StoredEvent) -> bytes:
    """The canonical encoding of a stored event: `event_to_dict`'s shape, compact sorted JSON."""
    doc = {"seq": row.seq, "at": row.at, "kind": row.kind, "data": json.loads(row.data)}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def event_hash(prev: str, row: StoredEvent) -> str:
    return hashlib.sha256(prev.encode() + canonical_event(row)).hexdigest()


class StoredLog:
    """The store's log format for `Engine.replay`: rows of `StoredEvent`."""

    @staticmethod
    def command(row: StoredEvent) -> Command | None:
        return command_from_dict(json.loads(row.data)["command"]) if row.kind == "command" else None

    @staticmethod
    def encode(event: Event) -> StoredEvent:
        return encode_event(event)

    @staticmethod
    def same(rebuilt: StoredEvent, row: StoredEvent) -> bool:
        """Equal as written, or equal once decoded: a store written by an earlier version may
        encode a command differently (a layer config with every field, before configs logged only
        what they set) and still hold the same command. Decoding is the slow path, taken only
        when the text differs."""
        if (rebuilt.seq, rebuilt.at, rebuilt.kind) != (row.seq, row.at, row.kind):
            return False
        old, new = json.loads(row.data), json.loads(rebuilt.data)
        if row.kind == "command":
            return command_from_dict(old["command"]) == command_from_dict(new["command"])
        return bool(old == new)


def encode_event(event: Event) -> StoredEvent:
    data = event_to_dict(event)["data"]
    return StoredEvent(event.seq, event.at, event.kind, json.dumps(data, sort_keys=True, default=json_default))


class Store(Protocol):
    def load_events(self) -> list[StoredEvent]:
        """Every event, in memory: for tests and small stores only; the service streams."""
        ...

    def iter_events(self, after: int = -1, page: int = 5000) -> Iterator[StoredEvent]:
        """The events with seq > `after`, in order, read `page` rows at a time."""
        ...

    def events_page(self, after: int, limit: int) -> list[StoredEvent]: ...

    def head(self) -> tuple[int, str] | None:
        """The last event's seq and chain hash (None for an empty log)."""
        ...

    def event_at(self, seq: int) -> StoredEvent | None: ...

    def idempotency_many(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], IdempotencyRecord]:
        """The stored records among `keys`, in one query (one per group commit)."""
        ...

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Write a snapshot in one transaction: it is there whole or not at all."""
        ...

    def snapshots(self) -> list[SnapshotMeta]:
        """Every snapshot's metadata (no blob), newest first."""
        ...

    def load_snapshot(self, seq: int) -> Snapshot | None: ...

    def prune_snapshots(self, keep: int) -> None:
        """Delete all but the newest `keep` snapshots."""
        ...

    def checkpoints(self) -> dict[int, str]: ...

    def append(
        self, events: list[StoredEvent], balances: dict[tuple[str, str], int], idems: list[IdempotencyRecord]
    ) -> None:
        """One transaction: a group of commands' events, the balance projection rows they
        touched, and their idempotency records. Raises if it could not be made durable."""
        ...

    def get_idempotency(self, key_id: str, idem_key: str) -> IdempotencyRecord | None: ...

    def idempotency_keys(self) -> dict[tuple[str, str], str]: ...

    def add_key(self, key: KeyRecord) -> None: ...

    def get_key(self, key_id: str) -> KeyRecord | None: ...

    def checkpoint(self, seq: int, state_hash: str) -> None: ...

    def last_checkpoint(self) -> tuple[int, str] | None: ...

    def balances(self) -> dict[tuple[str, str], int]: ...

    def close(self) -> None: ...
