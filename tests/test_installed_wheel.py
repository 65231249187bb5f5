"""An installed wheel works on its own: no source tree, no `examples/` folder beside it.

The test builds the wheel, installs it into a fresh virtual environment in a temporary directory
outside the repository, and from a temporary working directory runs what a new user would:
`backstop examples`, `backstop examples copy flagship`, `backstop run example:flagship --json`
(checked against the golden output) and `backstop serve --demo` in the background, whose health
endpoint must answer and which must run a risk-lab job (`POST /v1/simulations`) to `done`.

How the environment is made, and why:
* The source is copied (pyproject.toml, README.md, src/) into the temporary directory first and
  the wheel is built from the copy with `pip wheel --no-deps`, so the build's `build/` and
  `*.egg-info` never land in the repository. pip fetches the build backend (setuptools) the way
  `make`'s own editable install does, from the configured package index.
* The venv is made with `--without-pip` by the interpreter running the tests, and the wheel is
  installed into it by this interpreter's pip (`pip --python <venv> install --no-deps
  --no-index`): nothing is downloaded at install time.
* The runtime dependencies (FastAPI, NumPy, ...) are not installed again: a `.pth` file in the
  new venv's site-packages appends the test interpreter's site-packages to `sys.path`. A plain
  path line in a .pth does not process the .pth files of the directory it names, so the source
  checkout that an editable install registers there is NOT put on the path; and the venv's own
  site-packages come first, so `import backstop` finds the installed wheel. The test asserts that
  (`backstop.__file__` is inside the new venv) so it cannot pass by running the source tree.
  This needs no network and takes seconds, where installing every dependency into the new venv
  would need the index and about a minute.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("installed-wheel")]  # one build, one worker

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "run_flagship.json"
PIP_INSTALL = (sys.executable, "-m", "pip", "--python")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    """The environment without anything that would put the source tree on the path."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the venv's bin directory, an empty working directory), both outside the repository."""
    base = tmp_path_factory.mktemp("wheel")
    assert ROOT not in base.parents
    source = base / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "src",
        source / "src",
        symlinks=False,
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"),
    )
    wheels = base / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(source)],
        check=True,
        env=_env(),
        timeout=300,
    )
    (wheel,) = wheels.glob("backstop-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    bin_dir = venv / "bin"
    purelib = subprocess.run(
        [str(bin_dir / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        env=_env(),
    ).stdout.strip()
    deps = sysconfig.get_paths()["purelib"]
    (Path(purelib) / "_backstop_test_deps.pth").write_text(deps + "\n")
    subprocess.run(
        [*PIP_INSTALL, str(bin_dir / "python"), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        env=_env(),
        timeout=300,
    )
    work = base / "work"
    work.mkdir()
    yield bin_dir, work


def _backstop(installed: tuple[Path, Path], *args: str) -> subprocess.CompletedProcess[str]:
    bin_dir, work = installed
    return subprocess.run(
        [str(bin_dir / "backstop"), *args], cwd=work, env=_env(), capture_output=True, text=True, timeout=300
    )


def test_the_installed_package_is_the_wheel_not_the_source(installed: tuple[Path, Path]) -> None:
    bin_dir, work = installed
    out = subprocess.run(
        [str(bin_dir / "python"), "-c", "import backstop; print(backstop.__file__)"],
        cwd=work,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(out).is_relative_to(bin_dir.parent), out
    assert not Path(out).is_relative_to(ROOT), out


def test_examples_are_listed_copied_and_run(installed: tuple[Path, Path]) -> None:
    _, work = installed
    listed = _backstop(installed, "examples")
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0]: line for line in listed.stdout.splitlines() if line.strip()}
    assert "flagship" in lines and "risk_lab_cdp" in lines
    assert "every kind of backstop" in lines["flagship"]  # the first line of the example's header comment

    copied = _backstop(installed, "examples", "copy", "flagship")
    assert copied.returncode == 0, copied.stderr
    bundled = (ROOT / "src" / "backstop" / "examples" / "flagship.yaml").read_text()
    assert (work / "flagship.yaml").read_text() == bundled
    again = _backstop(installed, "examples", "copy", "flagship")
    assert again.returncode == 2 and "dest" in again.stderr and "Traceback" not in again.stderr

    ran = _backstop(installed, "run", "example:flagship", "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == json.loads(GOLDEN.read_text())
    from_copy = _backstop(installed, "run", "flagship.yaml", "--json")
    assert from_copy.stdout == ran.stdout

    unknown = _backstop(installed, "run", "example:nope")
    assert unknown.returncode == 2 and "no example scenario named 'nope'" in unknown.stderr


def _wait_for_keys(log: Path, server: subprocess.Popen[bytes]) -> dict[str, str]:
    """The demo's API keys, read from what `serve --demo` prints once it is ready."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        if "API docs:" in text:
            keys = {}
            for line in text.splitlines():
                parts = line.split()
                if len(parts) >= 2 and parts[-1].startswith("bsk_"):
                    keys[parts[0]] = parts[-1]
            return keys
        if server.poll() is not None:
            pytest.fail(f"serve --demo exited with {server.returncode}:\n{text}")
        time.sleep(0.2)
    pytest.fail(f"serve --demo did not start:\n{log.read_text()}")


def test_serve_demo_answers_and_runs_a_risk_lab_job(installed: tuple[Path, Path]) -> None:
    bin_dir, work = installed
    port = _free_port()
    log = work / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(bin_dir / "backstop"), "serve", "--demo", "--port", str(port)],
            cwd=work,
            env=_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        keys = _wait_for_keys(log, server)
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(100):
                try:
                    health = client.get("/v1/health")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            assert health.status_code == 200 and health.json()["ok"] is True
            auth = {"Authorization": f"Bearer {keys['risk']}"}
            body = {"scenario": "risk_lab_cdp", "paths": 200, "horizon_days": 30, "seed": 7}
            posted = client.post("/v1/simulations", json=body, headers=auth | {"Idempotency-Key": "wheel-1"})
            assert posted.status_code in (200, 201, 202), posted.text
            job_id = posted.json()["id"]
            job: dict[str, Any] = {}
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                job = client.get(f"/v1/simulations/{job_id}", headers=auth).json()
                if job["status"] in ("done", "failed"):
                    break
                time.sleep(0.5)
            assert job.get("status") == "done", job
            assert job["result"]["paths"] == 200 and job["result"]["seed"] == 7
            assert 0.0 <= job["result"]["p_bad_debt"]["value"] <= 1.0
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert "Traceback" not in log.read_text()
