"""Tables and records for the risk desk: simulation jobs and the stored risk profile.

Jobs are rows so that they outlive the process that ran them (docs/service.md): on start the
service marks any job a restart interrupted as failed, with the reason. The risk profile is one
row: the `simulation:` section live simulations and `backstop export` use. Kept apart from
`schema.py` so the tables of the event store and of the risk desk evolve separately; both share
its `metadata`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Float, Integer, String, Table, Text

from .schema import metadata

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("key_id", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("progress", Float, nullable=False),
    Column("request", Text, nullable=False),
    Column("state_hash", String(64), nullable=True),
    Column("result", Text, nullable=True),
    Column("report_html", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

risk_profile = Table(
    "risk_profile",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("profile", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(40), nullable=False),
)

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("rules", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(40), nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", String(120), primary_key=True),
    Column("job_id", String(40), nullable=False),
    Column("metric", String(80), nullable=False),
    Column("value", Float, nullable=False),
    Column("above", Float, nullable=False),
    Column("state_hash", String(64), nullable=True),
    Column("at", BigInteger, nullable=False),
    Column("delivery", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
)

JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
UNFINISHED = ("queued", "running")


@dataclass(frozen=True)
class JobRecord:
    """One simulation job as stored; `request` and `result` are JSON text, times unix seconds."""

    id: str
    key_id: str
    status: str
    progress: float
    request: str
    state_hash: str | None = None
    result: str | None = None
    report_html: str | None = None
    error: str | None = None
    created_at: int = 0
    updated_at: int = 0


@dataclass(frozen=True)
class ProfileRecord:
    """The stored risk profile: the `simulation:` mapping as JSON text, when and by which key."""

    profile: str
    updated_at: int
    updated_by: str


@dataclass(frozen=True)
class AlertRecord:
    """An alert rule that fired on a finished live job. `id` is `<job id>:<metric>`, so a rule
    fires once per job; `delivery` is `none` (no webhook), `pending`, `delivered` or `failed`."""

    id: str
    job_id: str
    metric: str
    value: float
    above: float
    state_hash: str | None
    at: int
    delivery: str
    attempts: int = 0
