"""Cover quotes priced by the risk lab (issue 14 item 5; docs/service.md, `POST /v1/quotes`).

The live book is `tests/fixtures/quotes_live.yaml` (one debt asset, USDC). The reference for a
quote's expected payout is the risk lab itself run on the same file with the cover bought in its
steps (`simulate`, the `cover` section): the same world at the same seed, where the cover is a
policy in force; the pool (2,000,000) is far larger than the cover (100,000), so its balance never
binds and the two payouts agree to the float. Paths are few (300): the tests check the plumbing
and the rules, not the Monte Carlo error.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from backstop.api import quotes as quote_module
from backstop.scenario.loader import load_scenario
from backstop.sim import api as sim_api

from .conftest import Api, make_api

LIVE = Path(__file__).resolve().parents[1] / "fixtures" / "quotes_live.yaml"
SPEC: dict[str, Any] = yaml.safe_load(LIVE.read_text())
PROFILE: dict[str, Any] = SPEC["simulation"]
ASK: dict[str, Any] = {
    "pool": "mutual",
    "market": "lend",
    "amount": "100000",
    "period_days": 30,
    "causes": ["exploit"],
    "paths": 300,
    "seed": 3,
}
FIELDS = {
    "id",
    "pool",
    "market",
    "amount",
    "period_days",
    "causes",
    "premium",
    "premium_low",
    "premium_high",
    "expected_payout",
    "loading_bps",
    "paths",
    "seed",
    "state_hash",
    "valid_until",
    "tolerance_bps",
}


@pytest.fixture
def api(tmp_path: Path) -> Any:
    a = make_api(f"sqlite:///{tmp_path / 'quotes.db'}", scenario=LIVE)
    put = a.client.put("/v1/risk/profile", json=PROFILE, headers=a.headers("risk"))
    assert put.status_code == 200, put.text
    yield a
    a.store.close()


def _reference_payout() -> float:
    """inv's expected payout with the cover bought in the scenario's own steps."""
    spec = copy.deepcopy(SPEC)
    spec["steps"].append(
        {"at": 0, "do": "buy_cover", "pool": "mutual", "account": "inv", "market": "lend"}
        | {k: ASK[k] for k in ("causes", "amount", "period_days")}
    )
    res = sim_api.simulate(load_scenario(spec), paths=ASK["paths"], seed=ASK["seed"], keep_paths=0)
    return float(res.summary()["cover"]["mutual"]["policies"]["pol-1"]["expected_payout"])


def _quote(api: Api, body: dict[str, Any] | None = None, who: str = "investor", idem: str | None = None) -> Any:
    return api.post("/v1/quotes", ASK if body is None else body, who=who, idem=idem)


def test_a_quote_prices_the_expected_payout_plus_the_pools_loading(api: Api) -> None:
    r = _quote(api)
    assert r.status_code == 200, r.text
    q = r.json()
    assert set(q) >= FIELDS
    assert (q["pool"], q["market"], q["amount"], q["period_days"], q["causes"]) == (
        "mutual",
        "lend",
        "100000",
        30,
        ["exploit"],
    )
    assert (q["paths"], q["seed"], q["loading_bps"], q["tolerance_bps"]) == (300, 3, 2000, 100)
    assert q["state_hash"] == api.service.engine.state_hash()
    ref = _reference_payout()
    assert ref > 0  # exploits reach the suppliers on some paths
    assert abs(float(q["expected_payout"]) - ref) <= 1e-6 + 1e-9 * ref
    premium = float(q["premium"])
    assert abs(premium - 1.2 * ref) <= 2e-6 + 1e-9 * ref  # loading 2000 bps, rounded up to 1e-6 USDC
    assert float(q["premium_low"]) < premium < float(q["premium_high"])
    assert q["valid_until"] == q["created_at"] + quote_module.QUOTE_VALID_SECONDS
    # the same Idempotency-Key gives the same quote; the quote reads back
    again = _quote(api, idem="same")
    assert _quote(api, idem="same").json() == again.json()
    assert api.get(f"/v1/quotes/{q['id']}", who="investor").json() == q
    assert api.get(f"/v1/quotes/{q['id']}", who="staker").status_code == 403


def test_buy_cover_with_the_quote_charges_its_premium(api: Api) -> None:
    q = _quote(api).json()
    body = {k: ASK[k] for k in ("pool", "market", "amount", "period_days", "causes")}
    r = api.post("/v1/buy_cover", body | {"account": "inv", "quote": q["id"]}, who="investor")
    assert r.status_code == 200, r.text
    policy = api.service.engine.state.policies["pol-1"]
    assert policy.premium == round(float(q["premium"]) * 10**6)
    bought = [json.loads(e.data) for e in api.store.load_events() if e.kind == "cover_bought"]
    assert bought[-1]["quote"] == q["id"]
    # without a quote the pool's rate applies: 100,000 × 2.6% × 30/365, rounded up
    plain = api.post("/v1/buy_cover", body | {"account": "inv"}, who="investor")
    assert plain.status_code == 200, plain.text
    assert api.service.engine.state.policies["pol-2"].premium == -(-100_000 * 10**6 * 260 * 30 // (10_000 * 365))


def _refused(api: Api, body: dict[str, Any], status: int, who: str = "investor") -> None:
    before = (api.service.engine.state_hash(), len(api.service.engine.state.policies))
    r = api.post("/v1/buy_cover", body, who=who)
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == "quote", r.text
    assert (api.service.engine.state_hash(), len(api.service.engine.state.policies)) == before


def test_buy_cover_with_a_quote_is_refused_naming_quote(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    q = _quote(api).json()
    body = {k: ASK[k] for k in ("pool", "market", "amount", "period_days", "causes")} | {"account": "inv"}
    _refused(api, body | {"quote": "q-nothere"}, 404)
    _refused(api, body | {"quote": q["id"], "amount": "100001"}, 409)  # other terms
    _refused(api, body | {"quote": q["id"], "causes": ["exploit", "bug"]}, 409)
    _refused(api, body | {"quote": q["id"], "account": "lp"}, 403, who="admin")  # another account's quote
    real_now = quote_module.now
    monkeypatch.setattr(quote_module, "now", lambda: q["valid_until"] + 1)
    _refused(api, body | {"quote": q["id"]}, 409)  # expired
    monkeypatch.setattr(quote_module, "now", real_now)
    # the state moves beyond the tolerance (100 bps): the market's TVL grows by 2%
    assert api.post("/v1/supply", {"market": "lend", "account": "lp", "amount": "200000"}).status_code == 200
    _refused(api, body | {"quote": q["id"]}, 409)
    # the pool's assets move beyond it too (a fresh quote, then 2% more capital)
    q2 = _quote(api, idem="fresh").json()
    assert api.post("/v1/deposit", {"layer": "mutual", "account": "nxm-stakers", "amount": "41000"}).status_code == 200
    _refused(api, body | {"quote": q2["id"]}, 409)
    # within the tolerance it is taken (a third quote; 0.5% more supply)
    q3 = _quote(api, idem="third").json()
    assert api.post("/v1/supply", {"market": "lend", "account": "lp", "amount": "50000"}).status_code == 200
    assert api.post("/v1/buy_cover", body | {"quote": q3["id"]}, who="investor").status_code == 200


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"pool": None}, "pool", 422),
        ({"amount": "abc"}, "amount", 422),
        ({"amount": "1.1234567"}, "amount", 422),  # USDC has 6 decimals
        ({"period_days": 0}, "period_days", 422),
        ({"causes": ["meteor"]}, "causes.0", 422),
        ({"causes": []}, "causes", 422),
        ({"paths": 0}, "paths", 422),
        ({"seed": -1}, "seed", 422),
        ({"extra": 1}, "extra", 422),
        ({"pool": "fund"}, "pool", 404),  # not a cover pool
        ({"market": "nowhere"}, "market", 404),
        ({"amount": "5000000"}, "amount", 409),  # beyond the pool's capacity (200% of 2,000,000)
        ({"account": "lp"}, "account", 403),  # an investor quotes only for itself
    ],
)
def test_bad_input_to_post_quotes_is_refused_naming_the_field(
    api: Api, change: dict[str, Any], field: str, status: int
) -> None:
    body = {k: v for k, v in (ASK | change).items() if v is not None}
    r = _quote(api, body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field, r.text


def test_quotes_need_a_profile_and_a_role(tmp_path: Path) -> None:
    a = make_api(f"sqlite:///{tmp_path / 'none.db'}", scenario=LIVE)
    try:
        r = _quote(a)
        assert r.status_code == 409 and r.json()["error"]["field"] == "profile"  # no risk profile yet
        for who in ("staker", "guarantor", "assessor", "oracle", "risk"):
            r = _quote(a, who=who)
            assert r.status_code == 403 and r.json()["error"]["field"] == "role", (who, r.text)
        admin = _quote(a, who="admin")  # an admin names the account
        assert admin.status_code == 422 and admin.json()["error"]["field"] == "account"
    finally:
        a.store.close()


def test_a_quote_survives_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    a = make_api(url, scenario=LIVE)
    assert a.client.put("/v1/risk/profile", json=PROFILE, headers=a.headers("risk")).status_code == 200
    q = _quote(a).json()
    tokens = a.tokens
    a.store.close()
    b = make_api(url, scenario=None)  # a new service on the same store
    b.tokens.update(tokens)
    try:
        assert b.get(f"/v1/quotes/{q['id']}", who="investor").json() == q
        body = {k: ASK[k] for k in ("pool", "market", "amount", "period_days", "causes")}
        r = b.post("/v1/buy_cover", body | {"account": "inv", "quote": q["id"]}, who="investor")
        assert r.status_code == 200, r.text
    finally:
        b.store.close()


def test_the_store_keeps_quotes_exactly(db_url: str) -> None:
    """SQLite and PostgreSQL (migration 0004_quotes) keep a quote's base-unit amounts exactly, past
    2^63 (18-decimal tokens), and an unknown id reads as None."""
    from backstop.store import SqlStore
    from backstop.store.quotes import QuoteRecord

    store = SqlStore(db_url)
    try:
        big = 123_456_789 * 10**18 + 1
        record = QuoteRecord(
            id="q-1",
            key_id="k",
            account="inv",
            pool="mutual",
            market="lend",
            causes="exploit,bug",
            amount=big,
            period_days=30,
            premium=big // 7,
            premium_low=big // 8,
            premium_high=big // 6,
            expected_payout=big // 9,
            expected_payout_se=0.25,
            loading_bps=2500,
            tolerance_bps=100,
            pool_assets=big * 3,
            market_tvl=big * 5,
            paths=2000,
            seed=2**32,
            state_hash="ab" * 32,
            created_at=1_700_000_000,
            valid_until=1_700_000_900,
        )
        store.save_quote(record)
        assert store.get_quote("q-1") == record
        assert store.get_quote("q-2") is None
    finally:
        store.close()
