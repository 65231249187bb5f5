"""Every endpoint refuses bad input with the right 4xx and the JSON error, and changes nothing
(issue 6, "Bad input")."""

from __future__ import annotations

import pytest

from .conftest import Api, make_api

# endpoint -> a valid-looking body with an unknown id in it, and the amount field (if any)
ENDPOINTS: dict[str, tuple[dict[str, object], str | None]] = {
    "/v1/deposit": ({"layer": "nope", "account": "a", "amount": "1"}, "amount"),
    "/v1/request_withdraw": ({"layer": "nope", "account": "a", "amount": "1"}, "amount"),
    "/v1/withdraw": ({"layer": "nope", "account": "a", "amount": "1"}, "amount"),
    "/v1/cancel_withdraw": ({"layer": "nope", "account": "a"}, None),
    "/v1/supply": ({"market": "nope", "account": "a", "amount": "1"}, "amount"),
    "/v1/withdraw_supply": ({"market": "nope", "account": "a", "amount": "1"}, "amount"),
    "/v1/open": ({"market": "nope", "account": "a", "debt": "1"}, "debt"),
    "/v1/repay": ({"market": "nope", "account": "a", "amount": "1"}, "amount"),
    "/v1/add_collateral": ({"market": "nope", "account": "a", "collateral": {"ETH": "1"}}, None),
    "/v1/liquidate": ({"market": "nope", "account": "a"}, None),
    "/v1/incident": ({"market": "nope", "asset": "LUSD", "amount": "1", "cause": "exploit"}, "amount"),
    "/v1/reward": ({"layer": "nope", "amount": "1"}, "amount"),
    "/v1/buy_cover": (
        {"pool": "nope", "account": "a", "market": "troves", "causes": ["bug"], "amount": "1", "period_days": 1},
        "amount",
    ),
    "/v1/file_claim": ({"policy": "nope", "incident": "inc-1", "loss": "1"}, "loss"),
    "/v1/assess_claim": ({"claim": "nope", "approve": True}, None),
    "/v1/assessor_stake": ({"pool": "nope", "account": "a", "amount": "1"}, "amount"),
    "/v1/assessor_unstake": ({"pool": "nope", "account": "a", "amount": "1"}, "amount"),
    "/v1/settle_claim": ({"claim": "nope"}, None),
    "/v1/guarantor_defaults": ({"layer": "nope"}, None),
    "/v1/claim_collateral": ({"market": "nope", "account": "a"}, None),
    "/v1/settle_slashing": ({"layer": "nope"}, None),
    "/v1/set_status": ({"layer": "nope", "status": "frozen"}, None),
    "/v1/claim_rewards": ({"layer": "nope", "account": "a"}, None),
    "/v1/cover_deficit": ({"market": "nope", "layer": "sp", "amount": "1"}, "amount"),
    "/v1/fill_auction": ({"layer": "nope", "account": "a", "block": 1}, None),
    "/v1/prices": ({"asset": "NOPE", "price": "1"}, "price"),
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Api:
    return make_api(f"sqlite:///{tmp_path_factory.mktemp('bad') / 'b.db'}")


def _unchanged(api: Api, path: str, body: object, status: int, field: str | None = None) -> None:
    before = api.service.state_hash()
    r = api.post(path, body)
    assert r.status_code == status, (path, body, r.text)
    err = r.json()["error"]
    assert set(err) == {"type", "message", "field"} and err["message"]
    if field is not None:
        assert err["field"] == field, err
    assert api.service.state_hash() == before


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_missing_fields(shared: Api, path: str) -> None:
    _unchanged(shared, path, {}, 422)


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_wrong_types(shared: Api, path: str) -> None:
    body, _ = ENDPOINTS[path]
    first = next(iter(body))
    _unchanged(shared, path, {**body, first: {"not": "a name"}}, 422, first)


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_unknown_ids(shared: Api, path: str) -> None:
    body, _ = ENDPOINTS[path]
    _unchanged(shared, path, body, 404)


@pytest.mark.parametrize("path", sorted(p for p, (_, f) in ENDPOINTS.items() if f))
@pytest.mark.parametrize("amount", ["-1", "1e5", "0x10", "", "1.", "NaN"])
def test_malformed_or_negative_amounts(shared: Api, path: str, amount: str) -> None:
    body, field = ENDPOINTS[path]
    _unchanged(shared, path, {**body, str(field): amount}, 422, field)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/deposit", {"layer": "sp", "account": "a", "amount": "1.0000000000000000001"}, "amount"),
        ("/v1/supply", {"market": "troves", "account": "a", "amount": "0"}, "amount"),
        ("/v1/deposit", {"layer": "sp", "account": "a", "amount": "0"}, "amount"),
        ("/v1/prices", {"asset": "ETH", "price": "1.0000000000000000001"}, "price"),
        ("/v1/advance", {"at": 0}, "at"),
    ],
    ids=["too-many-decimals", "zero-supply", "zero-deposit", "price-decimals", "time-backwards"],
)
def test_engine_level_refusals(shared: Api, path: str, body: dict[str, object], field: str) -> None:
    shared.post("/v1/advance", {"at": 1000})
    before = shared.service.state_hash()
    r = shared.post(path, body)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["field"] == field
    assert shared.service.state_hash() == before


def test_unknown_fields_are_refused(shared: Api) -> None:
    _unchanged(shared, "/v1/deposit", {"layer": "sp", "account": "a", "amount": "1", "extra": 1}, 422, "extra")


def test_oversized_and_deeply_nested_bodies(shared: Api) -> None:
    before = shared.service.state_hash()
    headers = shared.headers("admin") | {"Content-Type": "application/json"}
    big = shared.client.post("/v1/deposit", content=b'{"layer": "' + b"x" * 200_000 + b'"}', headers=headers)
    assert big.status_code == 413 and big.json()["error"]["field"] == "body"
    deep = shared.client.post("/v1/deposit", content=b"[" * 5000 + b"]" * 5000, headers=headers)
    assert deep.status_code == 422 and "nested" in deep.json()["error"]["message"]
    assert shared.service.state_hash() == before


def test_not_json_at_all(shared: Api) -> None:
    headers = shared.headers("admin") | {"Content-Type": "application/json"}
    r = shared.client.post("/v1/deposit", content=b"{not json", headers=headers)
    assert r.status_code == 422
    assert "error" in r.json()


def test_postgresql_refuses_the_same_way(pg_url: str) -> None:
    api = make_api(pg_url)
    try:
        _unchanged(api, "/v1/deposit", {"layer": "nope", "account": "a", "amount": "1"}, 404, "layer")
        _unchanged(api, "/v1/deposit", {"layer": "sp", "account": "a", "amount": "1.0000000000000000001"}, 422)
    finally:
        api.store.close()
