"""The store interface and the canonical stored form of events.

An event is stored as canonical JSON of `event_to_dict` (sorted keys, integers kept as JSON
integers, which are exact in Python) so that a rebuilt engine can prove it derived
byte-identical events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    at: int
    kind: str
    data: str


class StoredLog:
    """The store's log format for `Engine.replay`: rows of `StoredEvent`."""

    @staticmethod
    def command(row: StoredEvent) -> Command | None:
        return command_from_dict(json.loads(row.data)["command"]) if row.kind == "command" else None

    @staticmethod
    def encode(event: Event) -> StoredEvent:
        return encode_event(event)


def encode_event(event: Event) -> StoredEvent:
    data = event_to_dict(event)["data"]
    return StoredEvent(event.seq, event.at, event.kind, json.dumps(data, sort_keys=True, default=json_default))


class Store(Protocol):
    def load_events(self) -> list[StoredEvent]: ...

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
