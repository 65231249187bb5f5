"""Liquity v1's own test figures, reproduced with the engine's cdp rules (gas compensation,
Normal Mode offsets, Recovery Mode).

Every test cites a test of github.com/liquity/dev at the deployed commit
5174ecd0da4842157aba989499200d690b7e374f (the `version` recorded in
packages/lib-ethers/deployments/default/mainnet.json, deployed 5 April 2021), under
packages/contracts/test/. Liquity's tests open troves through `th.openTrove`
(packages/contracts/utils/testHelpers.js), which derives amounts from a target ICR:
  lusdAmount = getNetBorrowingAmount(MIN_NET_DEBT) + 1 + extraLUSDAmount
  totalDebt  = lusdAmount + LUSD_GAS_COMPENSATION + borrowing fee (0.5% floor, baseRate 0)
  collateral = ICR × totalDebt / price
`liquity_trove` below is that arithmetic, so each test starts from the same troves as Liquity's.
The engine's `open` takes the total debt (reserve included); the borrowing fee itself (paid to
LQTY stakers) is not modelled, only its effect on the debt. Liquity's assertions and tolerances
are quoted in each test; the engine's exact figure is asserted where it is known by hand.
"""

from __future__ import annotations

from typing import Any

import pytest

from backstop.domain import commands as c
from backstop.domain.errors import InsufficientFunds, PositionHealthy, Undercollateralized
from backstop.domain.layers.stability_pool import StabilityPool
from backstop.engine import Engine

from .helpers import E18, bal, engine, layer, ok

COMMIT = "5174ecd0da4842157aba989499200d690b7e374f"
GAS_COMPENSATION = 200 * E18  # LiquityBase.LUSD_GAS_COMPENSATION
MIN_NET_DEBT = 1_800 * E18  # LiquityBase.MIN_NET_DEBT
BORROWING_FEE_FLOOR = 5 * 10**15  # LiquityBase.BORROWING_FEE_FLOOR, 0.5%
MCR_E18 = 11 * 10**17


def liquity_trove(icr_e18: int, price: int, extra: int = 0, fee: bool = True) -> tuple[int, int]:
    """(collateral, total debt) of `th.openTrove({ICR, extraLUSDAmount})` at ETH price `price` USD."""
    min_debt = MIN_NET_DEBT * E18 // (E18 + BORROWING_FEE_FLOOR) + 1
    lusd = min_debt + extra
    borrowing_fee = BORROWING_FEE_FLOOR * lusd // E18
    total_debt = lusd + GAS_COMPENSATION + borrowing_fee
    coll = icr_e18 * total_debt // (price * E18)
    return coll, (total_debt if fee else lusd + GAS_COMPENSATION)


def liquity_world(eth_price: int = 200, redistribution: bool = False) -> Engine:
    """Liquity's market: MCR 110% (liquidation below it: threshold 9091 bps), CCR 150%, 200 LUSD
    and 0.5% of the collateral to the liquidator, a stability pool first (then, with
    `redistribution`, a redistribution layer named `redist`)."""
    e = engine(
        c.AddAsset(0, "LUSD", 18),
        c.AddAsset(0, "ETH", 18),
        c.SetPrice(0, "LUSD", E18),
        c.SetPrice(0, "ETH", eth_price * E18),
    )
    layer(e, "sp", "stability_pool", asset="LUSD")
    if redistribution:
        layer(e, "redist", "redistribution")
    layer(e, "rest", "socialize")
    e.apply(
        c.AddMarket(
            0,
            "troves",
            c.MarketConfig(
                kind="cdp",
                debt_asset="LUSD",
                collateral=(c.CollateralConfig("ETH", 9091, 9091, 0),),
                waterfall=("sp", "redist", "rest") if redistribution else ("sp", "rest"),
                min_collateral_ratio_bps=11_000,
                gas_compensation=GAS_COMPENSATION,
                gas_compensation_collateral_bps=50,
                recovery_ccr_bps=15_000,
            ),
        )
    )
    return e


def open_trove(e: Engine, who: str, coll: int, debt: int, at: int = 0) -> None:
    e.apply(c.OpenPosition(at, "troves", who, (("ETH", coll),), debt))


