"""An in-memory store: the same interface, no durability. For tests and benchmarks."""

from __future__ import annotations

from .base import IdempotencyRecord, KeyRecord, StoredEvent


class MemoryStore:
    def __init__(self) -> None:
        self.events: list[StoredEvent] = []
        self.idem: dict[tuple[str, str], IdempotencyRecord] = {}
        self.keys: dict[str, KeyRecord] = {}
        self.checkpoints: list[tuple[int, str]] = []
        self._balances: dict[tuple[str, str], int] = {}

    def load_events(self) -> list[StoredEvent]:
        return list(self.events)

    def append(
        self, events: list[StoredEvent], balances: dict[tuple[str, str], int], idems: list[IdempotencyRecord]
    ) -> None:
        self.events.extend(events)
        self._balances.update(balances)
        for idem in idems:
            self.idem[(idem.key_id, idem.idem_key)] = idem

    def idempotency_keys(self) -> dict[tuple[str, str], str]:
        return {k: v.body_hash for k, v in self.idem.items()}

    def get_idempotency(self, key_id: str, idem_key: str) -> IdempotencyRecord | None:
        return self.idem.get((key_id, idem_key))

    def add_key(self, key: KeyRecord) -> None:
        self.keys[key.key_id] = key

    def get_key(self, key_id: str) -> KeyRecord | None:
        return self.keys.get(key_id)

    def checkpoint(self, seq: int, state_hash: str) -> None:
        self.checkpoints.append((seq, state_hash))

    def last_checkpoint(self) -> tuple[int, str] | None:
        return self.checkpoints[-1] if self.checkpoints else None

    def balances(self) -> dict[tuple[str, str], int]:
        return dict(self._balances)

    def close(self) -> None:
        pass
