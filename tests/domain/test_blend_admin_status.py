"""Blend's admin-set pool status (staking-pool option `admin_status`, docs/layers/staking_pool.md):
the thresholds of blend-capital/blend-contracts-v2 at ba22b487b2c5057a4ecc28b05b5193c28e4bd117,
pool/src/pool/status.rs `execute_update_pool_status` (:11-64). Admin active stays active under
50% queued for withdrawal (Q4W), admin on-ice stays on ice under 75%; past them the admin status
is gone and the permissionless thresholds (30% on ice, 60% frozen) apply. Each case reproduces a
test of status.rs, named in its docstring: 50,000 backstop shares deposited, the named part queued.
"""

from __future__ import annotations

import pytest

from backstop.domain import commands as c
from backstop.domain.errors import InvalidConfig, MarketFrozen
from backstop.domain.layers.staking_pool import StakingPool
from backstop.engine import Engine
from backstop.scenario.errors import ScenarioError
from backstop.scenario.loader import load_scenario

from .helpers import DAY, E6, assets, engine, layer, lending, ok

E18 = 10**18


def world(admin_status: str = "none") -> tuple[Engine, StakingPool]:
    """A lending market backed by a Blend-style backstop in queue mode with Blend's permissionless
    thresholds (on ice at 30%, frozen at 60%) and the given admin status; samwise deposits 50,000."""
    e = engine()
    assets(e, USDC=1, ETH=2000)
    opts = {"admin_status": admin_status} if admin_status != "none" else {}
    layer(
        e,
        "bstop",
        "staking_pool",
        asset="USDC",
        mode="queue",
        queue_seconds=17 * DAY,
        freeze_borrow_queued_bps=3_000,
        freeze_supply_queued_bps=6_000,
        **opts,
    )
    layer(e, "rest", "socialize")
    lending(e, ("bstop", "rest"))
    e.apply(c.Supply(0, "lend", "lp", 100_000 * E6))
    e.apply(c.OpenPosition(0, "lend", "borrower", (("ETH", 10 * E18),), 0))
    e.apply(c.Deposit(0, "bstop", "samwise", 50_000 * E6))
    pool = e.state.layers["bstop"]
    assert isinstance(pool, StakingPool)
    return e, pool


