"""Tables (SQLAlchemy Core). Amounts are exact: TEXT in SQLite, NUMERIC(78,0) in PostgreSQL
(78 digits hold any uint256)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, MetaData, Numeric, String, Table, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class Amount(TypeDecorator[int]):
    """An integer amount in base units, stored without loss on every dialect."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(78, 0))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return value if dialect.name == "postgresql" else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


metadata = MetaData()

events = Table(
    "events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", BigInteger, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("data", Text, nullable=False),
    Column("hash", String(64), nullable=False),
)

balances = Table(
    "balances",
    metadata,
    Column("account", String(200), primary_key=True),
    Column("asset", String(40), primary_key=True),
    Column("amount", Amount(), nullable=False),
)

idempotency = Table(
    "idempotency",
    metadata,
    Column("key_id", String(40), primary_key=True),
    Column("idem_key", String(200), primary_key=True),
    Column("body_hash", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("response", Text, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(40), primary_key=True),
    Column("secret_hash", String(64), nullable=False),
    Column("role", String(20), nullable=False),
    Column("account", String(200), nullable=True),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("state_hash", String(64), nullable=False),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("commands", BigInteger, nullable=False),
    Column("state_hash", String(64), nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("fmt", String(20), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("blob", LargeBinary, nullable=False),
)
