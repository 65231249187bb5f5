"""Stability pool (docs/layers/stability_pool.md) against Liquity v1.

Figures come from Liquity's test suite, `packages/contracts/test/StabilityPool_SPWithdrawalTest.js`
in github.com/liquity/dev at the deployed commit 5174ecd0da4842157aba989499200d690b7e374f
("withdrawFromSP(): Depositors with equal initial deposit withdraw
correct compounded deposit and ETH Gain after one liquidation" and siblings): three depositors
of 10,000 LUSD, a trove of 10,000 LUSD debt and 100 ETH liquidated against the pool. Liquity
pays 0.5% of the collateral to the liquidator as gas compensation, so the pool receives 99.5
ETH; the market here has no gas compensation configured, so the trove holds the 99.5 ETH net
(gas compensation itself is tested in `test_liquity_vectors.py`). Liquity
asserts each depositor ends with 6,666.67 LUSD and 33.1667 ETH within 1e4 (one liquidation) or
1e5 (two) base units. The exact figures below are computed by hand with Liquity's formulas
(`_computeRewardsPerUnitStaked`, `_updateRewardSumAndProduct`, `_getCompoundedStakeFromSnapshots`,
`_getETHGainFromSnapshots` in `StabilityPool.sol`):

one liquidation, 3 × 10,000 deposited, debt 10,000, collateral 99.5:
    lossPerUnit = floor(10,000e18·1e18 / 30,000e18) + 1 = 333,333,333,333,333,334
    P = 1e18·(1e18 − lossPerUnit) / 1e18                 = 666,666,666,666,666,666
    compounded = 10,000e18 · P / 1e18                    = 6,666.666666666666660000 LUSD
    gainPerUnit = floor(99.5e18·1e18 / 30,000e18)         = 3,316,666,666,666,666; S = that · 1e18
    ETH gain = 10,000e18 · S / 1e18 / 1e18               = 33.16666666666666 ETH
"""

from __future__ import annotations

from typing import Any

import pytest

from backstop.domain import commands as c
from backstop.domain.errors import InsufficientFunds, NotPermitted
from backstop.domain.layers.stability_pool.exact import SCALE_FACTOR, StabilityPool
from backstop.engine import Engine

from .helpers import E18, bal, engine, layer, ok

LIQUITY_TOLERANCE_ONE = 10_000
LIQUITY_TOLERANCE_TWO = 100_000


def sp_world(deposits: dict[str, int], troves: dict[str, tuple[int, int]], eth_price: int = 200) -> Engine:
    """A Liquity-like cdp market (MCR 110% as liquidation threshold 9091 bps) behind a stability pool."""
    e = engine(
        c.AddAsset(0, "LUSD", 18),
        c.AddAsset(0, "ETH", 18),
        c.SetPrice(0, "LUSD", E18),
        c.SetPrice(0, "ETH", eth_price * E18),
    )
    layer(e, "sp", "stability_pool", asset="LUSD")
    layer(e, "rest", "socialize")
    e.apply(
        c.AddMarket(
            0,
            "troves",
            c.MarketConfig(
                kind="cdp",
                debt_asset="LUSD",
                collateral=(c.CollateralConfig("ETH", 9091, 9091, 0),),
                waterfall=("sp", "rest"),
                min_collateral_ratio_bps=11_000,
            ),
        )
    )
    for acct, amount in deposits.items():
        e.apply(c.Deposit(0, "sp", acct, amount))
    for acct, (coll, debt) in troves.items():
        e.apply(c.OpenPosition(0, "troves", acct, (("ETH", coll),), debt))
    return e


def sp(e: Engine) -> StabilityPool:
    pool = e.state.layers["sp"]
    assert isinstance(pool, StabilityPool)
    return pool


def crash_and_liquidate(e: Engine, *troves: str, price: int = 100, at: int = 10) -> None:
    e.apply(c.SetPrice(at, "ETH", price * E18))
    for t in troves:
        e.apply(c.Liquidate(at, "troves", t))


def withdraw_all(e: Engine, *accounts: str, at: int = 20) -> None:
    for a in accounts:
        e.apply(c.Withdraw(at, "sp", a))


