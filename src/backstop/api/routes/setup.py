"""`POST /v1/assets`, `/v1/layers`, `/v1/markets`: set-up, for admin keys only."""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ...domain import commands as c
from ...domain.errors import DuplicateEntity
from ...engine import Engine
from ...store.base import KeyRecord
from .. import schemas as s
from ..builder import LiveBuilder
from .deps import IdemKey, allow, caller, run_command

router = APIRouter()

SETUP_ROLES: frozenset[str] = frozenset()  # assets, layers and markets: admin only


@router.post("/v1/assets", tags=["setup"])
def add_asset(
    request: Request, body: s.AssetBody, key: KeyRecord = Depends(caller), idempotency_key: str = IdemKey
) -> JSONResponse:
    allow(key, SETUP_ROLES, "add assets")
    payload = body.model_dump(exclude_none=True)

    def build(engine: Engine) -> c.Command:
        return c.AddAsset(engine.state.now, body.symbol, body.decimals)

    return run_command(request, key, idempotency_key, "/v1/assets", payload, build)


@router.post("/v1/layers", tags=["setup"])
def add_layer(
    request: Request, body: s.LayerBody, key: KeyRecord = Depends(caller), idempotency_key: str = IdemKey
) -> JSONResponse:
    allow(key, SETUP_ROLES, "add layers")
    payload = body.model_dump(exclude_none=True)

    def build(engine: Engine) -> c.Command:
        raw = {k: v for k, v in payload.items() if k != "id"}
        if body.id in engine.state.layers:
            raise DuplicateEntity("id", f"id: layer {body.id!r} exists")
        return c.AddLayer(engine.state.now, body.id, LiveBuilder(engine).layer_config(body.id, raw))

    return run_command(request, key, idempotency_key, "/v1/layers", payload, build)


@router.post("/v1/markets", tags=["setup"])
def add_market(
    request: Request, body: s.MarketBody, key: KeyRecord = Depends(caller), idempotency_key: str = IdemKey
) -> JSONResponse:
    allow(key, SETUP_ROLES, "add markets")
    payload = body.model_dump(exclude_none=True)

    def build(engine: Engine) -> c.Command:
        raw = {k: v for k, v in payload.items() if k != "id"}
        return c.AddMarket(engine.state.now, body.id, LiveBuilder(engine).market_spec(body.id, raw))

    return run_command(request, key, idempotency_key, "/v1/markets", payload, build)
