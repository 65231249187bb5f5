"""Reads (issue 13, item 3): one account, aggregates and paged lists, each equal to the matching
part of `state_json` (today's JSON, scenario/report.py), and bad paging input refused with a 422
naming the field (docs/service.md, "Reads and roles")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backstop.api.cli import FLAGSHIP
from backstop.api.readmodel import OrderIndex, SortedIndex, TailReader, encode_cursor
from backstop.scenario.report import state_json

from .conftest import Api, make_api


@pytest.fixture(scope="module")
def flagship(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    api = make_api(f"sqlite:///{tmp_path_factory.mktemp('reads') / 'r.db'}", scenario=FLAGSHIP)
    yield api
    api.store.close()


def full(api: Api) -> dict[str, Any]:
    return api.service.read(state_json)


def pages(api: Api, path: str, limit: int) -> list[dict[str, Any]]:
    """Every row of a paged list, following `next_cursor`; each page has at most `limit` rows."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(10_000):
        sep = "&" if "?" in path else "?"
        r = api.get(f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= limit
        rows.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return rows
    raise AssertionError("paging did not end")


def keyed(rows: list[dict[str, Any]], key: str = "account") -> dict[str, Any]:
    out = {}
    for row in rows:
        row = dict(row)
        out[row.pop(key)] = row
    assert len(out) == len(rows), "a row came twice"
    return out


@pytest.mark.parametrize("limit", [1, 2, 1000])
def test_every_list_joined_up_is_the_state_json_part(flagship: Api, limit: int) -> None:
    want = full(flagship)
    assert want["policies"] and want["claims"] and want["losses"] and want["ledger"]  # the cases are not empty
    for lid, layer in want["layers"].items():
        assert keyed(pages(flagship, f"/v1/layers/{lid}/accounts", limit)) == layer["accounts"], lid
    for mid, market in want["markets"].items():
        assert keyed(pages(flagship, f"/v1/markets/{mid}/positions", limit)) == market["positions"], mid
        got = {a: r["supply"] for a, r in keyed(pages(flagship, f"/v1/markets/{mid}/suppliers", limit)).items()}
        assert got == market["suppliers"], mid
    assert {a: r["balances"] for a, r in keyed(pages(flagship, "/v1/ledger", limit)).items()} == want["ledger"]
    # policies, claims and losses come in the order they were made; state_json sorts by id
    by_id = lambda rows: sorted(rows, key=lambda r: r["id"])  # noqa: E731
    assert by_id(pages(flagship, "/v1/policies", limit)) == by_id(want["policies"])
    assert by_id(pages(flagship, "/v1/claims", limit)) == by_id(want["claims"])
    assert pages(flagship, "/v1/losses", limit) == want["losses"]


def test_aggregates_are_the_state_json_parts_without_per_account_maps(flagship: Api) -> None:
    want = full(flagship)
    layers = flagship.get("/v1/layers").json()
    # the aggregate adds what a user may do there (`can`, readmodel.capabilities)
    assert {lid: {k: v for k, v in x.items() if k != "can"} for lid, x in layers.items()} == {
        lid: {k: v for k, v in x.items() if k != "accounts"} for lid, x in want["layers"].items()
    }
    assert all(set(x["can"]) == {"end", "stake", "request_withdraw", "sell_cover"} for x in layers.values())
    markets = flagship.get("/v1/markets").json()
    assert markets == {
        mid: {k: v for k, v in m.items() if k not in ("positions", "suppliers")} for mid, m in want["markets"].items()
    }
    for lid in want["layers"]:
        assert flagship.get(f"/v1/layers/{lid}").json() == layers[lid]
    for mid in want["markets"]:
        assert flagship.get(f"/v1/markets/{mid}").json() == markets[mid]


def old_account_view(full: dict[str, Any], account: str) -> dict[str, Any]:
    """What `GET /v1/accounts/{a}` answered before it stopped building the whole state."""
    markets = full["markets"]
    return {
        "account": account,
        "wallet": full["ledger"].get(f"user:{account}", {}),
        "layers": {lid: v["accounts"][account] for lid, v in full["layers"].items() if account in v["accounts"]},
        "positions": {mid: m["positions"][account] for mid, m in markets.items() if account in m["positions"]},
        "supplies": {mid: m["suppliers"][account] for mid, m in markets.items() if account in m["suppliers"]},
        "policies": [p for p in full["policies"] if p["owner"] == account],
    }


def test_one_account_is_what_the_whole_state_says_of_it(flagship: Api) -> None:
    want = full(flagship)
    names = {a.split(":", 1)[1] for a in want["ledger"] if a.startswith("user:")}
    names |= {a for x in want["layers"].values() for a in x["accounts"]}
    names |= {a for m in want["markets"].values() for a in (*m["positions"], *m["suppliers"])}
    assert {"alice", "inv", "whale", "erin", "dave"} <= names
    for name in sorted(names | {"nobody"}):
        got = flagship.get(f"/v1/accounts/{name}").json()
        claims = got.pop("claims")
        assert got == old_account_view(want, name), name
        assert claims == [c for c in want["claims"] if c["claimant"] == name]


def test_new_accounts_show_up_in_order_in_the_next_page(tmp_path: Path) -> None:
    """The indexes catch up from the maps' newest keys: accounts added after a first read are
    listed, in name order, and the account read sees them."""
    api = make_api(f"sqlite:///{tmp_path / 'n.db'}", scenario=FLAGSHIP)
    first = keyed(pages(api, "/v1/layers/safety/accounts", 1))
    assert set(first) == {"alice", "bob"}
    api.post("/v1/assets", {"symbol": "XTRA", "decimals": 6})
    for name in ("zed", "amy", "bo"):
        api.post("/v1/deposit", {"layer": "safety", "account": name, "amount": "0"})  # refused: no funds
    assert keyed(pages(api, "/v1/layers/safety/accounts", 1)) == first  # refusals add nobody
    want = full(api)
    funded = [a.split(":", 1)[1] for a in want["ledger"] if a.startswith("user:")]
    rich = [a for a in funded if "USDC" in want["ledger"][f"user:{a}"] and a not in first][:2]
    assert len(rich) == 2, want["ledger"]  # safety takes USDC
    for name in rich:
        r = api.post("/v1/deposit", {"layer": "safety", "account": name, "amount": "1"})
        assert r.status_code == 200, r.text
    rows = pages(api, "/v1/layers/safety/accounts", 2)
    assert [r["account"] for r in rows] == sorted({*first, *rich})
    assert keyed(rows) == full(api)["layers"]["safety"]["accounts"]
    api.store.close()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=-5", "limit"),
        ("limit=ten", "limit"),
        ("cursor=not*base64", "cursor"),
        ("cursor=AAAA", "cursor"),
        ("cursor=" + "A" * 1001, "cursor"),
        ("cursor=" + encode_cursor("ledger", "a"), "cursor"),  # another list's cursor
        ("cursor=" + encode_cursor("losses", "a"), "cursor"),  # a name where a position belongs
        ("cursor=" + encode_cursor("losses", -3), "cursor"),
        ("cursor=" + encode_cursor("losses", True), "cursor"),
    ],
)
def test_bad_paging_input_is_a_422_naming_the_field(flagship: Api, query: str, field: str) -> None:
    r = flagship.get(f"/v1/losses?{query}")
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["field"] == field and err["message"].startswith(f"{field}: ")


