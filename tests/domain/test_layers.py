"""Insurance fund, guarantor, mint, treasury and socialize layers (docs/layers/).

Each test runs a loss event through a market's waterfall and checks what each layer paid by
hand; Σ allocation = loss is asserted for every event. Sources: Aave's Collector / insurance
fund and Drift's insurance fund (fund caps), reinsurance excess-of-loss ("limit xs attachment")
towers as used by e.g. Sherlock/Nexus Mutual reinsurance, MakerDAO flop auctions (mint at a
discount, Black Thursday 2020), Blend's bad-debt write-off (socialize pro rata).
"""

from __future__ import annotations

from typing import Any

import pytest

from backstop.domain import commands as c
from backstop.domain.errors import NotPermitted
from backstop.domain.layers.guarantor import Guarantor
from backstop.engine import Engine

from .helpers import DAY, E6, E18, YEAR, assets, bal, engine, last_loss, layer, layer_bal, lending, ok

M = 1_000_000 * E6  # one million USDC


def world(waterfall: tuple[str, ...], *layers: tuple[str, str, dict[str, Any]], supply: int = 20 * M) -> Engine:
    e = engine()
    assets(e, USDC=1, ETH=2000, MKR=1000)
    for lid, kind, kw in layers:
        layer(e, lid, kind, **kw)
    layer(e, "rest", "socialize")
    lending(e, (*waterfall, "rest"))
    e.apply(c.Supply(0, "lend", "lp", supply))
    return e


def loss(e: Engine, amount: int, at: int = 1) -> dict[str, int]:
    e.apply(c.Incident(at, "lend", "USDC", amount, "exploit"))
    allocation: dict[str, int] = dict(last_loss(e).allocation)
    assert sum(allocation.values()) == amount
    ok(e)
    return allocation


# --------------------------------------------------------------------------- insurance fund


def test_fund_pays_up_to_its_balance_and_max_payout_per_event() -> None:
    e = world(("fund",), ("fund", "insurance_fund", {"asset": "USDC", "max_payout_per_event": 40_000 * E6}))
    e.apply(c.Deposit(0, "fund", "dao", 100_000 * E6))
    assert loss(e, 60_000 * E6) == {"fund": 40_000 * E6, "rest": 20_000 * E6}
    assert loss(e, 30_000 * E6, at=2) == {"fund": 30_000 * E6, "rest": 0}
    assert loss(e, 50_000 * E6, at=3) == {"fund": 30_000 * E6, "rest": 20_000 * E6}  # only 30k left
    assert layer_bal(e, "fund", "USDC") == 0


def test_fund_swaps_other_assets_at_the_oracle_price_less_the_haircut() -> None:
    """Fund holds 10 ETH at 2000$, haircut 5%: 1 ETH covers 1,900 USDC, so a 9,500 USDC loss
    takes exactly 5 ETH; without `swap` the fund pays nothing in another asset."""
    e = world(("fund",), ("fund", "insurance_fund", {"asset": "ETH", "swap": True, "haircut_bps": 500}))
    e.apply(c.Deposit(0, "fund", "dao", 10 * E18))
    assert loss(e, 9_500 * E6) == {"fund": 9_500 * E6, "rest": 0}
    assert layer_bal(e, "fund", "ETH") == 5 * E18
    # 20,000 USDC needs 10.526… ETH; the 5 left cover 5 × 1,900 = 9,500.
    assert loss(e, 20_000 * E6, at=2) == {"fund": 9_500 * E6, "rest": 10_500 * E6}

    e2 = world(("fund",), ("fund", "insurance_fund", {"asset": "ETH"}))
    e2.apply(c.Deposit(0, "fund", "dao", 10 * E18))
    assert loss(e2, 9_500 * E6) == {"fund": 0, "rest": 9_500 * E6}


def test_swap_rounds_in_favour_of_the_fund() -> None:
    """1 USDC at ETH 3$ (haircut 0) needs 1/3 ETH = 333,333,333,333,333,333.3… wei, rounded up to
    …334 (the payer pays the rounding), and covers exactly 1 USDC."""
    e = world(("fund",), ("fund", "insurance_fund", {"asset": "ETH", "swap": True}))
    e.apply(c.SetPrice(0, "ETH", 3 * E18))
    e.apply(c.Deposit(0, "fund", "dao", E18))
    assert loss(e, E6) == {"fund": E6, "rest": 0}
    assert layer_bal(e, "fund", "ETH") == E18 - 333_333_333_333_333_334