def pool(e: Engine) -> StabilityPool:
    sp = e.state.layers["sp"]
    assert isinstance(sp, StabilityPool)
    return sp


def deposit_and_gain(e: Engine, who: str) -> tuple[int, int]:
    sp = pool(e)
    snap = sp.deposits[who]
    return sp.compounded(snap), sp.gain(snap, "ETH")


def get_difference(a: int, b: int) -> int:
    """`th.getDifference`."""
    return abs(a - b)


def apply_liquidation_fee(eth: int) -> int:
    """`th.applyLiquidationFee`: ETH × 0.995."""
    return eth * 995 * 10**15 // E18


def tcr_e18(e: Engine) -> int:
    coll, debt_value = e.state.markets["troves"].system_values(_ctx(e))
    return coll * E18 // debt_value


def _ctx(e: Engine) -> Any:
    from backstop.domain.context import Ctx

    return Ctx(e.state, e.state.now, len(e.log))


def test_normal_mode_gas_compensation_and_pro_rata_offset() -> None:
    """TroveManagerTest.js, "liquidate(): liquidates a SP depositor's trove with ICR < 110%, and the
    liquidation correctly impacts their SP deposit and ETH gain" (liquity/dev @ 5174ecd0).

    Carol (ICR 210%) is liquidated at ETH 100 against Bob's 1e24 LUSD deposit: Liquity asserts
    Bob keeps B_sp − C_debt (within 1e6) and gains C_coll × 0.995 (within 1e3). Then Alice
    deposits 3e24 and Bob (ICR 218%) is liquidated: each depositor loses B_debt × deposit / total
    and gains B_coll × 0.995 × deposit / total (within 1e6). The liquidator takes 200 LUSD and
    0.5% of each trove's collateral."""
    a_sp, b_sp = 3 * 10**24, 10**24
    e = liquity_world()
    open_trove(e, "whale", *liquity_trove(20 * E18, 200))
    open_trove(e, "alice", *liquity_trove(8 * E18, 200, a_sp))
    b_coll, b_debt = liquity_trove(218 * 10**16, 200, b_sp)
    c_coll, c_debt = liquity_trove(210 * 10**16, 200, 100 * E18)
    open_trove(e, "bob", b_coll, b_debt)
    open_trove(e, "carol", c_coll, c_debt)
    assert bal(e, "bob", "LUSD") == b_debt - GAS_COMPENSATION  # the borrower receives debt − reserve
    e.apply(c.Deposit(0, "sp", "bob", b_sp))
    e.apply(c.SetPrice(10, "ETH", 100 * E18))
    assert not e.state.markets["troves"].in_recovery_mode(_ctx(e))
    e.apply(c.Liquidate(10, "troves", "carol", "liquidator"))

    bob_before, bob_gain_before = deposit_and_gain(e, "bob")
    assert get_difference(bob_before, b_sp - c_debt) <= 1_000_000
    assert get_difference(bob_gain_before, apply_liquidation_fee(c_coll)) <= 1_000
    assert e.state.ledger.balance(pool(e).account, "ETH") == c_coll - c_coll // 200  # exact: the pool's 99.5%
    assert bal(e, "liquidator", "ETH") == c_coll // 200
    assert bal(e, "liquidator", "LUSD") == GAS_COMPENSATION

    e.apply(c.Deposit(10, "sp", "alice", a_sp))
    e.apply(c.Liquidate(11, "troves", "bob", "liquidator"))
    total = bob_before + a_sp
    alice_after, alice_gain = deposit_and_gain(e, "alice")
    assert get_difference(alice_after, a_sp - b_debt * a_sp // total) <= 1_000_000
    assert get_difference(alice_gain, apply_liquidation_fee(b_coll) * a_sp // total) <= 1_000_000
    bob_after, bob_gain = deposit_and_gain(e, "bob")
    assert get_difference(bob_after, bob_before - b_debt * bob_before // total) <= 1_000_000
    assert get_difference(bob_gain, bob_gain_before + apply_liquidation_fee(b_coll) * bob_before // total) <= 1_000_000
    # The borrowers keep nothing (Normal Mode) and the gas pool is paid out for both.
    for who in ("bob", "carol"):
        pos = e.state.markets["troves"].positions[who]
        assert not any(pos.collateral.values()) and pos.scaled_debt == 0
    assert bal(e, "liquidator", "LUSD") == 2 * GAS_COMPENSATION
    assert e.state.ledger.balance("market:troves:gas_pool", "LUSD") == 2 * GAS_COMPENSATION  # whale, alice
    ok(e)


def test_complete_pool_offsets_restore_the_tcr() -> None:
    """TroveManagerTest.js, "liquidate(): Given the same price and no other trove changes, complete
    Pool offsets restore the TCR to its value prior to the defaulters opening troves"
    (liquity/dev @ 5174ecd0): four defaulters (ICR 202%, 190%, 196%, 200%) are liquidated at
    ETH 100 against a 100M LUSD pool; at ETH 200 again the TCR equals its value before they opened
    (Liquity: `assert.equal(TCR_Before, TCR_After)`)."""
    sp_deposit = 100 * 10**24
    e = liquity_world()
    open_trove(e, "whale", *liquity_trove(4 * E18, 200, sp_deposit))
    e.apply(c.Deposit(0, "sp", "whale", sp_deposit))
    for who, icr in (("alice", 10 * E18), ("bob", 70 * E18), ("carol", 2 * E18), ("dennis", 200 * E18)):
        open_trove(e, who, *liquity_trove(icr, 200))
    tcr_before = tcr_e18(e)
    defaulters = {"d1": 202, "d2": 190, "d3": 196, "d4": 200}
    for who, icr_pct in defaulters.items():
        open_trove(e, who, *liquity_trove(icr_pct * 10**16, 200))
    e.apply(c.SetPrice(10, "ETH", 100 * E18))
    assert not e.state.markets["troves"].in_recovery_mode(_ctx(e))
    for who in defaulters:
        e.apply(c.Liquidate(10, "troves", who))
    e.apply(c.SetPrice(20, "ETH", 200 * E18))
    assert tcr_e18(e) == tcr_before
    ok(e)


def _recovery_world(bob_icr_pct: int) -> tuple[Engine, int, int, int]:
    """TroveManager_RecoveryModeTest.js set-up: Bob (ICR `bob_icr_pct`, 250 LUSD extra), Alice and
    Dennis at 266%; Alice deposits Bob's total debt + 1 in the pool; ETH falls to 100."""
    e = liquity_world()
    b_coll, b_debt = liquity_trove(bob_icr_pct * 10**16, 200, 250 * E18)
    open_trove(e, "bob", b_coll, b_debt)
    open_trove(e, "alice", *liquity_trove(266 * 10**16, 200, b_debt))
    open_trove(e, "dennis", *liquity_trove(266 * 10**16, 200, 2_000 * E18))
    sp_deposit = b_debt + 1
    e.apply(c.Deposit(0, "sp", "alice", sp_deposit))
    e.apply(c.SetPrice(10, "ETH", 100 * E18))
    assert e.state.markets["troves"].in_recovery_mode(_ctx(e))
    return e, b_coll, b_debt, sp_deposit


def test_recovery_mode_capped_offset_leaves_a_claimable_surplus() -> None:
    """TroveManager_RecoveryModeTest.js, "liquidate(), with 110% < ICR < TCR, and StabilityPool
    LUSD > debt to liquidate: offsets the trove entirely with the pool" (liquity/dev @ 5174ecd0).

    Bob's ICR is 120% at ETH 100, above MCR and below the TCR. Liquity asserts Alice's deposit
    becomes spDeposit − B_totalDebt (within 2000), her ETH gain B_totalDebt × 1.1 / price × 0.995
    (within 3000), and Bob's collateral surplus B_coll − B_totalDebt × 1.1 / price, which
    `claimCollateral` pays him."""
    e, b_coll, b_debt, sp_deposit = _recovery_world(240)
    e.apply(c.Liquidate(11, "troves", "bob", "liquidator"))
    deposit, gain = deposit_and_gain(e, "alice")
    capped = b_debt * MCR_E18 // (100 * E18)
    assert get_difference(deposit, sp_deposit - b_debt) <= 2_000
    assert get_difference(gain, apply_liquidation_fee(capped)) <= 3_000
    assert e.state.ledger.balance(pool(e).account, "ETH") == capped - capped // 200  # exact: _getCappedOffsetVals
    assert bal(e, "liquidator", "ETH") == capped // 200
    assert bal(e, "liquidator", "LUSD") == GAS_COMPENSATION
    market = e.state.markets["troves"]
    assert market.claimable["bob"] == {"ETH": b_coll - capped}
    eth_before = bal(e, "bob", "ETH")
    e.apply(c.ClaimCollateral(12, "troves", "bob"))
    assert bal(e, "bob", "ETH") == eth_before + b_coll - capped
    assert "bob" not in market.claimable
    with pytest.raises(InsufficientFunds) as err:
        e.apply(c.ClaimCollateral(13, "troves", "bob"))
    assert err.value.field == "account"
    ok(e)


def test_recovery_mode_icr_equal_to_mcr_leaves_no_surplus() -> None:
    """TroveManager_RecoveryModeTest.js, "liquidate(), with ICR% = 110 < TCR, and StabilityPool
    LUSD > debt to liquidate: offsets the trove entirely with the pool, there's no collateral
    surplus" (liquity/dev @ 5174ecd0): Bob opens at 220%, so at ETH 100 his ICR is exactly
    110%; Liquity asserts `bob_ICR.eq(MCR)` and a surplus of 0."""
    e, _b_coll, b_debt, sp_deposit = _recovery_world(220)
    market = e.state.markets["troves"]
    coll_value, _, _, debt_value = market.values(_ctx(e), market.positions["bob"])
    assert coll_value * E18 // debt_value == MCR_E18
    e.apply(c.Liquidate(11, "troves", "bob"))
    deposit, gain = deposit_and_gain(e, "alice")
    assert get_difference(deposit, sp_deposit - b_debt) <= 2_000
    assert get_difference(gain, apply_liquidation_fee(b_debt * MCR_E18 // (100 * E18))) <= 3_000
    assert market.claimable == {}
    ok(e)


def test_recovery_mode_pool_smaller_than_the_debt_liquidates_nothing() -> None:
    """TroveManager_RecoveryModeTest.js, "liquidate(), with ICR > 110%, and StabilityPool LUSD <
    liquidated debt: nothing happens" (liquity/dev @ 5174ecd0): Alice (266%, 1500 extra), Bob
    (240%), Dennis (266%); the pool holds 100 LUSD; at ETH 100 Liquity reverts with "TroveManager:
    nothing to liquidate" and Bob's trove keeps its debt and collateral."""
    e = liquity_world()
    open_trove(e, "alice", *liquity_trove(266 * 10**16, 200, 1_500 * E18))
    b_coll, b_debt = liquity_trove(240 * 10**16, 200, 250 * E18)
    open_trove(e, "bob", b_coll, b_debt)
    open_trove(e, "dennis", *liquity_trove(266 * 10**16, 200, 2_000 * E18))
    e.apply(c.Deposit(0, "sp", "alice", 100 * E18))
    e.apply(c.SetPrice(10, "ETH", 100 * E18))
    assert e.state.markets["troves"].in_recovery_mode(_ctx(e))
    before = e.state_hash()
    with pytest.raises(PositionHealthy) as err:
        e.apply(c.Liquidate(11, "troves", "bob"))
    assert err.value.field == "account" and "Recovery Mode" in err.value.message
    assert e.state_hash() == before
    market = e.state.markets["troves"]
    assert market.positions["bob"].collateral == {"ETH": b_coll}
    assert market.debt_of(market.positions["bob"]) == b_debt


def test_open_refused_when_it_would_pull_the_tcr_below_the_ccr() -> None:
    """BorrowerOperationsTest.js, "openTrove(): reverts when opening the trove would cause the TCR
    of the system to fall below the CCR" (liquity/dev @ 5174ecd0): at ETH 100 Alice opens at 150%
    (Liquity: `assert.equal(TCR, dec(150, 16))`); Bob's 149% trove is refused."""
    e = liquity_world(eth_price=100)
    open_trove(e, "alice", *liquity_trove(15 * 10**17, 100, 5_000 * E18))
    assert tcr_e18(e) == 15 * 10**17
    before, log_len = e.state_hash(), len(e.log)
    with pytest.raises(Undercollateralized) as err:
        open_trove(e, "bob", *liquity_trove(149 * 10**16, 100, 5_000 * E18))
    assert err.value.field == "debt" and "recovery_ccr_bps" in err.value.message
    assert e.state_hash() == before and len(e.log) == log_len


def test_recovery_mode_open_at_ccr_allowed_and_below_refused() -> None:
    """BorrowerOperationsTest.js, "openTrove(): Can open a trove with ICR >= CCR when system is in
    Recovery Mode" and "openTrove(): reverts when system is in Recovery Mode and ICR < CCR"
    (liquity/dev @ 5174ecd0): Alice and Bob open at 150% (TCR exactly 150%), ETH falls to 100;
    Carol opens at 150% (no borrowing fee in Recovery Mode, so her ICR ends above 150%, as Liquity
    asserts) and a 149% trove is refused."""
    e = liquity_world()
    open_trove(e, "alice", *liquity_trove(15 * 10**17, 200, 5_000 * E18))
    open_trove(e, "bob", *liquity_trove(15 * 10**17, 200, 5_000 * E18))
    assert tcr_e18(e) == 15 * 10**17
    e.apply(c.SetPrice(10, "ETH", 100 * E18))
    market = e.state.markets["troves"]
    assert market.in_recovery_mode(_ctx(e))
    coll, _ = liquity_trove(15 * 10**17, 100, 5_000 * E18)
    _, debt_no_fee = liquity_trove(15 * 10**17, 100, 5_000 * E18, fee=False)
    open_trove(e, "carol", coll, debt_no_fee, at=10)
    coll_value, _, _, debt_value = market.values(_ctx(e), market.positions["carol"])
    assert coll_value * E18 // debt_value > 15 * 10**17
    with pytest.raises(Undercollateralized) as err:
        open_trove(e, "dave", *liquity_trove(149 * 10**16, 100, 5_000 * E18), at=10)
    assert err.value.field == "debt" and "Recovery Mode" in err.value.message
    ok(e)


def test_recovery_mode_debt_increase_may_not_lower_the_icr() -> None:
    """BorrowerOperationsTest.js, "adjustTrove(): debt increase that would reduce the ICR reverts in
    Recovery Mode" (liquity/dev @ 5174ecd0): Alice at 300% and Bob at 200% (10,000 extra each);
    at ETH 105 (Recovery Mode) Alice adding 1 ETH and 150 LUSD (ICR stays above 150% but falls)
    is refused, and so is Bob adding 1 ETH and 450 LUSD (he is below 150%). Pure top-ups and
    repayments are allowed (`addColl(): can add collateral in Recovery Mode`,
    `repayLUSD(): can repay debt in Recovery Mode`)."""
    e = liquity_world()
    open_trove(e, "alice", *liquity_trove(3 * E18, 200, 10_000 * E18))
    open_trove(e, "bob", *liquity_trove(2 * E18, 200, 10_000 * E18))
    e.apply(c.SetPrice(10, "ETH", 105 * E18))
    assert e.state.markets["troves"].in_recovery_mode(_ctx(e))
    for who, debt_increase, message in (
        ("alice", 150 * E18, "may not lower"),
        ("bob", 450 * E18, "recovery_ccr_bps"),
    ):
        before = e.state_hash()
        with pytest.raises(Undercollateralized) as err:
            e.apply(c.OpenPosition(11, "troves", who, (("ETH", E18),), debt_increase))
        assert err.value.field == "debt" and message in err.value.message
        assert e.state_hash() == before
    e.apply(c.AddCollateral(11, "troves", "bob", (("ETH", E18),)))
    e.apply(c.Repay(11, "troves", "alice", 100 * E18))
    ok(e)
