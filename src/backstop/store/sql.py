"""SQLite (default) and PostgreSQL event stores over SQLAlchemy Core.

Durability rules (docs/service.md, docs/reliability.md): a group of commands is one
transaction, and a 2xx answer is sent only after the commit returned. SQLite runs in WAL mode
with `synchronous=FULL` and takes the write lock up front (`BEGIN IMMEDIATE`) so a transaction
never fails half-way for want of it. PostgreSQL runs SERIALIZABLE and retries a transaction
that lost a serialization race (SQLSTATE 40001) or a deadlock (40P01). One service process
writes a database: on PostgreSQL an advisory lock held for the life of the store enforces it.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, and_, create_engine, delete, event, insert, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import TextClause

from ..domain.errors import BackstopError
from . import jobs as job_tables
from . import quotes as quote_tables
from . import schema
from .base import IdempotencyRecord, KeyRecord, Snapshot, SnapshotMeta, StoredEvent
from .jobs import AlertRecord, JobRecord, ProfileRecord
from .quotes import QuoteRecord

T = TypeVar("T")
RETRY_SQLSTATES = {"40001", "40P01"}
ADVISORY_LOCK_KEY = 0x6261636B73746F70  # "backstop"
MIGRATIONS = Path(__file__).parent / "migrations"


class StoreError(BackstopError):
    """The database refused or lost a write; the command was not applied."""


class StoreLocked(BackstopError):
    """Another service process already writes to this database."""


def open_store(url: str | None) -> Any:
    """`None` or `memory://` gives a memory store; anything else a SQL store."""
    from .memory import MemoryStore

    if url is None or url == "memory://":
        return MemoryStore()
    return SqlStore(url)


class SqlStore:
    def __init__(self, url: str, single_writer: bool = True) -> None:
        self.url = url
        self.dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
        if self.dialect == "sqlite":
            self.engine: SqlEngine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_begin_immediate)
        else:
            self.engine = create_engine(url, isolation_level="SERIALIZABLE", pool_pre_ping=True)
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        """One statement, one transaction, no BEGIN/ROLLBACK round trips: PostgreSQL's group
        commit (`_PG_APPEND`) and the idempotency lookup."""
        self._lock_conn: Connection | None = None
        insert_fn = pg_insert if self.dialect == "postgresql" else sqlite_insert
        stmt = insert_fn(schema.balances)
        self._upsert = stmt.on_conflict_do_update(
            index_elements=["account", "asset"], set_={"amount": stmt.excluded.amount}
        )
        self.migrate()
        if single_writer and self.dialect == "postgresql":
            self._take_writer_lock()

    # -- lifecycle --------------------------------------------------------------------------
    def migrate(self) -> None:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            alembic_command.upgrade(cfg, "head")

    def _take_writer_lock(self) -> None:
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY}).scalar()
        if not got:
            conn.close()
            raise StoreLocked("db", "db: another backstop service is already writing to this database")
        self._lock_conn = conn

    def close(self) -> None:
        if self._lock_conn is not None:
            self._lock_conn.close()
            self._lock_conn = None
        self.engine.dispose()

    # -- transactions -------------------------------------------------------------------------
    def _tx(self, work: Callable[[Connection], T], attempts: int = 8, *, one_statement: bool = False) -> T:
        """Run `work` in a transaction, retried on a serialization failure or a deadlock. With
        `one_statement` (PostgreSQL) `work` issues a single statement, its own transaction."""
        for attempt in range(attempts):
            try:
                if one_statement:
                    with self._autocommit.connect() as conn:
                        return work(conn)
                with self.engine.begin() as conn:
                    return work(conn)
            except DBAPIError as exc:
                code = getattr(getattr(exc, "orig", None), "sqlstate", None)
                if code in RETRY_SQLSTATES and attempt + 1 < attempts:
                    time.sleep(0.005 * 2**attempt)
                    continue
                raise StoreError("db", f"db: write failed: {type(exc.orig).__name__}") from exc
        raise StoreError("db", "db: write failed after retries")  # pragma: no cover

    # -- events -------------------------------------------------------------------------------
    def load_events(self) -> list[StoredEvent]:
        return list(self.iter_events())

    def events_page(self, after: int, limit: int) -> list[StoredEvent]:
        t = schema.events
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).where(t.c.seq > after).order_by(t.c.seq).limit(limit)).all()
        return [StoredEvent(int(r.seq), int(r.at), r.kind, r.data, r.hash) for r in rows]

    def iter_events(self, after: int = -1, page: int = 5000) -> Iterator[StoredEvent]:
        """Keyset pages (`seq > last LIMIT page`): each page is one short query, so memory stays
        at one page and no transaction is held open across the whole log."""
        while True:
            rows = self.events_page(after, page)
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1].seq

    def head(self) -> tuple[int, str] | None:
        t = schema.events
        with self.engine.connect() as conn:
            r = conn.execute(select(t.c.seq, t.c.hash).order_by(t.c.seq.desc()).limit(1)).first()
        return None if r is None else (int(r.seq), r.hash)

    def event_at(self, seq: int) -> StoredEvent | None:
        t = schema.events
        with self.engine.connect() as conn:
            r = conn.execute(select(t).where(t.c.seq == seq)).first()
        return None if r is None else StoredEvent(int(r.seq), int(r.at), r.kind, r.data, r.hash)

    def append(
        self, events: list[StoredEvent], balances: dict[tuple[str, str], int], idems: list[IdempotencyRecord]
    ) -> None:
        if self.dialect == "postgresql":
            params = {
                "events": json.dumps([[e.seq, e.at, e.kind, e.data, e.hash] for e in events]),
                "balances": json.dumps([[a, s, str(v)] for (a, s), v in balances.items()]),
                "idems": json.dumps([[i.key_id, i.idem_key, i.body_hash, i.status, i.response] for i in idems]),
            }
            self._tx(lambda conn: conn.execute(_PG_APPEND, params), one_statement=True)
            return

        def work(conn: Connection) -> None:
            if events:
                conn.execute(
                    insert(schema.events),
                    [{"seq": e.seq, "at": e.at, "kind": e.kind, "data": e.data, "hash": e.hash} for e in events],
                )
            if balances:
                conn.execute(
                    self._upsert,
                    [{"account": a, "asset": s, "amount": v} for (a, s), v in balances.items()],
                )
            if idems:
                conn.execute(insert(schema.idempotency), [i.__dict__ for i in idems])

        self._tx(work)

    def balances(self) -> dict[tuple[str, str], int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(schema.balances)).all()
        return {(r.account, r.asset): int(r.amount) for r in rows}

    # -- idempotency --------------------------------------------------------------------------
    def idempotency_keys(self) -> dict[tuple[str, str], str]:
        """Every (API key, Idempotency-Key) -> body hash, for the service's in-memory index."""
        t = schema.idempotency
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.key_id, t.c.idem_key, t.c.body_hash)).all()
        return {(r.key_id, r.idem_key): r.body_hash for r in rows}

    def get_idempotency(self, key_id: str, idem_key: str) -> IdempotencyRecord | None:
        t = schema.idempotency
        with self.engine.connect() as conn:
            r = conn.execute(select(t).where(t.c.key_id == key_id, t.c.idem_key == idem_key)).first()
        return None if r is None else IdempotencyRecord(r.key_id, r.idem_key, r.body_hash, int(r.status), r.response)

    def idempotency_many(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], IdempotencyRecord]:
        if not keys:
            return {}
        t = schema.idempotency
        by_key: dict[str, list[str]] = {}
        for key_id, idem_key in keys:
            by_key.setdefault(key_id, []).append(idem_key)
        # `key_id = k AND idem_key IN (...)` per API key rather than a row-value IN: on an analysed
        # table PostgreSQL answers it with one index probe on both columns (idem_key = ANY(...),
        # ~0.2 ms to plan) where the row-value IN plans one probe per pair (~1 ms for 32). Before
        # its first ANALYZE a table's statistics make either form scan every record of the key.
        if self.dialect == "postgresql":
            # One array parameter per API key, in a statement whose text is the same for every
            # group of one key (the usual case), so psycopg prepares it once; ~160 µs of Python
            # per lookup where SQLAlchemy's expanding IN spent ~360-560 µs building and compiling.
            params: dict[str, Any] = {}
            for n, (k, ids) in enumerate(by_key.items()):
                params[f"k{n}"], params[f"i{n}"] = k, ids
            with self._autocommit.connect() as conn:
                rows = conn.execute(_pg_idempotency_lookup(len(by_key)), params).all()
        else:
            where = or_(*(and_(t.c.key_id == k, t.c.idem_key.in_(ids)) for k, ids in by_key.items()))
            with self._autocommit.connect() as conn:
                rows = conn.execute(select(t).where(where)).all()
        return {
            (r.key_id, r.idem_key): IdempotencyRecord(r.key_id, r.idem_key, r.body_hash, int(r.status), r.response)
            for r in rows
        }

    # -- keys -----------------------------------------------------------------------------------
    def add_key(self, key: KeyRecord) -> None:
        self._tx(lambda conn: conn.execute(insert(schema.api_keys).values(**key.__dict__)))

    def get_key(self, key_id: str) -> KeyRecord | None:
        t = schema.api_keys
        with self.engine.connect() as conn:
            r = conn.execute(select(t).where(t.c.key_id == key_id)).first()
        return None if r is None else KeyRecord(r.key_id, r.secret_hash, r.role, r.account)

    # -- checkpoints ----------------------------------------------------------------------------
    def checkpoint(self, seq: int, state_hash: str) -> None:
        self._tx(lambda conn: conn.execute(insert(schema.checkpoints).values(seq=seq, state_hash=state_hash)))

    def last_checkpoint(self) -> tuple[int, str] | None:
        t = schema.checkpoints
        with self.engine.connect() as conn:
            r = conn.execute(select(t).order_by(t.c.seq.desc()).limit(1)).first()
        return None if r is None else (int(r.seq), r.state_hash)

    # -- risk desk: jobs and the risk profile (store/jobs.py) -----------------------------------
    def save_job(self, job: JobRecord) -> None:
        """Insert the job, or replace the stored row of the same id."""
        t = job_tables.jobs
        row = dict(job.__dict__)

        def work(conn: Connection) -> None:
            if conn.execute(t.update().where(t.c.id == job.id).values(**row)).rowcount == 0:
                conn.execute(insert(t).values(**row))

        self._tx(work)

    def get_job(self, job_id: str) -> JobRecord | None:
        t = job_tables.jobs
        with self.engine.connect() as conn:
            r = conn.execute(select(t).where(t.c.id == job_id)).first()
        return None if r is None else JobRecord(**r._asdict())

    def save_quote(self, quote: QuoteRecord) -> None:
        """Insert a new quote (ids are fresh, so never replaced)."""
        t = quote_tables.quotes
        row = dict(quote.__dict__)
        self._tx(lambda conn: conn.execute(insert(t).values(**row)))

    def get_quote(self, quote_id: str) -> QuoteRecord | None:
        t = quote_tables.quotes
        with self.engine.connect() as conn:
            r = conn.execute(select(t).where(t.c.id == quote_id)).first()
        return None if r is None else QuoteRecord(**r._asdict())

    def jobs_with_status(self, statuses: tuple[str, ...]) -> list[JobRecord]:
        t = job_tables.jobs
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).where(t.c.status.in_(statuses)).order_by(t.c.created_at)).all()
        return [JobRecord(**r._asdict()) for r in rows]

    def put_risk_profile(self, record: ProfileRecord) -> None:
        t = job_tables.risk_profile
        row = {"id": 1, **record.__dict__}

        def work(conn: Connection) -> None:
            if conn.execute(t.update().where(t.c.id == 1).values(**row)).rowcount == 0:
                conn.execute(insert(t).values(**row))

        self._tx(work)

    def get_risk_profile(self) -> ProfileRecord | None:
        t = job_tables.risk_profile
        with self.engine.connect() as conn:
            r = conn.execute(select(t).where(t.c.id == 1)).first()
        return None if r is None else ProfileRecord(r.profile, int(r.updated_at), r.updated_by)

    def done_jobs(self) -> list[JobRecord]:
        """Finished jobs, oldest first, without their reports (the risk history reads these)."""
        t = job_tables.jobs
        cols = [c for c in t.c if c.name != "report_html"]
        with self.engine.connect() as conn:
            rows = conn.execute(select(*cols).where(t.c.status == "done").order_by(t.c.updated_at, t.c.id)).all()
        return [JobRecord(**r._asdict()) for r in rows]

    def put_alert_rules(self, rules: str, updated_at: int, updated_by: str) -> None:
        t = job_tables.alert_rules
        row = {"id": 1, "rules": rules, "updated_at": updated_at, "updated_by": updated_by}

        def work(conn: Connection) -> None:
            if conn.execute(t.update().where(t.c.id == 1).values(**row)).rowcount == 0:
                conn.execute(insert(t).values(**row))

        self._tx(work)

    def get_alert_rules(self) -> str | None:
        t = job_tables.alert_rules
        with self.engine.connect() as conn:
            r = conn.execute(select(t.c.rules).where(t.c.id == 1)).first()
        return None if r is None else str(r.rules)

    def save_alert(self, alert: AlertRecord) -> None:
        """Insert the alert, or replace the stored row of the same id (its delivery status)."""
        t = job_tables.alerts
        row = dict(alert.__dict__)

        def work(conn: Connection) -> None:
            if conn.execute(t.update().where(t.c.id == alert.id).values(**row)).rowcount == 0:
                conn.execute(insert(t).values(**row))

        self._tx(work)

    def alerts(self) -> list[AlertRecord]:
        t = job_tables.alerts
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.at, t.c.id)).all()
        return [AlertRecord(**r._asdict()) for r in rows]

    def checkpoints(self) -> dict[int, str]:
        t = schema.checkpoints
        with self.engine.connect() as conn:
            return {int(r.seq): r.state_hash for r in conn.execute(select(t))}

    # -- snapshots ------------------------------------------------------------------------------
    def save_snapshot(self, snapshot: Snapshot) -> None:
        row = {**snapshot.meta.__dict__, "blob": snapshot.blob}
        self._tx(lambda conn: conn.execute(insert(schema.snapshots).values(**row)))

    def snapshots(self) -> list[SnapshotMeta]:
        t = schema.snapshots
        cols = [c for c in t.c if c.name != "blob"]
        with self.engine.connect() as conn:
            rows = conn.execute(select(*cols).order_by(t.c.seq.desc())).all()
        return [_meta(r) for r in rows]

    def load_snapshot(self, seq: int) -> Snapshot | None:
        t = schema.snapshots
        with self.engine.connect() as conn:
            r = conn.execute(select(t).where(t.c.seq == seq)).first()
        return None if r is None else Snapshot(_meta(r), bytes(r.blob))

    def prune_snapshots(self, keep: int) -> None:
        t = schema.snapshots
        with self.engine.connect() as conn:
            low = conn.execute(select(t.c.seq).order_by(t.c.seq.desc()).offset(keep - 1).limit(1)).scalar()
        if low is not None:
            self._tx(lambda conn: conn.execute(delete(t).where(t.c.seq < low)))


