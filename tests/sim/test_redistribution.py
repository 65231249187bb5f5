"""Liquity redistribution in the risk lab (`domain/layers/redistribution/vector.py`): the closed
form of a trove's moved liquidation price, worked by hand on three troves, and what the risk lab
still refuses. The agreement with the exact engine on random worlds is
tests/sim/test_kind_equivalence.py (case `redistribution`).

The hand-worked book (debt-asset price 1, liquidation threshold 1, so a trove is liquidated when
the price is below its debt per collateral token): t0 = (1500 debt, 1 coll), t1 = (1200, 1),
t2 = (1000, 2). Liquidating t0 with an empty pool moves (1500, 1) onto t1 and t2 pro rata to
collateral (c_rest = 3): A = 500 debt and B = 1/3 collateral per unit of starting collateral, so
t1 becomes (1700, 4/3), at (1200 + 500)/(1 + 1/3) = 1275 per token, and t2 (2000, 8/3), at 750.
Liquidating t1 then moves (1700, 4/3) onto t2 alone (c_rest = 2): A = 1350, B = 1, t2 = (3700, 4):
the debt and collateral of the market are all on the last trove (1500 + 1200 + 1000 = 3700).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from backstop.cli import app
from backstop.domain.errors import InvalidConfig
from backstop.scenario.loader import load_scenario
from backstop.scenario.runner import run as run_scenario
from backstop.sim.liquidation import liquidate_paths
from backstop.sim.model import compile_model
from backstop.sim.positions import Book

from .helpers import equivalence_spec


def _book(gas: float = 0.0) -> Book:
    d = np.array([1500.0, 1200.0, 1000.0])
    c = np.array([1.0, 1.0, 2.0])
    ratio = d / c
    return Book(
        market="troves",
        market_index=0,
        collateral="ETH",
        asset_index=0,
        price_row=0,
        lt=1.0,
        bonus=0.0,
        depth_value=0.0,
        impact_k=0.0,
        max_impact=0.0,
        fee=0.0,
        debt_price=1.0,
        neg_log_liq=-np.log(ratio),
        neg_ratio=-ratio,
        cum_debt=np.concatenate([[0.0], np.cumsum(d)]),
        cum_coll=np.concatenate([[0.0], np.cumsum(c)]),
        n_positions=3,
        seize_all=True,
        gas_collateral=gas,
        redistribution_layer=1,
    )


def _run(prices: list[list[float]], deposits: list[float], delay: int = 0, down: Any = None) -> Any:
    """`liquidate_paths` on paths given as lists of prices after each step (start: 2000)."""
    log_prices = np.log(np.array(prices, dtype=float)).T.copy()  # (steps, paths)
    return liquidate_paths(_book(), log_prices, down, float(np.log(2000.0)), np.array(deposits, dtype=float), delay)


def test_the_moved_trigger_is_the_closed_form_worked_by_hand() -> None:
    # Path 0: 1400 liquidates t0 only (t1 moves to 1275 < 1400); 1300 leaves t1; 1250 liquidates it.
    # Path 1: 1250 at once: t0, and t1 moved to 1275 > 1250 in the same step (a cascade); t2 at 750 stays.
    res = _run([[1400, 1300, 1250], [1250, 1250, 1250]], [0.0, 0.0])
    for p, steps in ((0, [1, 3]), (1, [1, 1])):
        mine = res.path == p
        assert res.step[mine].tolist() == steps and res.bucket[mine].tolist() == [0, 1]
        assert res.debt[mine] == pytest.approx([1500.0, 1700.0])
        assert res.redistributed_collateral[mine] == pytest.approx([1.0, 4.0 / 3.0])
        assert res.debt_per_coll[p] == pytest.approx(1350.0) and res.coll_per_coll[p] == pytest.approx(1.0)
        debt, coll = res.troves(_book(), p)
        assert debt == pytest.approx([3700.0]) and coll == pytest.approx([4.0])
    assert not res.bad_debt.any()


def test_the_pool_offsets_first_and_only_the_rest_moves() -> None:
    # At 1150 a 1500 pool offsets t0 whole (its 1 token to the pool); t1 (at 1200) then finds the
    # pool empty and moves (1200, 1) onto t2: A = 600, B = 1/2, t2 = (2200, 3), at 733 per token.
    res = _run([[1150]], [1500.0])
    assert res.absorbed.tolist() == [1500.0, 0.0]
    assert res.collateral_to_pool.tolist() == [1.0, 0.0]
    assert res.redistributed_debt.tolist() == [0.0, 1200.0]
    assert res.deposits[0] == 0.0
    debt, coll = res.troves(_book(), 0)
    assert debt == pytest.approx([2200.0]) and coll == pytest.approx([3.0])


def test_the_last_trove_is_sold_and_its_shortfall_is_bad_debt() -> None:
    # At 800 the cascade reaches t2 = (3700, 4) at 925 per token: no trove is left to take it, so
    # its 4 tokens are sold for 3200 and 500 is bad debt.
    res = _run([[800]], [0.0])
    assert res.bucket.tolist() == [0, 1, 2]
    assert res.bad_debt == pytest.approx([0.0, 0.0, 500.0])
    assert res.redistributed_debt[2] == 0.0 and res.settled[0] == 3


def test_keeper_delay_and_an_oracle_outage_postpone_the_trigger() -> None:
    # Delay 2: t0 is triggered by 1400 at step 1 and settles at step 3, at that step's price.
    res = _run([[1400, 1500, 1600, 1600]], [0.0], delay=2)
    assert res.step.tolist() == [3] and res.price.tolist() == pytest.approx([1600.0])
    # The oracle down at step 1 shows 2000 still: t0 is liquidated at step 2 when it is back.
    down = np.array([[True], [False]])
    res = _run([[1400, 1450]], [0.0], down=down)
    assert res.step.tolist() == [2]


def test_recovery_mode_reproduces_the_bundled_episode() -> None:
    """examples/liquity_recovery_mode.yaml (Liquity v1 @ 5174ecd0, MCR 110%, CCR 150%, 0.5% of the
    collateral to the keeper), in the risk lab: at ETH 1,500 Carol (6 ETH / 8,500, ICR 105.9%) is
    liquidated as in Normal Mode, the pool offsetting 8,500 and taking 5.97 ETH; the TCR is then
    165,000 / 112,000 = 147.3%, so Bob (10 ETH / 12,000, ICR 125%) is closed at the cap: the pool
    offsets 12,000 and takes 12,000 × 1.1 / 1,500 = 8.8 ETH less the keeper's 0.044, and 1.2 ETH
    is Bob's surplus. The TCR is back to 150%: the whale (100 ETH / 100,000) stays."""
    d = np.array([8500.0, 12000.0, 100000.0])
    c = np.array([6.0, 10.0, 100.0])
    ratio = d / c
    book = dataclasses.replace(
        _book(gas=0.005),
        lt=0.9091,
        neg_log_liq=-np.log(ratio / 0.9091),
        neg_ratio=-ratio,
        cum_debt=np.concatenate([[0.0], np.cumsum(d)]),
        cum_coll=np.concatenate([[0.0], np.cumsum(c)]),
        redistribution_layer=-1,
        min_collateral_ratio=1.1,
        recovery_ccr=1.5,
    )
    log_prices = np.log(np.full((1, 1), 1500.0))  # (steps, paths): ETH 2,000 -> 1,500 in one step
    res = liquidate_paths(book, log_prices, None, float(np.log(2000.0)), np.array([25000.0]), 0)
    assert res.bucket.tolist() == [0, 1] and res.step.tolist() == [1, 1]
    assert res.absorbed == pytest.approx([8500.0, 12000.0])
    assert res.collateral_to_pool == pytest.approx([5.97, 8.756])
    assert res.surplus == pytest.approx([0.0, 1.2])
    assert res.deposits[0] == pytest.approx(4500.0) and res.settled[0] == 2
    # Without Recovery Mode only Carol is liquidated (Bob's 125% is above the MCR).
    normal = liquidate_paths(
        dataclasses.replace(book, recovery_ccr=0.0), log_prices, None, float(np.log(2000.0)), np.array([25000.0]), 0
    )
    assert normal.bucket.tolist() == [0]


