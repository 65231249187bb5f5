"""A quoted `buy_cover` (docs/cover-and-claims.md, "Quotes"): the quote's terms travel in the
command, the engine charges its premium and refuses the cover, naming `quote`, when the pool's
assets or the market's TVL moved more than the tolerance since the quote. Everything the engine
checks is in the command and its state, so the log replays without the risk lab."""

from __future__ import annotations

import json

import pytest

from backstop.domain import commands as c
from backstop.domain.codec import command_from_dict, command_to_dict, json_default
from backstop.domain.errors import CoverError, InvalidAmount
from backstop.engine import Engine
from backstop.scenario.errors import ScenarioError
from backstop.scenario.export import export_scenario
from backstop.scenario.loader import load_scenario
from backstop.scenario.runner import run as run_scenario

from .test_cover import E6, YEAR, world

POOL = 10_000 * E6
TVL = 20_000 * E6
"""The world of test_cover: 10,000 USDC of capital in the pool; inv and other supply 10,000 each."""


def quote(premium: int = 123 * E6, pool_assets: int = POOL, tvl: int = TVL, tol: int = 100) -> c.QuoteTerms:
    return c.QuoteTerms("q-1", premium, pool_assets, tvl, tol)


def buy(at: int = 0, q: c.QuoteTerms | None = None) -> c.BuyCover:
    return c.BuyCover(at, "cover", "inv", "lend", ("exploit",), 1_000 * E6, YEAR, q)


def test_the_quoted_premium_is_charged_instead_of_the_rate() -> None:
    e = world()
    events = e.apply(buy(q=quote()))
    policy = e.state.policies["pol-1"]
    assert policy.premium == 123 * E6  # the rate would charge 5% of 1,000 = 50
    bought = next(ev for ev in events if ev.kind == "cover_bought")
    assert bought.data["quote"] == "q-1"
    assert Engine.replay(e.log).state_hash() == e.state_hash()


@pytest.mark.parametrize(
    ("terms", "accepted"),
    [
        # the tolerance is a share of the quoted value: the state may have moved by exactly that
        (quote(tol=0), True),
        (quote(pool_assets=8_000 * E6, tol=2500), True),  # 10,000 is 8,000 + 25%
        (quote(pool_assets=8_000 * E6 - 1, tol=2500), False),  # one base unit more than 25%
        (quote(pool_assets=12_500 * E6, tol=2000), True),  # 10,000 is 12,500 − 20%
        (quote(pool_assets=12_500 * E6 + 1, tol=2000), False),
        (quote(tvl=16_000 * E6, tol=2500), True),  # 20,000 is 16,000 + 25%
        (quote(tvl=16_000 * E6 - 1, tol=2500), False),
        (quote(pool_assets=0), False),
    ],
)
def test_the_tolerance_is_exact(terms: c.QuoteTerms, accepted: bool) -> None:
    e = world()
    before = e.state_hash()
    if accepted:
        e.apply(buy(q=terms))
        assert e.state.policies["pol-1"].premium == terms.premium
        return
    with pytest.raises(CoverError, match=r"^quote: q-1 was for") as err:
        e.apply(buy(q=terms))
    assert err.value.field == "quote"
    assert e.state_hash() == before and not e.state.policies


def test_negative_terms_are_refused_naming_quote() -> None:
    e = world()
    with pytest.raises(InvalidAmount) as err:
        e.apply(buy(q=quote(premium=-1)))
    assert err.value.field == "quote"
    with pytest.raises(InvalidAmount):
        e.apply(buy(q=quote(tol=10_001)))


def test_the_command_codec_keeps_the_quote_and_omits_it_when_absent() -> None:
    plain = command_to_dict(buy())
    assert "quote" not in plain  # logs of unquoted cover stay byte-identical
    assert command_from_dict(plain) == buy()
    quoted = json.loads(json.dumps(command_to_dict(buy(q=quote())), default=json_default))
    assert quoted["quote"] == {
        "id": "q-1",
        "premium": 123 * E6,
        "pool_assets": POOL,
        "market_tvl": TVL,
        "tolerance_bps": 100,
    }
    assert command_from_dict(quoted) == buy(q=quote())


SCENARIO = {
    "name": "quoted",
    "assets": {"USDC": {"decimals": 6}, "ETH": {"decimals": 18}},
    "prices": {"USDC": 1, "ETH": 2000},
    "layers": {
        "cover": {"kind": "cover_pool", "asset": "USDC", "capacity_ratio_bps": 20_000, "premium_bps_per_year": 500},
        "rest": {"kind": "socialize"},
    },
    "markets": {
        "lend": {
            "kind": "lending",
            "debt_asset": "USDC",
            "collateral": {"ETH": {"ltv_bps": 8000, "liquidation_threshold_bps": 8500, "liquidation_bonus_bps": 500}},
            "waterfall": ["rest"],
        }
    },
    "steps": [
        {"at": 0, "do": "supply", "market": "lend", "account": "inv", "amount": 10_000},
        {"at": 0, "do": "deposit", "layer": "cover", "account": "cap", "amount": 10_000},
        {
            "at": 0,
            "do": "buy_cover",
            "pool": "cover",
            "account": "inv",
            "market": "lend",
            "causes": ["exploit"],
            "amount": 1_000,
            "period_days": 30,
            "quote": {"id": "q-7", "premium": "12.5", "pool_assets": 10_000, "market_tvl": 10_000, "tolerance_bps": 50},
        },
    ],
}


def test_the_scenario_key_and_the_export_round_trip() -> None:
    result = run_scenario(load_scenario(json.loads(json.dumps(SCENARIO))))
    engine = result.engine
    assert engine.state.policies["pol-1"].premium == 12_500_000
    again = run_scenario(load_scenario(export_scenario(engine.commands())))
    assert again.engine.state_hash() == engine.state_hash()


@pytest.mark.parametrize(
    ("quote_value", "field"),
    [
        ("q-7", "quote"),
        ({"id": "q-7", "premium": "1"}, "quote"),
        ({"id": "", "premium": "1", "pool_assets": 1, "market_tvl": 1, "tolerance_bps": 5}, "quote.id"),
        ({"id": "q", "premium": "x", "pool_assets": 1, "market_tvl": 1, "tolerance_bps": 5}, "quote.premium"),
        ({"id": "q", "premium": "1", "pool_assets": 1, "market_tvl": 1, "tolerance_bps": -5}, "quote.tolerance_bps"),
        ({"id": "q", "premium": "1.0000001", "pool_assets": 1, "market_tvl": 1, "tolerance_bps": 5}, "quote.premium"),
    ],
)
def test_a_bad_quote_key_is_refused_naming_the_field(quote_value: object, field: str) -> None:
    data = json.loads(json.dumps(SCENARIO))
    data["steps"][-1]["quote"] = quote_value
    with pytest.raises(ScenarioError) as err:
        load_scenario(data)
    assert err.value.field == field
