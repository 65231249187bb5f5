"""Markets with different debt assets in one risk-lab run (docs/risk-lab.md, "Several debt assets").

The world: a lending market in USD and one in EUR (price 1.1 USD, 6 decimals), both against ETH.
Each market keeps its own losses in its own debt asset; the aggregate is their value in USD at
the debt assets' fixed prices. Two checks:

* the two-market run against each market simulated alone: the markets share no layer, the price
  paths come from the same stream, the incidents hit only the EUR market (a second incident
  spec would draw from the same stream after the first) and the only guarantor is the EUR
  market's, so each market's per-path figures must be those of its own world, and the aggregate
  their value-sum path by path;
* a sample of two-market paths replayed through `Engine.apply` (the exact engine, which pays each
  loss in its own asset and converts at the oracle prices in `pay_in_kind`): every layer's
  allocation, valued in USD, agrees with the risk lab's.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import yaml

from backstop.domain import commands as c
from backstop.domain.errors import InvalidConfig
from backstop.scenario.loader import load_scenario
from backstop.sim.api import simulate
from backstop.sim.model import LOSS_NUMERAIRE, compile_model
from backstop.sim.report import build_report
from backstop.sim.waterfall import Outcome, run_backstop
from backstop.sim.world import KIND_INCIDENT, KIND_LIQUIDATION, simulate_world

from .helpers import HEALTHS, bucket_accounts, path_events, single_bucket_paths

N_PATHS = 400
EUR_PRICE = 1.1
USD_LAYERS = ("fund_usd", "stake_usd", "rest_usd")
EUR_LAYERS = ("fund_eur", "g_eur", "eth_dao", "rest_eur")


def _borrowers(market: str, asset_price: float, lt: float, scale: float) -> list[dict[str, Any]]:
    """Ten borrowers against ETH at the healths of the equivalence market (tests/sim/helpers.py)."""
    steps = []
    for i, h in enumerate(HEALTHS):
        debt = round((1_000_000 + 250_000 * i) * scale)
        coll = round(h * debt * asset_price / (2000 * lt), 6)
        steps.append(
            {
                "at": 0,
                "do": "open",
                "market": market,
                "account": f"{market}-b{i}",
                "collateral": {"ETH": coll},
                "debt": debt,
            }
        )
    return steps


def two_markets() -> dict[str, Any]:
    collateral = {"ETH": {"ltv_bps": 8000, "liquidation_threshold_bps": 8500, "liquidation_bonus_bps": 500}}
    return {
        "name": "two-debt-assets",
        "assets": {"USD": {"decimals": 18}, "EUR": {"decimals": 6}, "ETH": {"decimals": 18}},
        "prices": {"USD": 1, "EUR": EUR_PRICE, "ETH": 2000},
        "layers": {
            "fund_usd": {"kind": "insurance_fund", "asset": "USD", "max_payout_per_event": 600_000},
            "stake_usd": {"kind": "staking_pool", "asset": "USD", "cooldown_seconds": 864000, "max_slash_bps": 3000},
            "rest_usd": {"kind": "socialize"},
            # a per-event cap in EUR (6 decimals), a guarantor in EUR, a treasury that pays EUR losses in ETH
            "fund_eur": {"kind": "insurance_fund", "asset": "EUR", "max_payout_per_event": 400_000},
            "g_eur": {
                "kind": "guarantor",
                "asset": "EUR",
                "guarantor": "re",
                "attachment": 300_000,
                "limit": 1_500_000,
                "premium_bps_per_year": 200,
                "payer": "fund_eur",
                "collateral": 400_000,
            },
            "eth_dao": {"kind": "treasury", "asset": "ETH", "haircut_bps": 500, "cap": 300},
            "rest_eur": {"kind": "socialize"},
        },
        "markets": {
            "lend_usd": {
                "kind": "lending",
                "debt_asset": "USD",
                "liquidation_fee_bps": 1000,
                "fee_layer": "fund_usd",
                "collateral": collateral,
                "waterfall": list(USD_LAYERS),
            },
            "lend_eur": {
                "kind": "lending",
                "debt_asset": "EUR",
                "liquidation_fee_bps": 1000,
                "fee_layer": "fund_eur",
                "collateral": copy.deepcopy(collateral),
                "waterfall": list(EUR_LAYERS),
            },
        },
        "steps": [
            {"at": 0, "do": "supply", "market": "lend_usd", "account": "lp", "amount": 100_000_000},
            {"at": 0, "do": "supply", "market": "lend_eur", "account": "lp", "amount": 60_000_000},
            {"at": 0, "do": "deposit", "layer": "fund_usd", "account": "dao", "amount": 1_500_000},
            {"at": 0, "do": "stake", "layer": "stake_usd", "account": "s1", "amount": 3_000_000},
            {"at": 0, "do": "deposit", "layer": "fund_eur", "account": "dao", "amount": 1_200_000},
            {"at": 0, "do": "deposit", "layer": "eth_dao", "account": "dao", "amount": 400},
            *_borrowers("lend_usd", 1.0, 0.85, 1.0),
            *_borrowers("lend_eur", EUR_PRICE, 0.85, 0.6),
        ],
        "simulation": {
            "horizon_days": 120,
            "chunk_paths": N_PATHS,
            "prices": {"assets": {"ETH": {"vol": 1.2, "jumps": {"per_year": 4, "mean": -0.15, "std": 0.1}}}},
            "incidents": [
                {
                    "market": "lend_eur",
                    "per_year": 6,
                    "severity": {"median_fraction": 0.01, "sigma": 1.0, "max_fraction": 0.05},
                }
            ],
            "guarantor_default_probability": {"g_eur": 0.3},
        },
    }


def only(spec: dict[str, Any], market: str) -> dict[str, Any]:
    """The same world with one market and its layers (steps, incidents and defaults that name the other dropped)."""
    out = copy.deepcopy(spec)
    keep = set(out["markets"][market]["waterfall"])
    out["markets"] = {market: out["markets"][market]}
    out["layers"] = {k: v for k, v in out["layers"].items() if k in keep}
    out["steps"] = [
        s for s in out["steps"] if s.get("market", market) == market and s.get("layer", next(iter(keep))) in keep
    ]
    sim = out["simulation"]
    sim["incidents"] = [i for i in sim["incidents"] if i["market"] == market]
    sim["guarantor_default_probability"] = {k: v for k, v in sim["guarantor_default_probability"].items() if k in keep}
    return out


def _run(spec: dict[str, Any]) -> tuple[Any, Any, Outcome]:
    model = compile_model(load_scenario(copy.deepcopy(spec)), seed=7)
    world = simulate_world(model, 0, N_PATHS)
    return model, world, run_backstop(model, world)


def _col(model: Any, layer_id: str) -> int:
    return [layer.id for layer in model.layers].index(layer_id)


def test_each_market_is_its_own_world_and_the_aggregate_is_their_value_sum() -> None:
    spec = two_markets()
    both_model, _, both = _run(spec)
    usd_model, _, usd = _run(only(spec, "lend_usd"))
    eur_model, _, eur = _run(only(spec, "lend_eur"))
    assert both_model.loss_asset_name == LOSS_NUMERAIRE and both_model.debt_assets == ("EUR", "USD")
    assert usd_model.loss_asset_name == "USD" and eur_model.loss_asset_name == "EUR"
    m_usd, m_eur = (
        both_model.markets.index(next(m for m in both_model.markets if m.id == i)) for i in ("lend_usd", "lend_eur")
    )
    # the run exercised both markets, the EUR incidents, the guarantor and the ETH-paying treasury
    assert (usd.bad_debt > 0).sum() > 10 and (eur.bad_debt > 0).sum() > 10 and (eur.incident_loss > 0).sum() > 10
    assert (eur.alloc[:, _col(eur_model, "g_eur")] > 0).any() and (eur.alloc[:, _col(eur_model, "eth_dao")] > 0).any()

    # Per market, in its own debt asset: the very same additions as in its own world.
    for mi, alone in ((m_usd, usd), (m_eur, eur)):
        np.testing.assert_array_equal(both.market_loss[:, mi], alone.loss)
        np.testing.assert_array_equal(both.market_bad_debt[:, mi], alone.bad_debt)
        np.testing.assert_array_equal(both.market_incident_loss[:, mi], alone.incident_loss)
    # Per layer, in USD: the EUR layers' payments are worth 1.1 USD per EUR. Not bit-identical: the
    # two-market run converts each event's payment, and accrues the guarantor's premium between
    # every event of the path (the other market's too), so the float additions differ (~1e-15).
    for lid in USD_LAYERS:
        np.testing.assert_allclose(
            both.alloc[:, _col(both_model, lid)], usd.alloc[:, _col(usd_model, lid)], rtol=1e-12, atol=1e-6
        )
    for lid in EUR_LAYERS:
        np.testing.assert_allclose(
            both.alloc[:, _col(both_model, lid)], EUR_PRICE * eur.alloc[:, _col(eur_model, lid)], rtol=1e-12, atol=1e-6
        )
    # The aggregate, in USD, is the value-sum of the two markets on every path (the additions
    # interleave the markets' events, hence the tolerance).
    for name in ("loss", "bad_debt", "incident_loss", "liquidated_debt", "fees"):
        np.testing.assert_allclose(
            getattr(both, name),
            getattr(usd, name) + EUR_PRICE * getattr(eur, name),
            rtol=1e-12,
            atol=1e-6,
            err_msg=name,
        )
    np.testing.assert_array_equal(both.liquidations, usd.liquidations + eur.liquidations)


def test_the_summary_states_its_unit_and_each_market_in_its_own_asset() -> None:
    spec = two_markets()
    res = simulate(load_scenario(copy.deepcopy(spec)), paths=N_PATHS, seed=7, keep_paths=0)
    summary = res.summary()
    report = build_report(res)
    assert "by market, in its own debt asset" in report and "<td>lend_eur</td><td>EUR</td>" in report
    alone = {
        m: simulate(load_scenario(only(spec, m)), paths=N_PATHS, seed=7, keep_paths=0).summary()
        for m in spec["markets"]
    }
    assert summary["loss_unit"] == "USD" and summary["loss_asset"] == "USD"
    assert summary["debt_asset_prices"] == {"EUR": "1.1", "USD": "1"}
    for market, s in alone.items():
        mine = summary["by_market"][market]
        assert mine["debt_asset"] == s["loss_asset"]
        assert mine["p_bad_debt"] == {k: s["p_bad_debt"][k] for k in ("value", "se")}
        assert mine["loss"] == {k: s["loss"][k] for k in ("mean", "var99", "cvar99")}
        assert mine["bad_debt_mean"] == s["bad_debt_mean"] and mine["incident_loss_mean"] == s["incident_loss_mean"]
    # one debt asset: the summary has no multi-asset fields (the goldens are unchanged)
    assert not {"loss_unit", "by_market", "debt_asset_prices"} & set(alone["lend_usd"])
    # P(bad debt) of the book is that of either market having bad debt
    _, _, both = _run(spec)
    assert summary["p_bad_debt"]["value"] == pytest.approx(float((both.market_bad_debt > 1e-9).any(axis=1).mean()))


def test_a_layer_with_a_per_event_cap_serving_two_debt_assets_is_refused() -> None:
    spec = two_markets()
    spec["markets"]["lend_eur"]["waterfall"] = ["fund_usd", *EUR_LAYERS]
    with pytest.raises(InvalidConfig) as err:
        compile_model(load_scenario(spec))
    assert err.value.field == "layers.fund_usd" and "EUR, USD" in err.value.message


def test_a_simulated_debt_asset_price_is_refused_naming_it() -> None:
    spec = two_markets()
    spec["simulation"]["prices"]["assets"]["EUR"] = {"vol": 0.1}
    with pytest.raises(InvalidConfig) as err:
        compile_model(load_scenario(spec))
    assert err.value.field == "simulation.prices.assets.EUR"


def _drive(model: Any, scenario: Any, world: Any, p: int, accounts: list[list[str]]) -> dict[str, float]:
    """Replay path p through `Engine.apply` (the guarantor defaults drawn, then per event step
    `SetPrice`, `Advance` and the step's `Liquidate` / `Incident` commands in the simulator's
    order); each layer's allocation valued in USD at its loss's asset price. The world has no
    rewards and no run, so nothing else happens on a path (tests/sim/helpers.py `drive_engine`
    covers those with one debt asset)."""
    from backstop.scenario.runner import run as run_scenario

    engine = run_scenario(scenario).engine
    for j, layer in enumerate(model.layers):
        if layer.can_default and world.defaulted[p, j] and not layer.defaulted0:
            engine.apply(c.GuarantorDefaults(at=model.start_at, layer=layer.id))
    events = path_events(world, p)
    eth = model.assets.index("ETH")
    for step in sorted({int(world.ev_step[e]) for e in events}):
        at = model.start_at + step * model.step_seconds
        here = [e for e in events if int(world.ev_step[e]) == step]
        engine.apply(c.SetPrice(at=at, asset="ETH", price_e18=round(float(world.ev_prices[here[0], eth]) * 10**18)))
        engine.apply(c.Advance(at=at))
        for e in here:
            kind, ref = int(world.ev_kind[e]), int(world.ev_ref[e])
            if kind == KIND_LIQUIDATION:
                book = model.books[ref]
                for k in range(int(world.ev_k_before[e]), int(world.ev_k_after[e])):
                    engine.apply(c.Liquidate(at=at, market=book.market, account=accounts[ref][k]))
            elif kind == KIND_INCIDENT:
                market = model.markets[model.incidents[ref].market]
                debt = model.assets[market.debt_asset]
                amount = round(float(world.ev_amount[e]) * 10 ** model.decimals[market.debt_asset])
                engine.apply(c.Incident(at=at, market=market.id, asset=debt, amount=amount, cause="exploit"))
    alloc = {layer.id: 0.0 for layer in model.layers}
    for loss in engine.state.losses:
        a = model.assets.index(loss.asset)
        for lid, v in loss.allocation.items():
            alloc[lid] += v / 10 ** model.decimals[a] * float(model.prices0[a])
    return alloc


def test_two_debt_asset_paths_match_the_exact_engine() -> None:
    """Tolerance as in tests/sim/test_kind_equivalence.py: no price impact (depth 0), so only the
    engine's integer rounding differs from float64 (~1e-12 relative); 1e-9 of the path's loss plus
    1e-9 USD per layer. Paths with a multi-bucket settlement are left out (docs/risk-lab.md)."""
    spec = two_markets()
    scenario = load_scenario(copy.deepcopy(spec))
    model, world, out = _run(spec)
    accounts = bucket_accounts(model, scenario)
    ok = single_bucket_paths(world)
    # paths where both markets lost something (a path mixes EUR and USD losses), then others with a loss
    mixed = ok[(out.market_loss[ok] > 0).all(axis=1)][:4]
    sample = np.concatenate([mixed, ok[out.loss[ok] > 0][:6]])
    assert len(mixed) >= 2
    paid_in_eth = 0
    for p in sample:
        engine = _drive(model, load_scenario(copy.deepcopy(spec)), world, int(p), accounts)
        tol = 1e-9 * out.loss[p] + 1e-9
        for j, layer in enumerate(model.layers):
            assert abs(engine[layer.id] - out.alloc[p, j]) <= tol, (int(p), layer.id, engine[layer.id], out.alloc[p, j])
        paid_in_eth += int(out.alloc[p, _col(model, "eth_dao")] > 0)
    assert paid_in_eth > 0  # the sample exercised a layer paying EUR losses in ETH


def test_a_broken_conversion_is_caught() -> None:
    """Control: a run that books EUR payments as if one EUR were one USD differs from the engine's
    valuation by far more than the tolerance (the comparison above is not vacuous)."""
    spec = two_markets()
    model, world, out = _run(spec)
    accounts = bucket_accounts(model, load_scenario(copy.deepcopy(spec)))
    ok = single_bucket_paths(world)
    p = int(ok[(out.market_loss[ok, [m.id for m in model.markets].index("lend_eur")] > 0)][0])
    engine = _drive(model, load_scenario(copy.deepcopy(spec)), world, p, accounts)
    j = _col(model, "fund_eur")
    assert out.alloc[p, j] > 0
    assert abs(engine["fund_eur"] - out.alloc[p, j] / EUR_PRICE) > 1e-9 * out.loss[p] + 1e-9


def test_the_cli_prints_each_market_in_its_own_debt_asset(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from backstop.cli import app

    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(two_markets()))
    out = CliRunner().invoke(app, ["simulate", str(path), "--paths", "200", "--seed", "3"])
    assert out.exit_code == 0, out.output
    assert "loss (USD)" in out.output and "EUR = 1.1 USD, USD = 1 USD" in out.output
    assert any("lend_eur" in line and "│ EUR " in line for line in out.output.splitlines())
