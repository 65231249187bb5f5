"""Debt auctions on the mint layer (`lot`, `auction_delay_seconds`): Maker's Vow and Flopper.

Reference figures come from dss's own tests at the MCD launch release, makerdao/dss
@ 6fd7de01e3807e65edbcab52591828d93adea539 (tag 1.0.0):
- src/test/vow.t.sol `test_flog_wait`: with `wait` = 100 s, debt queued at `tic` cannot be
  released before `tic + 100 s`, and can at it;
- src/test/vow.t.sol `test_no_reflop`: 100 DAI of released debt with `sump` = 100 DAI is one
  auction, and no second one follows;
- src/test/vow.t.sol `test_no_flop_pending_joy`: 200 DAI of released debt and 100 DAI of
  surplus: no flop until the surplus heals 100, then one flop of the 100 left;
- src/test/flop.t.sol `test_dent`: an auction of a 10 DAI bid that closes at a lot of 80 gems mints
  80 gems (the clearing price is 10/80 = 0.125 DAI a gem) and pays the 10 DAI to `gal`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backstop.bundled import example_path
from backstop.domain import commands as c
from backstop.domain.errors import InvalidConfig
from backstop.engine import Engine
from backstop.scenario.loader import load_scenario
from backstop.scenario.runner import run as run_scenario

from .helpers import E18, assets, bal, engine, last_loss, layer, lending, ok

RESERVE = "market:lend:reserve"


def world(
    fund: int | None = None, gov_price_e18: int = 1000 * E18, supply: int = 1_000_000 * E18, **mint: Any
) -> Engine:
    """A DAI lending market whose waterfall is [fund (if any), flop, rest]."""
    e = engine()
    assets(e, DAI=1, ETH=2000)
    e.apply(c.AddAsset(0, "GOV", 18))
    e.apply(c.SetPrice(0, "GOV", gov_price_e18))
    wf: tuple[str, ...] = ("flop", "rest")
    if fund is not None:
        layer(e, "fund", "insurance_fund", asset="DAI")
        wf = ("fund", *wf)
    layer(e, "flop", "mint", asset="GOV", **mint)
    layer(e, "rest", "socialize")
    lending(e, wf, debt="DAI")
    e.apply(c.Supply(0, "lend", "lp", supply))
    if fund:
        e.apply(c.Deposit(0, "fund", "vow", fund))
    return e


def loss(e: Engine, amount: int, at: int) -> dict[str, int]:
    e.apply(c.Incident(at, "lend", "DAI", amount, "exploit"))
    ok(e)
    return dict(last_loss(e).allocation)


def view(e: Engine) -> Any:
    return e.state.layers["flop"].view(e.state)


def test_flog_wait_reproduces_dss() -> None:
    """vow.t.sol `test_flog_wait`: `wait` 100 s; queued at tic, not released at tic + 99 s, released
    (and, with `sump` = 100 DAI, auctioned) at tic + 100 s."""
    e = world(lot=100, auction_delay_seconds=100)
    tic = 1_000
    assert loss(e, 100 * E18, at=tic) == {"flop": 100 * E18, "rest": 0}
    e.apply(c.Advance(tic + 99))
    v = view(e)
    assert (v.debt_queued, v.auctions, e.state.minted) == (100 * E18, 0, {})
    e.apply(c.Advance(tic + 100))
    v = view(e)
    assert (v.debt_queued, v.debt_owed, v.auctions, v.debt_covered) == (0, 0, 1, 100 * E18)
    ok(e)


def test_no_reflop_reproduces_dss() -> None:
    """vow.t.sol `test_no_reflop`: 100 DAI released, `sump` 100: one flop, then none."""
    e = world(lot=100)
    loss(e, 100 * E18, at=1)
    e.apply(c.Advance(2))
    minted = dict(e.state.minted)
    assert view(e).auctions == 1 and minted["GOV"] > 0
    e.apply(c.Advance(3))
    assert view(e).auctions == 1 and e.state.minted == minted


def test_no_flop_pending_joy_reproduces_dss() -> None:
    """vow.t.sol `test_no_flop_pending_joy`: 200 DAI released while the Vow holds 100 DAI of
    surplus: the surplus heals 100 first (`flop` needs a zero surplus), one flop covers the rest.
    The healed part is the fund's in the loss's allocation."""
    e = world(fund=0, lot=100)
    assert loss(e, 200 * E18, at=1) == {"fund": 0, "flop": 200 * E18, "rest": 0}
    e.apply(c.Deposit(1, "fund", "vow", 100 * E18))  # surplus arrives while the debt waits
    e.apply(c.Advance(2))
    v = view(e)
    assert (v.debt_healed, v.auctions, v.debt_covered, v.debt_owed) == (100 * E18, 1, 100 * E18, 0)
    assert last_loss(e).allocation == {"fund": 100 * E18, "flop": 100 * E18, "rest": 0}
    assert bal(e, "layer:fund:assets", "DAI") == 0
    ok(e)


def test_dent_clearing_reproduces_dss() -> None:
    """flop.t.sol `test_dent`: a 10 DAI bid closing at a lot of 80 gems mints 80 gems and pays
    `gal` 10 DAI. Here: an oracle price of 0.25 DAI a gem and a 50% discount clear at 0.125."""
    e = world(gov_price_e18=E18 // 4, lot=10, discount_bps=5000)
    reserve0 = bal(e, RESERVE, "DAI")
    loss(e, 10 * E18, at=1)
    e.apply(c.Advance(2))
    assert e.state.minted == {"GOV": 80 * E18}
    assert bal(e, "external:issuer", "GOV") == -80 * E18
    assert bal(e, RESERVE, "DAI") == reserve0  # the 10 DAI lot repaid what the exploit took


def test_whole_lots_only_a_remainder_waits() -> None:
    """`sump` is fixed per auction: 250 DAI with lots of 100 is two auctions and 50 owed; 60 more
    make 110, one more auction and 10 owed."""
    e = world(lot=100)
    loss(e, 250 * E18, at=1)
    e.apply(c.Advance(2))
    v = view(e)
    assert (v.auctions, v.debt_covered, v.debt_owed) == (2, 200 * E18, 50 * E18)
    loss(e, 60 * E18, at=3)
    e.apply(c.Advance(4))
    v = view(e)
    assert (v.auctions, v.debt_covered, v.debt_owed) == (3, 300 * E18, 10 * E18)
    ok(e)


def test_oldest_debt_is_repaid_first_and_the_delay_runs_per_debt() -> None:
    """Two debts, a day apart, with a one-day delay: on day 1 only the first is released."""
    e = world(lot=100, auction_delay_seconds=86_400)
    loss(e, 100 * E18, at=0)
    loss(e, 300 * E18, at=86_400)
    e.apply(c.Advance(86_400))
    v = view(e)
    assert (v.auctions, v.debt_owed, v.debt_queued) == (1, 0, 300 * E18)
    e.apply(c.Advance(2 * 86_400))
    assert (view(e).auctions, view(e).debt_queued) == (4, 0)


def test_tokens_per_lot_round_up_against_the_token_holders() -> None:
    """GOV at 3 DAI, no discount: a 100 DAI lot is 33.33… GOV, minted as 33,333,333,333,333,333,334
    base units (rounded up: the lot must be fully paid); two lots mint exactly twice that."""
    e = world(gov_price_e18=3 * E18, lot=100)
    loss(e, 200 * E18, at=1)
    e.apply(c.Advance(2))
    assert e.state.minted == {"GOV": 2 * 33_333_333_333_333_333_334}


def test_cap_binds_at_whole_lots() -> None:
    """GOV at 1000 DAI less 50%: 200 GOV a 100,000 DAI lot. A cap of 500 GOV allows two lots (400
    GOV), never a part of the third; the rest stays owed by the protocol."""
    e = world(lot=100_000, discount_bps=5000, cap=500 * E18)
    loss(e, 350_000 * E18, at=1)
    e.apply(c.Advance(2))
    v = view(e)
    assert (v.auctions, e.state.minted["GOV"], v.debt_owed) == (2, 400 * E18, 150_000 * E18)


def test_without_lot_nothing_changes() -> None:
    """No `lot`: tokens are sold at the time of the loss (the rule before debt auctions)."""
    e = world(discount_bps=500)
    assert loss(e, 95_000 * E18, at=1) == {"flop": 95_000 * E18, "rest": 0}
    assert e.state.minted == {"GOV": 100 * E18}
    assert type(view(e)).__name__ == "MintView"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"lot": 0}, "lot"),
        ({"lot": -5}, "lot"),
        ({"lot": True}, "lot"),
        ({"lot": 100, "auction_delay_seconds": -1}, "auction_delay_seconds"),
        ({"auction_delay_seconds": 10}, "auction_delay_seconds"),
    ],
)
def test_bad_values_are_refused_naming_the_field(fields: dict[str, Any], field: str) -> None:
    e = world()
    before = e.state_hash()
    with pytest.raises(InvalidConfig) as err:
        layer(e, "flop2", "mint", asset="GOV", **fields)
    assert err.value.field == field and err.value.message.startswith(f"{field}:")
    assert e.state_hash() == before and "flop2" not in e.state.layers


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("lot: 0", "lot: must be a positive integer, got 0"),
        ("lot: 100, auction_delay_seconds: -5", "auction_delay_seconds: must be a non-negative integer, got -5"),
    ],
)
def test_the_cli_refuses_a_bad_option_naming_it(tmp_path: Path, options: str, message: str) -> None:
    """A scenario file with a bad option: exit 2, the field in the message, no traceback."""
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\nassets: {DAI: {decimals: 18}, GOV: {decimals: 18}}\nprices: {DAI: 1, GOV: 10}\n"
        f"layers:\n  flop: {{kind: mint, asset: GOV, {options}}}\n  rest: {{kind: socialize}}\n"
    )
    out = subprocess.run([sys.executable, "-m", "backstop.cli", "run", str(path)], capture_output=True, text=True)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_a_failed_advance_leaves_nothing_half_done() -> None:
    """All or nothing: a failure in the flop after the heal (forced here) rolls the heal back with
    it; the state hash is unchanged and the debt still waits."""
    e = world(fund=0, lot=100)
    loss(e, 200 * E18, at=1)
    e.apply(c.Deposit(1, "fund", "vow", 100 * E18))
    before = e.state_hash()
    flop = e.state.layers["flop"]

    def boom(*_: Any) -> None:
        raise InvalidConfig("lot", "lot: forced failure after the heal")

    flop._flop = boom  # type: ignore[method-assign]
    with pytest.raises(InvalidConfig):
        e.apply(c.Advance(2))
    assert e.state_hash() == before
    assert view(e).debt_healed == 0 and bal(e, "layer:fund:assets", "DAI") == 100 * E18


def test_black_thursday_example_prints_the_real_figures() -> None:
    """examples/black_thursday.yaml against the sources in its header (docs/references.md):
    ~500k DAI of surplus buffer eaten at the crash (dss-deploy-scripts `vow_hump` 500000), 5.67M DAI
    of bad debt after it (Maker Foundation, April 2020), debt auctions from 19 March 2020, 14:28 UTC
    (Maker Foundation, 14 March 2020), 5.3M DAI raised for 20,980 MKR (Smith + Crown, 1 April 2020).
    Stated rounding: the buffer within 1,000 DAI, the debt within 5,000 DAI, MKR within 0.01%."""
    e = run_scenario(load_scenario(example_path("black_thursday"))).engine
    day0 = 1_580_083_200  # 27 January 2020, 00:00 UTC: `at` 0 of the example
    crash = [ev for ev in e.log if ev.kind == "loss"]
    eaten = sum(int(ev.data["allocation"]["surplus"]) for ev in crash)
    assert abs(eaten - 500_000 * E18) <= 1_000 * E18
    (queued,) = [ev for ev in e.log if ev.kind == "debt_queued"]
    assert abs(int(queued.data["amount"]) - 5_670_000 * E18) <= 5_000 * E18
    (flop,) = [ev for ev in e.log if ev.kind == "flop"]
    assert day0 + flop.at == 1_584_628_080  # 19 March 2020, 14:28 UTC
    assert int(flop.data["lots"]) == 106 and int(flop.data["raised"]) == 5_300_000 * E18
    assert abs(int(flop.data["tokens"]) - 20_980 * E18) <= 20_980 * E18 // 10_000
    v = e.state.layers["flop"].view(e.state)
    assert 0 < v.debt_owed < 50_000 * E18  # less than a lot waits
    assert all(loss.allocation["dai_holders"] == 0 for loss in e.state.losses)


def test_without_a_token_price_the_debt_waits_and_time_still_advances() -> None:
    """A governance token with no price yet: `advance` succeeds, no auction, the debt is owed; once
    the price is set, the next `advance` auctions it."""
    e = engine()
    assets(e, DAI=1, ETH=2000)
    e.apply(c.AddAsset(0, "GOV", 18))
    layer(e, "flop", "mint", asset="GOV", lot=100)
    layer(e, "rest", "socialize")
    lending(e, ("flop", "rest"), debt="DAI")
    e.apply(c.Supply(0, "lend", "lp", 1_000 * E18))
    e.apply(c.Incident(1, "lend", "DAI", 100 * E18, "exploit"))
    e.apply(c.Advance(2))
    assert (view(e).auctions, view(e).debt_owed) == (0, 100 * E18)
    e.apply(c.SetPrice(3, "GOV", 10 * E18))
    e.apply(c.Advance(3))
    assert (view(e).auctions, e.state.minted) == (1, {"GOV": 10 * E18})
    ok(e)
