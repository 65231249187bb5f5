"""`GET /v1/me` (docs/service.md): the key, the engine's time, the caller's own stakes with their
value, P&L, APR and withdrawal request, and the guarantor layers it writes.

Numbers from the flagship's story (examples/flagship.yaml, top comment): alice staked 40,000 USDC
in `safety`, which paid 18,000 + 12,600 while bob left with 9,800: she holds the 19,600 left
(share value 0.49, P&L −20,400; APR −20,400 / 40,000 × 365 / 40 days = −465.375%, truncated to
−465.37%). `acme-re` writes `reinsurer`: 50,000 xs 20,000 at 2%/year (1,000 a year), paid
18,504.05 + 50,000, posted 30,000 of collateral and has none left, earned 1,000 × 30/365 = 82.19.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backstop.api.cli import FLAGSHIP
from backstop.api.keys import new_key

from .conftest import Api, make_api


@pytest.fixture(scope="module")
def flag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    api = make_api(f"sqlite:///{tmp_path_factory.mktemp('me') / 'm.db'}", scenario=FLAGSHIP)
    token, record = new_key("guarantor", "acme-re")
    api.store.add_key(record)
    api.tokens["acme-re"] = token
    yield api
    api.store.close()


def test_a_staker_reads_its_stake_pnl_and_apr(flag: Api) -> None:
    me = flag.get("/v1/me", who="staker").json()
    assert (me["role"], me["account"], me["now"]) == ("staker", "alice", 3_456_000)
    assert me["guarantees"] == {} and me["fair_premiums"] == {}
    assert me["stakes"] == {
        "safety": {
            "kind": "staking_pool",
            "can": {"end": False, "stake": True, "request_withdraw": True, "sell_cover": False},
            "asset": "USDC",
            "deposited": "40000",
            "withdrawn": "0",
            "value": "19600",
            "pnl": "-20400",
            "apr": "-465.37%",
            "shares": "40000000000000",
            "exchange_rate": "0.49",
            "mode": "cooldown",
            "cooldown_seconds": 864_000,
            "unstake_window_seconds": 172_800,
            "request": None,
        }
    }
    # the same figures as the P&L of every account that admin and risk read
    assert flag.get("/v1/pnl", who="admin").json()["stakers"]["safety"]["alice"] == {
        k: me["stakes"]["safety"][k] for k in ("deposited", "withdrawn", "value", "pnl", "apr")
    }


def test_a_withdrawal_request_shows_when_it_opens_and_closes(flag: Api) -> None:
    r = flag.post("/v1/request_withdraw", {"layer": "safety", "account": "alice", "amount": "100"}, who="staker")
    assert r.status_code == 200, r.text
    try:
        req = flag.get("/v1/me", who="staker").json()["stakes"]["safety"]["request"]
        # requested at day 40: opens after the 10-day cooldown, closes 2 days later
        assert req["ready_at"] == 3_456_000 + 864_000 and req["expires_at"] == 3_456_000 + 864_000 + 172_800
        assert req["value"] == "100"  # shares rounded up so that they are worth at least the amount
    finally:
        flag.post("/v1/cancel_withdraw", {"layer": "safety", "account": "alice"}, who="staker")
    assert flag.get("/v1/me", who="staker").json()["stakes"]["safety"]["request"] is None


def test_a_guarantor_reads_its_layer(flag: Api) -> None:
    me = flag.get("/v1/me", who="acme-re").json()
    assert me["stakes"] == {}
    assert me["guarantees"]["reinsurer"] == {
        "asset": "USDC",
        "attachment": "20000",
        "limit": "50000",
        "aggregate_limit": None,
        "used_this_year": "68504.051606",
        "limit_left": None,
        "premium_bps_per_year": 200,
        "premium_per_year": "1000",
        "premiums_earned": "82.191781",
        "losses_paid": "68504.051606",
        "collateral_posted": "30000",
        "collateral": "0",
        "lapsed": False,
        "defaulted": False,
    }
    assert me["fair_premiums"] == {}  # no live simulation has run on this book


def test_a_key_without_an_account_and_a_missing_key(flag: Api) -> None:
    me = flag.get("/v1/me", who="admin").json()
    assert me["account"] is None and me["stakes"] == {} and me["guarantees"] == {}
    other = flag.get("/v1/me", who="guarantor").json()  # `reinsurer`: no layer is written by that account
    assert other["guarantees"] == {}
    r = flag.client.get("/v1/me")
    assert r.status_code == 401 and r.json()["error"]["field"] == "authorization"


def test_layers_say_what_a_user_may_do_there(flag: Api) -> None:
    """The dashboard reads capabilities, not kind names (issue 10: kind names only in their home):
    the flagship's staking pool takes requests, its stability pool is left at any time, its cover
    pool sells cover, its socialize layer is the end, its insurance fund takes no stakers."""
    can = {lid: layer["can"] for lid, layer in flag.get("/v1/layers", who="staker").json().items()}
    assert can["safety"] == {"end": False, "stake": True, "request_withdraw": True, "sell_cover": False}
    assert can["sp"] == {"end": False, "stake": True, "request_withdraw": False, "sell_cover": False}
    assert can["cover"] == {"end": False, "stake": True, "request_withdraw": True, "sell_cover": True}
    assert can["rest"]["end"] and not can["fund"]["stake"]
