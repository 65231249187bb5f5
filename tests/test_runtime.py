"""The CLI's exit (`runtime.skip_exit_collections`, issue 15): once a command has finished, `main`
freezes the collector's objects so the interpreter's shutdown does not scan them all again; the
command's exit code, its output and the `atexit` handlers are unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import atexit, gc, json, sys
seen = {"frozen_at_start": gc.get_freeze_count()}
def last():  # registered first, so it runs after every other atexit handler
    seen["frozen_at_exit"] = gc.get_freeze_count()
    sys.stderr.write("PROBE " + json.dumps(seen) + "\\n")
atexit.register(last)
sys.argv = ["backstop", *sys.argv[1:]]
from backstop.cli import main
main()
"""


def run_cli(*args: str) -> tuple[int, str, dict[str, int]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    probe = [line for line in done.stderr.splitlines() if line.startswith("PROBE ")]
    assert len(probe) == 1, done.stderr
    return done.returncode, done.stdout, json.loads(probe[0][len("PROBE ") :])


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("validate", "examples/liquity_stability_pool.yaml"), 0),
        (("simulate", "examples/risk_lab_cdp.yaml", "--paths", "0", "--json"), 2),  # bad input: exit 2
    ],
)
def test_main_freezes_at_exit_and_keeps_the_exit_code(args: tuple[str, ...], code: int) -> None:
    rc, out, seen = run_cli(*args)
    assert rc == code
    assert seen["frozen_at_start"] == 0  # control: nothing is frozen before the command runs
    assert seen["frozen_at_exit"] > 1000  # the atexit handlers still ran, with the objects frozen
    if code == 0:
        assert "valid" in out


def test_simulate_json_is_unchanged_by_the_frozen_exit() -> None:
    """The JSON is written before the freeze, so it is the library's own summary."""
    rc, out, seen = run_cli("simulate", "examples/risk_lab_cdp.yaml", "--paths", "300", "--seed", "1", "--json")
    assert rc == 0 and seen["frozen_at_exit"] > 1000
    from backstop.sim import api

    res = api.simulate(ROOT / "examples" / "risk_lab_cdp.yaml", paths=300, seed=1)
    assert json.loads(out) == json.loads(json.dumps(res.summary()))
