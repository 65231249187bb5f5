"""Historical shock paths (docs/risk-lab.md, `prices: {model: historical, csv: ...}`): the bundled
CSVs are found by name, read with their header comments, and replayed exactly when there is no
background volatility."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from backstop.domain.errors import InvalidConfig
from backstop.scenario.loader import load_scenario
from backstop.sim import api
from backstop.sim.prices import BUNDLED_SHOCKS, load_shock_csv

from .helpers import EXAMPLES

BLACK_THURSDAY = EXAMPLES / "risk_lab_black_thursday.yaml"


@pytest.mark.parametrize("name", [*BUNDLED_SHOCKS, *(f"{n}.csv" for n in BUNDLED_SHOCKS)])
def test_bundled_shocks_resolve_by_name(name: str, tmp_path: Path) -> None:
    hours, series = load_shock_csv(name, tmp_path)
    assert np.all(np.diff(hours) > 0) and len(series) == 1
    (prices,) = series.values()
    assert np.all(prices > 0)


def test_bundled_figures() -> None:
    """The cited figures. ETH, 12 March 2020 from the 10-minute bars of BerkeleyBlockchain/stablesims
    feeds/eth/03-12-2020.json @ 29556c76: open 195.21, about 168-170 at 09:00 UTC, a crash to
    124.05 within the 10:00 UTC hour, 128-145 until 20:00 UTC, a low of 101.01 in the 23:20 bar,
    close 107.52; then ~90 early on 13 March. CRV: 0.40 → 0.63, then 0.60-0.65 on 23 Nov 2022."""
    hours, eth = load_shock_csv("eth_black_thursday_2020.csv", None)
    p = eth["ETH"]

    def window(a: float, b: float) -> np.ndarray:
        return p[(hours >= a) & (hours <= b)]

    assert p[0] == 195.21 and p[hours == 24][0] == 107.52 and p.min() == 90.0
    assert window(9, 10).min() >= 167 and window(9, 10).max() <= 171
    assert window(10, 11).min() == 124.05
    assert window(11.5, 20).min() >= 128 and window(11.5, 20).max() <= 145
    assert window(0, 24).min() == 101.01
    _, crv = load_shock_csv("crv_squeeze_2022", None)
    assert crv["CRV"][:2].min() == 0.40 and crv["CRV"].max() == 0.63
    assert crv["CRV"][12:].min() >= 0.60 and crv["CRV"][12:].max() <= 0.65


def test_a_file_next_to_the_scenario_wins(tmp_path: Path) -> None:
    (tmp_path / "eth_black_thursday_2020.csv").write_text("hour,ETH\n0,100\n1,50\n")
    _, series = load_shock_csv("eth_black_thursday_2020.csv", tmp_path)
    assert series["ETH"].tolist() == [100.0, 50.0]
    with pytest.raises(InvalidConfig) as exc:
        load_shock_csv("no_such_shock.csv", tmp_path)
    assert exc.value.field == "simulation.prices.csv" and "eth_black_thursday_2020" in exc.value.message


def test_zero_volatility_replays_the_shock_exactly(tmp_path: Path) -> None:
    data = yaml.safe_load(BLACK_THURSDAY.read_text())
    data["simulation"]["prices"]["assets"]["ETH"]["vol"] = 0.0
    data["simulation"]["oracle_outages"] = {"per_year": 0}
    res = api.simulate(load_scenario(data), paths=3, seed=0)
    assert res.sample_prices is not None
    path = res.sample_prices[0, 0]  # ETH, first path, steps 0..T
    start = 10 * 24  # start_day 10, 24 steps a day: hour h of the CSV is step start + h
    hours, eth = load_shock_csv("eth_black_thursday_2020.csv", None)
    log_eth = np.log(eth["ETH"])
    # the shock's log returns, sampled on the hourly step grid, on top of the start price 194.7
    expected = 194.7 * np.exp(np.interp(np.arange(48.0), hours, log_eth) - log_eth[0])
    np.testing.assert_allclose(path[start : start + 48], expected, rtol=1e-9)
    np.testing.assert_allclose(path[:start], 194.7, rtol=1e-12)
    # every path is the same replay, and it produces bad debt through the waterfall
    assert np.ptp(res.outcome.loss) == 0 and res.outcome.bad_debt[0] > 0


def test_black_thursday_example_loses_money() -> None:
    res = api.simulate(BLACK_THURSDAY, paths=500, seed=1)
    s = res.summary()
    assert s["p_bad_debt"]["value"] > 0.5
    assert float(s["by_layer"]["flop"]["mean"]) > 0  # the MKR debt auction pays, as in March 2020