def _liquity(**market: Any) -> dict[str, Any]:
    spec = equivalence_spec(0)
    spec["layers"] = {
        "sp": {"kind": "stability_pool", "asset": "USD"},
        "x": {"kind": "redistribution"},
        "rest": {"kind": "socialize"},
    }
    m = spec["markets"]["lend"]
    m.update(kind="cdp", waterfall=["sp", "x", "rest"], liquidation_fee_bps=0, **market)
    m.pop("fee_layer")
    spec["steps"] = [s for s in spec["steps"] if s["do"] == "open"]
    spec["simulation"]["incidents"] = []
    spec["simulation"].pop("guarantor_default_probability")
    return spec


def test_the_book_starts_from_the_entire_troves() -> None:
    """A redistribution made by the scenario's steps is in the book (pending rewards included, as
    `getEntireDebtAndColl`): the book holds the market's whole debt and collateral."""
    spec = _liquity()
    spec["steps"] += [
        {"at": 10, "do": "price", "asset": "ETH", "price": 1800},
        {"at": 11, "do": "liquidate", "market": "lend", "account": "b0"},
    ]
    model = compile_model(load_scenario(copy.deepcopy(spec)), seed=1)
    state = run_scenario(load_scenario(spec)).engine.state
    m = state.markets["lend"]
    assert m.default_scaled > 0  # the steps did redistribute
    book = model.books[0]
    assert book.n_positions == 9
    assert book.cum_debt[-1] == pytest.approx(m.total_debt() / 1e18, rel=1e-12)
    held = state.ledger.balance(m.collateral_account, "ETH") + state.ledger.balance(m.default_account, "ETH")
    assert book.cum_coll[-1] == pytest.approx(held / 1e18, rel=1e-12)


