"""Idempotency-Key (docs/service.md): same key + same body replays the stored response, same key +
another body is 409, keys are scoped by API key."""

from __future__ import annotations

from .conftest import Api

DEPOSIT = {"layer": "sp", "account": "alice", "amount": "5"}


def test_same_key_same_body_applies_once_and_replays_the_answer(api: Api) -> None:
    first = api.post("/v1/deposit", DEPOSIT, who="staker", idem="dep-1")
    assert first.status_code == 200
    events = api.service.engine.next_seq
    again = api.post("/v1/deposit", DEPOSIT, who="staker", idem="dep-1")
    assert again.status_code == 200
    assert again.json() == first.json()
    assert api.service.engine.next_seq == events  # applied once
    assert len(api.store.load_events()) == events


def test_same_key_other_body_is_a_conflict(api: Api) -> None:
    assert api.post("/v1/deposit", DEPOSIT, who="staker", idem="dep-2").status_code == 200
    before = api.service.state_hash()
    r = api.post("/v1/deposit", {**DEPOSIT, "amount": "6"}, who="staker", idem="dep-2")
    assert r.status_code == 409
    assert r.json()["error"]["field"] == "idempotency-key"
    assert api.service.state_hash() == before


def test_keys_are_scoped_by_api_key(api: Api) -> None:
    """Another key's idempotency key is not a replay of its response: it is a new request."""
    a = api.post("/v1/deposit", {"layer": "sp", "account": "bob", "amount": "1"}, who="admin", idem="shared")
    b = api.post("/v1/deposit", DEPOSIT, who="staker", idem="shared")
    assert a.status_code == b.status_code == 200
    assert a.json() != b.json()


def test_a_refused_command_replays_its_error(api: Api) -> None:
    body = {"layer": "sp", "account": "alice", "amount": "999999"}
    first = api.post("/v1/withdraw", body, who="staker", idem="w-1")
    assert first.status_code == 409
    again = api.post("/v1/withdraw", body, who="staker", idem="w-1")
    assert (again.status_code, again.json()) == (first.status_code, first.json())


def test_post_without_idempotency_key_is_refused(api: Api) -> None:
    r = api.client.post("/v1/deposit", json=DEPOSIT, headers={"Authorization": f"Bearer {api.tokens['staker']}"})
    assert r.status_code == 422
    assert r.json()["error"]["field"].lower() == "idempotency-key"
