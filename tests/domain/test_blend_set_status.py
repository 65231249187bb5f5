"""Blend's admin command `set_status {layer, status}` (docs/layers/staking_pool.md), following
blend-capital/blend-contracts-v2 at ba22b487b2c5057a4ecc28b05b5193c28e4bd117,
pool/src/pool/status.rs `execute_set_pool_status` (:68-114), each case one of that file's tests.

Blend's tests build the backstop from Comet LP tokens of 10 BLND + 0.25 USDC each (the pool is
initialised with 1,000 BLND and 25 USDC for 100 LP tokens, and joins keep the ratio,
pool/src/testutils.rs `create_comet_lp_pool`), and measure the threshold as
BLND^4 × USDC / 100,000^5 (`calc_pool_backstop_threshold`): 100% at (10 L)^4 × 0.25 L = 1e25,
L = 4e21^(1/5) = 20,912.79 LP tokens. Here `backstop_threshold: 20913` (whole LP tokens), so
Blend's 50,000 deposited is above it and its 20,000 below it (0.8 = 200,000^4 × 5,000 / 1e25).
"""

from __future__ import annotations

from typing import Any

import pytest

from backstop.domain import commands as c
from backstop.domain.errors import InvalidConfig, NotPermitted
from backstop.domain.layers.staking_pool import StakingPool
from backstop.engine import Engine
from backstop.scenario.errors import ScenarioError
from backstop.scenario.export import export_scenario
from backstop.scenario.loader import load_scenario
from backstop.scenario.runner import run

from .helpers import DAY, E6, assets, engine, layer, lending, ok
from .test_blend_admin_status import can_borrow, can_supply

E7 = 10**7
"""Blend's LP token has 7 decimals (Stellar)."""
THRESHOLD_LP = 20_913