def test_recovery_mode_without_a_stability_pool_is_refused_naming_the_field() -> None:
    spec = _liquity(min_collateral_ratio_bps=11000, recovery_ccr_bps=12000)
    spec["layers"] = {"rest": {"kind": "socialize"}}
    spec["markets"]["lend"]["waterfall"] = ["rest"]
    with pytest.raises(InvalidConfig) as err:
        compile_model(load_scenario(spec), seed=1)
    assert err.value.field == "markets.lend.recovery_ccr_bps"


def test_redistribution_without_a_stability_pool_before_it_is_refused() -> None:
    spec = _liquity()
    spec["layers"].pop("sp")
    spec["markets"]["lend"]["waterfall"] = ["x", "rest"]
    with pytest.raises(InvalidConfig) as err:
        compile_model(load_scenario(spec), seed=1)
    assert err.value.field == "layers.x"


def _write(tmp_path: Path, spec: dict[str, Any]) -> Path:
    spec["simulation"]["horizon_days"] = 60
    out = tmp_path / "liquity.yaml"
    out.write_text(yaml.safe_dump(spec))
    return out


def test_the_cli_simulates_redistribution_and_reports_what_moved(tmp_path: Path) -> None:
    spec = _liquity(gas_compensation_collateral_bps=50)
    spec["steps"].append({"at": 0, "do": "deposit", "layer": "sp", "account": "alice", "amount": 2_000_000})
    res = CliRunner().invoke(app, ["simulate", str(_write(tmp_path, spec)), "--paths", "400", "--json"])
    assert res.exit_code == 0, res.output
    by_layer = json.loads(res.stdout)["by_layer"]
    # debt moved onto other troves on some paths, and the pool absorbed before it
    assert float(by_layer["x"]["absorbed_mean"]) > 0 and float(by_layer["sp"]["absorbed_mean"]) > 0


def test_the_cli_refuses_recovery_mode_without_a_pool_with_exit_code_2(tmp_path: Path) -> None:
    spec = _liquity(min_collateral_ratio_bps=11000, recovery_ccr_bps=12000)
    spec["layers"] = {"rest": {"kind": "socialize"}}
    spec["markets"]["lend"]["waterfall"] = ["rest"]
    res = CliRunner().invoke(app, ["simulate", str(_write(tmp_path, spec)), "--paths", "100"])
    assert res.exit_code == 2, res.output
    assert "markets.lend.recovery_ccr_bps" in res.output and "Traceback" not in res.output


