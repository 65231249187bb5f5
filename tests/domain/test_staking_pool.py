"""Staking pool (docs/layers/staking_pool.md): Aave Umbrella / Safety Module slashing, cooldown and unstake
window; Blend's queue-for-withdrawal (Q4W) and backstop freeze thresholds; ERC-4626 virtual
shares.

Sources: Aave Umbrella (bgd-labs/aave-umbrella @ d34359f567da4fbb58685e114cd1b824d8300fac,
`ERC4626StakeTokenUpgradeable.sol`: slash leaves at least `MIN_ASSETS_REMAINING = 1e6` base
units, 1 USDC, and lowers the exchange rate, not the share count; pool 10,000 loss 1,000 →
9,000, pool 501 loss 600 → 500 paid), Aave Safety Module (10-day `COOLDOWN_SECONDS`, 2-day
`UNSTAKE_WINDOW`, 30% max slash: bgd-labs/aave-stk-v1-5 @ 8867dd5b `ProposalPayload.sol`, the
values before stk v1.5 raised the cooldown to 20 days), Blend backstop (`queue_withdrawal` with
a 17-day Q4W lock in v2, 21 days in v1; pool status goes on-ice/frozen at 30% / 60% queued),
OpenZeppelin ERC4626 `_decimalsOffset` virtual shares. All figures in USDC (6 decimals) unless stated.
"""

from __future__ import annotations

from typing import Any

import pytest

from backstop.domain import commands as c
from backstop.domain.errors import InsufficientFunds, InvalidAmount, MarketFrozen, WithdrawNotAllowed
from backstop.domain.layers.staking_pool import StakingPool
from backstop.engine import Engine

from .helpers import DAY, E6, E18, assets, bal, engine, last_loss, layer, layer_bal, lending, ok


def world(**pool: Any) -> Engine:
    """Lending market on USDC with 1M supplied, waterfall [stake, rest]; `pool` configures the stake."""
    e = engine()
    assets(e, USDC=1, ETH=2000)
    layer(e, "stake", "staking_pool", asset="USDC", **pool)
    layer(e, "rest", "socialize")
    lending(e, ("stake", "rest"))
    e.apply(c.Supply(0, "lend", "lp", 1_000_000 * E6))
    return e


def stake(e: Engine) -> StakingPool:
    p = e.state.layers["stake"]
    assert isinstance(p, StakingPool)
    return p


def value(e: Engine, account: str) -> int:
    p = stake(e)
    return p.assets_for_shares(p.shares.get(account, 0), p.total_assets(e.state))


def loss(e: Engine, amount: int, at: int = 1) -> dict[str, int]:
    e.apply(c.Incident(at, "lend", "USDC", amount, "exploit"))
    allocation: dict[str, int] = last_loss(e).allocation
    assert sum(allocation.values()) == amount
    return allocation


def test_umbrella_pool_10000_loss_1000_leaves_9000_and_lowers_the_rate_not_the_shares() -> None:
    e = world()
    e.apply(c.Deposit(0, "stake", "alice", 10_000 * E6))
    shares = stake(e).shares["alice"]
    assert shares == 10_000 * E6 * 1_000  # first deposit: assets × (0 + 10^3) / (0 + 1)
    assert loss(e, 1_000 * E6) == {"stake": 1_000 * E6, "rest": 0}
    assert layer_bal(e, "stake", "USDC") == 9_000 * E6
    assert stake(e).shares["alice"] == shares
    assert value(e, "alice") == 9_000 * E6
    ok(e)


def test_umbrella_min_remaining_assets_pool_501_loss_600_pays_500_passes_100() -> None:
    e = world(min_remaining_assets=1 * E6)
    e.apply(c.Deposit(0, "stake", "alice", 501 * E6))
    assert loss(e, 600 * E6) == {"stake": 500 * E6, "rest": 100 * E6}
    assert layer_bal(e, "stake", "USDC") == 1 * E6
    # A second event finds only the protected token: nothing more is slashed.
    assert loss(e, 10 * E6, at=2) == {"stake": 0, "rest": 10 * E6}
    ok(e)


def test_max_slash_bps_caps_each_event() -> None:
    """Safety Module `MAX_SLASHABLE_PERCENTAGE` 30%: pool 10,000, loss 5,000 → 3,000 slashed and
    2,000 passed on; the next event is capped again on what is left (30% of 7,000 = 2,100)."""
    e = world(max_slash_bps=3_000)
    e.apply(c.Deposit(0, "stake", "alice", 10_000 * E6))
    assert loss(e, 5_000 * E6) == {"stake": 3_000 * E6, "rest": 2_000 * E6}
    assert loss(e, 5_000 * E6, at=2) == {"stake": 2_100 * E6, "rest": 2_900 * E6}
    ok(e)


