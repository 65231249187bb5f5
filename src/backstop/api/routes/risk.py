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
from ..alerts import history_point, is_live, parse_rules
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


@router.get("/v1/risk/history", tags=["risk"])
def get_risk_history(request: Request, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    """One point per finished live simulation, oldest first: time, state hash, P(bad debt),
    P(socialized), VaR99 and CVaR99 of loss, each layer's P(exhausted), with standard errors."""
    allow(key, RISK_ROLES, "read the risk history")
    points = [history_point(job) for job in desk_store(request).done_jobs() if is_live(job)]
    return {"points": points}


@router.put("/v1/risk/alerts", tags=["risk"])
def put_risk_alerts(
    request: Request,
    key: KeyRecord = Depends(caller),
    body: Any = Body(None, examples=[[{"metric": "p_bad_debt", "above": 0.05}]]),
) -> dict[str, Any]:
    """Replace the alert rules: `[{metric, above}]`, metric one of p_bad_debt, p_socialized, var99,
    cvar99 or p_exhausted:<layer>. Each finished live job is checked against them."""
    allow(key, RISK_ROLES, "set alert rules")
    rules = parse_rules(body)  # raises InvalidConfig naming the field
    desk_store(request).put_alert_rules(json.dumps(rules), int(time.time()), key.key_id)
    return {"rules": rules}


@router.get("/v1/risk/alerts", tags=["risk"])
def get_risk_alerts(request: Request, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    """The rules and every alert that fired, oldest first, with its webhook delivery status."""
    allow(key, RISK_ROLES, "read alerts")
    store = desk_store(request)
    raw = store.get_alert_rules()
    fired = [a.__dict__ for a in store.alerts()]
    return {"rules": [] if raw is None else json.loads(raw), "fired": fired}
