"""Markets (docs/engine.md, "Markets"): utilisation-based interest with a reserve factor, health, liquidation
with close factor, bonus, protocol fee and depth-based price impact, bad debt, cdp minimum
collateral ratio.

Sources: Aave v3 `DefaultReserveInterestRateStrategy` (kinked rate: base + slope1 · U/U*, then
+ slope2 · (U − U*)/(1 − U*)), `ReserveLogic` (reserve factor), `LiquidationLogic` (close
factor 50%, 100% below HF 0.95, liquidation bonus, liquidation protocol fee as a share of
the bonus); Liquity / Maker minimum collateral ratio (MCR 110%). Hand computations below are
in USD e18 and USDC base units (6 decimals).
"""

from __future__ import annotations

from typing import Any

import pytest

from backstop.domain import commands as c
from backstop.domain.errors import InvalidAmount, InvalidConfig, PositionHealthy, Undercollateralized
from backstop.domain.markets.interest import RAY, borrow_rate_bps, grow_index, utilization_bps
from backstop.domain.markets.liquidation import impact_bps
from backstop.domain.money import WAD
from backstop.engine import Engine

from .helpers import E6, E18, YEAR, assets, bal, engine, last_loss, layer, layer_bal, lending, ok

ETH_CFG = c.CollateralConfig("ETH", ltv_bps=8_000, liquidation_threshold_bps=8_500, liquidation_bonus_bps=500)


def world(collateral: c.CollateralConfig = ETH_CFG, **market: Any) -> Engine:
    e = engine()
    assets(e, USDC=1, ETH=2000)
    layer(e, "fund", "insurance_fund", asset="USDC")
    layer(e, "rest", "socialize")
    lending(e, ("fund", "rest"), collateral=(collateral,), **market)
    return e


def test_kinked_rate_model() -> None:
    cfg = c.MarketConfig("lending", "USDC", (ETH_CFG,), ("rest",), base_rate_bps=100, slope1_bps=400, slope2_bps=6_000)
    assert utilization_bps(50, 50) == 5_000
    assert utilization_bps(0, 0) == 0
    assert borrow_rate_bps(cfg, 5_000) == 100 + 400 * 5_000 // 8_000  # 350
    assert borrow_rate_bps(cfg, 8_000) == 500
    assert borrow_rate_bps(cfg, 9_000) == 100 + 400 + 6_000 * 1_000 // 2_000  # 3,500
    assert borrow_rate_bps(cfg, 10_000) == 6_500
    # A year at 2.5% grows the index by exactly 2.5%; any remainder rounds the index up.
    assert grow_index(RAY, 250, YEAR) == RAY * 1_025 // 1_000
    assert grow_index(RAY, 1, 1) == RAY + (RAY + 10_000 * YEAR - 1) // (10_000 * YEAR)


def test_interest_accrues_on_utilisation_and_the_reserve_factor_feeds_the_fund() -> None:
    """Supply 100,000, borrow 50,000: U = 50%, rate = 4% × 50/80 = 2.5% a year. After one year
    the borrower owes 51,250; of the 1,250 interest 10% (125) goes to the fund and 1,125 to
    the suppliers."""
    e = world(slope1_bps=400, reserve_factor_bps=1_000)
    e.apply(c.Supply(0, "lend", "lp", 100_000 * E6))
    e.apply(c.OpenPosition(0, "lend", "bob", (("ETH", 100 * E18),), 50_000 * E6))
    e.apply(c.Advance(YEAR))
    m = e.state.markets["lend"]
    assert m.debt_of(m.positions["bob"]) == 51_250 * E6
    assert m.interest_total == 1_250 * E6
    assert layer_bal(e, "fund", "USDC") == 125 * E6
    assert m.supply_assets == 101_125 * E6
    e.apply(c.Repay(YEAR, "lend", "bob", 51_250 * E6))
    assert m.debt_of(m.positions["bob"]) == 0
    with pytest.raises(InvalidAmount):
        e.apply(c.Repay(YEAR, "lend", "bob", 1))
    ok(e)