def test_treasury_is_capped_per_event() -> None:
    e = world(("treasury",), ("treasury", "treasury", {"asset": "USDC", "cap": 30_000 * E6}))
    e.apply(c.Deposit(0, "treasury", "dao", 100_000 * E6))
    assert loss(e, 50_000 * E6) == {"treasury": 30_000 * E6, "rest": 20_000 * E6}
    assert layer_bal(e, "treasury", "USDC") == 70_000 * E6


# --------------------------------------------------------------------------- guarantor


def g(attachment: int, limit: int, **kw: Any) -> dict[str, Any]:
    return {"asset": "USDC", "guarantor": "re", "attachment": attachment, "limit": limit, **kw}


def test_guarantor_2m_xs_1m_on_a_2_5m_loss_pays_1_5m() -> None:
    e = world(("g1",), ("g1", "guarantor", g(1 * M, 2 * M)))
    assert loss(e, 2_500_000 * E6) == {"g1": 1_500_000 * E6, "rest": 1 * M}
    assert loss(e, 500_000 * E6, at=2) == {"g1": 0, "rest": 500_000 * E6}  # below the attachment
    assert loss(e, 4 * M, at=3) == {"g1": 2 * M, "rest": 2 * M}  # above attachment + limit


def test_stacked_tower_on_the_whole_event_loss() -> None:
    """Fund retention 1M, then 2M xs 1M, then 5M xs 3M. A 6M loss: fund 1M, g1 pays
    min(6, 3) − 1 = 2M, g2 pays min(6, 8) − 3 = 3M, nothing socialized. A 9M loss: 1 + 2 + 5,
    and 1M above the tower is socialized."""
    layers = (
        ("fund", "insurance_fund", {"asset": "USDC", "max_payout_per_event": 1 * M}),
        ("g1", "guarantor", g(1 * M, 2 * M)),
        ("g2", "guarantor", g(3 * M, 5 * M)),
    )
    e = world(("fund", "g1", "g2"), *layers)
    e.apply(c.Deposit(0, "fund", "dao", 10 * M))
    assert loss(e, 6 * M) == {"fund": 1 * M, "g1": 2 * M, "g2": 3 * M, "rest": 0}
    assert loss(e, 9 * M, at=2) == {"fund": 1 * M, "g1": 2 * M, "g2": 5 * M, "rest": 1 * M}
    # Without the retention paid first (fund empty), the layers still measure the whole loss.
    e2 = world(("fund", "g1", "g2"), *layers)
    assert loss(e2, 6 * M) == {"fund": 0, "g1": 2 * M, "g2": 3 * M, "rest": 1 * M}


def test_attachment_above_the_limit_is_a_valid_layer() -> None:
    """Regression: "1M xs 2M" (limit 1M above an attachment of 2M) is an ordinary high layer of
    a tower; the engine used to refuse any attachment greater than the limit. A 2.5M loss pays
    min(2.5, 3) − 2 = 0.5M."""
    e = world(("g1",), ("g1", "guarantor", g(2 * M, 1 * M)))
    assert loss(e, 2_500_000 * E6) == {"g1": 500_000 * E6, "rest": 2 * M}


def test_aggregate_limit_per_year() -> None:
    """2M xs 1M with a 3M annual aggregate: three 3M losses in year one pay 2M, 1M, 0; the
    first loss in year two pays 2M again."""
    e = world(("g1",), ("g1", "guarantor", g(1 * M, 2 * M, aggregate_limit=3 * M)))
    assert loss(e, 3 * M, at=DAY)["g1"] == 2 * M
    assert loss(e, 3 * M, at=2 * DAY)["g1"] == 1 * M
    assert loss(e, 3 * M, at=3 * DAY)["g1"] == 0
    assert loss(e, 3 * M, at=YEAR + 1)["g1"] == 2 * M


def guarantor(e: Engine, lid: str = "g1") -> Guarantor:
    layer_ = e.state.layers[lid]
    assert isinstance(layer_, Guarantor)
    return layer_


