"""Nexus-style claims through the API: a cover pool with the mutual's options, assessors who
stake and vote with their own keys, the oracle settling; bad values refused naming the field,
with nothing applied (docs/cover-and-claims.md, docs/service.md)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Api, make_api

DAY = 86_400


@pytest.fixture
def api(tmp_path: Any) -> Any:
    a = make_api(f"sqlite:///{tmp_path / 'n.db'}")
    yield a
    a.store.close()


def ok(api: Api, path: str, body: dict[str, Any], who: str = "admin") -> Any:
    r = api.post(path, body, who=who)
    assert r.status_code == 200, (path, r.text)
    return r.json()


def refused(api: Api, path: str, body: dict[str, Any], status: int, field: str, who: str = "admin") -> None:
    before = api.service.state_hash()
    r = api.post(path, body, who=who)
    assert r.status_code == status, (path, r.text)
    got = r.json()["error"]["field"]
    # a layer body's field is named under its kind ("cover_pool.staker_reward_bps")
    assert got == field or got.endswith("." + field), r.text
    assert api.service.state_hash() == before


def mutual(api: Api) -> None:
    """The demo's LUSD market (`troves`) gets a Nexus-style pool; inv supplies nothing there,
    so an investor is covered on the stability pool's market by the scenario's own loss."""
    ok(
        api,
        "/v1/layers",
        {
            "id": "mutual",
            "kind": "cover_pool",
            "asset": "LUSD",
            "premium_bps_per_year": 260,
            "staker_reward_bps": 5000,
            "claim_deposit_bps": 10,
            "grace_seconds": 30 * DAY,
        },
    )
    ok(api, "/v1/deposit", {"layer": "mutual", "account": "cap", "amount": "100000"})


def test_pool_options_are_checked_naming_the_field(api: Api) -> None:
    base = {"id": "m2", "kind": "cover_pool", "asset": "LUSD"}
    refused(api, "/v1/layers", {**base, "staker_reward_bps": 10_001}, 422, "staker_reward_bps")
    refused(api, "/v1/layers", {**base, "claim_deposit_bps": -1}, 422, "claim_deposit_bps")
    refused(api, "/v1/layers", {**base, "voting_seconds": "3 days"}, 422, "voting_seconds")
    g = {"id": "g2", "kind": "guarantor", "asset": "LUSD", "guarantor": "re", "limit": "10"}
    refused(api, "/v1/layers", {**g, "reinstatements": -1}, 422, "reinstatements")
    refused(api, "/v1/layers", {**g, "reinstatement_premium_bps": 100}, 422, "reinstatement_premium_bps")


def test_assessors_stake_vote_and_the_oracle_settles(api: Api) -> None:
    mutual(api)
    # the assessor key stakes for its own account only
    refused(
        api, "/v1/assessor_stake", {"pool": "mutual", "account": "someone", "amount": "5"}, 403, "account", "assessor"
    )
    refused(
        api, "/v1/assessor_stake", {"pool": "mutual", "account": "assessor", "amount": "0"}, 422, "amount", "assessor"
    )
    refused(
        api,
        "/v1/assessor_stake",
        {"pool": "mutual", "account": "assessor", "amount": "1.0000000000000000001"},
        422,
        "amount",
        "assessor",
    )
    ok(api, "/v1/assessor_stake", {"pool": "mutual", "account": "assessor", "amount": "500"}, "assessor")
    ok(api, "/v1/assessor_stake", {"pool": "mutual", "account": "other-assessor", "amount": "100"})
    layers = api.get("/v1/layers").json()
    assert layers["mutual"]["assessment_stake"] == "600" and layers["mutual"]["assessors"] == "2"
    # the investor supplies to the market, buys cover, an exploit hits, the claim is a poll
    market = "troves"
    ok(
        api,
        "/v1/buy_cover",
        {
            "pool": "mutual",
            "account": "inv",
            "market": market,
            "causes": ["exploit"],
            "amount": "1000",
            "period_days": 30,
        },
        "investor",
    )
    # the demo's troves are all liquidated by now: a new one gives the market collateral to lose
    ok(api, "/v1/open", {"market": market, "account": "whale", "collateral": {"ETH": "1"}, "debt": "10"})
    ok(api, "/v1/incident", {"market": market, "asset": "ETH", "amount": "0.01", "cause": "exploit"})
    ok(api, "/v1/file_claim", {"policy": "pol-1", "incident": "inc-1", "loss": "100"}, "investor")
    # a deny cannot open the poll; the assessor votes as itself whatever it names
    refused(api, "/v1/assess_claim", {"claim": "clm-1", "approve": False}, 409, "approve", "assessor")
    ok(api, "/v1/assess_claim", {"claim": "clm-1", "approve": True, "assessor": "someone-else"}, "assessor")
    refused(api, "/v1/assess_claim", {"claim": "clm-1", "approve": True}, 409, "assessor", "assessor")
    # only admin or the oracle settles, and not before the poll end + cooldown
    refused(api, "/v1/settle_claim", {"claim": "clm-1"}, 403, "role", "investor")
    refused(api, "/v1/settle_claim", {"claim": "clm-1"}, 409, "at", "oracle")
    refused(
        api, "/v1/assessor_unstake", {"pool": "mutual", "account": "assessor", "amount": "500"}, 409, "at", "assessor"
    )
    (claim,) = api.get("/v1/claims").json()["items"]
    assert claim["votes"] == [{"assessor": "assessor", "approve": True, "stake": "500"}]
    assert claim["deposit"] == "1" and claim["status"] == "pending"
    # the pool's capital pool took half the premium (1000 × 2.6% × 30/365, rounded up, halved)
    assert "capital_pools" in api.get("/v1/pnl").json()
