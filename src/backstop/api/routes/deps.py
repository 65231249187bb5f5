"""What every route depends on: the app state, the caller's API key, role checks, and the one
way a command is run (through the service's group commit, with its Idempotency-Key)."""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.

from collections.abc import Callable
from typing import Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from ...domain.commands import Command
from ...engine import Engine
from ...store.base import KeyRecord
from ..errors import Forbidden, RateLimited, Unauthorized
from ..service import body_hash
from ..state import AppState

bearer = HTTPBearer(auto_error=False, description="API key `bsk_<id>_<secret>` (`backstop keys create`)")

IdemKey = Header(
    ..., alias="Idempotency-Key", min_length=1, max_length=200, description="Same key + same body = same answer"
)
"""The `Idempotency-Key` header every POST requires."""


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.backstop
    return state


async def caller(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> KeyRecord:
    """The API key of the request, within its rate limit; else 401 or 429.

    Async, so FastAPI runs it on the event loop instead of handing it to a worker thread and back
    (a thread hop per request, ~10% of a durable command's CPU): a cached key is a dict lookup
    and a hash; only a key not yet cached is read from the store, in a worker thread."""
    if creds is None:
        raise Unauthorized("authorization", "authorization: an API key is required (Authorization: Bearer …)")
    state = app_state(request)
    key = state.keys.cached(creds.credentials)
    if key is None:
        key = await run_in_threadpool(state.keys.authenticate, creds.credentials)
    wait = state.limiter.take(key.key_id)
    if wait:
        raise RateLimited("rate", f"rate: too many requests for this key; retry in {wait} s", wait)
    return key


def allow(key: KeyRecord, roles: frozenset[str], what: str) -> None:
    """Admin may do anything; any other key only what its role is listed for."""
    if key.role != "admin" and key.role not in roles:
        raise Forbidden("role", f"role: a {key.role} key may not {what}")


SEES_ALL = frozenset({"admin", "risk"})
"""Roles that read every account, the whole ledger, every policy and claim (docs/service.md)."""


def sees_all(key: KeyRecord) -> bool:
    return key.role in SEES_ALL


def own_account(key: KeyRecord, field: str) -> str:
    """The account a key that does not see everything reads for; 403 if it has none."""
    if key.account is None:
        raise Forbidden(field, f"{field}: this {key.role} key has no account to read")
    return key.account


def only_own(key: KeyRecord, account: str | None, field: str, what: str) -> str | None:
    """The account a read is narrowed to: `account` as asked (None: all) for a key that sees
    everything; else the key's own account, and 403 naming `field` if another one was asked."""
    if sees_all(key):
        return account
    own = own_account(key, field)
    if account is not None and account != own:
        raise Forbidden(field, f"{field}: a {key.role} key reads only its own {what} ({own!r})")
    return own


def run_command(
    request: Request,
    key: KeyRecord,
    idem: str,
    path: str,
    payload: dict[str, Any],
    build: Callable[[Engine], Command],
) -> JSONResponse:
    """Run one command through the service; a retry with the same key and body gets the same answer."""
    status, body = app_state(request).service.execute(key, idem, body_hash(path, payload), build)
    return JSONResponse(body, status_code=status)
