"""The HTTP routes, one module per group: commands, set-up, reads, the caller's own (`me`), simulations,
sizings, quotes, risk, dashboard.

Each module has a `router`; `backstop.api.app.create_app` includes them in this order (the
order of the paths in the OpenAPI document). Routes hold no state: what they need comes from
the app's `AppState` through the dependencies in `deps`.
"""

from __future__ import annotations

from fastapi import APIRouter

from . import commands, dashboard, me, quotes, reads, risk, setup, simulations, sizings

ROUTERS: tuple[APIRouter, ...] = (
    commands.router,
    setup.router,
    reads.router,
    me.router,
    simulations.router,
    sizings.router,
    quotes.router,
    risk.router,
    dashboard.router,
)
