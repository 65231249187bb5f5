"""`GET` routes: health, the caller's key, the state (whole or by part), P&L, one account, events.

Every read runs under the service lock, so it sees the engine between two group commits.
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.

from typing import Any

from fastapi import APIRouter, Depends, Request

from ...engine import Engine
from ...scenario.report import Formatter, pnl_json, state_json
from ...store.base import KeyRecord
from .. import schemas as s
from .deps import app_state, caller

router = APIRouter()

STATE_PARTS = ("layers", "markets", "losses", "claims", "policies", "ledger")
"""The parts of `GET /v1/state` that each have a route of their own."""


@router.get("/v1/health", tags=["reads"])
def health(request: Request) -> dict[str, Any]:
    return app_state(request).service.health()


@router.get("/v1/whoami", tags=["reads"])
def whoami(key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    return {"key_id": key.key_id, "role": key.role, "account": key.account}


@router.get("/v1/state", tags=["reads"])
def state(request: Request, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    return app_state(request).service.read(
        lambda e: {"state_hash": e.state_hash(), "now": e.state.now, **state_json(e)}
    )


def add_part(part: str) -> None:
    """Register `GET /v1/<part>`: one part of the state."""

    def read_part(request: Request, key: KeyRecord = Depends(caller)) -> Any:
        return app_state(request).service.read(lambda e: state_json(e)[part])

    read_part.__name__ = f"read_{part}"
    router.get(f"/v1/{part}", tags=["reads"])(read_part)


for _part in STATE_PARTS:
    add_part(_part)


@router.get("/v1/pnl", tags=["reads"])
def pnl(request: Request, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    return app_state(request).service.read(lambda e: pnl_json(e, Formatter(e)))


def account_view(engine: Engine, account: str) -> dict[str, Any]:
    """Everything one account holds: wallet, layer deposits, positions, supplies, policies."""
    full = state_json(engine)
    markets = full["markets"]
    return {
        "account": account,
        "wallet": full["ledger"].get(f"user:{account}", {}),
        "layers": {lid: v["accounts"][account] for lid, v in full["layers"].items() if account in v["accounts"]},
        "positions": {mid: m["positions"][account] for mid, m in markets.items() if account in m["positions"]},
        "supplies": {mid: m["suppliers"][account] for mid, m in markets.items() if account in m["suppliers"]},
        "policies": [p for p in full["policies"] if p["owner"] == account],
    }


@router.get("/v1/accounts/{account}", tags=["reads"])
def account(request: Request, account: s.Id, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    return app_state(request).service.read(lambda e: account_view(e, account))


@router.get("/v1/events", tags=["reads"])
def events(request: Request, after: int = -1, limit: int = 100, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    limit = max(1, min(limit, 1000))
    return app_state(request).service.events_page(after, limit)