ABC = {"alice": 10_000 * E18, "bob": 10_000 * E18, "carol": 10_000 * E18}
TROVE = (995 * E18 // 10, 10_000 * E18)  # 99.5 ETH (Liquity's 100 ETH less 0.5% gas compensation), 10,000 LUSD


def test_three_equal_deposits_one_liquidation_liquity_figures() -> None:
    e = sp_world(ABC, {"d1": TROVE})
    crash_and_liquidate(e, "d1")
    pool = sp(e)
    assert pool.P == 666_666_666_666_666_666
    assert pool.total_deposits == 20_000 * E18
    withdraw_all(e, "alice", "bob", "carol")
    for who in ABC:
        lusd, eth = bal(e, who, "LUSD"), bal(e, who, "ETH")
        assert lusd == 6_666_666_666_666_666_660_000
        assert eth == 33_166_666_666_666_660_000
        assert abs(lusd - 6_666_666_666_666_666_666_666) <= LIQUITY_TOLERANCE_ONE
        assert abs(eth - 33_166_666_666_666_666_667) <= LIQUITY_TOLERANCE_ONE
    # The pool never owes more than it holds: what is left after everyone withdrew is dust.
    assert 0 <= bal(e, "layer:sp:assets", "ETH") < 10**5
    ok(e)


def test_three_equal_deposits_two_liquidations_liquity_figures() -> None:
    """Second offset: lossPerUnit = floor((10,000e36 − error₁) / 20,000e18) + 1 = 5e17, so
    P = 666,666,666,666,666,666 × 0.5 = 333,333,333,333,333,333; deposits 3,333.33 LUSD,
    gains 33.1667 + 33.1667 ≈ 66.3333 ETH (Liquity: 3,333.33 and 66.33 within 1e5)."""
    e = sp_world(ABC, {"d1": TROVE, "d2": TROVE})
    crash_and_liquidate(e, "d1", "d2")
    assert sp(e).P == 333_333_333_333_333_333
    withdraw_all(e, "alice", "bob", "carol")
    for who in ABC:
        lusd, eth = bal(e, who, "LUSD"), bal(e, who, "ETH")
        assert lusd == 3_333_333_333_333_333_330_000
        assert eth == 66_333_333_333_333_333_300
        assert abs(lusd - 3_333_333_333_333_333_333_333) <= LIQUITY_TOLERANCE_TWO
        assert abs(eth - 66_333_333_333_333_333_333) <= LIQUITY_TOLERANCE_TWO
    ok(e)


def test_varying_deposits_two_liquidations_liquity_figures() -> None:
    """Liquity: A, B, C deposit 10k, 20k, 30k; two troves of 10k debt / 100 ETH are liquidated;
    expected 6,666.67 / 13,333.33 / 20,000 LUSD and 33.1667 / 66.3333 / 99.5 ETH within 1e5.
    By hand: P₁ = 833,333,333,333,333,333, P₂ = 666,666,666,666,666,666."""
    deposits = {"alice": 10_000 * E18, "bob": 20_000 * E18, "carol": 30_000 * E18}
    e = sp_world(deposits, {"d1": TROVE, "d2": TROVE})
    crash_and_liquidate(e, "d1", "d2")
    assert sp(e).P == 666_666_666_666_666_666
    withdraw_all(e, "alice", "bob", "carol")
    expected = {  # engine exact (by hand), then Liquity's published figure
        "alice": (
            (6_666_666_666_666_666_660_000, 33_166_666_666_666_663_326),
            (6_666_666_666_666_666_666_666, 33_166_666_666_666_666_667),
        ),
        "bob": (
            (13_333_333_333_333_333_320_000, 66_333_333_333_333_326_653),
            (13_333_333_333_333_333_333_333, 66_333_333_333_333_333_333),
        ),
        "carol": ((19_999_999_999_999_999_980_000, 99_499_999_999_999_989_980), (20_000 * E18, 995 * E18 // 10)),
    }
    for who, ((lusd, eth), (liq_lusd, liq_eth)) in expected.items():
        assert bal(e, who, "LUSD") == lusd
        assert bal(e, who, "ETH") == eth
        assert abs(lusd - liq_lusd) <= LIQUITY_TOLERANCE_TWO
        assert abs(eth - liq_eth) <= LIQUITY_TOLERANCE_TWO
    ok(e)


def test_liquidation_that_empties_the_pool_starts_a_new_epoch() -> None:
    """Liquity: when the offset equals the whole pool, lossPerUnit = 1e18, deposits become 0,
    `currentEpoch` goes up and P resets to 1e18. Alice (10,000 LUSD) takes the whole 99.5 ETH;
    a deposit made afterwards is not touched by the old epoch."""
    e = sp_world({"alice": 10_000 * E18}, {"d1": TROVE})
    crash_and_liquidate(e, "d1")
    pool = sp(e)
    assert (pool.epoch, pool.scale, pool.P, pool.total_deposits) == (1, 0, E18, 0)
    assert pool.compounded(pool.deposits["alice"]) == 0
    assert pool.gain(pool.deposits["alice"], "ETH") == 995 * E18 // 10
    e.apply(c.Deposit(11, "sp", "bob", 500 * E18))
    assert pool.compounded(pool.deposits["bob"]) == 500 * E18
    assert pool.gain(pool.deposits["bob"], "ETH") == 0
    withdraw_all(e, "alice", "bob")
    assert bal(e, "alice", "ETH") == 995 * E18 // 10
    assert bal(e, "alice", "LUSD") == 0
    assert bal(e, "bob", "LUSD") == 500 * E18
    ok(e)


def test_debt_larger_than_the_pool_passes_the_rest_on_with_the_matching_collateral() -> None:
    """Pool 10,000 LUSD, trove 15,000 LUSD / 150 ETH (at 150$ health 1.36, at 100$ 0.909):
    the pool absorbs 10,000 and takes 10,000/15,000 of the collateral (100 ETH); the other
    5,000 LUSD of debt is settled by selling the remaining 50 ETH at 100 (5,000 LUSD, no
    bonus, infinitely deep), so nothing is left for the socialize layer."""
    e = sp_world({"alice": 10_000 * E18}, {"d1": (150 * E18, 15_000 * E18)}, eth_price=150)
    crash_and_liquidate(e, "d1")
    pool = sp(e)
    assert pool.gain(pool.deposits["alice"], "ETH") == 100 * E18
    assert pool.epoch == 1
    assert e.state.markets["troves"].debt_of(e.state.markets["troves"].positions["d1"]) == 0
    assert not e.state.losses
    ok(e)


def test_many_liquidations_shrinking_p_below_1e9_keep_precision() -> None:
    """Liquity's scale factor (`SCALE_FACTOR = 1e9`; see `SP_P_TruncationTest.js`): each of
    twelve liquidations absorbs 90% of the pool, so without re-basing P would fall to
    1e18 × 0.1¹² = 1e6 and carry six digits. Alice deposits 1e30 at the start; after eight
    liquidations (P = 1e10, pool 1e22) Bob deposits 9e22; four more take the pool to 1e19 and
    P through 1e9, so the scale goes up once. By hand: Bob's ideal compounded deposit is
    9e22 × 1e-4 = 9e18 and his collateral gain 90% of the last four troves'; Alice has shrunk
    by 1e-12, below Liquity's 1e-9 floor (`compoundedStake < initialStake / 1e9 → 0`), so her
    deposit counts as 0 while her collateral gains are all kept."""
    debts = [9 * 10 ** (29 - k) for k in range(8)] + [9 * 10 ** (22 - k) for k in range(4)]
    troves = {f"t{k:02d}": (d * 3 // 4_000, d) for k, d in enumerate(debts)}  # 150% at 2000$, 75% at 1000$
    e = sp_world({"alice": 10**30}, troves, eth_price=2_000)
    e.apply(c.SetPrice(10, "ETH", 1_000 * E18))
    pool = sp(e)
    for k in range(12):
        if k == 8:
            assert (pool.P, pool.scale) == (10**10, 0)
            e.apply(c.Deposit(10, "sp", "bob", 9 * 10**22))
        e.apply(c.Liquidate(10, "troves", f"t{k:02d}"))
        ok(e)
    assert pool.total_deposits == 10**19
    assert pool.scale == 1
    assert pool.P >= SCALE_FACTOR  # re-based, not truncated towards zero
    bob = pool.compounded(pool.deposits["bob"])
    assert 9 * 10**18 - 9 * 10**9 <= bob <= 9 * 10**18
    assert pool.compounded(pool.deposits["alice"]) == 0
    late = sum(coll for coll, _ in list(troves.values())[8:])
    early = sum(coll for coll, _ in list(troves.values())[:8])
    gain_bob = pool.gain(pool.deposits["bob"], "ETH")
    gain_alice = pool.gain(pool.deposits["alice"], "ETH")
    # Within a relative 1e-9 of the ideal split, and never more than the pool received in total.
    assert abs(gain_bob - late * 9 // 10) <= late // 10**9
    assert abs(gain_alice - (early + late // 10)) <= (early + late) // 10**9
    assert gain_alice + gain_bob <= early + late == bal(e, "layer:sp:assets", "ETH")
    e.apply(c.Withdraw(11, "sp", "bob"))
    assert bal(e, "bob", "LUSD") == bob


def _liquidation_footprint(n_depositors: int) -> tuple[int, list[Any]]:
    deposits = {f"d{i:04d}": 100 * E18 for i in range(n_depositors)}
    e = sp_world(deposits, {"t": (3 * E18, 200 * E18)})  # fits in the smallest pool (300 LUSD)
    pool = sp(e)
    snapshots = dict(pool.deposits)
    e.apply(c.SetPrice(10, "ETH", 50 * E18))
    events = e.apply(c.Liquidate(10, "troves", "t"))
    # Depositor records are the very same objects: the offset never visits them.
    assert all(pool.deposits[k] is v for k, v in snapshots.items())
    return len(events), [ev.kind for ev in events]


def test_offset_is_o1_in_the_number_of_depositors() -> None:
    """Product-sum accounting: a liquidation updates P, S, epoch and scale only, so it emits
    the same events whether 3 or 300 people deposited, and no depositor record changes."""
    small = _liquidation_footprint(3)
    large = _liquidation_footprint(300)
    assert small == large


def test_gains_are_paid_on_a_top_up_and_the_deposit_compounds() -> None:
    """Liquity's provideToSP pays out the ETH gain and re-snapshots the compounded deposit."""
    e = sp_world(ABC, {"d1": TROVE})
    crash_and_liquidate(e, "d1")
    e.apply(c.Deposit(11, "sp", "alice", 1_000 * E18))
    pool = sp(e)
    assert bal(e, "alice", "ETH") == 33_166_666_666_666_660_000
    assert pool.compounded(pool.deposits["alice"]) == 7_666_666_666_666_666_660_000
    assert pool.gain(pool.deposits["alice"], "ETH") == 0
    ok(e)


def test_partial_withdraw_and_over_withdraw() -> None:
    e = sp_world(ABC, {"d1": TROVE})
    crash_and_liquidate(e, "d1")
    e.apply(c.Withdraw(11, "sp", "alice", amount=1_000 * E18))
    assert bal(e, "alice", "LUSD") == 1_000 * E18
    before = e.state_hash()
    with pytest.raises(InsufficientFunds):
        e.apply(c.Withdraw(12, "sp", "alice", amount=5_666_666_666_666_666_660_001))
    with pytest.raises(NotPermitted):
        e.apply(c.Withdraw(12, "sp", "alice", shares=1))
    assert e.state_hash() == before


def test_withdraw_without_a_deposit_is_refused() -> None:
    """Regression: Liquity's withdrawFromSP requires a non-zero deposit
    (`_requireUserHasDeposit`). The engine used to accept it, record an empty deposit for
    the account and emit a zero withdrawal — a refused command must change nothing."""
    e = sp_world(ABC, {})
    before = e.state_hash()
    with pytest.raises(InsufficientFunds):
        e.apply(c.Withdraw(1, "sp", "mallory"))
    assert "mallory" not in sp(e).deposits
    assert e.state_hash() == before
    e.apply(c.Withdraw(1, "sp", "alice"))
    with pytest.raises(InsufficientFunds):  # emptied: nothing left to withdraw
        e.apply(c.Withdraw(2, "sp", "alice"))
