"""The read side of the service: one account, aggregates and pages, each in time that does not
grow with the number of accounts (docs/service.md, "Reads").

`GET /v1/state` builds the whole state; every other read is served from here, under the
service lock for one page at most:

- one account: its wallet (one ledger row per asset), one `Layer.account_view` per layer, its
  position and supply per market, its policies and claims through owner indexes;
- aggregates: `Layer.totals_view`, a market's totals (no per-account maps);
- pages: a cursor and a limit over an index of keys.

Why indexes kept up to date from the tail: the maps a page walks (a layer's accounts, a
market's positions and suppliers, the ledger, policies, claims) only ever gain keys in a
committed state (a rolled-back command's keys are gone before any read sees them, because reads
and the in-memory apply of a group share the state lock, and a group is out of the engine
while its commit is in flight), and a Python dict keeps insertion order, so the keys
added since the last read are the last `len(map) - seen` keys, read with `reversed`. An index
therefore catches up in O(new keys); anything else (a map replaced by a rebuild, a map that
shrank, a tail that does not join the previous one) rebuilds it from scratch once.

Formatting follows `scenario/report.py` (whole-token decimal strings); tests hold every page
joined up to the same part of `state_json` (tests/service/test_reads.py).
"""

from __future__ import annotations

import base64
import binascii
import json
from bisect import bisect_right, insort
from collections.abc import Callable, Hashable
from itertools import islice
from typing import Any
from weakref import WeakKeyDictionary

from fastapi.exceptions import RequestValidationError

from ..domain.context import Ctx
from ..domain.errors import UnknownEntity
from ..domain.layers.base import Layer
from ..domain.layers.cover_pool import CoverPool
from ..domain.layers.share_vault import ShareVault
from ..domain.layers.stability_pool import StabilityPool
from ..domain.markets.market import Market
from ..domain.money import format_units
from ..engine import Engine
from ..scenario.report import Formatter, _account_json, claim_json, layer_json, loss_json, policy_json

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
SCAN_FACTOR = 4
"""A page that skips rows (zero balances, a filter) looks at most this many keys per row asked
for, then answers with what it found and a cursor to go on: a page is bounded, never O(all)."""

_MISSING = object()


def bad_query(name: str, message: str) -> RequestValidationError:
    """A 422 naming the query parameter, in the same shape as FastAPI's own (`api/errors.py`)."""
    return RequestValidationError([{"loc": ("query", name), "msg": message, "type": "value_error"}])