def test_phase_a_on_either_path_gives_the_same_liquidations(monkeypatch: pytest.MonkeyPatch) -> None:
    """The prices phase A keeps for phase B are the same whether the compiled (path-major) or the
    NumPy (time-major) phase A ran, with oracle outages and a keeper delay, so the outcome is
    bit for bit the same (as tests/sim/test_jit.py holds for the other books)."""
    from dataclasses import fields

    from backstop.sim.waterfall import run_backstop
    from backstop.sim.world import simulate_world

    spec = _liquity(gas_compensation_collateral_bps=50)
    spec["steps"].append({"at": 0, "do": "deposit", "layer": "sp", "account": "alice", "amount": 2_000_000})
    spec["simulation"].update(
        horizon_days=60,
        oracle_outages={"per_year": 20, "mean_steps": 3},
        liquidation={"keeper_delay_steps": 1},
    )
    model = compile_model(load_scenario(spec), seed=3)
    outs = []
    for setting in ("0", "1"):
        monkeypatch.setenv("BACKSTOP_JIT", setting)
        outs.append(run_backstop(model, simulate_world(model, 0, 300)))
    assert outs[0].liquidations.sum() > 0 and outs[0].absorbed.sum() > 0
    for f in fields(outs[0]):
        assert getattr(outs[0], f.name).tobytes() == getattr(outs[1], f.name).tobytes(), f.name


def test_the_sample_paths_mark_the_liquidations_phase_b_found() -> None:
    """The report marks the liquidations of its sample paths: for a book liquidated in phase B
    they are those phase B found on the whole chunk, path for path."""
    from backstop.sim.chunk import run_chunk
    from backstop.sim.liquidation import phase_b_liquidations
    from backstop.sim.world import simulate_world

    spec = _liquity(gas_compensation_collateral_bps=50)
    spec["simulation"]["horizon_days"] = 60
    model = compile_model(load_scenario(spec), seed=2)
    res = run_chunk(model, 0, 200, keep_paths=20)
    assert res.sample_liquidations is not None and len(res.sample_liquidations) > 0
    _, found = phase_b_liquidations(model, simulate_world(model, 0, 200))
    ((_, liqs),) = found.values()
    kept = liqs.path < 20
    want = np.stack([liqs.path[kept], liqs.step[kept], np.zeros(int(kept.sum()), dtype=np.int64)], axis=1)
    assert res.sample_liquidations.tolist() == want.tolist()


def test_the_engine_keeps_stakes_proportional_to_entire_collateral() -> None:
    """The premise of the closed form: in the exact engine (Liquity's `_computeNewStake` and
    snapshots), after redistributions and a trove opened between them, every trove's stake over its
    entire collateral is one common ratio (to rounding)."""
    spec = _liquity(gas_compensation_collateral_bps=50)
    spec["steps"] += [
        {"at": 10, "do": "price", "asset": "ETH", "price": 1800},
        {"at": 11, "do": "liquidate", "market": "lend", "account": "b0"},
        {"at": 12, "do": "price", "asset": "ETH", "price": 2000},
        {"at": 13, "do": "open", "market": "lend", "account": "new", "collateral": {"ETH": 3000}, "debt": 2_000_000},
        {"at": 14, "do": "price", "asset": "ETH", "price": 1700},
        {"at": 15, "do": "liquidate", "market": "lend", "account": "b1"},
    ]
    state = run_scenario(load_scenario(spec)).engine.state
    m, layer = state.markets["lend"], state.layers["x"]
    assert layer.L_coll > 0 and len(layer.stakes) == 9
    ratios = [layer.stakes[a] / (m.positions[a].collateral["ETH"] + layer.pending(a)[0]) for a in layer.stakes]
    assert max(ratios) - min(ratios) <= 1e-15 * max(ratios)
    assert ratios[0] < 1.0  # not trivially 1: the snapshots moved it
