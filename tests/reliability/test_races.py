"""Races (issue 7 §2): many clients hit the same money at once over real HTTP, on SQLite and
PostgreSQL. Exactly one of competing withdrawals / liquidations wins; a policy never pays more
than its cover; a slash racing a withdrawal sees the queued shares."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from backstop.api.cli import FLAGSHIP
from backstop.api.keys import new_key
from backstop.api.service import Service
from backstop.domain.invariants import check
from backstop.scenario.loader import load_scenario
from backstop.store import SqlStore

from .server import serve_in_thread

N = 50

# Fifty clients over real HTTP per race: a concurrency test, not part of the fast tier.
pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: Any, tmp_path: Path) -> Iterator[tuple[str, Service, dict[str, str]]]:
    url = f"sqlite:///{tmp_path / 'race.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    store = SqlStore(url)
    service = Service(store)
    # the flagship's set-up (assets, layers, markets) without its story steps
    for i, step in enumerate(load_scenario(FLAGSHIP).steps):
        if step.index is None:
            service.execute(_system(), f"setup-{i}", f"setup-{i}", lambda _e, cmd=step.command: cmd)
    tokens = {}
    for role, account in (("admin", None), ("assessor", "assessor"), ("investor", "inv"), ("staker", "alice")):
        token, record = new_key(role, account)
        store.add_key(record)
        tokens[role] = token
    with serve_in_thread(service, rate_per_second=10_000, burst=10_000) as url_:
        yield url_, service, tokens
    store.close()


def _system() -> Any:
    from backstop.store.base import KeyRecord

    return KeyRecord("setup", "", "admin", None)


def _post(url: str, token: str, path: str, body: dict[str, Any], key: str) -> int:
    r = httpx.post(
        url + path, json=body, headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key}, timeout=30
    )
    assert r.status_code < 500, r.text
    return r.status_code


def _race(url: str, token: str, path: str, body: dict[str, Any] | list[dict[str, Any]], tag: str) -> list[int]:
    bodies = body if isinstance(body, list) else [body] * N
    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(lambda ib: _post(url, token, path, ib[1], f"{tag}-{ib[0]}"), enumerate(bodies)))


def test_fifty_withdrawals_of_the_same_shares_exactly_one_wins(world: Any) -> None:
    url, service, t = world
    admin = t["admin"]
    assert _post(url, admin, "/v1/deposit", {"layer": "sp", "account": "alice", "amount": "1000"}, "d") == 200
    codes = _race(url, t["staker"], "/v1/withdraw", {"layer": "sp", "account": "alice", "amount": "1000"}, "w")
    assert codes.count(200) == 1 and all(c == 409 for c in codes if c != 200)
    assert service.engine.state.ledger.balance("user:alice", "LUSD") == 1000 * 10**18
    assert check(service.engine.state) == []


def test_concurrent_claims_pay_at_most_the_cover(world: Any) -> None:
    url, service, t = world
    admin = t["admin"]
    for i, (path, body) in enumerate(
        [
            ("/v1/deposit", {"layer": "cover", "account": "carol", "amount": "50000"}),
            ("/v1/supply", {"market": "lend", "account": "inv", "amount": "100000"}),
            (
                "/v1/buy_cover",
                {
                    "pool": "cover",
                    "account": "inv",
                    "market": "lend",
                    "causes": ["exploit"],
                    "amount": "10000",
                    "period_days": 30,
                },
            ),
            ("/v1/incident", {"market": "lend", "asset": "USDC", "amount": "50000", "cause": "exploit"}),
        ]
    ):
        assert _post(url, admin, path, body, f"s{i}") == 200, path
    filed = _race(url, t["investor"], "/v1/file_claim", {"policy": "pol-1", "incident": "inc-1", "loss": "50000"}, "f")
    assert filed.count(200) == 1
    assessed = _race(url, t["assessor"], "/v1/assess_claim", {"claim": "clm-1", "approve": True}, "a")
    assert assessed.count(200) == 1
    policy = service.engine.state.policies["pol-1"]
    assert 0 < policy.paid <= policy.amount == 10_000 * 10**6
    assert check(service.engine.state) == []


def test_concurrent_liquidations_of_one_position_liquidate_once(world: Any) -> None:
    url, service, t = world
    admin = t["admin"]
    assert _post(url, admin, "/v1/deposit", {"layer": "sp", "account": "dave", "amount": "100000"}, "d") == 200
    assert (
        _post(
            url,
            admin,
            "/v1/open",
            {"market": "troves", "account": "t1", "collateral": {"ETH": "20"}, "debt": "30000"},
            "o",
        )
        == 200
    )
    assert _post(url, admin, "/v1/prices", {"asset": "ETH", "price": "1500"}, "p") == 200
    codes = _race(url, admin, "/v1/liquidate", {"market": "troves", "account": "t1"}, "l")
    assert codes.count(200) == 1
    liquidations = [e for e in service.store.iter_events() if e.kind == "liquidated"]
    assert len(liquidations) == 1
    assert check(service.engine.state) == []


def test_a_slash_racing_a_withdrawal_sees_the_queued_shares(world: Any) -> None:
    url, service, t = world
    admin = t["admin"]
    day = 86_400
    steps = [
        ("/v1/supply", {"market": "lend", "account": "lp", "amount": "500000"}),
        ("/v1/deposit", {"layer": "safety", "account": "alice", "amount": "10000"}),
        ("/v1/deposit", {"layer": "safety", "account": "bob", "amount": "10000"}),
        ("/v1/request_withdraw", {"layer": "safety", "account": "alice", "amount": "10000"}),
        ("/v1/advance", {"at": 11 * day}),
    ]
    for i, (path, body) in enumerate(steps):
        assert _post(url, admin, path, body, f"s{i}") == 200, path
    pool = service.engine.state.layers["safety"]
    before = service.engine.state.ledger.balance(pool.account, "USDC")
    with ThreadPoolExecutor(max_workers=2) as ex:
        slash = ex.submit(
            _post,
            url,
            admin,
            "/v1/incident",
            {"market": "lend", "asset": "USDC", "amount": "30000", "cause": "exploit"},
            "x",
        )
        leave = ex.submit(_post, url, t["staker"], "/v1/withdraw", {"layer": "safety", "account": "alice"}, "w")
        assert slash.result() == 200 and leave.result() == 200
    got = service.engine.state.ledger.balance("user:alice", "USDC")
    slashed = sum(json.loads(e.data)["amount"] for e in service.store.iter_events() if e.kind == "slashed")
    after = service.engine.state.ledger.balance(pool.account, "USDC")
    assert before == got + slashed + after  # every unit accounted for, whichever came first
    if got < 10_000 * 10**6:  # the slash came first: alice bore her share of it
        assert abs(got - after) <= 1
    assert check(service.engine.state) == []
