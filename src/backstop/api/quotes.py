"""Cover quotes priced by the risk lab (issue 14 item 5; docs/service.md, `POST /v1/quotes`).

Who checks what (docs/decisions.md): the service prices a quote on the live state (exported at
a state hash, with the stored risk profile, `jobs.live_source`) and stores it; a `buy_cover` that
names the quote is checked here against the stored row (the caller's account, the same terms,
not expired on the service's clock), and the quote's terms then travel **in the command**
(`QuoteTerms`: premium, the pool's assets and the market's TVL when quoted, the tolerance). The
engine charges that premium and refuses the cover if the state moved beyond the tolerance, which
it can check from its own state; so replaying the log needs neither the risk lab nor the quotes
table nor a clock.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any

from ..domain.commands import BuyCover, Command, QuoteTerms
from ..domain.errors import CoverError, InvalidConfig, UnknownEntity
from ..domain.layers.cover_pool.exact import CoverPool
from ..domain.money import format_units
from ..engine import Engine
from ..sim.quote import quote_cover
from ..store.base import KeyRecord
from ..store.quotes import QuoteRecord
from .builder import LiveBuilder
from .errors import Conflict, Forbidden
from .jobs import live_source

QUOTE_VALID_SECONDS = 900
"""How long a quote can be bought, on the service's clock (15 minutes: long enough to read and
accept it, short enough that the live state it was priced on is still the book's)."""


def now() -> int:
    """The service's clock (unix seconds); tests move it."""
    return int(time.time())


def quote_id(key: KeyRecord, idempotency_key: str) -> str:
    """The same key and Idempotency-Key name the same quote, so a retried POST prices nothing twice."""
    return "q-" + uuid.uuid5(uuid.NAMESPACE_URL, f"quote/{key.key_id}/{idempotency_key}").hex[:12]


def account_of(key: KeyRecord, asked: str | None) -> str:
    """Whose cover is quoted: a non-admin key's own account (403 naming `account` for another);
    an admin key names it."""
    if key.role == "admin":
        if asked is None:
            raise InvalidConfig("account", "account: an admin key must name the account the cover is for")
        return asked
    if key.account is None:
        raise Forbidden("account", f"account: this {key.role} key has no account to buy cover for")
    if asked is not None and asked != key.account:
        raise Forbidden("account", f"account: this key quotes only for {key.account!r}")
    return key.account


def make_quote(service: Any, key: KeyRecord, qid: str, body: dict[str, Any]) -> QuoteRecord:
    """Validate the body against the live state, price it, store and return the quote."""
    account = account_of(key, body.get("account"))
    with service.lock:
        state = service.engine.state
        pool = state.layers.get(body["pool"])
        if not isinstance(pool, CoverPool):
            raise UnknownEntity("pool", f"pool: {body['pool']!r} is not a cover pool")
        if body["market"] not in state.markets:
            raise UnknownEntity("market", f"market: unknown market {body['market']!r}")
        amount = LiveBuilder(service.engine).units(body["amount"], pool.asset, "amount")
    if service.store.get_risk_profile() is None:
        raise Conflict("profile", "profile: a quote simulates the live state; PUT /v1/risk/profile first")
    start, state_hash = live_source(service)
    causes = tuple(body["causes"])
    q = quote_cover(
        start,
        body["pool"],
        body["market"],
        account,
        amount,
        body["period_days"],
        causes,
        body["paths"],
        body["seed"],
    )
    created = now()
    record = QuoteRecord(
        id=qid,
        key_id=key.key_id,
        account=account,
        pool=body["pool"],
        market=body["market"],
        causes=",".join(causes),
        amount=amount,
        period_days=body["period_days"],
        premium=q.premium,
        premium_low=q.premium_low,
        premium_high=q.premium_high,
        expected_payout=q.expected_payout,
        expected_payout_se=q.expected_payout_se,
        loading_bps=q.loading_bps,
        tolerance_bps=q.tolerance_bps,
        pool_assets=q.pool_assets,
        market_tvl=q.market_tvl,
        paths=body["paths"],
        seed=body["seed"],
        state_hash=state_hash,
        created_at=created,
        valid_until=created + QUOTE_VALID_SECONDS,
    )
    service.store.save_quote(record)
    return record


def public(record: QuoteRecord, state: Any) -> dict[str, Any]:
    """The quote as the API shows it: amounts as whole-token decimal strings of the pool's asset."""
    pool = state.layers.get(record.pool)
    asset = getattr(pool, "asset", None)
    decimals = int(state.assets.get(asset, 0)) if asset else 0

    def units(x: int) -> str:
        return format_units(x, decimals)

    return {
        "id": record.id,
        "account": record.account,
        "pool": record.pool,
        "market": record.market,
        "asset": asset,
        "amount": units(record.amount),
        "period_days": record.period_days,
        "causes": record.causes.split(","),
        "premium": units(record.premium),
        "premium_low": units(record.premium_low),
        "premium_high": units(record.premium_high),
        "expected_payout": units(record.expected_payout),
        "loading_bps": record.loading_bps,
        "paths": record.paths,
        "seed": record.seed,
        "state_hash": record.state_hash,
        "created_at": record.created_at,
        "valid_until": record.valid_until,
        "tolerance_bps": record.tolerance_bps,
    }


def buy_with_quote(engine: Engine, store: Any, payload: dict[str, Any]) -> Command:
    """`buy_cover` naming a quote: the stored quote must be this account's, for these terms, and
    not expired; its terms then travel in the command, which the engine checks against its state."""
    qid = str(payload["quote"])
    cmd = LiveBuilder(engine).command("buy_cover", {k: v for k, v in payload.items() if k != "quote"})
    assert isinstance(cmd, BuyCover)
    record: QuoteRecord | None = store.get_quote(qid)
    if record is None:
        raise UnknownEntity("quote", f"quote: unknown quote {qid!r}")
    if record.account != cmd.account:
        raise Forbidden("quote", f"quote: {qid} is for account {record.account!r}, not {cmd.account!r}")
    asked = {
        "pool": cmd.pool,
        "market": cmd.market,
        "amount": cmd.amount,
        "period_days": cmd.period_seconds / 86_400,
        "causes": sorted(cmd.causes),
    }
    quoted = {
        "pool": record.pool,
        "market": record.market,
        "amount": record.amount,
        "period_days": record.period_days,
        "causes": sorted(record.causes.split(",")),
    }
    differ = [k for k in asked if asked[k] != quoted[k]]
    if differ:
        raise CoverError("quote", f"quote: {qid} was for other terms ({', '.join(differ)} differ)")
    t = now()
    if t > record.valid_until:
        raise CoverError("quote", f"quote: {qid} expired at {record.valid_until} (unix s); it is {t}: ask again")
    terms = QuoteTerms(record.id, record.premium, record.pool_assets, record.market_tvl, record.tolerance_bps)
    return dataclasses.replace(cmd, quote=terms)