_PG_APPEND = text(
    """
WITH ev AS (
    INSERT INTO events (seq, at, kind, data, hash)
    SELECT CAST(r->>0 AS bigint), CAST(r->>1 AS bigint), r->>2, r->>3, r->>4
    FROM json_array_elements(CAST(:events AS json)) AS r
), bal AS (
    INSERT INTO balances (account, asset, amount)
    SELECT r->>0, r->>1, CAST(r->>2 AS numeric)
    FROM json_array_elements(CAST(:balances AS json)) AS r
    ON CONFLICT (account, asset) DO UPDATE SET amount = excluded.amount
), idem AS (
    INSERT INTO idempotency (key_id, idem_key, body_hash, status, response)
    SELECT r->>0, r->>1, r->>2, CAST(r->>3 AS integer), r->>4
    FROM json_array_elements(CAST(:idems AS json)) AS r
)
SELECT 1
"""
)
"""PostgreSQL's group commit in one statement, hence one transaction and one round trip: the
group's events, the balance rows it touched and its idempotency records, each table's rows passed
as one JSON array of arrays (amounts as strings, cast to NUMERIC, so any uint256 is exact; `->>`
gives back each string exactly as it was). JSON rather than one array parameter per column:
psycopg escapes a text array's quotes in Python, one regex substitution per quote, which cost
~75 µs of the interpreter per deposit (its events' and its answer's JSON are full of quotes);
`json.dumps` does the same in C in ~1 µs. Data-modifying CTEs always run to completion,
referenced or not. SQLite keeps three executemany in one transaction (no network)."""


@functools.lru_cache(maxsize=64)
def _pg_idempotency_lookup(api_keys: int) -> TextClause:
    """The stored idempotency records among arrays of keys of `api_keys` API keys (params `k<n>`,
    `i<n>`): one index probe on both primary-key columns per API key."""
    where = " OR ".join(f"(key_id = :k{n} AND idem_key = ANY(CAST(:i{n} AS text[])))" for n in range(api_keys))
    return text(f"SELECT key_id, idem_key, body_hash, status, response FROM idempotency WHERE {where}")


def _meta(r: Any) -> SnapshotMeta:
    return SnapshotMeta(int(r.seq), int(r.commands), r.state_hash, r.head_hash, r.digest, r.fmt, int(r.created_at))


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")
