"""The CLI's process tuning (issue 15): once a command has finished, `main` freezes the collector's
objects so the interpreter's shutdown does not scan them all again (`runtime.skip_exit_collections`;
the command's exit code, its output and the `atexit` handlers are unchanged); before it runs, it
asks OpenBLAS for one thread unless the user chose (`runtime.one_blas_thread`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backstop.runtime import BLAS_THREAD_VARIABLES

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import atexit, gc, json, sys
import os
seen = {"frozen_at_start": gc.get_freeze_count(), "numpy_at_start": "numpy" in sys.modules}
def last():  # registered first, so it runs after every other atexit handler
    seen["frozen_at_exit"] = gc.get_freeze_count()
    seen["blas"] = {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    sys.stderr.write("PROBE " + json.dumps(seen) + "\\n")
atexit.register(last)
sys.argv = ["backstop", *sys.argv[1:]]
from backstop.cli import main
main()
"""


def run_cli(*args: str, **extra_env: str) -> tuple[int, str, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k not in BLAS_THREAD_VARIABLES}
    env |= {"PYTHONPATH": str(ROOT / "src"), **extra_env}
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
    assert seen["numpy_at_start"] is False  # so OpenBLAS reads the variable when it loads
    assert seen["frozen_at_exit"] > 1000  # the atexit handlers still ran, with the objects frozen
    if code == 0:
        assert "valid" in out


def test_simulate_json_is_unchanged_by_the_frozen_exit() -> None:
    """The JSON is written before the freeze, so it is the library's own summary."""
    rc, out, seen = run_cli("simulate", "examples/risk_lab_cdp.yaml", "--paths", "300", "--seed", "1", "--json")
    assert rc == 0 and seen["frozen_at_exit"] > 1000
    assert seen["blas"] == {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": None}
    from backstop.sim import api

    res = api.simulate(ROOT / "examples" / "risk_lab_cdp.yaml", paths=300, seed=1)
    assert json.loads(out) == json.loads(json.dumps(res.summary()))


def test_a_chosen_blas_thread_count_is_kept_and_changes_no_number() -> None:
    args = ("simulate", "examples/risk_lab_cdp.yaml", "--paths", "300", "--seed", "1", "--json")
    rc, one, seen = run_cli(*args)
    assert rc == 0 and seen["blas"]["OPENBLAS_NUM_THREADS"] == "1"
    rc, chosen, seen = run_cli(*args, OMP_NUM_THREADS="2")
    assert rc == 0 and seen["blas"] == {"OPENBLAS_NUM_THREADS": None, "OMP_NUM_THREADS": "2"}
    assert chosen == one  # byte for byte


KEEP_PROBE = """
import ctypes, json, os
from backstop.runtime import keep_freed_memory
glibc = (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
print(json.dumps({"glibc": glibc, "applied": keep_freed_memory()}))
"""


def test_keep_freed_memory_applies_on_glibc_only() -> None:
    """`runtime.keep_freed_memory` (the risk lab's one-shot commands) tunes glibc's malloc and says
    so; elsewhere it does nothing. The numbers it could touch are checked byte for byte by
    `test_simulate_json_is_unchanged_by_the_frozen_exit` (it runs `simulate`, which applies it)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", KEEP_PROBE], env=env, capture_output=True, text=True, check=True)
    got = json.loads(done.stdout)
    assert got["applied"] == got["glibc"]