def world(deposit: int, queued: int = 0, admin_status: str = "none") -> tuple[Engine, StakingPool]:
    """A lending market backed by a Blend backstop of LP tokens (threshold 20,913, Blend's 30% / 60%
    permissionless thresholds); samwise deposits `deposit`, the admin sets `admin_status` (the
    status the Blend test starts from), then samwise queues `queued` of it."""
    e = engine()
    assets(e, USDC=1, ETH=2000)
    e.apply(c.AddAsset(0, "BLP", 7))
    e.apply(c.SetPrice(0, "BLP", 10**18))
    layer(
        e,
        "bstop",
        "staking_pool",
        asset="BLP",
        mode="queue",
        queue_seconds=17 * DAY,
        freeze_borrow_queued_bps=3_000,
        freeze_supply_queued_bps=6_000,
        auction_premium_bps=2_000,
        backstop_threshold=THRESHOLD_LP * E7,
    )
    layer(e, "rest", "socialize")
    lending(e, ("bstop", "rest"))
    e.apply(c.Supply(0, "lend", "lp", 100_000 * E6))
    e.apply(c.OpenPosition(0, "lend", "borrower", (("ETH", 10 * 10**18),), 0))
    e.apply(c.Deposit(0, "bstop", "samwise", deposit * E7))
    pool = e.state.layers["bstop"]
    assert isinstance(pool, StakingPool)
    if admin_status != "none":
        e.apply(c.SetStatus(0, "bstop", admin_status))
    if queued:
        e.apply(c.RequestWithdraw(0, "bstop", "samwise", shares=pool.shares["samwise"] * queued // deposit))
        assert pool.queued_bps() == queued * 10_000 // deposit
    return e, pool


def refused(e: Engine, status: str, error: type[Exception], field: str) -> None:
    before = e.state_hash()
    with pytest.raises(error) as info:
        e.apply(c.SetStatus(e.state.now, "bstop", status))
    assert info.value.field == field  # type: ignore[attr-defined]
    assert e.state_hash() == before


def test_set_active() -> None:
    """status.rs `test_set_pool_status_active`: 50,000 deposited (above the threshold), nothing
    queued → admin active (0); it lends and takes supply."""
    e, pool = world(50_000)
    events = e.apply(c.SetStatus(0, "bstop", "active"))
    assert pool.admin_status == "active"
    assert [ev.data for ev in events if ev.kind == "pool_status_set"] == [
        {"layer": "bstop", "admin_status": "active", "q4w_bps": 0}
    ]
    assert can_borrow(e) and can_supply(e)
    ok(e)


def test_set_active_blocks_without_backstop_minimum() -> None:
    """status.rs `test_set_pool_status_active_blocks_without_backstop_minimum`: 20,000 deposited,
    under the threshold → StatusNotAllowed; nothing changes."""
    e, pool = world(20_000)
    refused(e, "active", NotPermitted, "status")
    assert pool.admin_status == "none"


def test_set_active_blocks_with_too_high_q4w() -> None:
    """status.rs `test_set_pool_status_active_blocks_with_too_high_q4w`: admin on-ice (2), 30,000
    of 50,000 queued (60%) → admin active refused (50% or more queued)."""
    e, pool = world(50_000, queued=30_000, admin_status="on_ice")
    refused(e, "active", NotPermitted, "status")
    assert pool.admin_status == "on_ice"


def test_set_on_ice() -> None:
    """status.rs `test_set_pool_status_on_ice`: 50,000, nothing queued → admin on-ice (2): no new
    borrows, supply taken."""
    e, pool = world(50_000)
    e.apply(c.SetStatus(0, "bstop", "on_ice"))
    assert pool.admin_status == "on_ice"
    assert not can_borrow(e) and can_supply(e)
    ok(e)


def test_set_admin_on_ice_blocks_with_too_high_q4w() -> None:
    """status.rs `test_set_pool_status_admin_on_ice_blocks_with_too_high_q4w`: 40,000 of 50,000
    queued (80%) → admin on-ice refused (75% or more queued)."""
    e, _ = world(50_000, queued=40_000)
    refused(e, "on_ice", NotPermitted, "status")


def test_set_backstop_on_ice_blocks_with_too_high_q4w() -> None:
    """status.rs `test_set_pool_status_backstop_on_ice_blocks_with_too_high_q4w`: 80% queued →
    the permissionless on-ice (3, here `none`) is refused too."""
    e, pool = world(50_000, queued=40_000, admin_status="frozen")
    refused(e, "none", NotPermitted, "status")
    assert pool.admin_status == "frozen"


def test_set_frozen() -> None:
    """status.rs `test_set_pool_status_frozen`: the admin can always freeze (4), even under the
    threshold with most of the backstop queued."""
    e, pool = world(20_000, queued=18_000)
    e.apply(c.SetStatus(0, "bstop", "frozen"))
    assert pool.admin_status == "frozen"
    assert not can_borrow(e) and not can_supply(e)
    ok(e)


def test_set_a_status_blend_does_not_allow() -> None:
    """status.rs `test_set_non_admin_pool_status_panics`: Blend's permissionless active (1) is not
    the admin's to set (BadRequest); any status but active, on_ice, frozen, none is refused."""
    e, pool = world(50_000)
    refused(e, "permissionless_active", InvalidConfig, "status")
    assert pool.admin_status == "none"


def test_admin_unfreezes() -> None:
    """status.rs `test_admin_update_pool_status_unfreeze`: a frozen pool, 12,500 of 50,000 queued
    (25%) → admin active (0), which then holds up to 50% queued (our 30% permissionless on-ice
    does not apply)."""
    e, pool = world(50_000, queued=12_500, admin_status="frozen")
    e.apply(c.SetStatus(0, "bstop", "active"))
    assert pool.admin_status == "active"
    e.apply(c.RequestWithdraw(0, "bstop", "samwise", shares=pool.shares["samwise"] * 22_500 // 50_000))
    assert pool.queued_bps() == 4_500 and pool.admin_status == "active" and can_borrow(e)
    ok(e)


def test_set_none_hands_back_to_the_permissionless_thresholds() -> None:
    """Blend's status 3 set by the admin of a frozen pool with 35% queued: the keeper's update
    (`execute_update_pool_status`, at once here) leaves it on ice: no borrows, supply taken."""
    e, pool = world(50_000, queued=17_500, admin_status="frozen")
    assert not can_supply(e)
    e.apply(c.SetStatus(0, "bstop", "none"))
    assert pool.admin_status == "none"
    assert not can_borrow(e) and can_supply(e)


def test_set_status_needs_a_blend_pool() -> None:
    """A staking pool without the permissionless thresholds has no Blend status to set."""
    e = engine()
    assets(e, USDC=1, ETH=2000)
    layer(e, "sm", "staking_pool", asset="USDC")
    before = e.state_hash()
    with pytest.raises(NotPermitted) as info:
        e.apply(c.SetStatus(0, "sm", "frozen"))
    assert info.value.field == "layer" and e.state_hash() == before


SCENARIO: dict[str, Any] = {
    "name": "set-status",
    "assets": {"USDC": {"decimals": 6}, "BLP": {"decimals": 7}, "ETH": {"decimals": 18}},
    "prices": {"USDC": 1, "BLP": 1, "ETH": 2000},
    "layers": {
        "bstop": {
            "kind": "staking_pool",
            "asset": "BLP",
            "mode": "queue",
            "queue_seconds": 17 * DAY,
            "freeze_borrow_queued_bps": 3000,
            "freeze_supply_queued_bps": 6000,
            "auction_premium_bps": 2000,
            "backstop_threshold": THRESHOLD_LP,
        },
        "rest": {"kind": "socialize"},
    },
    "markets": {
        "m": {"kind": "lending", "debt_asset": "USDC", "collateral": {"ETH": {}}, "waterfall": ["bstop", "rest"]}
    },
    "steps": [
        {"at": 0, "do": "stake", "layer": "bstop", "account": "samwise", "amount": 20_000},
        {"at": 1, "do": "set_status", "layer": "bstop", "status": "active", "expect_error": "NotPermitted"},
        {"at": 2, "do": "stake", "layer": "bstop", "account": "samwise", "amount": 30_000},
        {"at": 3, "do": "set_status", "layer": "bstop", "status": "active"},
        {"at": 4, "do": "set_status", "layer": "bstop", "status": "frozen"},
    ],
}


def test_set_status_as_a_scenario_step_and_exported() -> None:
    """The step in a scenario file (under the threshold refused, then allowed at 50,000), and
    `backstop export` writes it back as the same step, so the exported scenario hashes the same."""
    result = run(load_scenario(SCENARIO))
    pool = result.engine.state.layers["bstop"]
    assert isinstance(pool, StakingPool) and pool.admin_status == "frozen"
    exported = export_scenario(result.engine.commands())
    steps = [s for s in exported["steps"] if s.get("do") == "set_status"]
    assert [s["status"] for s in steps] == ["active", "frozen"]
    again = run(load_scenario(exported))
    assert again.engine.state_hash() == result.engine.state_hash()


def test_a_bad_status_in_a_scenario_names_the_field() -> None:
    bad = {**SCENARIO, "steps": [{"at": 0, "do": "set_status", "layer": "bstop", "status": "open"}]}
    with pytest.raises(ScenarioError) as info:
        load_scenario(bad)
    assert "status" in str(info.value)
