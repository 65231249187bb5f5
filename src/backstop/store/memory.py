"""An in-memory store: the same interface, no durability. For tests and benchmarks."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from .base import IdempotencyRecord, KeyRecord, Snapshot, SnapshotMeta, StoredEvent
from .jobs import AlertRecord, JobRecord, ProfileRecord
from .quotes import QuoteRecord


class MemoryStore:
    def __init__(self) -> None:
        self.events: list[StoredEvent] = []
        self.idem: dict[tuple[str, str], IdempotencyRecord] = {}
        self.keys: dict[str, KeyRecord] = {}
        self._checkpoints: list[tuple[int, str]] = []
        self._snapshots: dict[int, Snapshot] = {}
        self._balances: dict[tuple[str, str], int] = {}

    def load_events(self) -> list[StoredEvent]:
        return list(self.events)

    def _index_after(self, after: int) -> int:
        return bisect.bisect_right([e.seq for e in self.events], after) if self.events else 0

    def iter_events(self, after: int = -1, page: int = 5000) -> Iterator[StoredEvent]:
        yield from self.events[self._index_after(after) :]

    def events_page(self, after: int, limit: int) -> list[StoredEvent]:
        start = self._index_after(after)
        return self.events[start : start + limit]

    def head(self) -> tuple[int, str] | None:
        return (self.events[-1].seq, self.events[-1].hash) if self.events else None

    def event_at(self, seq: int) -> StoredEvent | None:
        return next((e for e in self.events if e.seq == seq), None)

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

    def idempotency_many(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], IdempotencyRecord]:
        return {k: self.idem[k] for k in keys if k in self.idem}

    def add_key(self, key: KeyRecord) -> None:
        self.keys[key.key_id] = key

    def get_key(self, key_id: str) -> KeyRecord | None:
        return self.keys.get(key_id)

    def checkpoint(self, seq: int, state_hash: str) -> None:
        self._checkpoints.append((seq, state_hash))

    def last_checkpoint(self) -> tuple[int, str] | None:
        return self._checkpoints[-1] if self._checkpoints else None

    def checkpoints(self) -> dict[int, str]:
        return dict(self._checkpoints)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        self._snapshots[snapshot.meta.seq] = snapshot

    def snapshots(self) -> list[SnapshotMeta]:
        return [self._snapshots[s].meta for s in sorted(self._snapshots, reverse=True)]

    def load_snapshot(self, seq: int) -> Snapshot | None:
        return self._snapshots.get(seq)

    def prune_snapshots(self, keep: int) -> None:
        for seq in sorted(self._snapshots, reverse=True)[keep:]:
            del self._snapshots[seq]

    def balances(self) -> dict[tuple[str, str], int]:
        return dict(self._balances)

    def close(self) -> None:
        pass

    # -- risk desk: jobs and the risk profile ---------------------------------------------------
    def save_job(self, job: JobRecord) -> None:
        self.__dict__.setdefault("_jobs", {})[job.id] = job

    def get_job(self, job_id: str) -> JobRecord | None:
        found: JobRecord | None = self.__dict__.get("_jobs", {}).get(job_id)
        return found

    def save_quote(self, quote: QuoteRecord) -> None:
        self.__dict__.setdefault("_quotes", {})[quote.id] = quote

    def get_quote(self, quote_id: str) -> QuoteRecord | None:
        found: QuoteRecord | None = self.__dict__.get("_quotes", {}).get(quote_id)
        return found

    def jobs_with_status(self, statuses: tuple[str, ...]) -> list[JobRecord]:
        jobs: dict[str, JobRecord] = self.__dict__.get("_jobs", {})
        return sorted((j for j in jobs.values() if j.status in statuses), key=lambda j: j.created_at)

    def put_risk_profile(self, record: ProfileRecord) -> None:
        self.__dict__["_risk_profile"] = record

    def get_risk_profile(self) -> ProfileRecord | None:
        found: ProfileRecord | None = self.__dict__.get("_risk_profile")
        return found

    def done_jobs(self) -> list[JobRecord]:
        jobs: dict[str, JobRecord] = self.__dict__.get("_jobs", {})
        done = [j for j in jobs.values() if j.status == "done"]
        return sorted(done, key=lambda j: (j.updated_at, j.id))

    def put_alert_rules(self, rules: str, updated_at: int, updated_by: str) -> None:
        self.__dict__["_alert_rules"] = rules

    def get_alert_rules(self) -> str | None:
        found: str | None = self.__dict__.get("_alert_rules")
        return found

    def save_alert(self, alert: AlertRecord) -> None:
        self.__dict__.setdefault("_alerts", {})[alert.id] = alert

    def alerts(self) -> list[AlertRecord]:
        found: dict[str, AlertRecord] = self.__dict__.get("_alerts", {})
        return sorted(found.values(), key=lambda a: (a.at, a.id))