def test_virtual_shares_defeat_the_first_depositor_donation() -> None:
    """By hand, virtual shares 10^3 and assets 1: the attacker's 1 unit mints 1,000 shares; it
    donates 10,000 USDC (pool 10,000.000001); the victim's 20,000 USDC mints
    floor(2e10 × 2000 / 10,000,000,002) = 3,999 shares, worth floor(3999 × 30,000,000,002 / 5,999)
    = 19,998.333056 USDC; the attacker's 1,000 shares are worth 5,000.833472 USDC — it loses
    half its donation to the virtual position and the victim loses 0.008%."""
    e = world()
    e.apply(c.Deposit(1, "stake", "attacker", 1))
    assert stake(e).shares["attacker"] == 1_000
    e.apply(c.Reward(1, "stake", 10_000 * E6, "user:attacker"))
    e.apply(c.Deposit(2, "stake", "victim", 20_000 * E6))
    assert stake(e).shares["victim"] == 3_999
    assert value(e, "victim") == 19_998_333_056
    assert value(e, "attacker") == 5_000_833_472
    ok(e)


def test_a_deposit_too_small_for_a_share_is_refused() -> None:
    e = world()
    e.apply(c.Deposit(0, "stake", "whale", 1_000 * E6))
    e.apply(c.Reward(0, "stake", 10**15, "external:world"))  # 1 share now costs ~1,001 units
    before = e.state_hash()
    with pytest.raises(InvalidAmount, match="buys no share"):
        e.apply(c.Deposit(1, "stake", "dust", 1_000))
    assert e.state_hash() == before


def test_reward_raises_the_exchange_rate() -> None:
    e = world()
    e.apply(c.Deposit(0, "stake", "alice", 1_000 * E6))
    e.apply(c.Deposit(0, "stake", "bob", 3_000 * E6))
    e.apply(c.Reward(1, "stake", 400 * E6, "external:world"))
    # 4,400 over shares 1e12 : 3e12 (+10^3 virtual shares, +1 virtual unit): 1,100 and 3,300 less rounding.
    assert 1_100 * E6 - 1 <= value(e, "alice") <= 1_100 * E6
    assert 3_300 * E6 - 1 <= value(e, "bob") <= 3_300 * E6
    ok(e)


COOLDOWN = {"cooldown_seconds": 10 * DAY, "unstake_window_seconds": 2 * DAY}


