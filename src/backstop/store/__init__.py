"""Durable storage for the service: an append-only event store with projections.

The event log is the source of truth (docs/engine.md, docs/service.md); the engine state is
rebuilt from it on start. Memory, SQLite and PostgreSQL stores share one interface (httpx's transport idea):
tests swap in the memory one.
"""

from .base import IdempotencyRecord, KeyRecord, Store
from .memory import MemoryStore
from .sql import SqlStore, open_store

__all__ = ["IdempotencyRecord", "KeyRecord", "MemoryStore", "SqlStore", "Store", "open_store"]
