"""The cdp rules taken from Liquity v1 (liquity/dev @ 5174ecd0da4842157aba989499200d690b7e374f):
refusals that name their field and change nothing, the gas-compensation reserve through a
trove's life, and Normal Mode's "the borrower keeps no collateral"."""

from __future__ import annotations

from typing import Any

import pytest

from backstop.domain import commands as c
from backstop.domain.errors import BackstopError, InsufficientFunds, InvalidAmount, InvalidConfig
from backstop.engine import Engine
from backstop.scenario.errors import ScenarioError
from backstop.scenario.loader import scenario_from_data

from .helpers import E18, bal, engine, layer, layer_bal, ok

G = 200 * E18


def world(**market: Any) -> Engine:
    e = engine(
        c.AddAsset(0, "LUSD", 18),
        c.AddAsset(0, "ETH", 18),
        c.AddAsset(0, "WBTC", 18),
        c.SetPrice(0, "LUSD", E18),
        c.SetPrice(0, "ETH", 200 * E18),
        c.SetPrice(0, "WBTC", 200 * E18),
    )
    layer(e, "sp", "stability_pool", asset="LUSD")
    layer(e, "fund", "insurance_fund", asset="LUSD")
    layer(e, "rest", "socialize")
    cfg: dict[str, Any] = {
        "kind": "cdp",
        "debt_asset": "LUSD",
        "collateral": (c.CollateralConfig("ETH", 9091, 9091, 0),),
        "waterfall": ("sp", "fund", "rest"),
        "min_collateral_ratio_bps": 11_000,
        "gas_compensation": G,
        "gas_compensation_collateral_bps": 50,
        "recovery_ccr_bps": 15_000,
    }
    cfg.update(market)
    e.apply(c.AddMarket(0, "troves", c.MarketConfig(**cfg)))
    return e


BAD_MARKETS = [
    ("negative gas compensation", {"gas_compensation": -1}, "gas_compensation"),
    ("collateral share over 100%", {"gas_compensation_collateral_bps": 10_001}, "gas_compensation_collateral_bps"),
    ("negative collateral share", {"gas_compensation_collateral_bps": -5}, "gas_compensation_collateral_bps"),
    ("CCR at the MCR", {"recovery_ccr_bps": 11_000}, "recovery_ccr_bps"),
    ("CCR over 1,000,000 bps", {"recovery_ccr_bps": 1_000_001}, "recovery_ccr_bps"),
    (
        "Recovery Mode with two collaterals",
        {"collateral": (c.CollateralConfig("ETH"), c.CollateralConfig("WBTC"))},
        "recovery_ccr_bps",
    ),
    (
        "gas compensation on a lending market",
        {"kind": "lending", "recovery_ccr_bps": 0, "gas_compensation_collateral_bps": 0, "min_collateral_ratio_bps": 0},
        "gas_compensation",
    ),
]


@pytest.mark.parametrize(("name", "fields", "field"), BAD_MARKETS, ids=[b[0] for b in BAD_MARKETS])
def test_bad_market_fields_are_refused_by_name(name: str, fields: dict[str, Any], field: str) -> None:
    e = world()
    base: dict[str, Any] = {
        "kind": "cdp",
        "debt_asset": "LUSD",
        "collateral": (c.CollateralConfig("ETH", 9091, 9091, 0),),
        "waterfall": ("fund", "rest"),
        "min_collateral_ratio_bps": 11_000,
        "gas_compensation": G,
        "gas_compensation_collateral_bps": 50,
        "recovery_ccr_bps": 15_000,
    }
    before, log_len = e.state_hash(), len(e.log)
    with pytest.raises(InvalidConfig) as err:
        e.apply(c.AddMarket(1, "other", c.MarketConfig(**{**base, **fields})))
    assert err.value.field == field and field in err.value.message
    assert e.state_hash() == before and len(e.log) == log_len


def _opened() -> Engine:
    e = world()
    e.apply(c.OpenPosition(0, "troves", "a", (("ETH", 10 * E18),), 1_000 * E18))
    e.apply(c.OpenPosition(0, "troves", "b", (("ETH", 10 * E18),), 1_000 * E18))
    return e


BAD_COMMANDS = [
    ("debt no larger than the reserve", c.OpenPosition(1, "troves", "x", (("ETH", E18),), G), InvalidAmount, "debt"),
    ("repay into the reserve", c.Repay(1, "troves", "a", 800 * E18 + 1), InvalidAmount, "amount"),
    ("claim with nothing to claim", c.ClaimCollateral(1, "troves", "a"), InsufficientFunds, "account"),
    ("claim in an unknown market", c.ClaimCollateral(1, "nope", "a"), BackstopError, "market"),
]


@pytest.mark.parametrize(("name", "cmd", "error", "field"), BAD_COMMANDS, ids=[b[0] for b in BAD_COMMANDS])
def test_refusals_change_nothing(name: str, cmd: Any, error: type[BackstopError], field: str) -> None:
    e = _opened()
    before, log_len = e.state_hash(), len(e.log)
    with pytest.raises(error) as err:
        e.apply(cmd)
    assert err.value.field == field and field in err.value.message
    assert e.state_hash() == before and len(e.log) == log_len