def test_cdp_stability_fee_is_minted_to_the_fee_layer() -> None:
    """Maker-style stability fee: 2% a year on 10,000 LUSD = 200 LUSD minted to the fund."""
    e = engine()
    assets(e, LUSD=1, ETH=2000)
    layer(e, "fund", "insurance_fund", asset="LUSD")
    layer(e, "rest", "socialize")
    e.apply(c.AddMarket(0, "cdp", c.MarketConfig("cdp", "LUSD", (ETH_CFG,), ("fund", "rest"), base_rate_bps=200)))
    e.apply(c.OpenPosition(0, "cdp", "bob", (("ETH", 10 * E18),), 10_000 * E18))
    e.apply(c.Advance(YEAR))
    assert layer_bal(e, "fund", "LUSD") == 200 * E18
    assert bal(e, "external:issuer", "LUSD") == -10_200 * E18
    ok(e)


def test_borrow_limit_is_the_ltv() -> None:
    """10 ETH at 2000$ with LTV 80% borrows at most 16,000 USDC."""
    e = world()
    e.apply(c.Supply(0, "lend", "lp", 100_000 * E6))
    before = e.state_hash()
    with pytest.raises(Undercollateralized):
        e.apply(c.OpenPosition(0, "lend", "bob", (("ETH", 10 * E18),), 16_000 * E6 + 1))
    assert e.state_hash() == before
    e.apply(c.OpenPosition(0, "lend", "bob", (("ETH", 10 * E18),), 16_000 * E6))
    ok(e)


