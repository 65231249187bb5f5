"""`/v1/simulations`: risk-lab jobs, of the live book or of a bundled example (`backstop.api.jobs`)."""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse

from ...domain.errors import InvalidConfig
from ...store.base import KeyRecord
from .. import schemas as s
from ..errors import ERROR_RESPONSES, ErrorBody
from ..jobs import DEFAULT_EXAMPLE, find_scenario, live_source
from .deps import IdemKey, allow, app_state, caller

router = APIRouter()

SIM_ROLES = frozenset({"risk"})


def _request(body: s.SimulationRequest) -> dict[str, Any]:
    """The job's request as stored and shown: `source`, the example's `name`, paths, seed, horizon."""
    out: dict[str, Any] = {"source": body.source, "paths": body.paths, "seed": body.seed}
    if body.source == "live":
        for field in ("name", "scenario"):
            if getattr(body, field) is not None:
                raise InvalidConfig(field, f"{field}: a live simulation takes no example name")
    else:
        if body.name is not None and body.scenario is not None and body.name != body.scenario:
            raise InvalidConfig("name", "name: give the example once, as `name` (`scenario` is its former name)")
        out["name"] = body.name or body.scenario or DEFAULT_EXAMPLE
    if body.horizon_days is not None:
        out["horizon_days"] = body.horizon_days
    return out


@router.post("/v1/simulations", tags=["simulations"], status_code=202)
def start_simulation(
    request: Request, body: s.SimulationRequest, key: KeyRecord = Depends(caller), idempotency_key: str = IdemKey
) -> JSONResponse:
    """Start a job: `{"source": "live"}` simulates the service's current state with the stored risk
    profile; `{"source": "example", "name": …}` a bundled example. 429 with Retry-After when full."""
    allow(key, SIM_ROLES, "run simulations")
    state = app_state(request)
    wanted = _request(body)
    if wanted["source"] == "example":
        path = find_scenario(wanted["name"])  # an unknown example is refused before anything is queued

        def prepare() -> tuple[Any, str | None]:
            return path, None

    else:

        def prepare() -> tuple[Any, str | None]:
            return live_source(state.service)

    job_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{key.key_id}/{idempotency_key}").hex[:12]
    job = state.jobs.submit(job_id, key.key_id, wanted, prepare)
    return JSONResponse({"id": job_id, **job.public()}, status_code=202)


@router.get("/v1/simulations/{job_id}", tags=["simulations"])
def get_simulation(request: Request, job_id: s.Id, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    """The job's status, progress (0 to 1), the state hash it started from, and its summary once done.
    The risk desk's (admin, risk): a live job is the whole book's risk, not a public aggregate."""
    allow(key, SIM_ROLES, "read simulations")
    return {"id": job_id, **app_state(request).jobs.get(job_id).public()}


@router.delete("/v1/simulations/{job_id}", tags=["simulations"])
def cancel_simulation(request: Request, job_id: s.Id, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    """Cancel a job: a queued one at once, a running one when its current chunk ends; 409 once finished."""
    allow(key, SIM_ROLES, "cancel simulations")
    return {"id": job_id, **app_state(request).jobs.cancel(job_id).public()}


@router.get(
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
def get_simulation_report(request: Request, job_id: s.Id, key: KeyRecord = Depends(caller)) -> HTMLResponse:
    """The job's self-contained HTML report (matplotlib figures embedded); 404 until it is done."""
    allow(key, SIM_ROLES, "read simulations")
    return HTMLResponse(app_state(request).jobs.report(job_id))
