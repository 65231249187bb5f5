"""`POST /v1/sizings` (docs/service.md): size a layer of the live book as a durable job.

The reference is the risk lab's own `backstop size` (`sim.api.size`) on the bundled example the
service was loaded from (`risk_lab_cdp`, whose `simulation:` section is the profile): the live
state is that example's state, so the same layer, target, paths and seed give the same curve and
the same size, rounded up to a whole unit of the layer's asset.
"""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from backstop.bundled import example_path
from backstop.sim.api import size as size_run
from backstop.store.jobs import JOB_STATES

from .conftest import Api, make_api

CDP = example_path("risk_lab_cdp")
PROFILE: dict[str, Any] = yaml.safe_load(CDP.read_text())["simulation"]
PATHS = 400


def wait(api: Api, job_id: str, seconds: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = api.get(f"/v1/sizings/{job_id}", who="risk").json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"sizing {job_id} did not finish: {job}")


def job_count(api: Api) -> int:
    return len(api.store.jobs_with_status(JOB_STATES))


@pytest.fixture(scope="module")
def cdp_api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    a = make_api(f"sqlite:///{tmp_path_factory.mktemp('size') / 'size.db'}", scenario=CDP)
    yield a
    a.store.close()


def test_without_a_profile_sizing_is_refused_and_no_job_is_made(tmp_path: Path) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'np.db'}", scenario=CDP)
    try:
        r = api.post("/v1/sizings", {"size": {"layer": "fund", "target_p": 0.01}, "paths": 10}, who="risk")
        assert r.status_code == 409 and r.json()["error"]["field"] == "source", r.text
        assert job_count(api) == 0
    finally:
        api.store.close()


def test_the_live_layers_say_which_can_be_sized(cdp_api: Api) -> None:
    layers = {x["id"]: x for x in cdp_api.get("/v1/sizings/layers", who="risk").json()["layers"]}
    assert layers["fund"]["size_meaning"] == "balance of the layer's asset" and layers["fund"]["asset"] == "LUSD"
    assert layers["g1"]["size_meaning"] == "limit"
    assert layers["rest"]["kind"] == "socialize" and layers["rest"]["size_meaning"] is None
    assert cdp_api.get("/v1/sizings/layers", who="investor").status_code == 403


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"size": {"layer": "nope", "target_p": 0.01}}, 422, "layer"),
        ({"size": {"layer": "rest", "target_p": 0.01}}, 422, "layer"),
        ({"size": {"layer": "fund", "target_p": 0}}, 422, "target_p"),
        ({"size": {"layer": "fund", "target_p": 1}}, 422, "target_p"),
        ({"size": {"layer": "fund", "target_p": 1.5}}, 422, "target_p"),
        ({"size": {"layer": "fund", "target_p": -0.1}}, 422, "target_p"),
        ({"size": {"layer": "fund", "target_p": 0.01}, "paths": 0}, 422, "paths"),
        ({"size": {"layer": "fund", "target_p": 0.01}, "paths": -5}, 422, "paths"),
        ({"size": {"layer": "fund"}}, 422, "size.target_p"),
        ({"size": {"layer": "fund", "target_p": 0.01}, "source": "example"}, 422, "source"),
    ],
    ids=["unknown", "no-size", "p0", "p1", "p>1", "p<0", "paths0", "paths<0", "no-target", "example"],
)
def test_bad_input_names_the_field_and_makes_no_job(
    cdp_api: Api, body: dict[str, Any], status: int, field: str
) -> None:
    put = cdp_api.client.put("/v1/risk/profile", json=PROFILE, headers=cdp_api.headers("risk"))
    assert put.status_code == 200, put.text
    before = job_count(cdp_api)
    r = cdp_api.post("/v1/sizings", body, who="risk")
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["field"] == field and err["message"].startswith(f"{field}:"), err
    assert job_count(cdp_api) == before
    if body["size"].get("layer") == "rest":
        assert "socialize layer, which has no size" in err["message"] and "fund" in err["message"]