def test_cdp_minimum_collateral_ratio() -> None:
    """Liquity MCR 110%: 1.6 ETH at 200$ = 320$ mints up to 290.9 LUSD; 290 passes
    (110.3%), 291 is refused (109.97%)."""
    e = engine()
    assets(e, LUSD=1, ETH=200)
    layer(e, "rest", "socialize")
    cfg = c.CollateralConfig("ETH", 9_091, 9_091, 0)
    e.apply(c.AddMarket(0, "cdp", c.MarketConfig("cdp", "LUSD", (cfg,), ("rest",), min_collateral_ratio_bps=11_000)))
    with pytest.raises(Undercollateralized):
        e.apply(c.OpenPosition(0, "cdp", "t1", (("ETH", 16 * E18 // 10),), 291 * E18))
    e.apply(c.OpenPosition(0, "cdp", "t1", (("ETH", 16 * E18 // 10),), 290 * E18))
    assert bal(e, "t1", "LUSD") == 290 * E18
    with pytest.raises(InvalidConfig):  # a cdp holds no LUSD pool that an exploit could drain
        e.apply(c.Incident(1, "cdp", "LUSD", E18, "exploit"))
    ok(e)


def borrowed(collateral: c.CollateralConfig = ETH_CFG, **market: Any) -> Engine:
    """Bob: 10 ETH at 2000$, 15,000 USDC debt (health 20,000 × 0.85 / 15,000 = 1.1333)."""
    e = world(collateral, **market)
    e.apply(c.Supply(0, "lend", "lp", 100_000 * E6))
    e.apply(c.OpenPosition(0, "lend", "bob", (("ETH", 10 * E18),), 15_000 * E6))
    return e


def test_health() -> None:
    e = borrowed()
    m = e.state.markets["lend"]
    from backstop.domain.context import Ctx

    ctx = Ctx(e.state, 0, 0)
    assert m.health_bps(ctx, m.positions["bob"]) == 11_333
    e.apply(c.SetPrice(1, "ETH", 1_700 * E18))
    assert m.health_bps(ctx, m.positions["bob"]) == 9_633


def test_liquidating_a_healthy_position_is_refused() -> None:
    e = borrowed()
    before = e.state_hash()
    with pytest.raises(PositionHealthy):
        e.apply(c.Liquidate(1, "lend", "bob"))
    assert e.state_hash() == before


def test_close_factor_bonus_and_fee() -> None:
    """ETH falls to 1,700$: health 0.9633 ≥ 0.95, so the close factor (50%) applies.
    Target 7,500 USDC; with the 5% bonus the keeper seizes 7,875 / 1,700 = 4.632352941176470589
    ETH (rounded up); sold at the oracle price (no depth limit) for 7,875 USDC; the bonus
    7,875 × 5/105 = 375 is the keeper's, of which 10% (37.5) is the protocol's fee to the fund;
    7,500 repays debt."""
    e = borrowed(liquidation_fee_bps=1_000, close_factor_bps=5_000)
    e.apply(c.SetPrice(1, "ETH", 1_700 * E18))
    e.apply(c.Liquidate(1, "lend", "bob", keeper="kim"))
    m = e.state.markets["lend"]
    pos = m.positions["bob"]
    assert m.debt_of(pos) == 7_500 * E6
    assert pos.collateral["ETH"] == 10 * E18 - 4_632_352_941_176_470_589
    assert bal(e, "kim", "USDC") == 337_500_000
    assert layer_bal(e, "fund", "USDC") == 37_500_000
    assert not e.state.losses
    ok(e)


def test_price_impact_rounds_against_the_seller() -> None:
    """Same liquidation into a book 100,000$ deep with k = 100%: impact = 10,000 bps ×
    7,875.0000000000000013 / 100,000 = 787.5… bps, rounded up to 788. Net proceeds
    7,875 × 0.9212 = 7,254.45 USDC; the keeper keeps 5/105 of that (345.45), 6,909 repays debt,
    leaving 8,091."""
    cfg = c.CollateralConfig("ETH", 8_000, 8_500, 500, depth_value=100_000, impact_k_bps=10_000)
    assert impact_bps(100_000, 10_000, 9_000, 7_875 * WAD + 1_300) == 788
    assert impact_bps(100_000, 10_000, 9_000, 10**30) == 9_000  # capped at max_impact_bps
    assert impact_bps(0, 10_000, 9_000, 10**30) == 0  # no depth given: infinitely deep
    e = borrowed(cfg, close_factor_bps=5_000)
    e.apply(c.SetPrice(1, "ETH", 1_700 * E18))
    events = e.apply(c.Liquidate(1, "lend", "bob", keeper="kim"))
    sold = next(ev.data for ev in events if ev.kind == "collateral_sold")
    assert (sold["impact_bps"], sold["proceeds"], sold["repaid"]) == (788, 7_254_450_000, 6_909_000_000)
    m = e.state.markets["lend"]
    assert m.debt_of(m.positions["bob"]) == 8_091 * E6
    ok(e)


def test_bad_debt_becomes_a_loss_event() -> None:
    """ETH falls to 1,000$: health 0.567 < 0.95, so the whole position is closed. All 10 ETH
    sell for 10,000 USDC; the keeper keeps 10,000 × 5/105 = 476.190476; 9,523.809524 repays;
    5,476.190476 of debt is left with no collateral: bad debt, run through [fund, rest]. The
    fund holds 1,000, the rest is socialized."""
    e = borrowed()
    e.apply(c.Deposit(0, "fund", "dao", 1_000 * E6))
    e.apply(c.SetPrice(1, "ETH", 1_000 * E18))
    e.apply(c.Liquidate(1, "lend", "bob"))
    loss = last_loss(e)
    assert (loss.cause, loss.asset, loss.amount) == ("bad_debt", "USDC", 5_476_190_476)
    assert loss.allocation == {"fund": 1_000 * E6, "rest": 4_476_190_476}
    m = e.state.markets["lend"]
    assert m.debt_of(m.positions["bob"]) == 0
    assert m.bad_debt_total == 5_476_190_476
    assert bal(e, "keeper", "USDC") == 476_190_476
    ok(e)


def test_liquidating_a_closed_position_says_it_has_no_debt() -> None:
    """Once a full liquidation closed the debt, a second call is refused with a message that
    says why (no debt), not 'healthy (health None bps)'."""
    e = Engine(check_invariants=True)
    assets(e, USDC=1, ETH=2000)
    layer(e, "rest", "socialize")
    lending(e, ("rest",))
    e.apply(c.Supply(0, "lend", "a", 10_000 * E6))
    e.apply(c.OpenPosition(0, "lend", "b", (("ETH", E18),), 1_500 * E6))
    e.apply(c.SetPrice(1, "ETH", 1_000 * E18))
    e.apply(c.Liquidate(2, "lend", "b"))
    before = e.state_hash()
    with pytest.raises(PositionHealthy, match="b has no debt in lend"):
        e.apply(c.Liquidate(3, "lend", "b"))
    assert e.state_hash() == before
