"""Liquity v1's redistribution (`redistribution` layer kind), against Liquity's own tests.

Figures come from github.com/liquity/dev at the deployed commit
5174ecd0da4842157aba989499200d690b7e374f, packages/contracts/test/. Troves are opened as
`th.openTrove({ICR})` does with the default amounts, which gives a total debt of exactly
2000 LUSD (200 of it the gas reserve); the ETH price starts at 200 and "drops to 100". The
stability pool is empty, so each liquidation is a pure redistribution. Where Liquity asserts
within a tolerance (`th.assertIsApproximatelyEqual`, 1000 wei) the exact figures asserted here
are the engine's, which are Liquity's integer rules applied to the same inputs, and each is
also checked against Liquity's expression within Liquity's tolerance.
"""

from __future__ import annotations

import pytest

from backstop.domain import commands as c
from backstop.domain.context import Ctx
from backstop.domain.errors import InvalidConfig
from backstop.domain.layers.redistribution import Redistribution
from backstop.engine import Engine

from .helpers import E18, bal, ok
from .test_liquity_vectors import GAS_COMPENSATION, liquity_trove, liquity_world

COMMIT = "5174ecd0da4842157aba989499200d690b7e374f"


def fee(coll: int) -> int:
    """`th.applyLiquidationFee`: what is left after the 0.5% collateral gas compensation."""
    return coll * 995 * 10**15 // E18


def world() -> Engine:
    return liquity_world(200, redistribution=True)


def open_at(e: Engine, who: str, icr_pct: int, at: int = 0) -> tuple[int, int]:
    coll, debt = liquity_trove(icr_pct * 10**16, 200)
    assert debt == 2000 * E18
    e.apply(c.OpenPosition(at, "troves", who, (("ETH", coll),), debt))
    return coll, debt


def price(e: Engine, usd: int, at: int = 0) -> None:
    e.apply(c.SetPrice(at, "ETH", usd * E18))


def liquidate(e: Engine, who: str, at: int = 0) -> None:
    e.apply(c.Liquidate(at, "troves", who, "liquidator"))


def redist(e: Engine) -> Redistribution:
    r = e.state.layers["redist"]
    assert isinstance(r, Redistribution)
    return r


def entire(e: Engine, who: str) -> tuple[int, int]:
    """(collateral, debt) with pending rewards, as `getEntireDebtAndColl`."""
    m = e.state.markets["troves"]
    full = m.entire(Ctx(e.state, e.state.now, 0), who, m.positions[who])
    return full.collateral.get("ETH", 0), m.debt_of(full)


def test_liquidate_updates_the_snapshots_of_total_stakes_and_total_collateral() -> None:
    """TroveManagerTest.js, "liquidate(): updates the snapshots of total stakes and total
    collateral" (exact `assert.equal`): after B's liquidation totalStakesSnapshot == A's
    collateral and totalCollateralSnapshot == A_coll + applyLiquidationFee(B_coll)."""
    e = world()
    a_coll, _ = open_at(e, "A", 400)
    b_coll, _ = open_at(e, "B", 210)
    r = redist(e)
    assert (r.total_stakes_snapshot, r.total_collateral_snapshot) == (0, 0)
    price(e, 100)
    liquidate(e, "B")
    assert r.total_stakes_snapshot == a_coll == 40 * E18
    assert r.total_collateral_snapshot == a_coll + fee(b_coll) == 60_895 * 10**15
    # Liquity's L_ETH / L_LUSDDebt after one redistribution over A's stake (40 ETH): 20.895 ETH and
    # 2000 LUSD (the reserve included) per 40 units, no remainder.
    assert (r.L_coll, r.L_debt, r.coll_error, r.debt_error) == (522_375_000_000_000_000, 50 * E18, 0, 0)
    assert entire(e, "A") == (60_895 * 10**15, 4000 * E18)
    assert bal(e, "liquidator", "LUSD") == GAS_COMPENSATION
    assert bal(e, "liquidator", "ETH") == b_coll // 200
    ok(e)


