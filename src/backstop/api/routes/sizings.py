"""`/v1/sizings`: size a layer of the live book, as a risk-lab job (`backstop.api.jobs`).

The same answer as `backstop size` (`sim/sizing.py`), on the service's current state with the
stored risk profile: the smallest size of one layer that keeps P(socialized loss > 0) at or
below a target, bisected on common random numbers, and the curve of that probability against
the size. A sizing is a job like a live simulation (a stored row, the same bounded queue, 429 with
Retry-After, cancel, progress); its request carries `size`, which keeps it out of the risk
history. The input is checked against the live layers before anything is queued, so a bad
layer, target or path count is a 4xx naming the field and leaves no job behind.
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.

import json
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ...domain.errors import InvalidConfig, UnknownEntity
from ...domain.layers.registry import KINDS
from ...engine import Engine
from ...store.base import KeyRecord
from .. import schemas as s
from ..jobs import Job, is_sizing, live_source
from .deps import IdemKey, allow, app_state, caller

router = APIRouter()

SIZE_ROLES = frozenset({"risk"})
"""Besides admin (`deps.allow`)."""


def size_meaning(kind: str) -> str | None:
    """What sizing changes for a layer kind (its vector rule's `size_meaning`); None: no size."""
    meaning: str | None = KINDS[kind].vector().size_meaning
    return meaning


def live_layers(engine: Engine) -> list[dict[str, Any]]:
    """Every live layer: its kind, asset, and what its size is (None for a kind without one)."""
    return [
        {"id": lid, "kind": layer.kind, "asset": layer.asset, "size_meaning": size_meaning(layer.kind)}
        for lid, layer in sorted(engine.state.layers.items())
    ]


def check_layer(layers: list[dict[str, Any]], layer_id: str) -> None:
    """422 naming `layer` for a layer the live book does not have, or whose kind has no size."""
    found = next((x for x in layers if x["id"] == layer_id), None)
    if found is None:
        known = ", ".join(x["id"] for x in layers)
        raise InvalidConfig("layer", f"layer: unknown layer {layer_id!r} (layers: {known})")
    if found["size_meaning"] is None:
        sizable = ", ".join(x["id"] for x in layers if x["size_meaning"] is not None)
        raise InvalidConfig(
            "layer",
            f"layer: {layer_id} is a {found['kind']} layer, which has no size (layers that can be sized: {sizable})",
        )


def _sizing(job_id: str, job: Job) -> dict[str, Any]:
    if not is_sizing(json.loads(job.row.request)):
        raise UnknownEntity("id", f"id: {job_id!r} is a simulation, not a sizing (GET /v1/simulations/{job_id})")
    return {"id": job_id, **job.public()}


@router.get("/v1/sizings/layers", tags=["sizings"])
def sizable_layers(request: Request, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    """The live layers, each with what sizing it changes (`size_meaning`; null: it cannot be sized)."""
    allow(key, SIZE_ROLES, "size layers")
    return {"layers": app_state(request).service.read(live_layers)}


@router.post("/v1/sizings", tags=["sizings"], status_code=202)
def start_sizing(
    request: Request, body: s.SizingRequest, key: KeyRecord = Depends(caller), idempotency_key: str = IdemKey
) -> JSONResponse:
    """Start sizing a live layer: `{"size": {"layer": "fund", "target_p": 0.01}, "paths": 2000}`.
    409 without a risk profile, 422 naming the field for a bad layer or target, 429 when full."""
    allow(key, SIZE_ROLES, "size layers")
    state = app_state(request)
    from ...sim.sizing import check_target  # the risk lab (NumPy) loads with the first sizing

    check_target(body.size.target_p)
    check_layer(state.service.read(live_layers), body.size.layer)
    wanted: dict[str, Any] = {
        "source": "live",
        "size": {"layer": body.size.layer, "target_p": body.size.target_p},
        "paths": body.paths,
        "seed": body.seed,
    }
    if body.horizon_days is not None:
        wanted["horizon_days"] = body.horizon_days

    def prepare() -> tuple[Any, str | None]:
        return live_source(state.service)

    job_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{key.key_id}/{idempotency_key}").hex[:12]
    job = state.jobs.submit(job_id, key.key_id, wanted, prepare)
    return JSONResponse(_sizing(job_id, job), status_code=202)


@router.get("/v1/sizings/{job_id}", tags=["sizings"])
def get_sizing(request: Request, job_id: s.Id, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    """The sizing's status, progress (0 to 1), the state hash it started from, and its answer once done."""
    allow(key, SIZE_ROLES, "read sizings")
    return _sizing(job_id, app_state(request).jobs.get(job_id))


@router.delete("/v1/sizings/{job_id}", tags=["sizings"])
def cancel_sizing(request: Request, job_id: s.Id, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    """Cancel a sizing: a queued one at once, a running one at its next chunk; 409 once finished."""
    allow(key, SIZE_ROLES, "cancel sizings")
    jobs = app_state(request).jobs
    _sizing(job_id, jobs.get(job_id))
    return _sizing(job_id, jobs.cancel(job_id))
