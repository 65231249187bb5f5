"""Role-scoped reads (issue 13, item 4): every cell of the read matrix of docs/service.md
("Reads and roles"), written out here by hand, on the flagship (investor `inv` owns pol-1 and
filed clm-1; staker `alice` holds safety shares; `whale` has no key).

admin and risk read everything; every key reads the public aggregates and its own account,
policies and claims; other accounts, the per-account lists, the whole ledger, state, P&L and
event log, and other people's policies and claims answer 403; the assessor reads every claim
and the policies claims were filed on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backstop.api.cli import FLAGSHIP
from backstop.api.keys import new_key

from .conftest import ROLE_ACCOUNTS, Api, make_api

ROLES = list(ROLE_ACCOUNTS)  # admin, risk, oracle, assessor, staker, investor, guarantor
ALL = set(ROLES)
SEE_ALL = {"admin", "risk"}

# path -> roles answered 200 (every other role: 403). `{own}` is the caller's own account.
MATRIX: dict[str, set[str]] = {
    "/v1/whoami": ALL,
    "/v1/me": ALL,  # the caller's own stakes and guarantor layers only
    "/v1/layers": ALL,
    "/v1/layers/safety": ALL,
    "/v1/markets": ALL,
    "/v1/markets/lend": ALL,
    "/v1/losses": ALL,
    "/v1/accounts/{own}": ALL,
    "/v1/policies": ALL,  # narrowed to the caller's own unless it sees all (below)
    "/v1/claims": ALL,
    "/v1/accounts/whale": SEE_ALL,
    "/v1/layers/safety/accounts": SEE_ALL,
    "/v1/markets/lend/positions": SEE_ALL,
    "/v1/markets/lend/suppliers": SEE_ALL,
    "/v1/ledger": SEE_ALL,
    "/v1/state": SEE_ALL,
    "/v1/pnl": SEE_ALL,
    "/v1/events": SEE_ALL,
    "/v1/policies?owner=inv": SEE_ALL | {"investor"},
    "/v1/policies/pol-1": SEE_ALL | {"investor", "assessor"},  # pol-1 has a claim to assess
    "/v1/policies/pol-2": SEE_ALL | {"investor"},  # no claim on pol-2
    "/v1/claims?claimant=inv": SEE_ALL | {"investor", "assessor"},
    "/v1/claims/clm-1": SEE_ALL | {"investor", "assessor"},
}
# What the narrowed lists hold for each role.
POLICIES_SEEN = {"admin": ["pol-1", "pol-2"], "risk": ["pol-1", "pol-2"], "investor": ["pol-1", "pol-2"]}
CLAIMS_SEEN = {"admin": ["clm-1"], "risk": ["clm-1"], "investor": ["clm-1"], "assessor": ["clm-1"]}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    api = make_api(f"sqlite:///{tmp_path_factory.mktemp('roles') / 'r.db'}", scenario=FLAGSHIP)
    body = {"pool": "cover", "market": "lend", "causes": ["exploit"], "amount": "1", "period_days": 30}
    r = api.post("/v1/buy_cover", {**body, "account": "inv"}, who="investor")
    assert r.status_code == 200, r.text  # pol-2, inv's, with no claim on it
    yield api
    api.store.close()


def _path(path: str, role: str) -> str:
    return path.replace("{own}", ROLE_ACCOUNTS[role] or "alice")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", list(MATRIX))
def test_read_matrix(shared: Api, path: str, role: str) -> None:
    r = shared.get(_path(path, role), who=role)
    if role in MATRIX[path]:
        assert r.status_code == 200, (path, role, r.text)
    else:
        assert r.status_code == 403, (path, role, r.text)
        err = r.json()["error"]
        assert err["type"] == "Forbidden"
        assert err["field"] in {"role", "account", "owner", "claimant", "policy", "claim"}


@pytest.mark.parametrize("role", ROLES)
def test_narrowed_lists_hold_only_what_the_role_may_see(shared: Api, role: str) -> None:
    policies = [p["id"] for p in shared.get("/v1/policies", who=role).json()["items"]]
    assert policies == POLICIES_SEEN.get(role, [])
    claims = [c["id"] for c in shared.get("/v1/claims", who=role).json()["items"]]
    assert claims == CLAIMS_SEEN.get(role, [])
    own = shared.get(_path("/v1/accounts/{own}", role), who=role).json()
    assert all(p["owner"] == own["account"] for p in own["policies"])
    assert all(c["claimant"] == own["account"] for c in own["claims"])


def test_the_staker_reads_its_own_shares_and_nothing_of_the_investor(shared: Api) -> None:
    mine = shared.get("/v1/accounts/alice", who="staker").json()
    assert "safety" in mine["layers"] and mine["layers"]["safety"]["shares"] != "0"
    for path in ("/v1/accounts/inv", "/v1/policies/pol-1", "/v1/claims/clm-1", "/v1/policies?owner=inv"):
        assert shared.get(path, who="staker").status_code == 403, path


def test_a_key_without_an_account_reads_no_one_s_records(shared: Api) -> None:
    token, record = new_key("staker", None)
    shared.store.add_key(record)
    headers = {"Authorization": f"Bearer {token}"}
    for path in ("/v1/policies", "/v1/claims", "/v1/accounts/alice"):
        r = shared.client.get(path, headers=headers)
        assert r.status_code == 403, (path, r.text)
    assert shared.client.get("/v1/layers", headers=headers).status_code == 200


def test_health_needs_no_key(shared: Any) -> None:
    assert shared.client.get("/v1/health").status_code == 200


# The risk desk's reads (docs/service.md, the endpoint matrix: simulations, sizings, risk): admin
# and risk only. An unknown job answers 404 to them and 403 to everyone else, so a key without
# the role learns nothing, not even whether a job exists.
DESK: dict[str, int] = {
    "/v1/simulations/nope": 404,
    "/v1/simulations/nope/report": 404,
    "/v1/sizings/layers": 200,
    "/v1/sizings/nope": 404,
    "/v1/risk/profile": 404,  # none stored on the flagship
    "/v1/risk/history": 200,
    "/v1/risk/alerts": 200,
}
# Reads with a rule of their own: health needs no key; a quote is read by its owner, admin and
# risk (tests/service/test_quotes.py), so an unknown one is 404 to every key.
OWN_RULE = {"/v1/health", "/v1/quotes/{quote_id}"}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", list(DESK))
def test_desk_reads_are_the_desk_s(shared: Api, path: str, role: str) -> None:
    r = shared.get(path, who=role)
    if role in SEE_ALL:
        assert r.status_code == DESK[path], (path, role, r.text)
    else:
        assert r.status_code == 403, (path, role, r.text)
        assert r.json()["error"]["field"] == "role"


def test_a_finished_live_job_is_read_by_the_desk_only(shared: Api) -> None:
    jobs = shared.client.app.state.backstop.jobs
    from backstop.store.jobs import JobRecord

    jobs.store.save_job(
        JobRecord("done-1", "k", "done", 1.0, '{"paths": 1}', None, result="{}", created_at=0, updated_at=0)
    )
    for role in ROLES:
        code = shared.get("/v1/simulations/done-1", who=role).status_code
        assert code == (200 if role in SEE_ALL else 403), (role, code)


def test_every_get_route_has_a_read_rule_tested_here(shared: Api) -> None:
    """A new GET route must join MATRIX, DESK or OWN_RULE (and docs/service.md's matrix)."""
    import re

    covered = [re.sub(r"\?.*$", "", p).replace("{own}", "alice") for p in [*MATRIX, *DESK]]
    routes = [p for p, ops in shared.client.app.openapi()["paths"].items() if "get" in ops]
    assert len(routes) >= 28
    for route in routes:
        template = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", route) + "$")
        assert route in OWN_RULE or any(template.match(p) for p in covered), f"{route}: no read rule tested"
