"""The staking-pool options of three deployed protocols, each checked against figures from the
protocol's own test suite (docs/references.md, "Issue 12"):

- Aave Safety Module v1.5, bgd-labs/aave-stk-v1-5 @ 3dbba868a21a19075562e43c6137e049aa6f22bc,
  tests/SlashingValidation.t.sol;
- Aave Umbrella, bgd-labs/aave-umbrella @ d34359f567da4fbb58685e114cd1b824d8300fac,
  tests/umbrella/Umbrella.t.sol and tests/stakeToken/Slashing.t.sol;
- Blend v2, blend-capital/blend-contracts-v2 @ ba22b487b2c5057a4ecc28b05b5193c28e4bd117, unit tests
  inside pool/src/auctions/*.rs, pool/src/pool/user.rs and pool/src/pool/status.rs.

Losses are market incidents in the pool's own asset, so a slash is in the protocol's units.
"""

from __future__ import annotations

from typing import Any

import pytest

from backstop.domain import commands as c
from backstop.domain.errors import InsufficientFunds, InvalidAmount, InvalidConfig, NotPermitted, WithdrawNotAllowed
from backstop.domain.layers.staking_pool import StakingPool, auction
from backstop.engine import Engine

from .helpers import DAY, E6, E18, bal, engine, layer, layer_bal, lending, ok


def pool_world(asset: str, decimals: int, supply: int, *layers: tuple[str, str, dict[str, Any]]) -> Engine:
    """A lending market on `asset` with `supply` base units supplied and the given waterfall."""
    e = engine()
    e.apply(c.AddAsset(0, asset, decimals))
    e.apply(c.SetPrice(0, asset, E18))
    e.apply(c.AddAsset(0, "ETH", 18))
    e.apply(c.SetPrice(0, "ETH", 2000 * E18))
    for lid, kind, kw in layers:
        layer(e, lid, kind, **kw)
    lending(e, tuple(lid for lid, _, _ in layers), debt=asset)
    e.apply(c.Supply(0, "lend", "lp", supply))
    return e


def sm(e: Engine, lid: str = "sm") -> StakingPool:
    p = e.state.layers[lid]
    assert isinstance(p, StakingPool)
    return p


# -- Aave Safety Module v1.5 --------------------------------------------------------------------------
STK = {
    "asset": "AAVE",
    "cooldown_seconds": 1_728_000,  # ProposalPayload.sol:27, 20 days
    "unstake_window_seconds": 172_800,  # :29, 2 days
    "max_slash_bps": 3000,  # :25, MAX_SLASHING 30%
    "post_slash_lock": True,
    "virtual_shares": 1,
    "virtual_assets": 1,
}


def stk_world(**over: Any) -> Engine:
    e = pool_world("AAVE", 18, 1000 * E18, ("sm", "staking_pool", {**STK, **over}), ("rest", "socialize", {}))
    e.apply(c.Deposit(0, "sm", "user", 10 * E18))
    return e


def test_stk_slash20_redeem_without_cooldown() -> None:
    """`test_slash20Redeem` (SlashingValidation.t.sol:64-74): stake 10e18, slash 20%, redeem with no
    cooldown in the post-slashing period → 8e18. `test_slashExchangeRate` (:48-59): the receiver
    gets exactly the slashed 2e18 and the rate is 1.25 shares per asset (0.8 assets per share)."""
    e = stk_world()
    e.apply(c.Incident(DAY, "lend", "AAVE", 2 * E18, "exploit"))
    assert e.state.losses[-1].allocation["sm"] == 2 * E18
    assert sm(e).view(e.state).exchange_rate == 800_000  # 1 / 1.25
    e.apply(c.Withdraw(DAY, "sm", "user", None, None))  # no request, no cooldown
    assert bal(e, "user", "AAVE") == 8 * E18
    ok(e)


def test_stk_post_slash_period_passes_losses_and_refuses_stakes() -> None:
    """StakedTokenV3.sol:277 (no second slash until settled) and :447 (`SLASHING_ONGOING`)."""
    e = stk_world()
    e.apply(c.Incident(DAY, "lend", "AAVE", 2 * E18, "exploit"))
    e.apply(c.Incident(DAY, "lend", "AAVE", 1 * E18, "exploit"))
    assert e.state.losses[-1].allocation == {"sm": 0, "rest": E18}
    with pytest.raises(NotPermitted) as err:
        e.apply(c.Deposit(DAY, "sm", "late", E18))
    assert err.value.field == "post_slash_lock"


