"""`/v1/risk/profile`: the risk profile live simulations use (docs/service.md).

The profile is a scenario's `simulation:` section (price model, volatilities, correlations,
jumps, incident rates, staker behaviour), validated by `sim/config.py::parse_simulation`, so a
bad field gets a 422 naming it and the stored profile is left as it was.
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.

import json
import time
from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from ...domain.errors import UnknownEntity
from ...sim.config import parse_simulation
from ...store.base import KeyRecord
from ...store.jobs import ProfileRecord
from ..jobs import JobStore
from .deps import allow, app_state, caller

router = APIRouter()

RISK_ROLES = frozenset({"risk"})


def desk_store(request: Request) -> JobStore:
    """The service's store, seen through what the risk desk needs of it."""
    store: JobStore = app_state(request).service.store  # type: ignore[assignment]
    return store


def _public(record: ProfileRecord) -> dict[str, Any]:
    return {"profile": json.loads(record.profile), "updated_at": record.updated_at, "updated_by": record.updated_by}


@router.get("/v1/risk/profile", tags=["risk"])
def get_risk_profile(request: Request, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    """The stored risk profile, when and by which key it was set; 404 before the first PUT."""
    allow(key, RISK_ROLES, "read the risk profile")
    record = desk_store(request).get_risk_profile()
    if record is None:
        raise UnknownEntity("profile", "profile: no risk profile yet; PUT /v1/risk/profile")
    return _public(record)


@router.put("/v1/risk/profile", tags=["risk"])
def put_risk_profile(
    request: Request,
    key: KeyRecord = Depends(caller),
    body: Any = Body(None, examples=[{"horizon_days": 90, "prices": {"assets": {"ETH": {"vol": 0.8}}}}]),
) -> dict[str, Any]:
    """Replace the risk profile: the fields of a scenario's `simulation:` section."""
    allow(key, RISK_ROLES, "set the risk profile")
    parse_simulation(body if body is not None else "")  # raises InvalidConfig naming the field
    record = ProfileRecord(json.dumps(body), int(time.time()), key.key_id)
    desk_store(request).put_risk_profile(record)
    return _public(record)
