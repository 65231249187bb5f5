"""The new verbs and options in scenario files (docs/scenario-format.md): bad values stop `backstop
run` with exit 2 naming the step and the field, and the same step marked `expect_error` changes
nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from backstop.cli import app

BASE: dict[str, Any] = {
    "name": "nexus-bad-input",
    "assets": {"USDC": {"decimals": 6}, "ETH": {"decimals": 18}},
    "prices": {"USDC": 1, "ETH": 2000},
    "layers": {
        "mutual": {
            "kind": "cover_pool",
            "asset": "USDC",
            "staker_reward_bps": 5000,
            "claim_deposit_bps": 10,
            "premium_bps_per_year": 300,
        },
        "fund": {"kind": "insurance_fund", "asset": "USDC"},
        "xl": {
            "kind": "guarantor",
            "asset": "USDC",
            "guarantor": "re",
            "limit": 1000,
            "premium_bps_per_year": 100,
            "payer": "fund",
            "reinstatements": 1,
            "reinstatement_premium_bps": 10000,
        },
        "rest": {"kind": "socialize"},
    },
    "markets": {"m": {"kind": "lending", "debt_asset": "USDC", "collateral": {"ETH": {}}, "waterfall": ["xl", "rest"]}},
    "steps": [
        {"at": 0, "do": "deposit", "layer": "mutual", "account": "cap", "amount": 10000},
        {"at": 0, "do": "supply", "market": "m", "account": "inv", "amount": 10000},
        {"at": 0, "do": "assessor_stake", "pool": "mutual", "account": "a", "amount": 100},
        {
            "at": 0,
            "do": "buy_cover",
            "pool": "mutual",
            "account": "inv",
            "market": "m",
            "causes": ["exploit"],
            "amount": 1000,
            "period_days": 30,
        },
        {"at": 10, "do": "incident", "market": "m", "asset": "USDC", "amount": 3000, "cause": "exploit"},
        {"at": 20, "do": "file_claim", "policy": "pol-1", "incident": "inc-1", "loss": 1000},
    ],
}

CASES: list[tuple[dict[str, Any], str, str]] = [
    (
        {"at": 30, "do": "assessor_stake", "pool": "mutual", "account": "b", "amount": "0.0000001"},
        "InvalidAmount",
        "amount",
    ),
    ({"at": 30, "do": "assessor_stake", "pool": "nope", "account": "b", "amount": 1}, "UnknownEntity", "pool"),
    ({"at": 30, "do": "assessor_stake", "pool": "fund", "account": "b", "amount": 1}, "UnknownEntity", "pool"),
    (
        {"at": 30, "do": "assessor_unstake", "pool": "mutual", "account": "a", "amount": 101},
        "InsufficientFunds",
        "amount",
    ),
    ({"at": 30, "do": "assess_claim", "claim": "clm-1", "assessor": "a", "approve": False}, "ClaimError", "approve"),
    ({"at": 30, "do": "assess_claim", "claim": "clm-1", "assessor": "b", "approve": True}, "NotPermitted", "assessor"),
    ({"at": 30, "do": "settle_claim", "claim": "clm-1"}, "ClaimError", "at"),
    ({"at": 30, "do": "settle_claim", "claim": 5}, "ScenarioError", "claim"),
]


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _run(path: Path) -> Any:
    return CliRunner().invoke(app, ["run", str(path), "--json"])


def test_the_base_scenario_runs_and_a_claim_on_a_staked_pool_is_a_poll(tmp_path: Path) -> None:
    result = _run(_write(tmp_path, BASE))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    (claim,) = data["claims"]
    assert claim["poll_end"] == 20 + 3 * 86_400 and claim["deposit"] == "1"
    # premium ⌈1000 × 3% × 30/365⌉ = 2.465754: the stakers get 1.232877 (rounded down), the
    # capital pool the other 1.232877, plus inv's 1 USDC deposit (10 bps of 1000).
    assert data["layers"]["mutual"]["capital_pool"] == "2.232877"
    assert data["pnl"]["capital_pools"]["mutual"]["premiums"] == "1.232877"


@pytest.mark.parametrize(("step", "error", "field"), CASES, ids=[f"{e}-{s['do']}" for s, e, _ in CASES])
def test_bad_step_exits_2_naming_step_and_field(tmp_path: Path, step: dict[str, Any], error: str, field: str) -> None:
    doc = {**BASE, "steps": [*BASE["steps"], step]}
    result = CliRunner().invoke(app, ["run", str(_write(tmp_path, doc))])
    out = result.output
    assert result.exit_code == 2, out
    assert "Traceback" not in out
    assert f"error ({error})" in out and "step 7" in out and f"{field}:" in out, out


@pytest.mark.parametrize(("step", "error", "field"), CASES[:-1], ids=[f"{e}-{s['do']}" for s, e, _ in CASES[:-1]])
def test_expected_error_changes_nothing(tmp_path: Path, step: dict[str, Any], error: str, field: str) -> None:
    clean = json.loads(_run(_write(tmp_path, BASE)).stdout)["state_hash"]
    doc = {**BASE, "steps": [*BASE["steps"], {**step, "expect_error": error}]}
    result = _run(_write(tmp_path, doc))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["state_hash"] == clean


@pytest.mark.parametrize(
    ("layer", "key", "value"),
    [
        ("mutual", "staker_reward_bps", 10_001),
        ("mutual", "grace_seconds", -1),
        ("mutual", "voting_seconds", "3 days"),
        ("xl", "reinstatements", -1),
        ("xl", "reinstatements", 1.5),
        ("xl", "reinstatement_premium_bps", 200_000),
    ],
)
def test_bad_options_exit_2_naming_the_field(tmp_path: Path, layer: str, key: str, value: Any) -> None:
    doc = json.loads(json.dumps(BASE))
    doc["layers"][layer][key] = value
    result = CliRunner().invoke(app, ["run", str(_write(tmp_path, doc))])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and key in result.output, result.output


def test_the_euler_example_figures_in_the_docs() -> None:
    """docs/cover-and-claims.md and docs/layers/cover_pool.md quote these figures of
    `examples/euler_exploit.yaml`."""
    from backstop.bundled import example_path

    result = _run(example_path("euler_exploit"))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    mutual = data["layers"]["mutual"]
    assert mutual["total_assets"]["USDC"] == "12482273.972603"
    assert mutual["capital_pool"] == "82273.972603"
    clm1, clm2 = data["claims"]
    assert (clm1["status"], clm1["paid"], clm1["accepted"], clm1["denied"]) == ("approved", "1950000", "80000", "30000")
    assert clm1["poll_end"] == 5_529_600 + 3 * 86_400 + 8_640  # first accept + 3 days + d's extension
    assert (clm2["status"], clm2["paid"], clm2["accepted"], clm2["denied"]) == ("approved", "650000", "50000", "10000")
    assert data["pnl"]["capital_pools"]["mutual"]["premiums"] == "82273.972603"