# -- cursors ------------------------------------------------------------------------------------
def encode_cursor(listing: str, position: Any) -> str:
    """An opaque cursor: the list it belongs to and where the next page starts after."""
    raw = json.dumps([listing, position], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(listing: str, cursor: str | None, kind: type) -> Any:
    """The position a cursor of `listing` holds (None without a cursor); 422 on anything else."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, position = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise bad_query("cursor", "not a cursor this API gave out") from exc
    if name != listing:
        raise bad_query("cursor", f"a cursor of {name!r} used on {listing!r}")
    if not isinstance(position, kind) or isinstance(position, bool):
        raise bad_query("cursor", "not a cursor this API gave out")
    return position


# -- indexes kept up to date from a map's newest keys ---------------------------------------------
class TailReader:
    """The keys a growing dict gained since the last call."""

    __slots__ = ("count", "last", "source")

    def __init__(self) -> None:
        self.source: dict[Any, Any] | None = None
        self.count = 0
        self.last: Any = _MISSING

    def new_keys(self, mapping: dict[Any, Any]) -> tuple[bool, list[Any]]:
        """(start over?, keys): every key when the index must be rebuilt, else the new ones."""
        n = len(mapping)
        if mapping is self.source and n >= self.count:
            added = n - self.count
            tail = list(islice(reversed(mapping), added + 1))
            joins = (tail[added] if len(tail) > added else _MISSING) == self.last
            if joins:
                if added:
                    self.count, self.last = n, tail[0]
                return False, tail[:added][::-1]
        keys = list(mapping)
        self.source, self.count, self.last = mapping, n, (keys[-1] if keys else _MISSING)
        return True, keys


class SortedIndex:
    """Sorted distinct names (`name_of(key)`) of a growing dict's keys: pages by name."""

    __slots__ = ("members", "name_of", "names", "tail")

    def __init__(self, name_of: Callable[[Any], str] = str) -> None:
        self.tail = TailReader()
        self.names: list[str] = []
        self.members: set[str] = set()
        self.name_of = name_of

    def sync(self, mapping: dict[Any, Any]) -> SortedIndex:
        reset, keys = self.tail.new_keys(mapping)
        if reset:
            self.members = {self.name_of(k) for k in keys}
            self.names = sorted(self.members)
            return self
        for key in keys:
            name = self.name_of(key)
            if name not in self.members:
                self.members.add(name)
                insort(self.names, name)
        return self

    def after(self, name: str | None) -> int:
        return 0 if name is None else bisect_right(self.names, name)


class OrderIndex:
    """A growing dict's keys in the order they were added, and grouped by `group_of(value)` (a
    value's group never changes: a policy's owner, a claim's claimant or policy)."""

    __slots__ = ("group_of", "groups", "keys", "tail")

    def __init__(self, group_of: Callable[[Any], Hashable] | None = None) -> None:
        self.tail = TailReader()
        self.keys: list[Any] = []
        self.groups: dict[Hashable, list[Any]] = {}
        self.group_of = group_of

    def sync(self, mapping: dict[Any, Any]) -> OrderIndex:
        reset, keys = self.tail.new_keys(mapping)
        if reset:
            self.keys, self.groups = [], {}
        self.keys.extend(keys)
        if self.group_of is not None:
            for key in keys:
                self.groups.setdefault(self.group_of(mapping[key]), []).append(key)
        return self


class ReadModel:
    """The indexes of one engine (a rebuilt engine gets new ones)."""

    def __init__(self) -> None:
        self.sorted: dict[tuple[str, str], SortedIndex] = {}
        self.policies = OrderIndex(lambda p: p.owner)
        self.claims = OrderIndex(lambda c: c.claimant)
        self.claims_by_policy = OrderIndex(lambda c: c.policy)

    def names(self, name: tuple[str, str], mapping: dict[Any, Any]) -> SortedIndex:
        index = self.sorted.get(name)
        if index is None:
            index = self.sorted[name] = SortedIndex(_first)
        return index.sync(mapping)


def _first(key: Any) -> str:
    return str(key[0]) if isinstance(key, tuple) else str(key)


_MODELS: WeakKeyDictionary[Engine, ReadModel] = WeakKeyDictionary()


def model(engine: Engine) -> ReadModel:
    """The read model of `engine`; call under the service lock."""
    found = _MODELS.get(engine)
    if found is None:
        found = _MODELS[engine] = ReadModel()
    return found


# -- pages ------------------------------------------------------------------------------------------
def page_by_name(
    listing: str,
    index: SortedIndex,
    cursor: str | None,
    limit: int,
    row: Callable[[str], dict[str, Any] | None],
) -> dict[str, Any]:
    """Up to `limit` rows after the cursor, in name order; `row` may skip a name (None)."""
    names = index.names
    i = index.after(decode_cursor(listing, cursor, str))
    items: list[dict[str, Any]] = []
    stop = i + SCAN_FACTOR * limit
    while i < len(names) and len(items) < limit and i < stop:
        found = row(names[i])
        i += 1
        if found is not None:
            items.append(found)
    return {"items": items, "next_cursor": encode_cursor(listing, names[i - 1]) if i < len(names) else None}


def page_by_position(
    listing: str,
    count: int,
    cursor: str | None,
    limit: int,
    row_at: Callable[[int], dict[str, Any]],
) -> dict[str, Any]:
    """Up to `limit` rows of an append-only list of `count` after the cursor's position."""
    start = decode_cursor(listing, cursor, int)
    start = 0 if start is None else start
    if start < 0:
        raise bad_query("cursor", "not a cursor this API gave out")
    end = min(count, start + limit)
    items = [row_at(i) for i in range(start, end)]
    return {"items": items, "next_cursor": encode_cursor(listing, end) if end < count else None}


# -- rows, formatted as scenario/report.py's state_json formats them ------------------------------------
def layer_of(engine: Engine, layer_id: str) -> Layer[Any]:
    layer = engine.state.layers.get(layer_id)
    if layer is None:
        raise UnknownEntity("layer", f"layer: unknown layer {layer_id!r}")
    return layer


def market_of(engine: Engine, market_id: str) -> Market:
    market = engine.state.markets.get(market_id)
    if market is None:
        raise UnknownEntity("market", f"market: unknown market {market_id!r}")
    return market


def layer_totals(f: Formatter, engine: Engine, layer: Layer[Any]) -> dict[str, Any]:
    """`state_json`'s layer without `accounts`, with what a user may do there (`can`), so that a
    client (the dashboard) reads capabilities rather than spelling kind names."""
    out = layer_json(f, layer.totals_view(engine.state))
    del out["accounts"]
    out["can"] = capabilities(layer)
    return out


def capabilities(layer: Layer[Any]) -> dict[str, bool]:
    """`stake`: users deposit for shares or pool gains; `request_withdraw`: leaving takes a request
    (a cooldown or a queue) first; `sell_cover`: the layer sells cover (quotes, `buy_cover`);
    `end`: the waterfall's end (what reaches it is the users' loss, or the market's deficit)."""
    return {
        "end": layer.terminal,
        "stake": isinstance(layer, (ShareVault, StabilityPool)),
        "request_withdraw": isinstance(layer, ShareVault),
        "sell_cover": isinstance(layer, CoverPool),
    }


def market_totals(f: Formatter, market: Market, engine: Engine) -> dict[str, Any]:
    """`state_json`'s market without `suppliers` and `positions`."""
    d = market.debt_asset
    return {
        "kind": market.kind,
        "debt_asset": d,
        "total_debt": f.amt(market.total_debt(), d),
        "cash": f.amt(engine.state.ledger.balance(market.reserve, d), d),
        "supply_assets": f.amt(market.supply_assets, d),
        "bad_debt": f.amt(market.bad_debt_total, d),
        "socialized": f.amt(market.socialized_total, d),
        "unbacked": f.amt(market.unbacked, d),
        "interest": f.amt(market.interest_total, d),
    }


def layer_account_row(f: Formatter, engine: Engine, layer: Layer[Any], account: str) -> dict[str, Any] | None:
    view = layer.account_view(engine.state, account)
    return None if view is None else _account_json(f, view, layer.asset or "")


def position_row(f: Formatter, engine: Engine, market: Market, account: str) -> dict[str, Any] | None:
    pos = market.positions.get(account)
    if pos is None:
        return None
    state = engine.state
    ctx = Ctx(state, state.now, 0)
    pos = market.entire(ctx, account, pos)
    d = market.debt_asset
    health = market.health_bps(ctx, pos) if state.has_prices(market, pos) else None
    return {
        "collateral": f.bag({a: v for a, v in pos.collateral.items() if v}),
        "debt": f.amt(market.debt_of(pos), d),
        "health": None if health is None else format_units(health, 4),
    }


def supply_row(f: Formatter, market: Market, account: str) -> str | None:
    shares = market.supply_shares.get(account, 0)
    return f.amt(market.supply_value(shares), market.debt_asset) if shares else None


def wallet(f: Formatter, engine: Engine, ledger_account: str) -> dict[str, str]:
    """One ledger account's non-zero balances, by asset (O(assets))."""
    balances = engine.state.ledger.balances
    out: dict[str, str] = {}
    for asset in sorted(engine.state.assets):
        amount = balances.get((ledger_account, asset), 0)
        if amount:
            out[asset] = f.amt(amount, asset)
    return out


def policy_row(f: Formatter, engine: Engine, pid: str) -> dict[str, Any]:
    return policy_json(f, engine.state, pid)


def claim_row(f: Formatter, engine: Engine, cid: str) -> dict[str, Any]:
    return claim_json(f, engine.state, cid)


def loss_row(f: Formatter, engine: Engine, index: int) -> dict[str, Any]:
    return loss_json(f, engine.state.losses[index])


# -- the reads ------------------------------------------------------------------------------------
def account(engine: Engine, name: str) -> dict[str, Any]:
    """Everything one account holds, in O(layers + markets + assets + its policies and claims)."""
    state = engine.state
    f = Formatter(engine)
    rm = model(engine)
    layers = {}
    for lid, layer in sorted(state.layers.items()):
        row = layer_account_row(f, engine, layer, name)
        if row is not None:
            layers[lid] = row
    positions = {}
    supplies = {}
    for mid, market in sorted(state.markets.items()):
        pos = position_row(f, engine, market, name)
        if pos is not None:
            positions[mid] = pos
        sup = supply_row(f, market, name)
        if sup is not None:
            supplies[mid] = sup
    policies = rm.policies.sync(state.policies).groups.get(name, [])
    claims = rm.claims.sync(state.claims).groups.get(name, [])
    return {
        "account": name,
        "wallet": wallet(f, engine, f"user:{name}"),
        "layers": layers,
        "positions": positions,
        "supplies": supplies,
        "policies": [policy_row(f, engine, pid) for pid in policies],
        "claims": [claim_row(f, engine, cid) for cid in claims],
    }


def layers(engine: Engine) -> dict[str, Any]:
    f = Formatter(engine)
    return {lid: layer_totals(f, engine, layer) for lid, layer in sorted(engine.state.layers.items())}


def markets(engine: Engine) -> dict[str, Any]:
    f = Formatter(engine)
    return {mid: market_totals(f, m, engine) for mid, m in sorted(engine.state.markets.items())}


def layer_accounts(engine: Engine, layer_id: str, cursor: str | None, limit: int) -> dict[str, Any]:
    layer = layer_of(engine, layer_id)
    f = Formatter(engine)
    index = model(engine).names(("layer", layer_id), layer.account_keys())

    def row(name: str) -> dict[str, Any] | None:
        found = layer_account_row(f, engine, layer, name)
        return None if found is None else {"account": name, **found}

    return page_by_name(f"layers/{layer_id}/accounts", index, cursor, limit, row)


def market_positions(engine: Engine, market_id: str, cursor: str | None, limit: int) -> dict[str, Any]:
    market = market_of(engine, market_id)
    f = Formatter(engine)
    index = model(engine).names(("positions", market_id), market.positions)

    def row(name: str) -> dict[str, Any] | None:
        found = position_row(f, engine, market, name)
        return None if found is None else {"account": name, **found}

    return page_by_name(f"markets/{market_id}/positions", index, cursor, limit, row)


def market_suppliers(engine: Engine, market_id: str, cursor: str | None, limit: int) -> dict[str, Any]:
    market = market_of(engine, market_id)
    f = Formatter(engine)
    index = model(engine).names(("suppliers", market_id), market.supply_shares)

    def row(name: str) -> dict[str, Any] | None:
        found = supply_row(f, market, name)
        return None if found is None else {"account": name, "supply": found}

    return page_by_name(f"markets/{market_id}/suppliers", index, cursor, limit, row)


def ledger(engine: Engine, cursor: str | None, limit: int) -> dict[str, Any]:
    f = Formatter(engine)
    index = model(engine).names(("ledger", ""), engine.state.ledger.balances)

    def row(name: str) -> dict[str, Any] | None:
        balances = wallet(f, engine, name)
        return {"account": name, "balances": balances} if balances else None

    return page_by_name("ledger", index, cursor, limit, row)


def policies(engine: Engine, owner: str | None, cursor: str | None, limit: int) -> dict[str, Any]:
    """Every policy in the order sold, or one owner's."""
    f = Formatter(engine)
    index = model(engine).policies.sync(engine.state.policies)
    keys = index.keys if owner is None else index.groups.get(owner, [])
    listing = "policies" if owner is None else f"policies?owner={owner}"
    return page_by_position(listing, len(keys), cursor, limit, lambda i: policy_row(f, engine, keys[i]))


def claims(engine: Engine, claimant: str | None, cursor: str | None, limit: int) -> dict[str, Any]:
    """Every claim in the order filed, or one claimant's."""
    f = Formatter(engine)
    index = model(engine).claims.sync(engine.state.claims)
    keys = index.keys if claimant is None else index.groups.get(claimant, [])
    listing = "claims" if claimant is None else f"claims?claimant={claimant}"
    return page_by_position(listing, len(keys), cursor, limit, lambda i: claim_row(f, engine, keys[i]))


def losses(engine: Engine, cursor: str | None, limit: int) -> dict[str, Any]:
    """Losses in the order they happened (the list only grows)."""
    f = Formatter(engine)
    return page_by_position("losses", len(engine.state.losses), cursor, limit, lambda i: loss_row(f, engine, i))


def policy(engine: Engine, pid: str) -> dict[str, Any]:
    if pid not in engine.state.policies:
        raise UnknownEntity("policy", f"policy: unknown policy {pid!r}")
    return policy_row(Formatter(engine), engine, pid)


def claim(engine: Engine, cid: str) -> dict[str, Any]:
    if cid not in engine.state.claims:
        raise UnknownEntity("claim", f"claim: unknown claim {cid!r}")
    return claim_row(Formatter(engine), engine, cid)


def claimed_policies(engine: Engine) -> OrderIndex:
    """Claims grouped by the policy they are on (an assessor reads a policy that has a claim)."""
    return model(engine).claims_by_policy.sync(engine.state.claims)