@pytest.mark.parametrize(
    "path", ["/v1/ledger", "/v1/policies", "/v1/claims", "/v1/layers/safety/accounts", "/v1/markets/lend/positions"]
)
def test_every_paged_list_checks_its_cursor_and_limit(flagship: Api, path: str) -> None:
    assert flagship.get(f"{path}?limit=1001").json()["error"]["field"] == "limit"
    r = flagship.get(f"{path}?cursor=" + encode_cursor("elsewhere", 0))
    assert r.status_code == 422 and r.json()["error"]["field"] == "cursor"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/layers/nope", "layer"),
        ("/v1/layers/nope/accounts", "layer"),
        ("/v1/markets/nope", "market"),
        ("/v1/markets/nope/positions", "market"),
        ("/v1/markets/nope/suppliers", "market"),
        ("/v1/policies/pol-999", "policy"),
        ("/v1/claims/clm-999", "claim"),
    ],
)
def test_unknown_ids_are_404_naming_the_field(flagship: Api, path: str, field: str) -> None:
    r = flagship.get(path)
    assert r.status_code == 404 and r.json()["error"]["field"] == field, r.text


def test_the_last_page_has_no_cursor_and_a_page_past_the_end_is_empty(flagship: Api) -> None:
    n = len(full(flagship)["losses"])
    r = flagship.get(f"/v1/losses?limit={n}").json()
    assert len(r["items"]) == n and r["next_cursor"] is None
    r = flagship.get("/v1/losses?cursor=" + encode_cursor("losses", n + 5)).json()
    assert r == {"items": [], "next_cursor": None}