def test_redistribution_with_stakes_from_the_snapshots() -> None:
    """TroveManager_LiquidationRewardsTest.js, "redistribution: A, B Open. B Liquidated. C, D Open.
    D Liquidated. Distributes correct rewards": C and D are opened after a liquidation, so their
    stakes come from the snapshots (coll × totalStakesSnapshot / totalCollateralSnapshot)."""
    e = world()
    a_coll, _ = open_at(e, "A", 400)
    b_coll, _ = open_at(e, "B", 210)
    price(e, 100)
    liquidate(e, "B")
    price(e, 200)
    c_coll, _ = open_at(e, "C", 400)
    d_coll, _ = open_at(e, "D", 210)
    r = redist(e)
    assert r.stakes["C"] == 26_274_735_199_934_313_162
    assert r.stakes["D"] == 13_794_235_979_965_514_410
    price(e, 100)
    liquidate(e, "D")
    assert r.L_coll == 837_653_513_553_694_434
    assert r.L_debt == 80_177_412_161_157_639_129
    assert (r.coll_error, r.debt_error) == (53_580_805_530_587_659_692, 52_255_550_933_929_084_102)
    assert (r.total_stakes_snapshot, r.total_collateral_snapshot) == (66_274_735_199_934_313_162, 121_790 * 10**15)
    a_entire, a_debt = entire(e, "A")
    c_entire, c_debt = entire(e, "C")
    # Liquity: A ≈ A1 + A1 × fee(D_coll) / (A1 + C_coll), A1 = A_coll + fee(B_coll); C likewise (±1000 wei).
    a1 = a_coll + fee(b_coll)
    assert abs(a_entire - (a1 + a1 * fee(d_coll) // (a1 + c_coll))) <= 1000
    assert abs(c_entire - (c_coll + c_coll * fee(d_coll) // (a1 + c_coll))) <= 1000
    assert (a_entire, c_entire) == (73_506_140_542_147_777_360, 48_283_859_457_852_222_586)
    assert (a_debt, c_debt) == (5_207_096_486_446_305_565_160, 2_792_903_513_553_694_434_787)
    # The whole system's collateral is A + C + what B and D left after gas compensation (exact).
    held = bal(e, "market:troves:collateral", "ETH") + bal(e, "market:troves:default", "ETH")
    assert held == a_coll + c_coll + fee(b_coll + d_coll) == 121_790 * 10**15
    assert bal(e, "liquidator", "LUSD") == 400 * E18
    ok(e)


def test_redistribution_over_several_troves() -> None:
    """TroveManager_LiquidationRewardsTest.js, "redistribution: A, B, C Open. C Liquidated. D, E, F
    Open. F Liquidated. Distributes correct rewards"."""
    e = world()
    for who, icr in (("A", 400), ("B", 400), ("C", 210)):
        open_at(e, who, icr)
    price(e, 100)
    liquidate(e, "C")
    r = redist(e)
    assert (r.L_coll, r.L_debt, r.coll_error, r.debt_error) == (261_187_500_000_000_000, 25 * E18, 0, 0)
    assert (r.total_stakes_snapshot, r.total_collateral_snapshot) == (80 * E18, 100_895 * 10**15)
    price(e, 200)
    for who, icr in (("D", 400), ("E", 400), ("F", 210)):
        open_at(e, who, icr)
    assert r.stakes["D"] == 31_716_140_542_147_777_392
    price(e, 100)
    liquidate(e, "F")
    assert (r.L_coll, r.L_debt) == (406_866_003_068_078_166, 38_943_862_461_649_022_913)
    assert (r.coll_error, r.debt_error) == (128_097_058_876_352_753_856, 130_649_137_057_137_234_208)
    assert (r.total_stakes_snapshot, r.total_collateral_snapshot) == (143_432_281_084_295_554_784, 201_790 * 10**15)
    for who in ("A", "B"):
        assert entire(e, who) == (56_274_640_122_723_126_640, 3_557_754_498_465_960_916_520)
    for who in ("D", "E"):
        assert entire(e, who) == (44_620_359_877_276_873_295, 2_442_245_501_534_039_083_414)
    assert bal(e, "liquidator", "LUSD") == 400 * E18
    ok(e)


def test_pending_rewards_are_applied_when_the_trove_is_touched() -> None:
    """`_applyPendingRewards` on adjust: A's top-up moves its share from the default pool onto the
    trove, so its recorded debt and collateral become its entire ones and the default pool holds
    only the other troves' shares."""
    e = world()
    open_at(e, "A", 400)
    open_at(e, "B", 400)
    open_at(e, "C", 210)
    price(e, 100)
    liquidate(e, "C")
    before = entire(e, "A")
    e.apply(c.AddCollateral(0, "troves", "A", (("ETH", E18),)))
    m = e.state.markets["troves"]
    assert m.positions["A"].collateral["ETH"] == before[0] + E18
    assert m.debt_of(m.positions["A"]) == before[1]
    assert redist(e).pending("A") == (0, 0)
    assert redist(e).pending("B") != (0, 0)
    ok(e)


def test_with_no_other_trove_the_remainder_passes_to_the_next_layer() -> None:
    """The last trove cannot be redistributed: its collateral is sold and what the sale does not
    repay is a loss for the layers after (the redistribution layer pays no loss event)."""
    e = world()
    open_at(e, "A", 210)
    price(e, 90)
    liquidate(e, "A")
    loss = e.state.losses[-1]
    assert loss.allocation["redist"] == 0 and loss.allocation["rest"] > 0
    assert redist(e).L_debt == 0
    ok(e)


def test_one_redistribution_costs_the_same_whatever_the_number_of_troves() -> None:
    """O(1): a redistribution touches no other trove's record (only the running sums)."""
    e = world()
    for i in range(50):
        open_at(e, f"t{i}", 400)
    open_at(e, "victim", 210)
    records = {k: (dict(p.collateral), p.scaled_debt) for k, p in e.state.markets["troves"].positions.items()}
    price(e, 100)
    liquidate(e, "victim")
    after = e.state.markets["troves"].positions
    assert all((dict(after[k].collateral), after[k].scaled_debt) == records[k] for k in records if k != "victim")


@pytest.mark.parametrize(
    ("waterfall", "kind", "field"),
    [
        (("redist", "sp", "rest"), "cdp", "waterfall"),
        (("sp", "redist", "rest"), "lending", "waterfall"),
    ],
)
def test_a_redistribution_layer_only_follows_the_pool_of_a_cdp(
    waterfall: tuple[str, ...], kind: str, field: str
) -> None:
    e = world()
    before = e.state_hash()
    with pytest.raises(InvalidConfig) as err:
        e.apply(
            c.AddMarket(
                0,
                "m2",
                c.MarketConfig(
                    kind=kind,  # type: ignore[arg-type]
                    debt_asset="LUSD",
                    collateral=(c.CollateralConfig("ETH", 9091, 9091, 0),),
                    waterfall=waterfall,
                ),
            )
        )
    assert err.value.field == field and e.state_hash() == before
