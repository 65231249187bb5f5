"""`GET /v1/me`: who the key is, and what the dashboard needs of its own account that the other
reads do not give: the engine's time, each stake with its value, P&L, APR and withdrawal
request (when it opens and when its window closes), and each guarantor layer the account
writes, with the risk lab's fair premium from the newest live simulation.

`/v1/pnl` has the same P&L figures for every account, for the roles that see everything; this
read gives any key its own, computed by the same rule (`domain/pnl.py::staker_row`), in
O(layers) plus, for a guarantor, one read of the finished jobs.
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.

import json
from typing import Any

from fastapi import APIRouter, Depends, Request

from ...domain import pnl
from ...domain.layers.guarantor import Guarantor
from ...domain.layers.share_vault import ShareVault
from ...domain.layers.stability_pool import StabilityPool
from ...domain.money import BPS, format_units, mul_div_down
from ...engine import Engine
from ...scenario.report import Formatter
from ...store.base import KeyRecord
from ..alerts import is_live
from ..jobs import JobStore
from ..readmodel import capabilities
from .deps import app_state, caller

router = APIRouter()


def _apr(bps: int | None) -> str | None:
    return None if bps is None else format_units(bps, 2) + "%"


def stakes(engine: Engine, account: str) -> dict[str, Any]:
    """The account's row in every share vault and stability pool it deposited into."""
    state = engine.state
    f = Formatter(engine)
    out: dict[str, Any] = {}
    for lid, layer in sorted(state.layers.items()):
        row = pnl.staker_row(state, layer, account)
        if row is None:
            continue
        asset = row["asset"]
        mine: dict[str, Any] = {
            "kind": layer.kind,
            "can": capabilities(layer),
            "asset": asset,
            **{k: f.amt(row[k], asset) for k in ("deposited", "withdrawn", "value", "pnl")},
            "apr": _apr(row["apr_bps"]),
        }
        if "gains_value" in row:
            mine["gains_value"] = f.amt(row["gains_value"], asset)
        if isinstance(layer, ShareVault):
            c = layer.config
            shares = layer.shares.get(account, 0)
            req = layer.requests.get(account)
            total = layer.total_assets(state)
            mine |= {
                "shares": str(shares),
                "exchange_rate": format_units(layer.exchange_rate_e6(state), 6),
                "mode": c.mode,
                "cooldown_seconds": c.cooldown_seconds if c.mode == "cooldown" else c.queue_seconds,
                "unstake_window_seconds": c.unstake_window_seconds if c.mode == "cooldown" else None,
                "request": None
                if req is None
                else {
                    "shares": str(req.shares),
                    "value": f.amt(layer.assets_for_shares(req.shares, total), asset),
                    "ready_at": req.ready_at,
                    "expires_at": req.expires_at,
                },
            }
        elif isinstance(layer, StabilityPool):
            mine["request"] = None
        out[lid] = mine
    return out


def guarantees(engine: Engine, account: str) -> dict[str, Any]:
    """Every guarantor layer the account writes: its terms, what it used and earned, its collateral."""
    state = engine.state
    f = Formatter(engine)
    out: dict[str, Any] = {}
    for lid, layer in sorted(state.layers.items()):
        if not isinstance(layer, Guarantor) or layer.guarantor != account:
            continue
        c = layer.config
        a = layer.asset
        premium_year = mul_div_down(c.limit, c.premium_bps_per_year, BPS)
        out[lid] = {
            "asset": a,
            "attachment": f.amt(c.attachment, a),
            "limit": f.amt(c.limit, a),
            "aggregate_limit": None if c.aggregate_limit is None else f.amt(c.aggregate_limit, a),
            "used_this_year": f.amt(layer.paid_this_year, a),
            "limit_left": f.amt(layer.limit_left, a) if c.reinstatements is not None else None,
            "premium_bps_per_year": c.premium_bps_per_year,
            "premium_per_year": f.amt(premium_year, a),
            "premiums_earned": f.amt(layer.premiums_earned, a),
            "losses_paid": f.amt(layer.losses_paid, a),
            "collateral_posted": f.amt(c.collateral, a),
            "collateral": f.amt(state.ledger.balances.get((layer.account, a), 0), a),
            "lapsed": layer.lapsed,
            "defaulted": layer.defaulted,
        }
    return out


def fair_premiums(store: JobStore, layer_ids: list[str]) -> dict[str, Any]:
    """The newest finished live simulation's expected loss per year of each layer: the fair
    premium without loading (`backstop price` adds one), with its standard error."""
    if not layer_ids:
        return {}
    live = [j for j in store.done_jobs() if is_live(j)]
    if not live:
        return {}
    job = live[-1]
    result = json.loads(job.result or "{}")
    out = {}
    for lid in layer_ids:
        row = result.get("by_layer", {}).get(lid)
        if row is None or "expected_loss_per_year" not in row:
            continue
        out[lid] = {
            "expected_loss_per_year": row["expected_loss_per_year"],
            "se": row.get("se"),
            "premiums_mean": row.get("premiums_mean"),
            "loss_asset": result.get("loss_asset"),
            "paths": result.get("paths"),
            "job": job.id,
            "at": job.updated_at,
            "state_hash": job.state_hash,
        }
    return out


@router.get("/v1/me", tags=["reads"])
def me(request: Request, key: KeyRecord = Depends(caller)) -> dict[str, Any]:
    """The key (role, account), the engine's time (`now`, seconds), the account's stakes and
    guarantor layers, and the fair premium of those layers (empty before a live simulation)."""
    service = app_state(request).service
    account = key.account

    def read(e: Engine) -> dict[str, Any]:
        out: dict[str, Any] = {"key_id": key.key_id, "role": key.role, "account": account, "now": e.state.now}
        out["stakes"] = stakes(e, account) if account else {}
        out["guarantees"] = guarantees(e, account) if account else {}
        return out

    found: dict[str, Any] = service.read(read)
    store: JobStore = service.store  # type: ignore[assignment]
    found["fair_premiums"] = fair_premiums(store, list(found["guarantees"]))
    return found
