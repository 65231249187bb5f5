"""`GET` routes: health, the caller's key, one account, aggregates, and paged lists.

Every read runs under the service lock (`Service.read`), so it sees the engine between two
group commits, and holds it for one page at most: one account, the aggregates and each page
cost O(what they return), not O(all accounts) (`api/readmodel.py`). `GET /v1/state`,
`/v1/pnl` and `/v1/events` are the exceptions, for the roles that see everything.

Who reads what is the role × endpoint matrix of docs/service.md ("Reads and roles"):
admin and risk read everything; every key reads the public aggregates (layers, markets,
losses) and its own account, policies and claims; an assessor reads every claim (it must
assess them) and the policies claims were filed on.
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from ...scenario.report import Formatter, pnl_json, state_json
from ...store.base import KeyRecord
from .. import readmodel as rm
from .. import schemas as s
from ..errors import Forbidden
from .deps import SEES_ALL, allow, app_state, caller, only_own, sees_all

router = APIRouter()

ASSESSORS = frozenset({"assessor"})

Cursor = Query(
    None,
    max_length=1000,
    pattern=r"^[A-Za-z0-9_-]+$",
    description="`next_cursor` of the previous page; omit it for the first page",
)
Limit = Query(rm.DEFAULT_LIMIT, ge=1, le=rm.MAX_LIMIT, description=f"rows per page, 1..{rm.MAX_LIMIT}")


@router.get("/v1/health", tags=["reads"])
def health(request: Request) -> dict[str, Any]:
    return app_state(request).service.health()


@router.get("/v1/whoami", tags=["reads"])
def whoami(key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    return {"key_id": key.key_id, "role": key.role, "account": key.account}


# -- everything at once: the roles that see everything ------------------------------------------
@router.get("/v1/state", tags=["reads"])
def state(request: Request, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    """The whole state (the `run --json` object): O(state), under the lock for all of it."""
    allow(key, SEES_ALL, "read the whole state")
    return app_state(request).service.read(
        lambda e: {"state_hash": e.state_hash(), "now": e.state.now, **state_json(e)}
    )


@router.get("/v1/pnl", tags=["reads"])
def pnl(request: Request, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    allow(key, SEES_ALL, "read every account's P&L")
    return app_state(request).service.read(lambda e: pnl_json(e, Formatter(e)))


@router.get("/v1/events", tags=["reads"])
def events(
    request: Request,
    after: int = -1,
    limit: int = Query(100, ge=1, le=rm.MAX_LIMIT),
    key: KeyRecord = Depends(caller),
) -> dict[str, Any]:
    allow(key, SEES_ALL, "read every account's events")
    return app_state(request).service.events_page(after, limit)


# -- public aggregates --------------------------------------------------------------------------------
@router.get("/v1/layers", tags=["reads"])
def layers(request: Request, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    """Every layer's totals (no per-account map: `/v1/layers/{id}/accounts` pages those)."""
    return app_state(request).service.read(rm.layers)


