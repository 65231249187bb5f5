"""The FastAPI application: auth, roles, idempotency and one route per engine command.

Every POST needs an `Idempotency-Key`; the service applies each (API key, Idempotency-Key)
once and answers a retry with the stored response. Errors are always
`{"error": {"type", "message", "field"}}` with a 4xx status (5xx only if the database fails).
"""

# No `from __future__ import annotations`: route bodies are built in a loop and FastAPI must
# see the real model classes in the annotations.

import json
import threading
import uuid
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..domain import commands as c
from ..domain.errors import BackstopError, DuplicateEntity
from ..engine import Engine
from ..scenario.report import Formatter, event_json, pnl_json, state_json
from ..store.base import KeyRecord
from . import schemas as s
from .builder import LiveBuilder
from .keys import Forbidden, Unauthorized, parse_token, verify
from .limits import BodyLimitMiddleware
from .ratelimit import RateLimiter
from .service import Service, body_hash, error_body

STATIC = Path(__file__).parent / "static"
OWNERS = frozenset({"staker", "guarantor", "investor"})


class RateLimited(BackstopError):
    http_status = 429


class ErrorDetail(BaseModel):
    type: str
    message: str
    field: str | None


class ErrorBody(BaseModel):
    """Every error, whatever its status: `{"error": {"type", "message", "field"}}`."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (400, "Bad request"),
        (401, "Missing or wrong API key"),
        (403, "The key's role or account may not do this"),
        (404, "Unknown asset, layer, market, account, policy, claim or incident"),
        (409, "Refused by the engine's rules, or an idempotency key reused with another body"),
        (413, "Body too large"),
        (422, "Malformed input: wrong type, missing field, bad amount"),
        (429, "Rate limit; see Retry-After"),
        (503, "The database could not make the command durable; nothing was applied"),
    )
}


# verb -> (body model, roles besides admin, how the caller's account binds the command)
VERBS: dict[str, tuple[type[s.Body], frozenset[str], str | None]] = {
    "deposit": (s.DepositBody, OWNERS, "account"),
    "request_withdraw": (s.SharesBody, OWNERS, "account"),
    "cancel_withdraw": (s.CancelBody, OWNERS, "account"),
    "withdraw": (s.SharesBody, OWNERS, "account"),
    "supply": (s.MarketAmountBody, frozenset({"investor"}), "account"),
    "withdraw_supply": (s.MarketAmountBody, frozenset({"investor"}), "account"),
    "open": (s.OpenBody, frozenset({"investor"}), "account"),
    "repay": (s.MarketAmountBody, frozenset({"investor"}), "account"),
    "add_collateral": (s.AddCollateralBody, frozenset({"investor"}), "account"),
    "liquidate": (s.LiquidateBody, frozenset({"risk", "staker", "investor", "guarantor"}), "keeper"),
    "incident": (s.IncidentBody, frozenset(), None),
    "reward": (s.RewardBody, frozenset(), None),
    "advance": (s.AdvanceBody, frozenset({"oracle"}), None),
    "buy_cover": (s.BuyCoverBody, frozenset({"investor"}), "account"),
    "file_claim": (s.FileClaimBody, frozenset({"investor"}), "claimant"),
    "assess_claim": (s.AssessClaimBody, frozenset({"assessor"}), "assessor"),
    "guarantor_defaults": (s.GuarantorDefaultsBody, frozenset(), None),
    "settle_slashing": (s.SettleSlashingBody, frozenset(), None),
    "claim_rewards": (s.ClaimRewardsBody, OWNERS, "account"),
    "cover_deficit": (s.CoverDeficitBody, frozenset(), None),
    "fill_auction": (s.FillAuctionBody, frozenset({"risk", "staker", "investor", "guarantor"}), "account"),
}
SETUP_ROLES: frozenset[str] = frozenset()  # assets, layers and markets: admin only
PRICE_ROLES = frozenset({"oracle"})
SIM_ROLES = frozenset({"risk"})


def create_app(
    service: Service,
    rate_per_second: float = 200.0,
    burst: int = 400,
    max_body_bytes: int = 64 * 1024,
) -> FastAPI:
    app = FastAPI(
        title="backstop",
        version="0.1.0",
        description="Exact DeFi backstop engine as a service: layers, markets, losses, cover and claims.",
        responses=ERROR_RESPONSES,
    )
    app.state.service = service
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=max_body_bytes)
    limiter = RateLimiter(rate_per_second, burst)
    bearer = HTTPBearer(auto_error=False, description="API key `bsk_<id>_<secret>` (`backstop keys create`)")
    simulations: dict[str, dict[str, Any]] = {}

    # -- errors ------------------------------------------------------------------------------
    @app.exception_handler(BackstopError)
    async def _backstop_error(_: Request, exc: BackstopError) -> JSONResponse:
        headers = {"Retry-After": str(getattr(exc, "retry_after", 1))} if exc.http_status == 429 else None
        return JSONResponse(error_body(exc), status_code=exc.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0] if exc.errors() else {"loc": ("body",), "msg": "invalid request"}
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc) or str((err.get("loc") or ("body",))[0])
        body = {"error": {"type": "ValidationError", "message": f"{field}: {err.get('msg')}", "field": field}}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        body = {"error": {"type": "HTTPError", "message": str(exc.detail), "field": None}}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    # -- auth ----------------------------------------------------------------------------------
    known_keys: dict[str, KeyRecord] = {}

    def caller(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> KeyRecord:
        if creds is None:
            raise Unauthorized("authorization", "authorization: an API key is required (Authorization: Bearer …)")
        key_id, secret = parse_token(creds.credentials)
        record = known_keys.get(key_id)
        if record is None:
            # Keys are immutable records and are never revoked in place, so a hit is cached for the
            # life of the process (no database read per request); a miss is not, so a key made
            # later with `backstop keys create` is found on its first use.
            record = service.store.get_key(key_id)
            if record is not None:
                known_keys[key_id] = record
        key = verify(record, secret)
        wait = limiter.take(key.key_id)
        if wait:
            exc = RateLimited("rate", f"rate: too many requests for this key; retry in {wait} s")
            exc.retry_after = wait  # type: ignore[attr-defined]
            raise exc
        return key

    def allow(key: KeyRecord, roles: frozenset[str], what: str) -> None:
        if key.role != "admin" and key.role not in roles:
            raise Forbidden("role", f"role: a {key.role} key may not {what}")

    def run_command(key: KeyRecord, idem: str, path: str, payload: dict[str, Any], build: Any) -> JSONResponse:
        status, body = service.execute(key, idem, body_hash(path, payload), build)
        return JSONResponse(body, status_code=status)

    IdemKey = Header(
        ..., alias="Idempotency-Key", min_length=1, max_length=200, description="Same key + same body = same answer"
    )

    # -- commands --------------------------------------------------------------------------------
    def add_verb(verb: str, model: type[s.Body], roles: frozenset[str], binding: str | None) -> None:
        def route(
            body: model,  # type: ignore[valid-type]
            key: KeyRecord = Depends(caller),
            idempotency_key: str = IdemKey,
        ) -> JSONResponse:
            allow(key, roles, verb.replace("_", " "))
            payload = body.model_dump(by_alias=True, exclude_none=True)  # type: ignore[attr-defined]
            if key.role != "admin" and binding is not None:
                if binding == "account":
                    if payload.get("account") != key.account:
                        raise Forbidden("account", f"account: this key acts only for {key.account!r}")
                else:
                    payload.pop("assessor", None)
                    payload[binding] = key.account
            elif binding == "keeper" and key.account:
                payload.setdefault("keeper", key.account)
            elif binding == "assessor":
                payload.setdefault("assessor", key.account or "admin")

            def build(engine: Engine) -> Any:
                return LiveBuilder(engine).command(verb, payload)

            return run_command(key, idempotency_key, f"/v1/{verb}", payload, build)

        route.__name__ = verb
        app.post(f"/v1/{verb}", tags=["commands"], summary=verb.replace("_", " "))(route)

    for verb, (model, roles, binding) in VERBS.items():
        add_verb(verb, model, roles, binding)

    @app.post("/v1/prices", tags=["commands"])
    def set_price(body: s.PriceBody, key: KeyRecord = Depends(caller), idempotency_key: str = IdemKey) -> JSONResponse:
        allow(key, PRICE_ROLES, "set prices")
        payload = body.model_dump(exclude_none=True)
        return run_command(
            key, idempotency_key, "/v1/prices", payload, lambda e: LiveBuilder(e).command("price", payload)
        )

    # -- set-up -----------------------------------------------------------------------------------
    @app.post("/v1/assets", tags=["setup"])
    def add_asset(body: s.AssetBody, key: KeyRecord = Depends(caller), idempotency_key: str = IdemKey) -> JSONResponse:
        allow(key, SETUP_ROLES, "add assets")
        payload = body.model_dump(exclude_none=True)

        def build(engine: Engine) -> Any:
            return c.AddAsset(engine.state.now, body.symbol, body.decimals)

        return run_command(key, idempotency_key, "/v1/assets", payload, build)

    @app.post("/v1/layers", tags=["setup"])
    def add_layer(body: s.LayerBody, key: KeyRecord = Depends(caller), idempotency_key: str = IdemKey) -> JSONResponse:
        allow(key, SETUP_ROLES, "add layers")
        payload = body.model_dump(exclude_none=True)

        def build(engine: Engine) -> Any:
            raw = {k: v for k, v in payload.items() if k != "id"}
            if body.id in engine.state.layers:
                raise DuplicateEntity("id", f"id: layer {body.id!r} exists")
            return c.AddLayer(engine.state.now, body.id, LiveBuilder(engine).layer_config(body.id, raw))

        return run_command(key, idempotency_key, "/v1/layers", payload, build)

    @app.post("/v1/markets", tags=["setup"])
    def add_market(
        body: s.MarketBody, key: KeyRecord = Depends(caller), idempotency_key: str = IdemKey
    ) -> JSONResponse:
        allow(key, SETUP_ROLES, "add markets")
        payload = body.model_dump(exclude_none=True)

        def build(engine: Engine) -> Any:
            raw = {k: v for k, v in payload.items() if k != "id"}
            return c.AddMarket(engine.state.now, body.id, LiveBuilder(engine).market_spec(body.id, raw))

        return run_command(key, idempotency_key, "/v1/markets", payload, build)

    # -- reads ---------------------------------------------------------------------------------------
    def snapshot(key: KeyRecord) -> dict[str, Any]:
        return service.read(lambda e: {"state_hash": e.state_hash(), "now": e.state.now, **state_json(e)})

    @app.get("/v1/health", tags=["reads"])
    def health() -> dict[str, Any]:
        return service.read(lambda e: {"ok": True, "commands": e.commands_applied, "events": len(e.log)})

    @app.get("/v1/whoami", tags=["reads"])
    def whoami(key: KeyRecord = Depends(caller)) -> dict[str, Any]:
        return {"key_id": key.key_id, "role": key.role, "account": key.account}

    @app.get("/v1/state", tags=["reads"])
    def state(key: KeyRecord = Depends(caller)) -> dict[str, Any]:
        return snapshot(key)

    def add_part(part: str) -> None:
        def read_part(key: KeyRecord = Depends(caller)) -> Any:
            return service.read(lambda e: state_json(e)[part])

        read_part.__name__ = f"read_{part}"
        app.get(f"/v1/{part}", tags=["reads"])(read_part)

    for part in ("layers", "markets", "losses", "claims", "policies", "ledger"):
        add_part(part)

    @app.get("/v1/pnl", tags=["reads"])
    def pnl(key: KeyRecord = Depends(caller)) -> dict[str, Any]:
        return service.read(lambda e: pnl_json(e, Formatter(e)))

    @app.get("/v1/accounts/{account}", tags=["reads"])
    def account(account: s.Id, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
        def view(e: Engine) -> dict[str, Any]:
            full = state_json(e)
            wallet = full["ledger"].get(f"user:{account}", {})
            layers = {lid: v["accounts"][account] for lid, v in full["layers"].items() if account in v["accounts"]}
            positions = {
                mid: m["positions"][account] for mid, m in full["markets"].items() if account in m["positions"]
            }
            supplies = {mid: m["suppliers"][account] for mid, m in full["markets"].items() if account in m["suppliers"]}
            policies = [p for p in full["policies"] if p["owner"] == account]
            return {
                "account": account,
                "wallet": wallet,
                "layers": layers,
                "positions": positions,
                "supplies": supplies,
                "policies": policies,
            }

        return service.read(view)

    @app.get("/v1/events", tags=["reads"])
    def events(after: int = -1, limit: int = 100, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
        limit = max(1, min(limit, 1000))

        def page(e: Engine) -> dict[str, Any]:
            start = max(0, after + 1)
            items = [event_json(ev) for ev in e.log[start : start + limit]]
            nxt = items[-1]["seq"] if items and start + limit < len(e.log) else None
            return {"events": items, "next_after": nxt, "total": len(e.log)}

        return service.read(page)

    # -- simulations -----------------------------------------------------------------------------------
    @app.post("/v1/simulations", tags=["simulations"], status_code=202)
    def start_simulation(
        body: s.SimulationBody, key: KeyRecord = Depends(caller), idempotency_key: str = IdemKey
    ) -> JSONResponse:
        allow(key, SIM_ROLES, "run simulations")
        from .simulations import find_scenario, run_job

        path = find_scenario(body.scenario)
        job_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{key.key_id}/{idempotency_key}").hex[:12]
        if job_id in simulations:
            return JSONResponse({"id": job_id, **simulations[job_id]}, status_code=202)
        job: dict[str, Any] = {"status": "running", "progress": 0.0, "request": body.model_dump(), "result": None}
        simulations[job_id] = job
        threading.Thread(target=run_job, args=(job, path, body), daemon=True).start()
        return JSONResponse({"id": job_id, **job}, status_code=202)

    @app.get("/v1/simulations/{job_id}", tags=["simulations"])
    def get_simulation(job_id: s.Id, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
        job = simulations.get(job_id)
        if job is None:
            from ..domain.errors import UnknownEntity

            raise UnknownEntity("id", f"id: unknown simulation {job_id!r}")
        public = {k: v for k, v in job.items() if k != "report_html"}
        return {"id": job_id, "has_report": "report_html" in job, **json.loads(json.dumps(public, default=str))}

    @app.get(
        "/v1/simulations/{job_id}/report",
        tags=["simulations"],
        response_class=HTMLResponse,
        responses={
            code: {
                "description": r["description"],
                "content": {"application/json": {"schema": ErrorBody.model_json_schema()}},
            }
            for code, r in ERROR_RESPONSES.items()
        },
    )
    def get_simulation_report(job_id: s.Id, key: KeyRecord = Depends(caller)) -> HTMLResponse:
        """The job's self-contained HTML report (matplotlib figures embedded); 404 until it is done."""
        job = simulations.get(job_id)
        if job is None or "report_html" not in job:
            from ..domain.errors import UnknownEntity

            raise UnknownEntity("id", f"id: no finished simulation {job_id!r}")
        return HTMLResponse(job["report_html"])

    # -- dashboard ---------------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
