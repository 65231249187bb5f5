"""`/v1/simulations`: risk-lab jobs run in the background (`backstop.api.jobs`)."""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse

from ...store.base import KeyRecord
from .. import schemas as s
from ..errors import ERROR_RESPONSES, ErrorBody
from ..jobs import find_scenario
from .deps import IdemKey, allow, app_state, caller

router = APIRouter()

SIM_ROLES = frozenset({"risk"})


@router.post("/v1/simulations", tags=["simulations"], status_code=202)
def start_simulation(
    request: Request, body: s.SimulationBody, key: KeyRecord = Depends(caller), idempotency_key: str = IdemKey
) -> JSONResponse:
    allow(key, SIM_ROLES, "run simulations")
    path = find_scenario(body.scenario)
    job_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{key.key_id}/{idempotency_key}").hex[:12]
    job = app_state(request).jobs.start(job_id, path, body)
    return JSONResponse({"id": job_id, **job.fields()}, status_code=202)


@router.get("/v1/simulations/{job_id}", tags=["simulations"])
def get_simulation(request: Request, job_id: s.Id, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    return {"id": job_id, **app_state(request).jobs.get(job_id).public()}


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
    return HTMLResponse(app_state(request).jobs.report(job_id))