def test_cooldown_then_unstake_window() -> None:
    """Safety Module: request at day 1 → withdrawable in [day 11, day 13]; before is too early,
    after the window the request is void and must be made again."""
    e = world(**COOLDOWN)
    e.apply(c.Deposit(0, "stake", "alice", 1_000 * E6))
    shares = stake(e).shares["alice"]
    with pytest.raises(WithdrawNotAllowed, match="request a withdrawal"):
        e.apply(c.Withdraw(DAY, "stake", "alice", shares=shares))
    e.apply(c.RequestWithdraw(DAY, "stake", "alice", shares=shares))
    req = stake(e).requests["alice"]
    assert (req.ready_at, req.expires_at) == (11 * DAY, 13 * DAY)
    before = e.state_hash()
    with pytest.raises(WithdrawNotAllowed, match="opens at"):
        e.apply(c.Withdraw(11 * DAY - 1, "stake", "alice", shares=shares))
    assert e.state_hash() == before
    e.apply(c.Withdraw(13 * DAY, "stake", "alice", shares=shares // 2))  # last second of the window
    with pytest.raises(WithdrawNotAllowed, match="request again"):
        e.apply(c.Withdraw(13 * DAY + 1, "stake", "alice", shares=shares // 2))
    e.apply(c.RequestWithdraw(13 * DAY + 1, "stake", "alice", shares=shares // 2))
    e.apply(c.Withdraw(23 * DAY + 1, "stake", "alice"))
    assert bal(e, "alice", "USDC") == 1_000 * E6
    assert stake(e).total_shares == 0
    ok(e)


def test_only_requested_shares_can_leave_and_cancel_clears_the_request() -> None:
    e = world(**COOLDOWN)
    e.apply(c.Deposit(0, "stake", "alice", 1_000 * E6))
    shares = stake(e).shares["alice"]
    with pytest.raises(InsufficientFunds):
        e.apply(c.RequestWithdraw(0, "stake", "alice", shares=shares + 1))
    e.apply(c.RequestWithdraw(0, "stake", "alice", shares=shares // 4))
    with pytest.raises(InsufficientFunds, match="only"):
        e.apply(c.Withdraw(10 * DAY, "stake", "alice", shares=shares // 2))
    e.apply(c.CancelWithdraw(10 * DAY, "stake", "alice"))
    assert stake(e).queued_shares == 0
    with pytest.raises(WithdrawNotAllowed):
        e.apply(c.CancelWithdraw(10 * DAY, "stake", "alice"))
    with pytest.raises(WithdrawNotAllowed):
        e.apply(c.Withdraw(10 * DAY, "stake", "alice", shares=1))
    ok(e)


def test_queue_mode_blend_q4w() -> None:
    """Blend backstop: queued shares unlock after `queue_seconds` (17 days) and do not expire."""
    e = world(mode="queue", queue_seconds=17 * DAY)
    e.apply(c.Deposit(0, "stake", "alice", 1_000 * E6))
    e.apply(c.RequestWithdraw(0, "stake", "alice", amount=400 * E6))
    req = stake(e).requests["alice"]
    assert (req.ready_at, req.expires_at) == (17 * DAY, None)
    with pytest.raises(WithdrawNotAllowed):
        e.apply(c.Withdraw(17 * DAY - 1, "stake", "alice"))
    e.apply(c.Withdraw(400 * DAY, "stake", "alice"))
    assert bal(e, "alice", "USDC") == 400 * E6  # shares for 400 rounded up, paid value rounded down
    ok(e)


@pytest.mark.parametrize("pool", [COOLDOWN, {"mode": "queue", "queue_seconds": 17 * DAY}])
def test_queued_shares_are_slashed_like_the_rest(pool: dict[str, Any]) -> None:
    e = world(**pool)
    e.apply(c.Deposit(0, "stake", "leaver", 5_000 * E6))
    e.apply(c.Deposit(0, "stake", "stayer", 5_000 * E6))
    e.apply(c.RequestWithdraw(1, "stake", "leaver", shares=stake(e).shares["leaver"]))
    loss(e, 2_000 * E6, at=2)
    assert value(e, "leaver") == value(e, "stayer") == 4_000 * E6
    e.apply(c.Withdraw(30 * DAY if pool.get("mode") == "queue" else 11 * DAY, "stake", "leaver"))
    assert bal(e, "leaver", "USDC") == 4_000 * E6
    ok(e)


def test_withdraw_by_amount_burns_shares_rounded_up() -> None:
    e = world()  # no cooldown: instant
    e.apply(c.Deposit(0, "stake", "alice", 1_000 * E6))
    e.apply(c.Reward(0, "stake", 1, "external:world"))  # rate 1,000,000,002 / 1,000,000,001,000 per share
    before = stake(e).shares["alice"]
    e.apply(c.Withdraw(1, "stake", "alice", amount=300 * E6))
    burned = before - stake(e).shares["alice"]
    # ceil(3e8 × (1e12 + 1e3) / (1e9 + 1 + 1)) = 299,999,999,700.0000006 → 299,999,999,701
    assert burned == 299_999_999_701
    assert bal(e, "alice", "USDC") == 300 * E6
    ok(e)


def test_freeze_thresholds_refuse_borrows_then_supply() -> None:
    """Blend: with 30% of the backstop queued the pool refuses new borrows; at 50% new supply too."""
    e = engine()
    assets(e, USDC=1, ETH=2000)
    layer(
        e,
        "q4w",
        "staking_pool",
        asset="USDC",
        mode="queue",
        queue_seconds=17 * DAY,
        freeze_borrow_queued_bps=3_000,
        freeze_supply_queued_bps=5_000,
    )
    layer(e, "rest", "socialize")
    lending(e, ("q4w", "rest"))
    e.apply(c.Supply(0, "lend", "lp", 100_000 * E6))
    e.apply(c.Deposit(0, "q4w", "alice", 7_000 * E6))
    e.apply(c.Deposit(0, "q4w", "bob", 3_000 * E6))
    pool = e.state.layers["q4w"]
    assert isinstance(pool, StakingPool)
    e.apply(c.RequestWithdraw(1, "q4w", "bob", shares=pool.shares["bob"]))
    assert pool.queued_bps() == 3_000
    before = e.state_hash()
    with pytest.raises(MarketFrozen):
        e.apply(c.OpenPosition(2, "lend", "borrower", (("ETH", E18),), 100 * E6))
    assert e.state_hash() == before
    e.apply(c.OpenPosition(2, "lend", "borrower", (("ETH", E18),), 0))  # collateral alone is fine
    e.apply(c.Supply(2, "lend", "lp2", 1_000 * E6))
    e.apply(c.RequestWithdraw(3, "q4w", "alice", shares=pool.shares["alice"] * 2 // 7))
    assert pool.queued_bps() == 5_000
    with pytest.raises(MarketFrozen):
        e.apply(c.Supply(4, "lend", "lp3", 1_000 * E6))
    e.apply(c.CancelWithdraw(5, "q4w", "bob"))
    e.apply(c.Supply(5, "lend", "lp3", 1_000 * E6))
    e.apply(c.OpenPosition(5, "lend", "borrower", (), 100 * E6))
    ok(e)


def test_a_pool_in_another_asset_is_sold_with_its_haircut() -> None:
    """A stake in AAVE (100$) covering a USDC loss: sold at the oracle price less 10%
    (Umbrella/Safety Module stakes are sold for the deficit). Loss 900 USDC needs
    900 / (100 × 0.9) = 10 AAVE exactly."""
    e = engine()
    assets(e, USDC=1, ETH=2000, AAVE=100)
    layer(e, "stake", "staking_pool", asset="AAVE", haircut_bps=1_000)
    layer(e, "rest", "socialize")
    lending(e, ("stake", "rest"))
    e.apply(c.Supply(0, "lend", "lp", 10_000 * E6))
    e.apply(c.Deposit(0, "stake", "alice", 50 * E18))
    e.apply(c.Incident(1, "lend", "USDC", 900 * E6, "bug"))
    assert last_loss(e).allocation == {"stake": 900 * E6, "rest": 0}
    assert layer_bal(e, "stake", "AAVE") == 40 * E18
    ok(e)