def test_stk_settle_then_stake_and_cooldown_again() -> None:
    """`test_slash20Stake` (:94-100): after settling, 1e18 buys 1.25e18 shares (here within the one
    base unit the virtual offset costs); `testFail_slash20RedeemToLate` (:79-89): after settling a
    redeem needs the cooldown again."""
    e = stk_world()
    e.apply(c.Incident(DAY, "lend", "AAVE", 2 * E18, "exploit"))
    e.apply(c.SettleSlashing(DAY, "sm"))
    e.apply(c.Deposit(DAY, "sm", "late", E18))
    assert abs(sm(e).shares["late"] - 125 * E18 // 100) <= 1
    with pytest.raises(WithdrawNotAllowed):
        e.apply(c.Withdraw(DAY, "sm", "user", None, None))
    e.apply(c.Incident(2 * DAY, "lend", "AAVE", E18, "exploit"))  # slashable again after settling
    assert e.state.losses[-1].allocation["sm"] == E18


def test_stk_slash_more_than_max() -> None:
    """`test_slashMoreThanMax` (:185-198): slashing more than the maximum takes 30% of 10e18 = 3e18."""
    e = stk_world()
    e.apply(c.Incident(DAY, "lend", "AAVE", 100 * E18, "exploit"))
    assert e.state.losses[-1].allocation["sm"] == 3 * E18


def test_settle_slashing_refused_without_the_option() -> None:
    e = stk_world(post_slash_lock=False)
    before = e.state_hash(), len(e.log)
    with pytest.raises(NotPermitted) as err:
        e.apply(c.SettleSlashing(DAY, "sm"))
    assert err.value.field == "layer" and (e.state_hash(), len(e.log)) == before


# -- Aave Umbrella --------------------------------------------------------------------------------------
def umbrella_world(stake: int, fee_bps: int = 0, offset: int = 0) -> Engine:
    """Umbrella.t.sol set-up: 6-decimal reserve, oracle 1:1, a stake token on that reserve, the
    Collector receiving slashed funds; the waterfall ends in the reserve deficit."""
    e = engine()
    e.apply(c.AddAsset(0, "USDC", 6))
    e.apply(c.SetPrice(0, "USDC", E18))
    e.apply(c.AddAsset(0, "ETH", 18))
    e.apply(c.SetPrice(0, "ETH", 2000 * E18))
    layer(e, "collector", "treasury", asset="USDC")
    layer(
        e,
        "umb",
        "staking_pool",
        asset="USDC",
        deficit_offset=offset,
        liquidation_fee_bps=fee_bps,
        liquidation_fee_to="collector",
    )
    layer(e, "deficit", "deficit")
    lending(e, ("umb", "deficit"), debt="USDC")
    e.apply(c.Supply(0, "lend", "lp", 100_000 * E6))
    e.apply(c.Deposit(0, "umb", "staker", stake))
    return e


def collected(e: Engine) -> int:
    """What left the stake token: the cover paid into the reserve plus the fee to the Collector."""
    return e.state.losses[-1].allocation["umb"] + layer_bal(e, "collector", "USDC")


def test_umbrella_slash() -> None:
    """`test_slash` (Umbrella.t.sol:691-729): deficit 1,000e6, stake 10,000e6 → 9,000e6 left,
    1,000e6 collected."""
    e = umbrella_world(10_000 * E6)
    e.apply(c.Incident(DAY, "lend", "USDC", 1000 * E6, "exploit"))
    assert layer_bal(e, "umb", "USDC") == 9000 * E6 and collected(e) == 1000 * E6
    assert e.state.markets["lend"].deficit.get("USDC", 0) == 0


def test_umbrella_slash_half_deficit_keeps_the_floor() -> None:
    """`test_slashHalfDeficit` (:731-770): stake 501e6, deficit 1,000e6 → 1e6 left
    (MIN_ASSETS_REMAINING), 500e6 covered; the rest stays the reserve's deficit."""
    e = umbrella_world(501 * E6)
    e.apply(c.Incident(DAY, "lend", "USDC", 1000 * E6, "exploit"))
    assert layer_bal(e, "umb", "USDC") == 1 * E6
    assert e.state.losses[-1].allocation == {"umb": 500 * E6, "deficit": 500 * E6}
    assert e.state.markets["lend"].deficit["USDC"] == 500 * E6


@pytest.mark.parametrize(("lb", "collector", "left"), [(100, 1010, 8990), (500, 1050, 8950), (10_000, 2000, 8000)])
def test_umbrella_liquidation_fee(lb: int, collector: int, left: int) -> None:
    """`test_slashWithNonZeroLb(lb)` (:886-933): deficit 1,000e6, stake 10,000e6; the collector gets
    1,000e6 × (1 + lb), covered stays 1,000e6."""
    e = umbrella_world(10_000 * E6, fee_bps=lb)
    e.apply(c.Incident(DAY, "lend", "USDC", 1000 * E6, "exploit"))
    assert e.state.losses[-1].allocation["umb"] == 1000 * E6
    assert collected(e) == collector * E6 and layer_bal(e, "umb", "USDC") == left * E6


def test_umbrella_fee_when_the_slash_is_capped() -> None:
    """`test_slashWithNonZeroLbExceedDeficit` (:935-978), lb = 500: deficit and stake 10,000e6 →
    9,999e6 collected, 1e6 left, covered floor(10,000e6 × 9,999e6 / 10,500e6) = 9,522,857,142."""
    e = umbrella_world(10_000 * E6, fee_bps=500)
    e.apply(c.Incident(DAY, "lend", "USDC", 10_000 * E6, "exploit"))
    assert e.state.losses[-1].allocation["umb"] == 9_522_857_142
    assert collected(e) == 9_999 * E6 and layer_bal(e, "umb", "USDC") == E6


def test_umbrella_offset_then_cover_from_the_treasury() -> None:
    """`test_coverDeficitOffsetReserveVirtualOffWithManualIncrease` (:152-195): offset 2,000e6, deficit
    1,000e6 (not slashed); covering 1,500e6 covers only the 1,000e6 deficit and 1,000e6 of offset is
    left. `test_coverPendingDeficitReserveVirtualOff` (:246-305): covering 500e6 twice takes the
    deficit 1,000e6 → 500e6 → 0."""
    e = umbrella_world(10_000 * E6, offset=2000 * E6)
    e.apply(c.Deposit(0, "collector", "dao", 1500 * E6))
    e.apply(c.Incident(DAY, "lend", "USDC", 1000 * E6, "exploit"))
    assert layer_bal(e, "umb", "USDC") == 10_000 * E6
    assert e.state.markets["lend"].deficit["USDC"] == 1000 * E6
    assert sm(e, "umb").view(e.state).deficit_offset_left == 1000 * E6
    e.apply(c.CoverDeficit(DAY, "lend", "collector", 1500 * E6))
    assert e.state.markets["lend"].deficit["USDC"] == 0 and layer_bal(e, "collector", "USDC") == 500 * E6
    ok(e)

    e = umbrella_world(10_000 * E6, offset=0)
    e.apply(c.Deposit(0, "collector", "dao", 1000 * E6))
    e.apply(c.Incident(DAY, "lend", "USDC", 20_000 * E6, "exploit"))  # 9,999e6 slashed, the rest a deficit
    owed = e.state.markets["lend"].deficit["USDC"]
    e.apply(c.CoverDeficit(DAY, "lend", "collector", 500 * E6))
    e.apply(c.CoverDeficit(DAY, "lend", "collector", 500 * E6))
    assert e.state.markets["lend"].deficit["USDC"] == owed - 1000 * E6


@pytest.mark.parametrize(("a", "x"), [(10**6 + 1, 1), (10_000 * E6, 9_999 * E6), (123_456_789, 100_000_000)])
def test_umbrella_single_depositor_keeps_assets_minus_slash(a: int, x: int) -> None:
    """Slashing.t.sol `test_slash` (:44-64, fuzzed): a single depositor of A slashed by x ≤ A − 1e6 can
    redeem exactly A − x (our virtual offsets give floor(A·(A−x+1)/(A+1)), the same formula)."""
    e = umbrella_world(a)
    e.apply(c.Incident(DAY, "lend", "USDC", x, "exploit"))
    p = sm(e, "umb")
    assert p.assets_for_shares(p.shares["staker"], p.total_assets(e.state)) == a - x


def test_umbrella_rewards_are_separate_and_never_slashed() -> None:
    """RewardsController.sol: rewards accrue per share and are paid from outside the stake token, so
    a slash cannot take them and they never raise the exchange rate."""
    e = umbrella_world(1000 * E6)
    e2 = engine()  # a separate-rewards pool
    for cmd in [
        c.AddAsset(0, "USDC", 6),
        c.SetPrice(0, "USDC", E18),
        c.AddAsset(0, "ETH", 18),
        c.SetPrice(0, "ETH", 2000 * E18),
    ]:
        e2.apply(cmd)
    layer(e2, "umb", "staking_pool", asset="USDC", rewards="separate")
    layer(e2, "deficit", "deficit")
    lending(e2, ("umb", "deficit"), debt="USDC")
    e2.apply(c.Supply(0, "lend", "lp", 100_000 * E6))
    e2.apply(c.Deposit(0, "umb", "a", 1000 * E6))
    e2.apply(c.Deposit(0, "umb", "b", 3000 * E6))
    rate = sm(e2, "umb").view(e2.state).exchange_rate
    e2.apply(c.Reward(DAY, "umb", 100 * E6, "emissions"))
    assert sm(e2, "umb").view(e2.state).exchange_rate == rate
    e2.apply(c.Incident(DAY, "lend", "USDC", 4000 * E6, "exploit"))
    assert layer_bal(e2, "umb", "USDC") == E6  # slashed to Umbrella's floor
    e2.apply(c.ClaimRewards(DAY, "umb", "a"))
    e2.apply(c.ClaimRewards(DAY, "umb", "b"))
    assert abs(bal(e2, "a", "USDC") - 25 * E6) <= 1 and abs(bal(e2, "b", "USDC") - 75 * E6) <= 1
    with pytest.raises(NotPermitted):
        e.apply(c.ClaimRewards(DAY, "umb", "staker"))  # compound pool: nothing to claim
    ok(e2)


def test_umbrella_fee_needs_a_treasury() -> None:
    e = engine()
    e.apply(c.AddAsset(0, "USDC", 6))
    layer(e, "sp2", "staking_pool", asset="USDC")
    with pytest.raises(InvalidConfig) as err:
        layer(e, "umb", "staking_pool", asset="USDC", liquidation_fee_bps=100)
    assert err.value.field == "liquidation_fee_to"
    with pytest.raises(InvalidConfig) as err:
        layer(e, "umb", "staking_pool", asset="USDC", liquidation_fee_bps=100, liquidation_fee_to="sp2")
    assert err.value.field == "liquidation_fee_to"


# -- Blend ------------------------------------------------------------------------------------------
def blend_world(debt_price_e7: int, lp_price_e7: int, tokens: int, threshold: int) -> Engine:
    e = engine()
    e.apply(c.AddAsset(0, "USDC", 7))
    e.apply(c.SetPrice(0, "USDC", debt_price_e7 * 10**11))
    e.apply(c.AddAsset(0, "BLP", 7))
    e.apply(c.SetPrice(0, "BLP", lp_price_e7 * 10**11))
    e.apply(c.AddAsset(0, "ETH", 18))
    e.apply(c.SetPrice(0, "ETH", 2000 * E18))
    layer(e, "bs", "staking_pool", asset="BLP", auction_premium_bps=2000, backstop_threshold=threshold, mode="queue")
    layer(e, "lenders", "socialize")
    lending(e, ("bs", "lenders"), debt="USDC")
    e.apply(c.Supply(0, "lend", "lp", 1_000_000 * 10**7))
    e.apply(c.Deposit(0, "bs", "bea", tokens))
    return e


def test_blend_bad_debt_auction_lot() -> None:
    """`test_create_bad_debt_auction` (bad_debt_auction.rs:944-1074): debt worth 34_0000000 at a
    backstop-token spot of 1_2500000 → lot 32_6400000 (34 × 1.2 / 1.25). The test's two reserves
    (11 at 2, 3 at 4) are one reserve of the same value here: 17 at 2."""
    e = blend_world(2_0000000, 1_2500000, 1000 * 10**7, threshold=1000 * 10**7)
    e.apply(c.Incident(DAY, "lend", "USDC", 17 * 10**7, "exploit"))
    a = sm(e, "bs").auction
    assert a is not None and a.lot == 32_6400000
    assert e.state.losses[-1].allocation == {"bs": 17 * 10**7, "lenders": 0}
    with pytest.raises(WithdrawNotAllowed):  # withdrawal.rs:55-59, BadDebtExists
        e.apply(c.Withdraw(DAY, "bs", "bea", None, None))


@pytest.mark.parametrize(
    ("block", "lot_pct", "bid_pct"), [(0, 0, 100), (100, 50, 100), (200, 100, 100), (300, 100, 50), (400, 100, 0)]
)
def test_blend_ramp(block: int, lot_pct: int, bid_pct: int) -> None:
    """`test_scale_auction_100_fill_pct` (auction.rs:2565-2680): bid = lot = 100_0000000 at +0, +100,
    +200, +300, +400 blocks → lot 0, 50, 100, 100, 100 and bid 100, 100, 100, 50, 0."""
    lot_mod, bid_mod = auction.modifiers(block)
    assert 100_0000000 * lot_mod // auction.SCALAR_7 == lot_pct * 10**7
    assert 100_0000000 * bid_mod // auction.SCALAR_7 == bid_pct * 10**7


def test_blend_fill_pays_the_scaled_bid_and_keeps_the_rest_as_liability() -> None:
    """The fill in the engine at +300 blocks: the filler pays half the debt and receives the whole
    lot; the other half stays the backstop's liability while it is above the threshold, and a new
    auction starts. Bids round up (`test_scale_auction_not_100_fill_pct`, auction.rs:2683-2812:
    25_0000005 × 50% → 12_5000003)."""
    e = blend_world(1_0000000, 1_0000000, 1000 * 10**7, threshold=100 * 10**7)
    e.apply(c.Incident(DAY, "lend", "USDC", 25_0000005, "exploit"))
    lot = sm(e, "bs").auction.lot  # type: ignore[union-attr]
    e.apply(c.FillAuction(DAY, "bs", "filler", 300))
    assert bal(e, "filler", "BLP") == lot
    assert sm(e, "bs").liabilities == {("lend", "USDC"): 25_0000005 - 12_5000003}
    assert sm(e, "bs").auction is not None
    ok(e)


def test_blend_write_off_below_threshold() -> None:
    """bad_debt.rs:100-120: after a full fill that leaves the backstop below ~5% of its threshold
    (threshold^5 < 0_0000003), the remaining liability is written off to lenders. Below it from
    the start, a loss passes on at once. status.rs threshold tests (:1082-1187): 10% of the
    threshold tokens → 0_0000100, 5% → 0_0000003, which is not below."""
    e = blend_world(1_0000000, 1_0000000, 100 * 10**7, threshold=1000 * 10**7)
    e.apply(c.Incident(DAY, "lend", "USDC", 500 * 10**7, "exploit"))
    e.apply(c.FillAuction(DAY, "bs", "filler", 300))  # lot = all 100 tokens, bid 50% = 250
    loss = e.state.losses[-1]
    assert loss.allocation == {"bs": 250 * 10**7, "lenders": 250 * 10**7}
    assert sm(e, "bs").liabilities == {} and e.state.markets["lend"].socialized_total == 250 * 10**7
    e.apply(c.Incident(DAY, "lend", "USDC", 10 * 10**7, "exploit"))
    assert e.state.losses[-1].allocation == {"bs": 0, "lenders": 10 * 10**7}
    ok(e)
    # 0_0000003 is reached at (3e-7)^(1/5) = 4.9593% of the threshold tokens
    for tokens, below in [(20_000, False), (10_000, False), (9_919, False), (9_918, True)]:
        e = blend_world(1_0000000, 1_0000000, tokens * 10**7, threshold=200_000 * 10**7)
        assert auction.below_threshold(sm(e, "bs"), e.state) is below, tokens


def test_blend_default_cuts_lenders_like_b_rate() -> None:
    """`test_default_liabilities_reduces_b_rate` (user.rs:567-603): b_rate 1.25 over 750 b-tokens,
    20 d-tokens at d_rate 1.5 defaulted → b_rate 1.21. Here lenders hold 937.5 and 30 is written off:
    each supplier keeps 1.21 / 1.25 of the value."""
    e = engine()
    e.apply(c.AddAsset(0, "USDC", 7))
    e.apply(c.SetPrice(0, "USDC", E18))
    e.apply(c.AddAsset(0, "ETH", 18))
    e.apply(c.SetPrice(0, "ETH", 2000 * E18))
    layer(e, "lenders", "socialize")
    lending(e, ("lenders",), debt="USDC")
    e.apply(c.Supply(0, "lend", "lp", 937_5000000))
    e.apply(c.Incident(DAY, "lend", "USDC", 30 * 10**7, "exploit"))
    m = e.state.markets["lend"]
    assert m.supply_value(m.supply_shares["lp"]) == 907_5000000  # 937.5 × 1.21 / 1.25


def test_blend_bad_block_and_no_auction_refused_unchanged() -> None:
    e = blend_world(1_0000000, 1_0000000, 1000 * 10**7, threshold=100 * 10**7)
    before = e.state_hash(), len(e.log)
    with pytest.raises(NotPermitted) as err:
        e.apply(c.FillAuction(DAY, "bs", "filler", 10))
    assert err.value.field == "layer" and (e.state_hash(), len(e.log)) == before
    e.apply(c.Incident(DAY, "lend", "USDC", 10 * 10**7, "exploit"))
    before = e.state_hash(), len(e.log)
    with pytest.raises(InvalidAmount) as err2:
        e.apply(c.FillAuction(DAY, "bs", "filler", -1))
    assert err2.value.field == "block" and (e.state_hash(), len(e.log)) == before


def test_cover_deficit_bad_values_leave_nothing_applied() -> None:
    e = umbrella_world(501 * E6)
    e.apply(c.Incident(DAY, "lend", "USDC", 1000 * E6, "exploit"))
    before = e.state_hash(), len(e.log)
    with pytest.raises(InsufficientFunds) as err:
        e.apply(c.CoverDeficit(DAY, "lend", "collector", 100 * E6))  # the collector holds no USDC
    assert err.value.field == "amount" and (e.state_hash(), len(e.log)) == before
    with pytest.raises(NotPermitted) as err3:
        e.apply(c.CoverDeficit(DAY, "lend", "deficit", 100 * E6))
    assert err3.value.field == "layer" and (e.state_hash(), len(e.log)) == before
    with pytest.raises(InsufficientFunds) as err4:
        e.apply(c.WithdrawSupply(DAY, "lend", "lp", 99_900 * E6))  # beyond cash while the deficit is open
    assert err4.value.field == "amount" and "deficit" in err4.value.message


def test_cover_deficit_from_a_staking_pool_is_a_slash() -> None:
    """Governance covering a v3.3 deficit from a v1.5 Safety Module: a slash within the 30% cap, which
    opens the post-slashing period (a second cover is refused until settled)."""
    e = pool_world(
        "AAVE",
        18,
        100 * E18,
        ("fund", "insurance_fund", {"asset": "AAVE", "max_payout_per_event": E18}),
        ("sm_end", "deficit", {}),
    )
    layer(e, "sm", "staking_pool", **STK)
    e.apply(c.Deposit(0, "sm", "user", 10 * E18))
    e.apply(c.Incident(DAY, "lend", "AAVE", 5 * E18, "exploit"))  # fund pays 0 (empty): 5e18 deficit
    assert e.state.markets["lend"].deficit["AAVE"] == 5 * E18
    with pytest.raises(InsufficientFunds) as err:
        e.apply(c.CoverDeficit(DAY, "lend", "sm", 4 * E18))  # above the 30% cap of 3e18
    assert err.value.field == "amount"
    e.apply(c.CoverDeficit(DAY, "lend", "sm", 3 * E18))
    assert e.state.markets["lend"].deficit["AAVE"] == 2 * E18 and layer_bal(e, "sm", "AAVE") == 7 * E18
    with pytest.raises(NotPermitted) as err2:
        e.apply(c.CoverDeficit(DAY, "lend", "sm", E18))
    assert err2.value.field == "post_slash_lock"
    e.apply(c.SettleSlashing(DAY, "sm"))
    e.apply(c.CoverDeficit(DAY, "lend", "sm", 5 * E18))  # clamped to the 2e18 owed
    assert e.state.markets["lend"].deficit["AAVE"] == 0 and layer_bal(e, "sm", "AAVE") == 5 * E18
    ok(e)


@pytest.mark.parametrize(
    ("block", "percent", "bid_paid", "bid_left", "lot_paid", "lot_left"),
    [
        (0, 50, 12_5000003, 12_5000002, 0, 12_5000003),
        (100, 60, 15_0000003, 10_0000002, 7_5000001, 10_0000002),
        (300, 60, 7_5000002, 10_0000002, 15_0000003, 10_0000002),
        (400, 50, 0, 12_5000002, 12_5000002, 12_5000003),
    ],
)
def test_blend_partial_fill_scales_as_blend(
    block: int, percent: int, bid_paid: int, bid_left: int, lot_paid: int, lot_left: int
) -> None:
    """`test_scale_auction_not_100_fill_pct` (blend-contracts-v2 @ba22b487, pool/src/auctions/
    auction.rs:2683-2812): bid = lot = 25_0000005, filled 50% at +0, 60% at +100 and +300, 50% at
    +400 blocks; Blend's asserted bid/lot paid and left, to the unit."""
    pay, left, lot, rest = auction.scale((25_0000005,), 25_0000005, block, percent)
    assert (pay, left, lot, rest) == ((bid_paid,), (bid_left,), lot_paid, lot_left)


def test_blend_partial_fill_leaves_the_rest_on_auction() -> None:
    """A 60% fill at +100 blocks pays 60% of the bid and takes 60% × 50% of the lot; the rest stays
    on auction with its start unchanged, so a later fill of the rest at +300 sees the bid's fall.
    After that full fill the rest of the liability starts the next auction (above threshold)."""
    e = blend_world(1_0000000, 1_0000000, 1000 * 10**7, threshold=100 * 10**7)
    e.apply(c.Incident(DAY, "lend", "USDC", 25_0000005, "exploit"))
    first = sm(e, "bs").auction
    assert first is not None
    e.apply(c.FillAuction(DAY, "bs", "filler", 100, percent=60))
    rest = sm(e, "bs").auction
    assert rest is not None and rest.started_at == first.started_at
    assert rest.bid == (("lend", "USDC", 10_0000002),)
    assert rest.lot == first.lot - first.lot * 60 // 100
    assert bal(e, "filler", "BLP") == first.lot * 60 // 100 // 2
    assert sm(e, "bs").liabilities == {("lend", "USDC"): 25_0000005 - 15_0000003}
    ok(e)
    e.apply(c.FillAuction(DAY, "bs", "filler", 300))
    assert sm(e, "bs").liabilities == {("lend", "USDC"): 10_0000002 - 5_0000001}
    nxt = sm(e, "bs").auction
    assert nxt is not None and nxt.bid == (("lend", "USDC", 5_0000001),)
    ok(e)


def test_blend_partial_fill_percent_refused_unchanged() -> None:
    """Blend panics on 0 or more than 100 percent (`test_scale_auction_fill_percentage_zero`,
    auction.rs); the engine refuses naming `percent` and changes nothing."""
    e = blend_world(1_0000000, 1_0000000, 1000 * 10**7, threshold=100 * 10**7)
    e.apply(c.Incident(DAY, "lend", "USDC", 25_0000005, "exploit"))
    before = e.state_hash()
    for bad in (0, 101):
        with pytest.raises(InvalidAmount) as err:
            e.apply(c.FillAuction(DAY, "bs", "filler", 100, percent=bad))
        assert err.value.field == "percent"
    assert e.state_hash() == before