def test_the_reserve_is_minted_to_the_gas_pool_and_burned_when_the_trove_closes() -> None:
    """Liquity `openTrove` (composite debt = net debt + 200 LUSD, the 200 minted to the GasPool)
    and `closeTrove` (the borrower repays debt − 200, the GasPool's 200 is burned)."""
    e = _opened()
    assert bal(e, "a", "LUSD") == 800 * E18
    assert e.state.ledger.balance("market:troves:gas_pool", "LUSD") == 2 * G
    e.apply(c.Repay(1, "troves", "a", 800 * E18))
    market = e.state.markets["troves"]
    assert market.debt_of(market.positions["a"]) == 0
    assert market.positions["a"].gas_reserve == 0
    assert e.state.ledger.balance("market:troves:gas_pool", "LUSD") == G
    # A later debt increase of a trove with debt does not take a second reserve.
    e.apply(c.OpenPosition(2, "troves", "b", (), 100 * E18))
    assert market.positions["b"].gas_reserve == G
    assert bal(e, "b", "LUSD") == 900 * E18
    ok(e)


def test_normal_mode_borrower_keeps_no_collateral_with_a_small_pool() -> None:
    """Liquity `_liquidateNormalMode`: the borrower keeps nothing. The pool offsets 500 of
    the 1,000 LUSD debt and takes half of the 9.95 ETH left after the 0.05 ETH gas compensation;
    the other 4.975 ETH (worth 497.5 LUSD at 100) is sold for the other 500 LUSD, the shortfall
    of 2.5 LUSD is bad debt, paid by the insurance fund."""
    e = _opened()
    e.apply(c.Deposit(0, "fund", "dao", 10 * E18))
    e.apply(c.Deposit(0, "sp", "alice", 500 * E18))
    e.apply(c.SetPrice(1, "ETH", 100 * E18))
    market = e.state.markets["troves"]
    e.apply(c.AddCollateral(1, "troves", "b", (("ETH", 100 * E18),)))  # keep TCR >= 150%
    assert not market.in_recovery_mode(_ctx(e))
    e.apply(c.Liquidate(2, "troves", "a", "kim"))
    pos = market.positions["a"]
    assert not any(pos.collateral.values()) and pos.scaled_debt == 0
    assert bal(e, "kim", "ETH") == E18 // 20 and bal(e, "kim", "LUSD") == G
    assert layer_bal(e, "sp", "ETH") == 4_975 * E18 // 1_000
    assert bal(e, "a", "ETH") == 0
    assert e.state.losses[-1].amount == 25 * E18 // 10
    assert e.state.losses[-1].allocation["fund"] == 25 * E18 // 10
    ok(e)


def test_sale_beyond_the_debt_goes_to_the_fee_layer_not_the_borrower() -> None:
    """Until redistribution exists, what the sale of an unoffset trove's collateral raises
    beyond its debt goes to the protocol (the fee layer), never back to the borrower."""
    e = _opened()
    e.apply(c.AddCollateral(0, "troves", "b", (("ETH", 100 * E18),)))
    e.apply(c.SetPrice(1, "ETH", 105 * E18))  # a: 10 ETH × 105 = 1,050 vs 1,000 debt: 105%
    e.apply(c.Liquidate(2, "troves", "a", "kim"))
    # 9.95 ETH sold at 105 = 1,044.75 LUSD: 1,000 repays the debt, 44.75 to the fund.
    assert layer_bal(e, "fund", "LUSD") == 4_475 * E18 // 100
    assert bal(e, "a", "LUSD") == 800 * E18  # what a borrowed, nothing more
    ok(e)


def _ctx(e: Engine) -> Any:
    from backstop.domain.context import Ctx

    return Ctx(e.state, e.state.now, len(e.log))


SCENARIO: dict[str, Any] = {
    "name": "t",
    "assets": {"LUSD": {"decimals": 18}, "ETH": {"decimals": 18}},
    "prices": {"LUSD": 1, "ETH": 200},
    "layers": {"sp": {"kind": "stability_pool", "asset": "LUSD"}, "rest": {"kind": "socialize"}},
    "markets": {
        "troves": {
            "kind": "cdp",
            "debt_asset": "LUSD",
            "min_collateral_ratio_bps": 11000,
            "gas_compensation": 200,
            "gas_compensation_collateral_bps": 50,
            "recovery_ccr_bps": 15000,
            "collateral": {"ETH": {"liquidation_threshold_bps": 9091, "liquidation_bonus_bps": 0}},
            "waterfall": ["sp", "rest"],
        }
    },
    "steps": [{"at": 0, "do": "claim_collateral", "market": "troves", "account": "bob"}],
}


def test_scenario_keys_and_the_claim_collateral_verb() -> None:
    scenario = scenario_from_data(SCENARIO)
    cmds = scenario.commands
    market = next(x for x in cmds if isinstance(x, c.AddMarket))
    assert market.config.gas_compensation == G
    assert market.config.gas_compensation_collateral_bps == 50
    assert market.config.recovery_ccr_bps == 15_000
    assert isinstance(cmds[-1], c.ClaimCollateral)


def test_scenario_negative_gas_compensation_is_refused_by_name() -> None:
    bad = {**SCENARIO, "markets": {"troves": {**SCENARIO["markets"]["troves"], "gas_compensation": "-200"}}}
    e = Engine(check_invariants=True)
    with pytest.raises((ScenarioError, InvalidConfig)) as err:
        for cmd in scenario_from_data(bad).commands:
            e.apply(cmd)
    assert "gas_compensation" in err.value.field
