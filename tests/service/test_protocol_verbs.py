"""The protocol verbs of the staking pool and the deficit end through the API: bodies refused
with a 4xx naming the field, nothing applied; `settle_slashing` is admin only (stk v1.5
`settleSlashing` is the slashing admin's), and so is `set_status` (Blend's pool admin)."""

from __future__ import annotations

from .conftest import Api


def _refused(api: Api, path: str, body: dict[str, object], status: int, field: str, who: str = "admin") -> None:
    before = api.service.state_hash()
    r = api.post(path, body, who=who)
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"].split(".")[-1] == field, r.text  # a layer body names `<kind>.<field>`
    assert api.service.state_hash() == before


def test_staking_pool_options_through_the_api(sqlite_api: Api) -> None:
    api = sqlite_api
    _refused(
        api,
        "/v1/layers",
        {"id": "sm", "kind": "staking_pool", "asset": "LUSD", "post_slash_lock": "maybe"},
        422,
        "post_slash_lock",
    )
    _refused(
        api,
        "/v1/layers",
        {"id": "sm", "kind": "staking_pool", "asset": "LUSD", "liquidation_fee_bps": 20_000},
        422,
        "liquidation_fee_bps",
    )
    _refused(
        api,
        "/v1/layers",
        {"id": "sm", "kind": "staking_pool", "asset": "LUSD", "liquidation_fee_bps": 100},
        422,
        "liquidation_fee_to",
    )
    _refused(
        api, "/v1/layers", {"id": "sm", "kind": "staking_pool", "asset": "LUSD", "rewards": "sometimes"}, 422, "rewards"
    )
    r = api.post("/v1/layers", {"id": "sm", "kind": "staking_pool", "asset": "LUSD", "post_slash_lock": True})
    assert r.status_code == 200, r.text
    _refused(api, "/v1/settle_slashing", {"layer": "sm"}, 403, "role", who="staker")
    assert api.post("/v1/settle_slashing", {"layer": "sm"}).status_code == 200
    _refused(api, "/v1/settle_slashing", {"layer": "sp"}, 403, "layer")  # no post-slash period there
    _refused(api, "/v1/fill_auction", {"layer": "sm", "account": "k", "block": -1}, 422, "block")
    _refused(api, "/v1/fill_auction", {"layer": "sm", "account": "k", "block": 5}, 403, "layer")
    _refused(api, "/v1/fill_auction", {"layer": "sm", "account": "k", "block": 5, "percent": 0}, 422, "percent")
    _refused(api, "/v1/fill_auction", {"layer": "sm", "account": "k", "block": 5, "percent": 101}, 422, "percent")
    _refused(api, "/v1/claim_rewards", {"layer": "sm", "account": "alice"}, 403, "layer", who="staker")
    _refused(api, "/v1/cover_deficit", {"market": "troves", "layer": "sm", "amount": "1"}, 403, "market")
    _refused(api, "/v1/cover_deficit", {"market": "troves", "layer": "sm", "amount": "-1"}, 422, "amount")


def test_blend_set_status_through_the_api(sqlite_api: Api) -> None:
    """`set_status`: admin only; a status Blend's admin may not set is a 422 naming `status`; a pool
    without Blend's thresholds a 403 naming `layer`; a status the backstop does not allow (80%
    queued, status.rs `test_set_pool_status_admin_on_ice_blocks_with_too_high_q4w`) a 403 naming
    `status`; then an allowed one applies."""
    api = sqlite_api
    body = {"id": "bs", "kind": "staking_pool", "asset": "LUSD", "mode": "queue", "queue_seconds": 86_400}
    r = api.post("/v1/layers", {**body, "freeze_borrow_queued_bps": 3000, "freeze_supply_queued_bps": 6000})
    assert r.status_code == 200, r.text
    assert api.post("/v1/deposit", {"layer": "bs", "account": "alice", "amount": "100"}).status_code == 200
    _refused(api, "/v1/set_status", {"layer": "bs", "status": "frozen"}, 403, "role", who="staker")
    _refused(api, "/v1/set_status", {"layer": "bs", "status": "open"}, 422, "status")
    _refused(api, "/v1/set_status", {"layer": "sp", "status": "frozen"}, 403, "layer")
    r = api.post("/v1/request_withdraw", {"layer": "bs", "account": "alice", "amount": "80"})
    assert r.status_code == 200, r.text
    _refused(api, "/v1/set_status", {"layer": "bs", "status": "on_ice"}, 403, "status")
    r = api.post("/v1/set_status", {"layer": "bs", "status": "frozen"})
    assert r.status_code == 200, r.text
    assert [ev["kind"] for ev in r.json()["events"]][-1] == "pool_status_set"