def test_premium_accrues_from_the_payer_with_exact_carry() -> None:
    """300 bps a year on a 2M limit = 60,000 USDC a year, paid by the fund to the guarantor.
    Per second that is 6e14 / 31,536e7 = 1,902.587… base units; ten one-second accruals pay
    ceil(10 × 1,902.587…) = 19,026 in total, the same as one ten-second accrual — the carry
    keeps sub-unit remainders instead of rounding each step."""
    layers = (
        ("fund", "insurance_fund", {"asset": "USDC"}),
        ("g1", "guarantor", g(1 * M, 2 * M, premium_bps_per_year=300, payer="fund")),
    )
    e = world(("fund", "g1"), *layers)
    e.apply(c.Deposit(0, "fund", "dao", 1 * M))
    e.apply(c.Advance(YEAR))
    assert bal(e, "re", "USDC") == 60_000 * E6
    assert guarantor(e).premiums_earned == 60_000 * E6

    steps = world(("fund", "g1"), *layers)
    steps.apply(c.Deposit(0, "fund", "dao", 1 * M))
    for t in range(1, 11):
        steps.apply(c.Advance(t))
    once = world(("fund", "g1"), *layers)
    once.apply(c.Deposit(0, "fund", "dao", 1 * M))
    once.apply(c.Advance(10))
    assert bal(steps, "re", "USDC") == bal(once, "re", "USDC") == 19_026


def test_cover_lapses_when_the_payer_cannot_pay() -> None:
    layers = (
        ("fund", "insurance_fund", {"asset": "USDC"}),
        ("g1", "guarantor", g(0, 2 * M, premium_bps_per_year=300, payer="fund")),
    )
    e = world(("fund", "g1"), *layers)
    e.apply(c.Deposit(0, "fund", "dao", 1_000 * E6))
    events = e.apply(c.Advance(YEAR))
    assert [ev.data for ev in events if ev.kind == "cover_lapsed"] == [
        {"layer": "g1", "premium_due": 60_000 * E6, "paid": 1_000 * E6, "payer": "fund"}
    ]
    assert guarantor(e).lapsed
    assert loss(e, 500_000 * E6, at=YEAR + 1) == {"fund": 0, "g1": 0, "rest": 500_000 * E6}


def test_collateral_pays_first_and_a_default_leaves_the_rest_unpaid() -> None:
    """2M xs 1M with 500k posted: a 2.5M loss owes 1.5M — 500k from collateral, 1M from the
    guarantor. After `guarantor_defaults` only collateral pays; the unpaid part passes on."""
    e = world(("g1",), ("g1", "guarantor", g(1 * M, 2 * M, collateral=500_000 * E6)))
    assert layer_bal(e, "g1", "USDC") == 500_000 * E6
    events = e.apply(c.Incident(1, "lend", "USDC", 2_500_000 * E6, "exploit"))
    paid = next(ev.data for ev in events if ev.kind == "guarantor_paid")
    assert (paid["from_collateral"], paid["from_guarantor"], paid["unpaid"]) == (500_000 * E6, 1 * M, 0)

    e2 = world(("g1",), ("g1", "guarantor", g(1 * M, 2 * M, collateral=500_000 * E6)))
    e2.apply(c.GuarantorDefaults(1, "g1"))
    with pytest.raises(NotPermitted):
        e2.apply(c.GuarantorDefaults(1, "g1"))
    assert loss(e2, 2_500_000 * E6, at=2) == {"g1": 500_000 * E6, "rest": 2 * M}
    assert loss(e2, 2_500_000 * E6, at=3) == {"g1": 0, "rest": 2_500_000 * E6}
    with pytest.raises(NotPermitted):
        e2.apply(c.GuarantorDefaults(3, "rest"))


def test_only_the_guarantor_posts_collateral() -> None:
    e = world(("g1",), ("g1", "guarantor", g(1 * M, 2 * M)))
    with pytest.raises(NotPermitted):
        e.apply(c.Deposit(0, "g1", "mallory", 1 * M))
    e.apply(c.Deposit(0, "g1", "re", 1 * M))
    assert layer_bal(e, "g1", "USDC") == 1 * M


# --------------------------------------------------------------------------- mint


def test_mint_sells_governance_tokens_at_a_discount_up_to_a_cap() -> None:
    """Maker flop: MKR 1000$ less 5% = 950$ a token. A 95,000 USDC loss mints exactly 100 MKR;
    with a cap of 150 MKR the next 95,000 loss mints the last 50 (covering 47,500) and the
    rest is socialized; the dilution is recorded."""
    e = world(("mkr",), ("mkr", "mint", {"asset": "MKR", "discount_bps": 500, "cap": 150 * E18}))
    assert loss(e, 95_000 * E6) == {"mkr": 95_000 * E6, "rest": 0}
    assert e.state.minted == {"MKR": 100 * E18}
    assert loss(e, 95_000 * E6, at=2) == {"mkr": 47_500 * E6, "rest": 47_500 * E6}
    assert e.state.minted == {"MKR": 150 * E18}
    assert bal(e, "external:issuer", "MKR") == -150 * E18  # new supply, visible in the ledger
    assert loss(e, 1_000 * E6, at=3) == {"mkr": 0, "rest": 1_000 * E6}


