"""The FastAPI application: the service core behind auth, roles, idempotency and the routes.

Every POST needs an `Idempotency-Key`; the service applies each (API key, Idempotency-Key)
once and answers a retry with the stored response. Errors are always
`{"error": {"type", "message", "field"}}` with a 4xx status (5xx only if the database fails).
The routes live in `routes/`, the errors and their statuses in `errors.py`, the group commit
in `service.py`, the simulations in `jobs.py` (docs/service.md).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .errors import ERROR_RESPONSES, install_error_handlers
from .limits import BodyLimitMiddleware
from .routes import ROUTERS
from .routes.dashboard import STATIC
from .service import Service
from .state import AppState


def create_app(
    service: Service,
    rate_per_second: float = 200.0,
    burst: int = 400,
    max_body_bytes: int = 64 * 1024,
) -> FastAPI:
    """An app serving `service`; `rate_per_second` and `burst` limit each API key."""
    app = FastAPI(
        title="backstop",
        version="0.1.0",
        description="Exact DeFi backstop engine as a service: layers, markets, losses, cover and claims.",
        responses=ERROR_RESPONSES,
    )
    app.state.backstop = AppState.create(service, rate_per_second, burst)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=max_body_bytes)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
