"""Bad input (issue 5): a clear error naming the field, exit code 2, no traceback, no report.

The CLI validates everything (scenario, `simulation:` section, options) before it writes
anything: the report is built in memory and written atomically only after the run succeeded.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from backstop.cli import app

from .helpers import CDP, ROOT

BACKSTOP = Path(sys.executable).with_name("backstop")


def cdp_with(tmp_path: Path, edit: Any) -> Path:
    data = yaml.safe_load(CDP.read_text())
    data["simulation"]["horizon_days"] = 30
    edit(data)
    out = tmp_path / "scenario.yaml"
    out.write_text(yaml.safe_dump(data))
    return out


def run_cli(args: list[str]) -> Any:
    return CliRunner().invoke(app, args)


def assert_refused(result: Any, field: str, report: Path | None = None) -> None:
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 2, text
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in text
    assert field in text, text
    if report is not None:
        assert not report.exists()
        assert not [p for p in report.parent.iterdir() if p.name.startswith(".backstop-")]


def _not_pd(d: dict[str, Any]) -> None:
    d["simulation"]["prices"]["correlation"] = {"ETH/WBTC": 0.9, "ETH/LINK": 0.9, "WBTC/LINK": -0.9}


def _neg_vol(d: dict[str, Any]) -> None:
    d["simulation"]["prices"]["assets"]["ETH"]["vol"] = -0.5


def _missing_columns(d: dict[str, Any]) -> None:
    d["simulation"]["positions"] = [{"market": "troves", "csv": "book.csv"}]


def _shock_missing_hour(d: dict[str, Any]) -> None:
    d["simulation"]["prices"].update(model="historical", csv="shock.csv")


def _bad_default_probability(d: dict[str, Any]) -> None:
    d["simulation"]["guarantor_default_probability"] = {"g1": 1.5}


def _settle_not_v15(d: dict[str, Any]) -> None:
    d["simulation"]["settle_slashing_after_days"] = {"fund": 7}


def _settle_negative(d: dict[str, Any]) -> None:
    d["simulation"]["settle_slashing_after_days"] = {"fund": -1}


@pytest.mark.parametrize(
    ("edit", "field", "message"),
    [
        (_not_pd, "simulation.prices.correlation", "not positive definite"),
        (_neg_vol, "simulation.prices.assets.ETH.vol", "must not be negative"),
        (_missing_columns, "simulation.positions.0.csv", "missing column(s) collateral_amount, debt"),
        (_shock_missing_hour, "simulation.prices.csv", "missing columns"),
        (_bad_default_probability, "simulation.guarantor_default_probability.g1", "[0, 1]"),
        (_settle_not_v15, "simulation.settle_slashing_after_days.fund", "not a staking pool with post_slash_lock"),
        (_settle_negative, "simulation.settle_slashing_after_days.fund", "greater than 0"),
    ],
    ids=[
        "correlation-not-pd",
        "negative-vol",
        "positions-csv-missing-columns",
        "shock-csv-no-hour",
        "probability",
        "settle-not-v1.5",
        "settle-negative",
    ],
)
def test_bad_scenario_is_refused_and_no_report_is_written(tmp_path: Path, edit: Any, field: str, message: str) -> None:
    (tmp_path / "book.csv").write_text("collateral_asset,amount\nETH,10\n")
    (tmp_path / "shock.csv").write_text("# no hour column\nday,ETH\n0,100\n1,50\n")
    scenario = cdp_with(tmp_path, edit)
    report = tmp_path / "out.html"
    result = run_cli(["simulate", str(scenario), "--paths", "50", "--report", str(report)])
    assert_refused(result, field, report)
    assert message in result.output + result.stderr


@pytest.mark.parametrize("paths", ["0", "-5"])
def test_paths_must_be_positive(tmp_path: Path, paths: str) -> None:
    report = tmp_path / "out.html"
    for cmd in (["simulate"], ["price", "--layer", "g1"], ["size", "--layer", "fund", "--target-p", "0.01"]):
        extra = ["--report", str(report)] if cmd == ["simulate"] else []
        assert_refused(run_cli([*cmd, str(CDP), "--paths", paths, *extra]), "paths", report)


@pytest.mark.parametrize("cmd", ["price", "size"])
def test_unknown_layer(cmd: str) -> None:
    args = [cmd, str(CDP), "--layer", "nope", "--paths", "20", "--horizon-days", "5"]
    if cmd == "size":
        args += ["--target-p", "0.01"]
    result = run_cli(args)
    assert_refused(result, "layer")
    assert "unknown layer 'nope'" in result.output + result.stderr


@pytest.mark.parametrize("target", ["0", "1", "1.5", "-0.1"])
def test_target_probability_outside_0_1(target: str) -> None:
    result = run_cli(["size", str(CDP), "--layer", "fund", "--target-p", target, "--paths", "20"])
    assert_refused(result, "target_p")


def test_size_layer_unknown_in_report(tmp_path: Path) -> None:
    report = tmp_path / "out.html"
    args = ["simulate", str(CDP), "--paths", "20", "--horizon-days", "5", "--report", str(report)]
    assert_refused(run_cli([*args, "--size-layer", "nope"]), "layer", report)
    assert_refused(run_cli([*args, "--size-layer", "fund", "--target-p", "2"]), "target_p", report)


@pytest.mark.slow  # a real process: startup and imports cost seconds
def test_real_process_exit_code_and_stderr(tmp_path: Path) -> None:
    """The installed console script, not only the in-process runner: exit 2, one line, no traceback."""
    scenario = cdp_with(tmp_path, _not_pd)
    report = tmp_path / "out.html"
    proc = subprocess.run(
        [str(BACKSTOP), "simulate", str(scenario), "--paths", "10", "--report", str(report)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "simulation.prices.correlation" in proc.stderr
    assert proc.stdout == ""
    assert not report.exists()
