"""Issue 3, bad input through the CLI: every kind of bad step stops `backstop run` with exit code
2, a typed error whose message names the step and the field, and no traceback; and the same step
marked `expect_error` leaves the state exactly as if it had not been there (same `state_hash`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from backstop.cli import app

BASE: dict[str, Any] = {
    "name": "bad-input",
    "assets": {"LUSD": {"decimals": 18}, "ETH": {"decimals": 18}, "USDC": {"decimals": 6}},
    "prices": {"LUSD": 1, "ETH": 200, "USDC": 1},
    "layers": {
        "sp": {"kind": "stability_pool", "asset": "LUSD"},
        "stake": {
            "kind": "staking_pool",
            "asset": "USDC",
            "cooldown_seconds": 100,
            "unstake_window_seconds": 50,
            "max_slash_bps": 3000,
        },
        "rest": {"kind": "socialize"},
    },
    "markets": {
        "troves": {
            "kind": "cdp",
            "debt_asset": "LUSD",
            "min_collateral_ratio_bps": 11000,
            "collateral": {"ETH": {"liquidation_threshold_bps": 9091}},
            "waterfall": ["sp", "rest"],
        }
    },
    "steps": [
        {"at": 0, "do": "deposit", "layer": "sp", "account": "alice", "amount": 100},
        {"at": 0, "do": "stake", "layer": "stake", "account": "bob", "amount": 1000},
        {"at": 0, "do": "open", "market": "troves", "account": "t1", "collateral": {"ETH": 1.6}, "debt": 150},
        {"at": 10, "do": "request_withdraw", "layer": "stake", "account": "bob", "amount": 500},
    ],
}

# (the bad step, the error type, the field the message must name); the step runs as step 5.
CASES: list[tuple[dict[str, Any], str, str]] = [
    (
        {"at": 20, "do": "deposit", "layer": "sp", "account": "carol", "amount": "1.0000000000000000001"},
        "InvalidAmount",
        "amount",
    ),
    ({"at": 20, "do": "deposit", "layer": "sp", "account": "carol", "amount": 0}, "InvalidAmount", "amount"),
    ({"at": 20, "do": "deposit", "layer": "sp", "account": "carol", "amount": -5}, "InvalidAmount", "amount"),
    ({"at": 20, "do": "deposit", "layer": "nope", "account": "carol", "amount": 1}, "UnknownEntity", "layer"),
    ({"at": 20, "do": "liquidate", "market": "nope", "account": "t1"}, "UnknownEntity", "market"),
    ({"at": 20, "do": "price", "asset": "DOGE", "price": 1}, "UnknownEntity", "asset"),
    ({"at": 20, "do": "liquidate", "market": "troves", "account": "nobody"}, "UnknownEntity", "account"),
    ({"at": 5, "do": "deposit", "layer": "sp", "account": "carol", "amount": 1}, "TimeWentBackwards", "at"),
    ({"at": 20, "do": "withdraw", "layer": "sp", "account": "alice", "amount": 101}, "InsufficientFunds", "amount"),
    ({"at": 20, "do": "withdraw", "layer": "stake", "account": "bob", "amount": 100}, "WithdrawNotAllowed", "at"),
    ({"at": 200, "do": "withdraw", "layer": "stake", "account": "bob", "amount": 100}, "WithdrawNotAllowed", "at"),
    (
        {"at": 20, "do": "open", "market": "troves", "account": "t2", "collateral": {"ETH": 1}, "debt": 190},
        "Undercollateralized",
        "debt",
    ),
    ({"at": 20, "do": "liquidate", "market": "troves", "account": "t1"}, "PositionHealthy", "account"),
    # the protocol verbs of the staking pool and the deficit end (issue 12)
    ({"at": 20, "do": "settle_slashing", "layer": "stake"}, "NotPermitted", "layer"),
    ({"at": 20, "do": "fill_auction", "layer": "stake", "account": "k", "block": -1}, "ScenarioError", "block"),
    ({"at": 20, "do": "fill_auction", "layer": "stake", "account": "k", "block": 3}, "NotPermitted", "layer"),
    (
        {"at": 20, "do": "fill_auction", "layer": "stake", "account": "k", "block": 3, "percent": 0},
        "ScenarioError",
        "percent",
    ),
    ({"at": 20, "do": "claim_rewards", "layer": "stake", "account": "bob"}, "NotPermitted", "layer"),
    ({"at": 20, "do": "cover_deficit", "market": "troves", "layer": "stake", "amount": 1}, "NotPermitted", "market"),
    ({"at": 20, "do": "cover_deficit", "market": "troves", "layer": "sp", "amount": 0}, "InvalidAmount", "amount"),
]


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _state_hash(path: Path) -> str:
    result = CliRunner().invoke(app, ["run", str(path), "--json"])
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["state_hash"])


def test_the_base_scenario_runs(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(_write(tmp_path, BASE)), "--check"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("step", "error", "field"), CASES, ids=[f"{e}-{s['do']}" for s, e, _ in CASES])
def test_bad_step_exits_2_naming_step_and_field(tmp_path: Path, step: dict[str, Any], error: str, field: str) -> None:
    doc = {**BASE, "steps": [*BASE["steps"], step]}
    result = CliRunner().invoke(app, ["run", str(_write(tmp_path, doc))])
    out = result.output
    assert result.exit_code == 2, out
    assert "Traceback" not in out
    assert f"error ({error})" in out and "step 5" in out and f"{field}:" in out, out


@pytest.mark.parametrize(("step", "error", "field"), CASES, ids=[f"{e}-{s['do']}" for s, e, _ in CASES])
def test_expected_error_changes_nothing(tmp_path: Path, step: dict[str, Any], error: str, field: str) -> None:
    clean = _state_hash(_write(tmp_path, BASE))
    doc = {**BASE, "steps": [*BASE["steps"], {**step, "expect_error": error}]}
    assert _state_hash(_write(tmp_path, doc)) == clean


def test_expect_error_that_does_not_happen_is_itself_an_error(tmp_path: Path) -> None:
    step = {"at": 20, "do": "deposit", "layer": "sp", "account": "carol", "amount": 1, "expect_error": "InvalidAmount"}
    result = CliRunner().invoke(app, ["run", str(_write(tmp_path, {**BASE, "steps": [*BASE["steps"], step]}))])
    assert result.exit_code == 2 and "step 5" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "text",
    ["name: x\nsteps: [\n", "just a string", "name: x\nassets: {A: {decimals: 99}}\n", "- 1\n- 2\n"],
    ids=["unclosed", "scalar", "bad-decimals", "list"],
)
def test_malformed_files_exit_2_without_a_traceback(tmp_path: Path, text: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert result.output.startswith("error"), result.output