def test_mint_rounds_tokens_up() -> None:
    """1 USDC at 950$ a token is 1/950 MKR = 1,052,631,578,947,368.42 base units → 1,052,631,578,947,369."""
    e = world(("mkr",), ("mkr", "mint", {"asset": "MKR", "discount_bps": 500}))
    loss(e, E6)
    assert e.state.minted == {"MKR": 1_052_631_578_947_369}


# --------------------------------------------------------------------------- socialize


def test_socialize_writes_off_suppliers_pro_rata() -> None:
    """Suppliers 30,000 and 10,000; an 8,000 loss with no backstop takes 6,000 and 2,000."""
    e = world((), supply=30_000 * E6)
    e.apply(c.Supply(0, "lend", "lp2", 10_000 * E6))
    assert loss(e, 8_000 * E6) == {"rest": 8_000 * E6}
    assert last_loss(e).by_account == {"lp": 6_000 * E6, "lp2": 2_000 * E6}
    market = e.state.markets["lend"]
    lp = market.supply_value(market.supply_shares["lp"])
    lp2 = market.supply_value(market.supply_shares["lp2"])
    assert 24_000 * E6 - 1 <= lp <= 24_000 * E6
    assert 8_000 * E6 - 1 <= lp2 <= 8_000 * E6
    assert market.socialized_total == 8_000 * E6


def test_allocation_is_the_loss_exactly_through_every_kind() -> None:
    """A waterfall with every paying kind and awkward amounts: Σ allocation = loss, always."""
    layers = (
        ("fund", "insurance_fund", {"asset": "ETH", "swap": True, "haircut_bps": 333, "max_payout_per_event": 7 * M}),
        ("stake", "staking_pool", {"asset": "USDC", "max_slash_bps": 3_333, "min_remaining_assets": 7}),
        ("g1", "guarantor", g(1_234_567, 999_999_999, collateral=333_333_333)),
        ("treasury", "treasury", {"asset": "USDC", "cap": 777_777_777}),
        ("mkr", "mint", {"asset": "MKR", "discount_bps": 1_234, "cap": 3 * E18 + 7}),
    )
    e = world(("fund", "stake", "g1", "treasury", "mkr"), *layers)
    e.apply(c.Deposit(0, "fund", "dao", 1_234_567_890_123))
    e.apply(c.Deposit(0, "stake", "alice", 3_333_333_333))
    e.apply(c.Deposit(0, "treasury", "dao", 555_555_555))
    e.apply(c.SetPrice(0, "ETH", 1_999_999_999_999_999_999_999))
    for i, amount in enumerate([1, 7_777_777, 3_333_333_337, 5_555_555_555, 9_999_999_999]):
        allocation = loss(e, amount, at=1 + i)
        assert all(v >= 0 for v in allocation.values())


def test_reward_from_a_layer_holding_depositors_money_is_refused() -> None:
    """Regression: `reward {from: <layer>}` used to accept any layer as the payer, so a stake
    pool's, stability pool's or cover pool's depositors' assets (or a guarantor's collateral)
    could be handed to another layer. Only a fund or treasury may pay."""
    layers = (
        ("fund", "insurance_fund", {"asset": "USDC"}),
        ("stake", "staking_pool", {"asset": "USDC"}),
        ("g1", "guarantor", g(0, M, collateral=1_000 * E6)),
        ("treasury", "treasury", {"asset": "USDC"}),
    )
    e = world(("fund", "stake", "g1", "treasury"), *layers)
    e.apply(c.Deposit(0, "stake", "alice", 1_000 * E6))
    e.apply(c.Deposit(0, "treasury", "dao", 1_000 * E6))
    before = e.state_hash()
    for source in ("stake", "g1"):
        with pytest.raises(NotPermitted) as err:
            e.apply(c.Reward(1, "fund", 100 * E6, source))
        assert err.value.field == "from"
    assert e.state_hash() == before
    e.apply(c.Reward(1, "stake", 100 * E6, "treasury"))
    assert layer_bal(e, "treasury", "USDC") == 900 * E6
    assert layer_bal(e, "stake", "USDC") == 1_100 * E6


# -- reinstatements (docs/layers/guarantor.md#reinstatements) --------------------------------------


