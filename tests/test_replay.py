"""`backstop replay`: an auditor re-derives a run from its published event log (docs/architecture.md, I4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backstop.cli import app

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "liquity_stability_pool.yaml"


def _run_json(tmp_path: Path) -> Path:
    result = CliRunner().invoke(app, ["run", str(EXAMPLE), "--json"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "run.json"
    out.write_text(result.stdout)
    return out


def test_replay_of_a_published_log_matches_its_state_hash(tmp_path: Path) -> None:
    log = _run_json(tmp_path)
    result = CliRunner().invoke(app, ["replay", str(log)])
    assert result.exit_code == 0, result.output
    assert json.loads(log.read_text())["state_hash"] in result.output.replace("\n", "")


def test_replay_detects_a_tampered_amount(tmp_path: Path) -> None:
    log = _run_json(tmp_path)
    data = json.loads(log.read_text())
    for event in data["events"]:
        cmd = event["data"].get("command")
        if event["kind"] == "command" and cmd["type"] == "Deposit":
            cmd["amount"] = str(int(cmd["amount"]) + 1)  # one base unit more for alice
            break
    log.write_text(json.dumps(data))
    result = CliRunner().invoke(app, ["replay", str(log)])
    assert result.exit_code == 1
    assert "mismatch" in result.output


def test_replay_of_garbage_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = CliRunner().invoke(app, ["replay", str(bad)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_replay_detects_a_tampered_derived_event(tmp_path: Path) -> None:
    """The commands are untouched, but a published posting says otherwise: every event is re-derived
    and compared, so the log itself is checked, not only where it ends."""
    log = _run_json(tmp_path)
    data = json.loads(log.read_text())
    posting = next(e for e in data["events"] if e["kind"] == "posting")
    posting["data"]["amount"] = str(int(posting["data"]["amount"]) + 1)
    log.write_text(json.dumps(data))
    result = CliRunner().invoke(app, ["replay", str(log)])
    assert result.exit_code == 1
    assert "mismatch" in result.output and f"event {posting['seq']} differs" in result.output.replace("\n", "")


def test_replay_checks_a_recorded_state_hash_on_the_way() -> None:
    from backstop.engine import Engine, ReplayMismatch
    from backstop.scenario.loader import load_scenario
    from backstop.scenario.runner import run

    engine = run(load_scenario(EXAMPLE)).engine
    first_command_end = next(i for i, e in enumerate(engine.log[1:], 1) if e.kind == "command") - 1
    with pytest.raises(ReplayMismatch, match=f"checkpoint {first_command_end}"):
        Engine.replay(engine.log, checkpoints={first_command_end: "0" * 64})
    assert Engine.replay(engine.log).state_hash() == engine.state_hash()
