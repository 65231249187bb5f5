"""The API is the one place an error class becomes an HTTP status (`backstop.api.errors.STATUS`).

The statuses are the service's contract (docs/service.md): a refusal by the engine's rules is
409, malformed input 422, an unknown name 404, a role or account that may not act 403.
"""

from __future__ import annotations

import time

import pytest

from backstop.api import errors as api_errors
from backstop.api.errors import STATUS, status_of
from backstop.api.jobs import JobTable, find_scenario
from backstop.api.keys import KeyCache, new_key
from backstop.domain import errors as d
from backstop.scenario.errors import ScenarioError
from backstop.store import MemoryStore
from backstop.store.sql import StoreError, StoreLocked

EXPECTED = {
    d.BackstopError: 400,
    d.InvalidAmount: 422,
    d.InvalidConfig: 422,
    d.UnknownEntity: 404,
    d.DuplicateEntity: 409,
    d.TimeWentBackwards: 409,
    d.InsufficientFunds: 409,
    d.WithdrawNotAllowed: 409,
    d.Undercollateralized: 409,
    d.PositionHealthy: 409,
    d.MarketFrozen: 409,
    d.CoverError: 409,
    d.ClaimError: 409,
    d.NotPermitted: 403,
    ScenarioError: 422,
    StoreError: 503,
    StoreLocked: 503,
    api_errors.Unauthorized: 401,
    api_errors.Forbidden: 403,
    api_errors.Conflict: 409,
    api_errors.InternalError: 500,
}


@pytest.mark.parametrize("cls", list(EXPECTED), ids=lambda c: c.__name__)
def test_each_error_class_has_its_status(cls: type[d.BackstopError]) -> None:
    assert status_of(cls("f", "f: x")) == EXPECTED[cls]


def test_every_domain_error_is_mapped() -> None:
    domain = [v for v in vars(d).values() if isinstance(v, type) and issubclass(v, d.BackstopError)]
    assert sorted(c.__name__ for c in domain if c not in STATUS) == []


def test_a_scenario_error_answers_with_the_status_of_what_it_reports() -> None:
    def reporting(inner: d.BackstopError) -> ScenarioError:
        err = ScenarioError("layer", "layer: unknown layer 'x'")
        err.__cause__ = inner
        return err

    assert status_of(reporting(d.UnknownEntity("layer", "layer: unknown"))) == 404
    assert status_of(reporting(d.InvalidAmount("amount", "amount: 0"))) == 422
    assert status_of(ScenarioError("do", "do: missing")) == 422


def test_rate_limited_carries_its_retry_after() -> None:
    err = api_errors.RateLimited("rate", "rate: slow down", 3)
    assert status_of(err) == 429 and err.retry_after_seconds == 3


def test_the_key_cache_keeps_hits_and_forgets_misses() -> None:
    store = MemoryStore()
    cache = KeyCache(store)
    token, record = new_key("risk", "desk")
    assert cache.get(record.key_id) is None  # not yet created: not cached as missing
    store.add_key(record)
    assert cache.authenticate(token) == record
    store.keys.clear()
    assert cache.get(record.key_id) == record  # a hit is kept for the life of the process
    with pytest.raises(api_errors.Unauthorized):
        cache.authenticate(token[:-1] + ("x" if token[-1] != "x" else "y"))


@pytest.mark.slow  # background jobs on threads and timers: not the in-process tier
def test_the_job_table_names_one_job_per_id() -> None:
    table = JobTable(MemoryStore(), max_jobs=1)
    with pytest.raises(d.UnknownEntity):
        table.get("j1")
    request = {"source": "example", "name": "risk_lab_cdp", "paths": 10, "horizon_days": 5, "seed": 1}
    path = find_scenario("risk_lab_cdp")
    job = table.submit("j1", "k", request, lambda: (path, None))
    retry = table.submit("j1", "k", request, lambda: (path, None))  # a retry: the same job
    assert retry.row.id == job.row.id and retry.row.created_at == job.row.created_at
    assert len(table.store.jobs_with_status(("queued", "running", "done"))) == 1
    for _ in range(600):
        if table.get("j1").status not in ("queued", "running"):
            break
        time.sleep(0.05)
    job = table.get("j1")
    assert job.status == "done" and job.progress == 1.0, job.error
    public = job.public()
    assert public["has_report"] is True and "report_html" not in public
    assert table.report("j1") == job.report_html
    with pytest.raises(d.UnknownEntity):
        table.report("j2")