def _doc_yaml(doc: str, heading: str) -> dict[str, Any]:
    """The first ```yaml block after `heading` in a docs page."""
    import re
    from pathlib import Path

    import yaml

    text = (Path(__file__).resolve().parents[2] / "docs" / doc).read_text()
    after = text[text.index(heading) :]
    block = re.search(r"```yaml\n(.*?)```", after, re.S)
    assert block is not None
    data: dict[str, Any] = yaml.safe_load(block.group(1))
    return data


def test_reinstatement_worked_example_in_the_docs_is_cii_example_5_15() -> None:
    """CII M97 *Reinsurance* (2018) Example 5.15, p. 5/21: £2m xs £2m, one reinstatement, events
    of 2.35m, 3m, 4m, 3m recover 0.35m, 1m, 2m and 0.65m (4m = (1 + 1) × 2m); premiums at 5% of
    the limit, reinstated at 100% a.p."""
    from backstop.scenario.loader import load_scenario
    from backstop.scenario.runner import run

    result = run(load_scenario(_doc_yaml("layers/guarantor.md", "### Worked example (verified: the test suite runs")))
    state = result.engine.state
    paid = [loss.allocation.get("xl", 0) for loss in state.losses]
    assert paid == [350_000 * E6, 1_000_000 * E6, 2_000_000 * E6, 650_000 * E6]
    events = [ev.data for ev in result.engine.log if ev.kind == "limit_reinstated"]
    assert [(ev["reinstated"], ev["premium"]) for ev in events] == [
        (350_000 * E6, 17_500 * E6),
        (1_000_000 * E6, 50_000 * E6),
        (650_000 * E6, 32_500 * E6),
    ]
    xl = state.layers["xl"]
    assert (xl.limit_left, xl.reinstated, xl.reinstatement_premiums) == (0, 2_000_000 * E6, 100_000 * E6)
    assert bal(result.engine, "layer:fund:assets", "USDC") == 100_000 * E6
    assert xl.premiums_earned - xl.losses_paid == (100_000 - 4_000_000) * E6


def test_reinstatement_premium_is_pro_rata_to_the_limit_used_cii_example_5_16() -> None:
    """CII M97 Example 5.16, p. 5/22: £100k xs £100k, deposit premium £10,000 (1,000 bps of the
    limit), one reinstatement at 100%: a £150k loss uses £50k, 50% of the limit, and the initial
    reinstatement premium is 50,000/100,000 × 10,000 = £5,000."""
    k = 1_000 * E6
    rule = g(
        100 * k, 100 * k, premium_bps_per_year=1000, payer="fund", reinstatements=1, reinstatement_premium_bps=10_000
    )
    e = world(("g1",), ("fund", "insurance_fund", {"asset": "USDC"}), ("g1", "guarantor", rule))
    e.apply(c.Deposit(0, "fund", "dao", 20 * k))
    assert loss(e, 150 * k)["g1"] == 50 * k
    assert guarantor(e).reinstatement_premiums == 5 * k
    assert guarantor(e).premiums_earned == 5 * k
    assert layer_bal(e, "fund", "USDC") == 15 * k


def test_no_reinstatement_exhausts_the_limit_for_the_contract_year() -> None:
    """`reinstatements: 0`: the 2M limit covers one 2M recovery a year; the next event in the
    year gets nothing, and the bank is full again in the next contract year."""
    e = world(("g1",), ("g1", "guarantor", g(0, 2 * M, reinstatements=0)))
    half = 1_500_000 * E6
    assert loss(e, half, at=DAY)["g1"] == half
    assert loss(e, half, at=2 * DAY)["g1"] == 500_000 * E6
    assert loss(e, half, at=3 * DAY)["g1"] == 0
    assert loss(e, half, at=YEAR + DAY)["g1"] == half


def test_a_payer_short_of_the_reinstatement_premium_pays_what_it_has_and_cover_lapses() -> None:
    rule = g(0, 1 * M, premium_bps_per_year=1000, payer="fund", reinstatements=2, reinstatement_premium_bps=10_000)
    e = world(("g1",), ("fund", "insurance_fund", {"asset": "USDC"}), ("g1", "guarantor", rule))
    e.apply(c.Deposit(0, "fund", "dao", 30_000 * E6))  # reinstating the whole 1M costs 100,000
    assert loss(e, 1 * M, at=DAY)["g1"] == 1 * M
    assert guarantor(e).reinstatement_premiums == 30_000 * E6
    assert guarantor(e).lapsed
    assert loss(e, 1 * M, at=2 * DAY)["g1"] == 0
