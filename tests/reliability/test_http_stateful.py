"""A hypothesis state machine over the HTTP API (in-process client, memory store): random
sequences of commands from several roles; after each, every invariant holds, a refused command
(4xx) leaves the state hash unchanged, a retried request returns the very same answer, and a
service rebuilt from the store reaches the same state hash."""

from __future__ import annotations

import os
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from backstop.api.app import create_app
from backstop.api.cli import FLAGSHIP
from backstop.api.keys import new_key
from backstop.api.service import Service
from backstop.domain.invariants import check
from backstop.scenario.loader import load_scenario
from backstop.store import MemoryStore
from backstop.store.base import KeyRecord

SOAK = os.environ.get("BACKSTOP_SOAK") == "1"
ACCOUNTS = st.sampled_from(["alice", "bob", "inv"])
AMOUNTS = st.sampled_from(["0.5", "1", "10", "250", "5000", "80000", "0.0000001"])


class HttpMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryStore()
        self.service = Service(self.store)
        system = KeyRecord("setup", "", "admin", None)
        for i, step in enumerate(load_scenario(FLAGSHIP).steps):
            if step.index is None:
                self.service.execute(system, f"s{i}", f"s{i}", lambda _e, cmd=step.command: cmd)
        self.tokens: dict[str, str] = {}
        for role, account in (("admin", None), ("oracle", "oracle"), ("assessor", "assessor"), ("investor", "inv")):
            token, record = new_key(role, account)
            self.store.add_key(record)
            self.tokens[role] = token
        self.client = TestClient(create_app(self.service, rate_per_second=1e9, burst=10**9))
        self.n = 0
        self.t = 0

    def post(self, path: str, body: dict[str, Any], who: str = "admin") -> int:
        self.n += 1
        headers = {"Authorization": f"Bearer {self.tokens[who]}", "Idempotency-Key": f"k{self.n}"}
        before = self.service.state_hash()
        r = self.client.post(path, json=body, headers=headers)
        assert r.status_code < 500, r.text
        if r.status_code >= 400:
            assert self.service.state_hash() == before, f"refused {path} changed the state"
            assert set(r.json()["error"]) == {"type", "message", "field"}
        again = self.client.post(path, json=body, headers=headers)
        assert (again.status_code, again.json()) == (r.status_code, r.json()), "retry gave another answer"
        return r.status_code

    @rule(layer=st.sampled_from(["sp", "safety", "cover", "fund"]), account=ACCOUNTS, amount=AMOUNTS)
    def deposit(self, layer: str, account: str, amount: str) -> None:
        self.post("/v1/deposit", {"layer": layer, "account": account, "amount": amount})

    @rule(layer=st.sampled_from(["sp", "safety", "cover"]), account=ACCOUNTS, amount=AMOUNTS)
    def withdraw(self, layer: str, account: str, amount: str) -> None:
        self.post("/v1/withdraw", {"layer": layer, "account": account, "amount": amount})

    @rule(layer=st.sampled_from(["safety", "cover"]), account=ACCOUNTS, amount=AMOUNTS)
    def request_withdraw(self, layer: str, account: str, amount: str) -> None:
        self.post("/v1/request_withdraw", {"layer": layer, "account": account, "amount": amount})

    @rule(account=ACCOUNTS, amount=AMOUNTS)
    def supply(self, account: str, amount: str) -> None:
        self.post("/v1/supply", {"market": "lend", "account": account, "amount": amount})

    @rule(
        market=st.sampled_from(["lend", "troves"]),
        account=ACCOUNTS,
        eth=st.sampled_from(["1", "5", "20"]),
        debt=AMOUNTS,
    )
    def open(self, market: str, account: str, eth: str, debt: str) -> None:
        self.post("/v1/open", {"market": market, "account": account, "collateral": {"ETH": eth}, "debt": debt})

    @rule(market=st.sampled_from(["lend", "troves"]), account=ACCOUNTS, amount=AMOUNTS)
    def repay(self, market: str, account: str, amount: str) -> None:
        self.post("/v1/repay", {"market": market, "account": account, "amount": amount})

    @rule(price=st.sampled_from(["400", "900", "1500", "2000", "2600"]))
    def price(self, price: str) -> None:
        self.post("/v1/prices", {"asset": "ETH", "price": price}, who="oracle")

    @rule(market=st.sampled_from(["lend", "troves"]), account=ACCOUNTS)
    def liquidate(self, market: str, account: str) -> None:
        self.post("/v1/liquidate", {"market": market, "account": account})

    @rule(amount=AMOUNTS, cause=st.sampled_from(["exploit", "bug", "oracle"]))
    def incident(self, amount: str, cause: str) -> None:
        self.post("/v1/incident", {"market": "lend", "asset": "USDC", "amount": amount, "cause": cause})

    @rule(days=st.integers(0, 40))
    def advance(self, days: int) -> None:
        self.t += days * 86_400
        self.post("/v1/advance", {"at": self.t}, who="oracle")

    @rule(amount=AMOUNTS)
    def buy_cover(self, amount: str) -> None:
        body = {
            "pool": "cover",
            "account": "inv",
            "market": "lend",
            "causes": ["exploit"],
            "amount": amount,
            "period_days": 90,
        }
        self.post("/v1/buy_cover", body, who="investor")

    @rule(policy=st.integers(1, 3), incident=st.integers(1, 3), loss=AMOUNTS)
    def file_claim(self, policy: int, incident: int, loss: str) -> None:
        self.post(
            "/v1/file_claim", {"policy": f"pol-{policy}", "incident": f"inc-{incident}", "loss": loss}, who="investor"
        )

    @rule(claim=st.integers(1, 3), approve=st.booleans())
    def assess(self, claim: int, approve: bool) -> None:
        self.post("/v1/assess_claim", {"claim": f"clm-{claim}", "approve": approve}, who="assessor")

    @invariant()
    def engine_invariants_hold(self) -> None:
        assert check(self.service.engine.state) == []

    def teardown(self) -> None:
        assert Service(self.store).state_hash() == self.service.state_hash()


HttpMachine.TestCase.settings = settings(
    max_examples=60 if SOAK else 12,
    stateful_step_count=40 if SOAK else 20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
TestHttpStateMachine = pytest.mark.slow(HttpMachine.TestCase)  # long random runs over the API
