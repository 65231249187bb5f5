"""`/v1/quotes`: cover quotes priced by the risk lab on the live state (`backstop.api.quotes`)."""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.

from typing import Any

from fastapi import APIRouter, Depends, Request

from ...domain.errors import UnknownEntity
from ...store.base import KeyRecord
from .. import quotes
from .. import schemas as s
from ..errors import Forbidden
from .deps import IdemKey, allow, app_state, caller, sees_all

router = APIRouter()

QUOTE_ROLES = frozenset({"investor"})


@router.post("/v1/quotes", tags=["quotes"])
def create_quote(
    request: Request, body: s.QuoteBody, key: KeyRecord = Depends(caller), idempotency_key: str = IdemKey
) -> dict[str, Any]:
    """Price a cover on the live state's simulated paths (the stored risk profile): premium =
    expected payout × (1 + the pool's `quote_loading_bps`), with its 95% interval; valid for
    `QUOTE_VALID_SECONDS`. The same Idempotency-Key returns the same quote."""
    allow(key, QUOTE_ROLES, "ask for cover quotes")
    service = app_state(request).service
    store: Any = service.store  # SqlStore and MemoryStore keep quotes (store/quotes.py)
    qid = quotes.quote_id(key, idempotency_key)
    record = store.get_quote(qid) or quotes.make_quote(service, key, qid, body.model_dump())
    return quotes.public(record, service.engine.state)


@router.get("/v1/quotes/{quote_id}", tags=["quotes"])
def get_quote(request: Request, quote_id: s.Id, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    """A stored quote: its owner's, or any for admin and risk."""
    service = app_state(request).service
    store: Any = service.store
    record = store.get_quote(quote_id)
    if record is None:
        raise UnknownEntity("quote", f"quote: unknown quote {quote_id!r}")
    if not sees_all(key) and record.account != key.account:
        raise Forbidden("quote", f"quote: {quote_id} is another account's")
    return quotes.public(record, service.engine.state)
