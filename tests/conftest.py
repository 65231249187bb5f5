"""Test tiers: `make test-fast` runs `-m "not slow and not postgres and not browser"`.

`slow` and `browser` are set on the tests themselves. `postgres` is added here, from what a test
uses rather than by hand, so a new PostgreSQL test cannot slip into the fast tier: any test that
asks for the `pg_url` fixture, or is parametrized with a `postgresql` backend (the `db_url`
fixture, `backend` parameters), needs the server.
"""

from __future__ import annotations

import pytest


def _needs_postgres(item: pytest.Item) -> bool:
    if "pg_url" in getattr(item, "fixturenames", ()):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "postgresql" in callspec.params.values()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _needs_postgres(item):
            item.add_marker(pytest.mark.postgres)