def queue(e: Engine, pool: StakingPool, tokens: int) -> None:
    """samwise queues `tokens` of his 50,000 for withdrawal (Blend `queue_withdrawal`)."""
    e.apply(c.RequestWithdraw(e.state.now, "bstop", "samwise", shares=pool.shares["samwise"] * tokens // 50_000))
    assert pool.queued_bps() == tokens * 10_000 // 50_000


def can_borrow(e: Engine) -> bool:
    before = e.state_hash()
    try:
        e.apply(c.OpenPosition(e.state.now, "lend", "borrower", (), 100 * E6))
    except MarketFrozen:
        assert e.state_hash() == before
        return False
    return True


def can_supply(e: Engine) -> bool:
    try:
        e.apply(c.Supply(e.state.now, "lend", "lp2", 1_000 * E6))
    except MarketFrozen:
        return False
    return True


def test_permissionless_30_percent_puts_the_pool_on_ice() -> None:
    """status.rs `test_update_pool_status_on_ice_30_q4w`: 15,000 of 50,000 queued → on ice (3)."""
    e, pool = world()
    queue(e, pool, 15_000)
    assert not can_borrow(e) and can_supply(e)


def test_admin_active_stays_active_at_30_percent() -> None:
    """status.rs `test_update_pool_status_on_ice_30_q4w_admin_active`: admin active (0), 15,000
    queued → stays admin active (0)."""
    e, pool = world("active")
    queue(e, pool, 15_000)
    assert pool.admin_status == "active"
    assert can_borrow(e) and can_supply(e)
    ok(e)


def test_admin_active_goes_on_ice_at_50_percent_for_good() -> None:
    """status.rs `test_update_pool_status_on_ice_50_q4w_admin_active`: admin active, 25,000 queued
    → on ice (3, permissionless). The admin status does not come back when the queue shrinks: the
    pool then follows the permissionless thresholds (under 30% it is active again, status.rs:59)."""
    e, pool = world("active")
    queue(e, pool, 24_999)
    assert pool.admin_status == "active"
    events = e.apply(c.RequestWithdraw(e.state.now, "bstop", "samwise", shares=pool.shares["samwise"] // 2))
    assert pool.queued_bps() == 5_000
    lost = [ev for ev in events if ev.kind == "pool_status"]
    assert lost and lost[0].data["admin_status"] == "active" and lost[0].data["q4w_bps"] == 5_000
    assert pool.admin_status == "none"
    assert not can_borrow(e) and can_supply(e)
    queue(e, pool, 20_000)  # a new request replaces the old: 40% queued, still on ice
    assert not can_borrow(e)
    e.apply(c.CancelWithdraw(e.state.now, "bstop", "samwise"))
    assert pool.admin_status == "none" and can_borrow(e)
    ok(e)


def test_admin_on_ice_stays_on_ice_at_60_percent() -> None:
    """status.rs `test_update_pool_status_frozen_admin_on_ice`: admin on-ice (2), 30,000 queued →
    stays on ice (2), where the permissionless rule would freeze (`test_update_pool_status_frozen`)."""
    e, pool = world("on_ice")
    assert not can_borrow(e)  # on ice from the start: no new borrows
    queue(e, pool, 30_000)
    assert pool.admin_status == "on_ice"
    assert not can_borrow(e) and can_supply(e)
    e2, pool2 = world()
    queue(e2, pool2, 30_000)
    assert not can_supply(e2)


def test_admin_on_ice_freezes_at_75_percent() -> None:
    """status.rs `test_update_pool_status_frozen_75_q4w`: admin on-ice, 40,000 queued → frozen (5)."""
    e, pool = world("on_ice")
    queue(e, pool, 37_499)
    assert pool.admin_status == "on_ice" and can_supply(e)
    queue(e, pool, 40_000)
    assert pool.admin_status == "none"
    assert not can_borrow(e) and not can_supply(e)
    ok(e)


def test_admin_frozen_refuses_borrows_and_supply() -> None:
    """status.rs: admin frozen (4) supersedes every other status (`test_update_pool_status_admin_frozen`):
    the market takes no supply (and so lends nothing) while the backstop still takes deposits."""
    e = engine()
    assets(e, USDC=1, ETH=2000)
    layer(
        e,
        "bstop",
        "staking_pool",
        asset="USDC",
        mode="queue",
        freeze_borrow_queued_bps=3_000,
        freeze_supply_queued_bps=6_000,
        admin_status="frozen",
    )
    layer(e, "rest", "socialize")
    lending(e, ("bstop", "rest"))
    e.apply(c.Deposit(0, "bstop", "samwise", 50_000 * E6))
    assert not can_supply(e) and not can_borrow(e)
    pool = e.state.layers["bstop"]
    assert isinstance(pool, StakingPool)
    queue(e, pool, 45_000)
    assert pool.admin_status == "frozen"


def test_admin_active_under_the_backstop_threshold_loses_its_status() -> None:
    """status.rs:47: admin active goes on ice when the backstop is under its threshold. Here a
    Blend backstop (auction, threshold 45,000) pays a 10,000 loss through its auction: the lot
    (12,000 with Blend's 20% premium, filled at block 200) leaves 38,000 < 45,000."""
    e = engine()
    assets(e, USDC=1, ETH=2000)
    layer(
        e,
        "bstop",
        "staking_pool",
        asset="USDC",
        mode="queue",
        queue_seconds=17 * DAY,
        freeze_borrow_queued_bps=3_000,
        freeze_supply_queued_bps=6_000,
        admin_status="active",
        auction_premium_bps=2_000,
        backstop_threshold=45_000 * E6,
    )
    layer(e, "rest", "socialize")
    lending(e, ("bstop", "rest"))
    e.apply(c.Supply(0, "lend", "lp", 100_000 * E6))
    e.apply(c.Deposit(0, "bstop", "samwise", 50_000 * E6))
    pool = e.state.layers["bstop"]
    assert isinstance(pool, StakingPool)
    e.apply(c.Incident(1, "lend", "USDC", 10_000 * E6, "exploit"))
    assert pool.admin_status == "active"  # the debt is the backstop's liability; its assets are whole
    e.apply(c.FillAuction(2, "bstop", "keeper", 200))
    assert pool.total_assets(e.state) == 38_000 * E6
    assert pool.admin_status == "none"


def test_admin_status_needs_the_permissionless_thresholds() -> None:
    e = engine()
    assets(e, USDC=1)
    with pytest.raises(InvalidConfig) as err:
        layer(e, "bstop", "staking_pool", asset="USDC", admin_status="active", freeze_supply_queued_bps=6_000)
    assert err.value.field == "admin_status"


def test_an_unknown_admin_status_is_refused_naming_it() -> None:
    spec = {
        "name": "bad",
        "assets": {"USDC": {"decimals": 6}},
        "prices": {"USDC": 1},
        "layers": {
            "bstop": {"kind": "staking_pool", "asset": "USDC", "admin_status": "boss"},
            "rest": {"kind": "socialize"},
        },
        "markets": {},
        "steps": [],
    }
    with pytest.raises(ScenarioError) as err:
        load_scenario(spec)
    assert "admin_status" in err.value.field
