"""The live risk desk on the demo (`backstop serve --demo`, issue 14's "Done when").

The demo is the flagship example: a lending market in USDC and a Liquity-style cdp in LUSD, so
its live book has two debt assets. `serve --demo` loads the flagship's commands and stores its
`simulation:` section as the risk profile; a live simulation with the demo's risk key must then
finish with results in USD (`loss_unit`) and each market in its own debt asset.

The reference numbers are the risk lab run on the flagship file itself (the live state is that
file's state, its profile that file's `simulation:` section), and `backstop export` of the demo
followed by `backstop simulate` on the exported file: all three must agree in every number.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from backstop.api.app import create_app
from backstop.api.cli import FLAGSHIP, demo_keys, load_demo
from backstop.api.service import Service
from backstop.cli import app as cli_app
from backstop.sim.api import simulate_summary
from backstop.store import SqlStore

PATHS, SEED = 2000, 1


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[TestClient, Service, str, str]]:
    """What `backstop serve --demo` builds: the flagship loaded with its risk profile, the demo keys."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    store = SqlStore(url)
    service = Service(store)
    load_demo(service, FLAGSHIP, risk_profile=True)
    keys = demo_keys(service, FLAGSHIP)
    risk = next(token for who, token in keys.items() if who.startswith("risk"))
    yield TestClient(create_app(service)), service, risk, url
    store.close()


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}


def _wait(client: TestClient, job_id: str, token: str, seconds: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = client.get(f"/v1/simulations/{job_id}", headers=_headers(token)).json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


@pytest.mark.slow  # a background job on a worker thread: not the in-process tier
def test_the_demo_live_job_finishes_and_matches_the_flagship_and_its_export(
    demo: tuple[TestClient, Service, str, str], tmp_path: Path
) -> None:
    client, service, risk, url = demo
    profile = client.get("/v1/risk/profile", headers=_headers(risk))
    assert profile.status_code == 200, profile.text
    assert profile.json()["profile"] == yaml.safe_load(FLAGSHIP.read_text())["simulation"]

    body = {"source": "live", "paths": PATHS, "seed": SEED}
    r = client.post("/v1/simulations", json=body, headers=_headers(risk))
    assert r.status_code == 202, r.text
    job = _wait(client, r.json()["id"], risk)
    assert job["status"] == "done", job
    assert job["state_hash"] == service.state_hash()
    result = job["result"]
    # two debt assets: aggregates in USD, each market in its own debt asset
    assert result["loss_unit"] == "USD" and result["debt_asset_prices"] == {"LUSD": "1", "USDC": "1"}
    assert {m: v["debt_asset"] for m, v in result["by_market"].items()} == {"lend": "USDC", "troves": "LUSD"}
    assert float(result["loss"]["mean"]) > 0  # the profile's exploits hit the lending pool

    reference = simulate_summary(FLAGSHIP, paths=PATHS, seed=SEED)
    assert result == reference | {"name": "live"}
    # backstop export, then backstop simulate on the file: the same numbers again
    out = tmp_path / "live.yaml"
    exported = CliRunner().invoke(cli_app, ["export", "--db", url, "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert yaml.safe_load(out.read_text())["simulation"] == profile.json()["profile"]
    assert simulate_summary(out, paths=PATHS, seed=SEED) == result
    # the finished live job is a point of the risk history
    history = client.get("/v1/risk/history", headers=_headers(risk)).json()["points"]
    assert [p["state_hash"] for p in history] == [job["state_hash"]]