# -- the indexes, on plain dicts ------------------------------------------------------------------------
def test_tail_reader_gives_the_new_keys_or_starts_over() -> None:
    t = TailReader()
    d = {"b": 1, "a": 2}
    assert t.new_keys(d) == (True, ["b", "a"])
    assert t.new_keys(d) == (False, [])
    d["c"] = 0
    d["a"] = 5  # a changed value is not a new key
    assert t.new_keys(d) == (False, ["c"])
    del d["b"]  # a map that shrank: start over
    assert t.new_keys(d) == (True, ["a", "c"])
    del d["c"]
    d["x"] = 1  # same size, another last key: start over
    assert t.new_keys(d) == (True, ["a", "x"])
    del d["a"]
    d["y"] = 1
    d["z"] = 1  # grew, but the tail does not join the last key seen: start over
    assert t.new_keys(d) == (True, ["x", "y", "z"])
    assert t.new_keys(dict(d)) == (True, ["x", "y", "z"])  # another map (a rebuilt engine)


def test_sorted_and_order_indexes_follow_a_growing_map() -> None:
    d: dict[Any, int] = {("m", "A"): 1, ("b", "A"): 1, ("m", "B"): 1}
    s = SortedIndex(lambda k: k[0])
    assert s.sync(d).names == ["b", "m"]
    d[("c", "A")] = 1
    d[("a", "B")] = 1
    assert s.sync(d).names == ["a", "b", "c", "m"]
    assert s.after("b") == 2 and s.after(None) == 0 and s.after("zz") == 4

    class Row:
        def __init__(self, owner: str) -> None:
            self.owner = owner

    rows = {"p1": Row("x"), "p2": Row("y")}
    o = OrderIndex(lambda r: r.owner)
    o.sync(rows)
    rows["p3"] = Row("x")
    o.sync(rows)
    assert o.keys == ["p1", "p2", "p3"] and o.groups == {"x": ["p1", "p3"], "y": ["p2"]}


def test_a_failed_group_commit_and_a_rebuild_leave_the_lists_right(tmp_path: Path, monkeypatch: Any) -> None:
    """A group whose commit fails is undone in the engine before any read can see it (reads share
    the service lock), so its new account never reaches an index; a rebuilt engine gets new
    indexes. Either way the pages equal the whole state."""
    api = make_api(f"sqlite:///{tmp_path / 'f.db'}", scenario=FLAGSHIP)
    assert [r["account"] for r in pages(api, "/v1/layers/safety/accounts", 10)] == ["alice", "bob"]
    real_append = api.store.append

    def failing(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(api.store, "append", failing)
    r = api.post("/v1/deposit", {"layer": "safety", "account": "whale", "amount": "5"})
    assert r.status_code == 503, r.text
    assert [r["account"] for r in pages(api, "/v1/layers/safety/accounts", 10)] == ["alice", "bob"]
    monkeypatch.setattr(api.store, "append", real_append)
    assert api.post("/v1/deposit", {"layer": "safety", "account": "inv", "amount": "5"}).status_code == 200
    rows = pages(api, "/v1/layers/safety/accounts", 1)
    assert [r["account"] for r in rows] == ["alice", "bob", "inv"]
    assert keyed(rows) == full(api)["layers"]["safety"]["accounts"]
    api.service.rebuild()
    assert keyed(pages(api, "/v1/layers/safety/accounts", 2)) == full(api)["layers"]["safety"]["accounts"]
    assert keyed(pages(api, "/v1/ledger", 3)) == {a: {"balances": b} for a, b in full(api)["ledger"].items()}
    api.store.close()
