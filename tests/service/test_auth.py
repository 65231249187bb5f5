"""Authorization (docs/service.md, issue 6): the role × endpoint matrix, per-object rules, 401, 429.

The expected matrix is written out here by hand (not derived from the app's own table) so a
change to the app's rules shows up as a failing row.
"""

from __future__ import annotations

import pytest

from .conftest import ROLE_ACCOUNTS, Api, make_api

ROLES = list(ROLE_ACCOUNTS)
OWN = {"staker", "guarantor", "investor"}
# endpoint -> roles (besides admin) that may call it, and a body acting for the caller's account
MATRIX: dict[str, tuple[set[str], dict[str, object]]] = {
    "/v1/deposit": (OWN, {"layer": "sp", "amount": "1"}),
    "/v1/request_withdraw": (OWN, {"layer": "sp", "amount": "1"}),
    "/v1/cancel_withdraw": (OWN, {"layer": "sp"}),
    "/v1/withdraw": (OWN, {"layer": "sp", "amount": "1"}),
    "/v1/supply": ({"investor"}, {"market": "troves", "amount": "1"}),
    "/v1/withdraw_supply": ({"investor"}, {"market": "troves", "amount": "1"}),
    "/v1/open": ({"investor"}, {"market": "troves", "collateral": {"ETH": "1"}, "debt": "10"}),
    "/v1/repay": ({"investor"}, {"market": "troves", "amount": "1"}),
    "/v1/add_collateral": ({"investor"}, {"market": "troves", "collateral": {"ETH": "1"}}),
    "/v1/liquidate": ({"risk", "staker", "investor", "guarantor"}, {"market": "troves", "account": "t2"}),
    "/v1/incident": (set(), {"market": "troves", "asset": "ETH", "amount": "1", "cause": "exploit"}),
    "/v1/reward": (set(), {"layer": "sp", "amount": "1"}),
    "/v1/advance": ({"oracle"}, {"at": 10**6}),
    "/v1/buy_cover": (
        {"investor"},
        {"pool": "sp", "market": "troves", "causes": ["exploit"], "amount": "1", "period_days": 30},
    ),
    "/v1/file_claim": ({"investor"}, {"policy": "pol-1", "incident": "inc-1", "loss": "1"}),
    "/v1/assess_claim": ({"assessor"}, {"claim": "clm-1", "approve": True}),
    "/v1/assessor_stake": ({"assessor"}, {"pool": "sp", "amount": "1"}),
    "/v1/assessor_unstake": ({"assessor"}, {"pool": "sp", "amount": "1"}),
    "/v1/settle_claim": ({"oracle"}, {"claim": "clm-1"}),
    "/v1/guarantor_defaults": (set(), {"layer": "sp"}),
    "/v1/claim_collateral": ({"investor"}, {"market": "troves"}),
    "/v1/settle_slashing": (set(), {"layer": "sp"}),
    "/v1/set_status": (set(), {"layer": "sp", "status": "frozen"}),
    "/v1/claim_rewards": (OWN, {"layer": "sp"}),
    "/v1/cover_deficit": (set(), {"market": "troves", "layer": "sp", "amount": "1"}),
    "/v1/fill_auction": ({"risk", "staker", "investor", "guarantor"}, {"layer": "sp", "block": 1}),
    "/v1/prices": ({"oracle"}, {"asset": "ETH", "price": "150"}),
    "/v1/assets": (set(), {"symbol": "NEW", "decimals": 6}),
    "/v1/layers": (set(), {"id": "fund2", "kind": "insurance_fund", "asset": "LUSD"}),
    "/v1/simulations": ({"risk"}, {"paths": 10, "horizon_days": 5}),
    "/v1/sizings": ({"risk"}, {"size": {"layer": "sp", "target_p": 0.01}, "paths": 10}),
    "/v1/quotes": (
        {"investor"},
        {"pool": "sp", "market": "troves", "causes": ["exploit"], "amount": "1", "period_days": 30, "paths": 10},
    ),
}
ACCOUNT_BOUND = {
    "/v1/deposit",
    "/v1/request_withdraw",
    "/v1/cancel_withdraw",
    "/v1/withdraw",
    "/v1/supply",
    "/v1/withdraw_supply",
    "/v1/open",
    "/v1/repay",
    "/v1/add_collateral",
    "/v1/buy_cover",
    "/v1/assessor_stake",
    "/v1/assessor_unstake",
    "/v1/claim_collateral",
    "/v1/claim_rewards",
    "/v1/fill_auction",
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Api:
    return make_api(f"sqlite:///{tmp_path_factory.mktemp('auth') / 'a.db'}")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", sorted(MATRIX))
def test_role_matrix(shared: Api, path: str, role: str) -> None:
    allowed, body = MATRIX[path]
    body = dict(body)
    if path in ACCOUNT_BOUND:
        body["account"] = ROLE_ACCOUNTS[role] or "admin-acting"
    r = shared.post(path, body, who=role)
    if role == "admin" or role in allowed:
        # allowed by role: whatever the engine then says, it is not the role check refusing
        assert not (r.status_code == 403 and r.json()["error"]["field"] == "role"), (path, role, r.text)
    else:
        assert r.status_code == 403, (path, role, r.text)
        assert r.json()["error"]["field"] == "role"


def test_a_staker_moves_only_its_own_shares(shared: Api) -> None:
    before = shared.service.state_hash()
    r = shared.post("/v1/withdraw", {"layer": "sp", "account": "bob", "amount": "1"}, who="staker")
    assert r.status_code == 403 and r.json()["error"]["field"] == "account"
    assert shared.service.state_hash() == before


@pytest.mark.parametrize(
    "header",
    [None, "Bearer nonsense", "Bearer bsk_abc_def", "Basic dXNlcjpwYXNz"],
    ids=["none", "malformed", "unknown", "basic"],
)
def test_missing_or_wrong_keys_get_401(shared: Api, header: str | None) -> None:
    headers = {"Idempotency-Key": "x"} | ({"Authorization": header} if header else {})
    r = shared.client.post("/v1/deposit", json={"layer": "sp", "account": "alice", "amount": "1"}, headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["type"] == "Unauthorized"


def test_a_right_id_with_a_wrong_secret_is_401(shared: Api) -> None:
    token = shared.tokens["admin"]
    forged = token[: token.rindex("_") + 1] + "A" * 43
    r = shared.client.get("/v1/state", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401


def test_keys_are_cached_but_a_key_made_later_works_and_a_wrong_secret_never_does(shared: Api) -> None:
    """The app caches key records after their first use (no database read per request); a key
    created afterwards (as `backstop keys create` does, from another process) is still found,
    and a cached key's id with a forged secret is still refused."""
    from backstop.api.keys import new_key

    token = shared.tokens["admin"]
    assert shared.client.get("/v1/whoami", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    forged = token[: token.rindex("_") + 1] + "B" * 43
    assert shared.client.get("/v1/whoami", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    later, record = new_key("risk", "late")
    shared.store.add_key(record)
    r = shared.client.get("/v1/whoami", headers={"Authorization": f"Bearer {later}"})
    assert r.status_code == 200 and r.json()["role"] == "risk"


def test_rate_limit_answers_429_with_retry_after(tmp_path: object) -> None:
    api = make_api(f"sqlite:///{tmp_path}/r.db", rate_per_second=0.5, burst=3)  # type: ignore[operator]
    codes = [api.get("/v1/whoami", who="risk").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200]
    assert codes[3] == 429
    r = api.get("/v1/whoami", who="risk")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert api.get("/v1/whoami", who="oracle").status_code == 200  # per key
    api.store.close()