@router.get("/v1/layers/{layer_id}", tags=["reads"])
def layer(request: Request, layer_id: s.Id, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    return app_state(request).service.read(lambda e: rm.layer_totals(Formatter(e), e, rm.layer_of(e, layer_id)))


@router.get("/v1/markets", tags=["reads"])
def markets(request: Request, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    """Every market's totals (positions and suppliers are paged under `/v1/markets/{id}/…`)."""
    return app_state(request).service.read(rm.markets)


@router.get("/v1/markets/{market_id}", tags=["reads"])
def market(request: Request, market_id: s.Id, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    return app_state(request).service.read(lambda e: rm.market_totals(Formatter(e), rm.market_of(e, market_id), e))


@router.get("/v1/losses", tags=["reads"])
def losses(
    request: Request, cursor: str | None = Cursor, limit: int = Limit, key: KeyRecord = Depends(caller)
) -> dict[str, Any]:
    """Losses with who paid them, in the order they happened."""
    return app_state(request).service.read(lambda e: rm.losses(e, cursor, limit))


# -- per-account lists: the roles that see everything ----------------------------------------------
@router.get("/v1/layers/{layer_id}/accounts", tags=["reads"])
def layer_accounts(
    request: Request,
    layer_id: s.Id,
    cursor: str | None = Cursor,
    limit: int = Limit,
    key: KeyRecord = Depends(caller),
) -> dict[str, Any]:
    allow(key, SEES_ALL, "list other accounts")
    return app_state(request).service.read(lambda e: rm.layer_accounts(e, layer_id, cursor, limit))


@router.get("/v1/markets/{market_id}/positions", tags=["reads"])
def market_positions(
    request: Request,
    market_id: s.Id,
    cursor: str | None = Cursor,
    limit: int = Limit,
    key: KeyRecord = Depends(caller),
) -> dict[str, Any]:
    allow(key, SEES_ALL, "list other accounts")
    return app_state(request).service.read(lambda e: rm.market_positions(e, market_id, cursor, limit))


@router.get("/v1/markets/{market_id}/suppliers", tags=["reads"])
def market_suppliers(
    request: Request,
    market_id: s.Id,
    cursor: str | None = Cursor,
    limit: int = Limit,
    key: KeyRecord = Depends(caller),
) -> dict[str, Any]:
    allow(key, SEES_ALL, "list other accounts")
    return app_state(request).service.read(lambda e: rm.market_suppliers(e, market_id, cursor, limit))


@router.get("/v1/ledger", tags=["reads"])
def ledger(
    request: Request, cursor: str | None = Cursor, limit: int = Limit, key: KeyRecord = Depends(caller)
) -> dict[str, Any]:
    """Every ledger account's non-zero balances, in account order."""
    allow(key, SEES_ALL, "read the whole ledger")
    return app_state(request).service.read(lambda e: rm.ledger(e, cursor, limit))


# -- one's own ----------------------------------------------------------------------------------------
@router.get("/v1/accounts/{account}", tags=["reads"])
def account(request: Request, account: s.Id, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    """Wallet, layer deposits, positions, supplies, policies and claims of one account."""
    only_own(key, account, "account", "account")
    return app_state(request).service.read(lambda e: rm.account(e, account))


@router.get("/v1/policies", tags=["reads"])
def policies(
    request: Request,
    owner: s.Id | None = Query(None, description="only this owner's (a key that does not see all: its own)"),
    cursor: str | None = Cursor,
    limit: int = Limit,
    key: KeyRecord = Depends(caller),
) -> dict[str, Any]:
    """Policies in the order sold; a key that does not see everything gets its own."""
    who = only_own(key, owner, "owner", "policies")
    return app_state(request).service.read(lambda e: rm.policies(e, who, cursor, limit))


@router.get("/v1/policies/{policy_id}", tags=["reads"])
def policy(request: Request, policy_id: s.Id, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    def read(e: Any) -> dict[str, Any]:
        found = rm.policy(e, policy_id)
        if sees_all(key) or found["owner"] == key.account:
            return found
        if key.role in ASSESSORS and rm.claimed_policies(e).groups.get(policy_id):
            return found
        raise Forbidden("policy", f"policy: a {key.role} key reads only its own policies")

    return app_state(request).service.read(read)


@router.get("/v1/claims", tags=["reads"])
def claims(
    request: Request,
    claimant: s.Id | None = Query(None, description="only this claimant's (an owner's key: its own)"),
    cursor: str | None = Cursor,
    limit: int = Limit,
    key: KeyRecord = Depends(caller),
) -> dict[str, Any]:
    """Claims in the order filed; an assessor reads them all, an owner's key its own."""
    who = claimant if key.role in ASSESSORS else only_own(key, claimant, "claimant", "claims")
    return app_state(request).service.read(lambda e: rm.claims(e, who, cursor, limit))


@router.get("/v1/claims/{claim_id}", tags=["reads"])
def claim(request: Request, claim_id: s.Id, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    def read(e: Any) -> dict[str, Any]:
        found = rm.claim(e, claim_id)
        if sees_all(key) or key.role in ASSESSORS or found["claimant"] == key.account:
            return found
        raise Forbidden("claim", f"claim: a {key.role} key reads only its own claims")

    return app_state(request).service.read(read)
