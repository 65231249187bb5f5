"""An in-memory store: the same interface, no durability. For tests and benchmarks."""

from __future__ import annotations

from .base import IdempotencyRecord, KeyRecord, StoredEvent
from .jobs import AlertRecord, JobRecord, ProfileRecord


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

    # -- risk desk: jobs and the risk profile ---------------------------------------------------
    def save_job(self, job: JobRecord) -> None:
        self.__dict__.setdefault("_jobs", {})[job.id] = job

    def get_job(self, job_id: str) -> JobRecord | None:
        found: JobRecord | None = self.__dict__.get("_jobs", {}).get(job_id)
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
