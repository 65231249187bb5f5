"""Fixtures for the service tests: a fresh store on SQLite and on PostgreSQL, an app, keys.

PostgreSQL is the machine's server at 127.0.0.1:5432 (`make test` starts it if it is down);
each test gets a database of its own, dropped afterwards. Where no server answers, the
PostgreSQL variants skip and say why.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backstop.api.app import create_app
from backstop.api.cli import FALLBACK, load_demo
from backstop.api.keys import new_key
from backstop.api.service import Service
from backstop.store import SqlStore

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", connect_timeout=3):
            return None
    except Exception as exc:  # any failure to connect means: skip, and say why
        return f"PostgreSQL not reachable at 127.0.0.1:5432 ({type(exc).__name__}: {exc})"


PG_SKIP = _pg_available()


@pytest.fixture
def pg_url() -> Iterator[str]:
    if PG_SKIP:
        pytest.skip(PG_SKIP)
    import psycopg

    name = f"bk_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'backstop.db'}"
    return str(request.getfixturevalue("pg_url"))


@dataclass
class Api:
    client: TestClient
    service: Service
    store: Any
    tokens: dict[str, str]
    n: int = 0

    def headers(self, who: str, idem: str | None = None) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.tokens[who]}"}
        self.n += 1
        h["Idempotency-Key"] = idem or f"k{self.n}-{uuid.uuid4().hex[:8]}"
        return h

    def post(self, path: str, body: Any, who: str = "admin", idem: str | None = None) -> Any:
        return self.client.post(path, json=body, headers=self.headers(who, idem))

    def get(self, path: str, who: str = "admin") -> Any:
        return self.client.get(path, headers={"Authorization": f"Bearer {self.tokens[who]}"})


ROLE_ACCOUNTS = {
    "admin": None,
    "risk": "risk-desk",
    "oracle": "oracle",
    "assessor": "assessor",
    "staker": "alice",
    "investor": "inv",
    "guarantor": "reinsurer",
}


def make_api(url: str, scenario: Path = FALLBACK, **app_kwargs: Any) -> Api:
    store = SqlStore(url)
    service = Service(store)
    if scenario is not None:
        load_demo(service, scenario)
    tokens = {}
    for role, account in ROLE_ACCOUNTS.items():
        token, record = new_key(role, account)
        store.add_key(record)
        tokens[role] = token
    return Api(TestClient(create_app(service, **app_kwargs)), service, store, tokens)


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    a = make_api(db_url)
    yield a
    a.store.close()


@pytest.fixture
def sqlite_api(tmp_path: Path) -> Iterator[Api]:
    a = make_api(f"sqlite:///{tmp_path / 'b.db'}")
    yield a
    a.store.close()
