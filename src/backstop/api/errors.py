"""The service's errors and the one place an error becomes an HTTP status.

Domain, scenario and store errors know nothing of HTTP; `STATUS` maps each error class to its
status here, and every error answer has the same body, `{"error": {"type", "message", "field"}}`
(docs/service.md).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..domain.errors import (
    BackstopError,
    ClaimError,
    CoverError,
    DuplicateEntity,
    InsufficientFunds,
    InvalidAmount,
    InvalidConfig,
    MarketFrozen,
    NotPermitted,
    PositionHealthy,
    TimeWentBackwards,
    Undercollateralized,
    UnknownEntity,
    WithdrawNotAllowed,
)
from ..scenario.errors import ScenarioError
from ..store.sql import StoreError, StoreLocked


class Unauthorized(BackstopError):
    """No API key, a malformed one, or one the store does not know."""


class Forbidden(BackstopError):
    """The key's role or account may not do this."""


class Conflict(BackstopError):
    """An Idempotency-Key reused with a different request."""


class RateLimited(BackstopError):
    """The key's token bucket is empty; `retry_after_seconds` says when it holds a token again."""

    def __init__(self, field: str, message: str, retry_after_seconds: int) -> None:
        super().__init__(field, message)
        self.retry_after_seconds = retry_after_seconds


class InternalError(BackstopError):
    """An unexpected failure while applying one command: that command was rolled back."""


STATUS: dict[type[BackstopError], int] = {
    BackstopError: 400,
    InvalidAmount: 422,
    InvalidConfig: 422,
    ScenarioError: 422,
    Unauthorized: 401,
    Forbidden: 403,
    NotPermitted: 403,
    UnknownEntity: 404,
    DuplicateEntity: 409,
    TimeWentBackwards: 409,
    InsufficientFunds: 409,
    WithdrawNotAllowed: 409,
    Undercollateralized: 409,
    PositionHealthy: 409,
    MarketFrozen: 409,
    CoverError: 409,
    ClaimError: 409,
    Conflict: 409,
    RateLimited: 429,
    InternalError: 500,
    StoreError: 503,
    StoreLocked: 503,
}
"""HTTP status by error class; a subclass not listed takes its nearest listed base's status."""


def status_of(exc: BackstopError) -> int:
    """The status of an error; a ScenarioError answers with the status of the error it reports."""
    reported = exc.cause if isinstance(exc, ScenarioError) else type(exc)
    return next(STATUS[cls] for cls in reported.__mro__ if cls in STATUS)


def error_body(exc: BackstopError) -> dict[str, Any]:
    return {"error": {"type": exc.type, "message": exc.message, "field": exc.field}}


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
"""The error answers every route may give, for the OpenAPI document."""


async def _backstop_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BackstopError)
    status = status_of(exc)
    headers = {"Retry-After": str(exc.retry_after_seconds)} if isinstance(exc, RateLimited) else None
    return JSONResponse(error_body(exc), status_code=status, headers=headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    err = exc.errors()[0] if exc.errors() else {"loc": ("body",), "msg": "invalid request"}
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
    field = ".".join(loc) or str((err.get("loc") or ("body",))[0])
    body = {"error": {"type": "ValidationError", "message": f"{field}: {err.get('msg')}", "field": field}}
    return JSONResponse(body, status_code=422)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    body = {"error": {"type": "HTTPError", "message": str(exc.detail), "field": None}}
    return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error, ours or the framework's, with the one error body."""
    app.add_exception_handler(BackstopError, _backstop_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
