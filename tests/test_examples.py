"""Every example in examples/ runs through the exact engine with `--check` (every
example runs in CI), its JSON output is exact and replays to the same hash, and
its header comment tells the story (issue 3: "each with a header comment that explains the
story and who pays")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backstop.cli import app
from backstop.engine import Engine
from backstop.scenario.loader import load_scenario
from backstop.scenario.runner import run

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))


def test_there_are_examples() -> None:
    assert EXAMPLES, "examples/ holds no scenario"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_with_check(path: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(path), "--check"])
    assert result.exit_code == 0, result.output
    assert "invariants held" in result.output


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_json_is_exact_and_replays(path: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= {"name", "state_hash", "events", "losses", "layers", "markets", "ledger"}
    for loss in data["losses"]:
        # Σ allocation = loss amount, exactly, in decimal strings (invariant I5, docs/architecture.md)
        parts = [_units(v) for v in loss["allocation"].values()]
        assert sum(parts) == _units(loss["amount"]), loss
    engine = run(load_scenario(path), check=False).engine
    assert Engine.replay(engine.log).state_hash() == data["state_hash"]
    # A mint layer reports its dilution, and it is the same figure as the P&L's minted supply.
    for layer in data["layers"].values():
        if layer["kind"] == "mint" and _units(layer["minted"]) > 0:
            assert layer["minted"] in data["pnl"]["minted"].values(), (layer, data["pnl"]["minted"])


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_has_a_story_header(path: Path) -> None:
    head = path.read_text().splitlines()[:5]
    assert head and all(line.startswith("#") for line in head[:3]), f"{path.name} needs a header comment"


def _units(text: str) -> int:
    """Decimal string -> integer count of 1e-18 units, so sums are exact without floats."""
    whole, _, frac = text.lstrip("-").partition(".")
    value = int(whole) * 10**18 + int((frac + "0" * 18)[:18] or 0)
    return -value if text.startswith("-") else value