@pytest.mark.slow  # background jobs on threads and timers: not the in-process tier
@pytest.mark.parametrize("layer", ["fund", "g1"])
def test_a_live_sizing_matches_the_risk_lab_on_the_same_book(cdp_api: Api, layer: str) -> None:
    api = cdp_api
    put = api.client.put("/v1/risk/profile", json=PROFILE, headers=api.headers("risk"))
    assert put.status_code == 200, put.text
    history = len(api.get("/v1/risk/history", who="risk").json()["points"])
    target = 0.002
    started = api.post(
        "/v1/sizings", {"size": {"layer": layer, "target_p": target}, "paths": PATHS, "seed": 3}, who="risk"
    )
    assert started.status_code == 202, started.text
    job = wait(api, started.json()["id"])
    assert job["status"] == "done", job
    res = job["result"]
    assert job["state_hash"] == api.service.state_hash() == res["state_hash"]
    assert (res["paths"], res["seed"], res["target_p"], res["metric"]) == (PATHS, 3, target, "p_socialized")
    ref = size_run(CDP, layer, target, paths=PATHS, seed=3).result
    assert res["reached"] == ref.reached
    assert res["size"] == str(math.ceil(ref.size))  # whole units, rounded up
    assert int(res["size"]) >= ref.size
    got = [x for c in res["curve"] for x in (c["size"], c["p"])]
    assert got == pytest.approx([x for point in sorted(ref.curve) for x in point], rel=1e-12)
    assert float(res["current_size"]) == ref.current_size
    assert res["asset"] == "LUSD"
    # P(socialized) does not grow with the size on common random numbers
    ps = [c["p"] for c in res["curve"]]
    assert all(a >= b for a, b in itertools.pairwise(ps)), ps
    # a sizing is no point of the risk history; only risk and admin read it
    assert len(api.get("/v1/risk/history", who="risk").json()["points"]) == history
    assert api.get(f"/v1/sizings/{job['id']}", who="investor").status_code == 403


@pytest.mark.slow  # background jobs on threads and timers: not the in-process tier
def test_a_same_key_retry_names_the_same_sizing_and_a_finished_one_cannot_be_cancelled(cdp_api: Api) -> None:
    api = cdp_api
    put = api.client.put("/v1/risk/profile", json=PROFILE, headers=api.headers("risk"))
    assert put.status_code == 200, put.text
    body = {"size": {"layer": "sp", "target_p": 0.01}, "paths": 50}
    first = api.post("/v1/sizings", body, who="risk", idem="size-once").json()
    again = api.post("/v1/sizings", body, who="risk", idem="size-once").json()
    assert first["id"] == again["id"]
    other = api.post("/v1/sizings", body | {"paths": 60}, who="risk", idem="size-once")
    assert other.status_code == 409 and other.json()["error"]["field"] == "idempotency-key"
    assert wait(api, first["id"])["status"] == "done"
    late = api.client.delete(f"/v1/sizings/{first['id']}", headers=api.headers("risk"))
    assert late.status_code == 409 and late.json()["error"]["field"] == "id"


@pytest.mark.slow  # background jobs on threads and timers: not the in-process tier
def test_a_simulation_is_not_a_sizing(cdp_api: Api) -> None:
    api = cdp_api
    sim = api.post("/v1/simulations", {"source": "example", "paths": 10, "horizon_days": 5}, who="risk").json()
    try:
        r = api.get(f"/v1/sizings/{sim['id']}", who="risk")
        assert r.status_code == 404 and r.json()["error"]["field"] == "id", r.text
        assert "is a simulation, not a sizing" in r.json()["error"]["message"]
        gone = api.client.delete(f"/v1/sizings/{sim['id']}", headers=api.headers("risk"))
        assert gone.status_code == 404
        assert api.get(f"/v1/simulations/{sim['id']}", who="risk").json()["status"] != "cancelled"
    finally:
        api.client.delete(f"/v1/simulations/{sim['id']}", headers=api.headers("risk"))
        deadline = time.monotonic() + 60  # no worker left running when the module's store closes
        while api.get(f"/v1/simulations/{sim['id']}", who="risk").json()["status"] in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.05)


@pytest.mark.slow  # background jobs on threads and timers: not the in-process tier
def test_a_full_queue_refuses_a_sizing_and_a_sizing_is_cancelled_at_its_next_chunk(tmp_path: Path) -> None:
    """Sizings share the simulations' queue: with one slot and no waiting place, and the slot
    taken by a sizing of 200,000 paths (many chunks of phase A), the next one is a 429 with
    Retry-After and makes no job; a DELETE stops the running one at its next chunk."""
    api = make_api(f"sqlite:///{tmp_path / 'q.db'}", scenario=CDP)
    api.client.app.state.backstop.jobs.configure(max_jobs=1, max_queued=0)
    try:
        put = api.client.put("/v1/risk/profile", json=PROFILE, headers=api.headers("risk"))
        assert put.status_code == 200, put.text
        body = {"size": {"layer": "fund", "target_p": 0.01}, "paths": 200_000}
        job = api.post("/v1/sizings", body, who="risk").json()
        full = api.post("/v1/sizings", body, who="risk")
        assert full.status_code == 429 and full.json()["error"]["field"] == "queue", full.text
        assert int(full.headers["Retry-After"]) > 0
        assert job_count(api) == 1
        r = api.client.delete(f"/v1/sizings/{job['id']}", headers=api.headers("risk"))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled" or r.json()["cancel_requested"], r.json()
        end = wait(api, job["id"], 60)
        assert end["status"] == "cancelled" and end["result"] is None and end["progress"] < 1.0, end
    finally:
        api.store.close()
