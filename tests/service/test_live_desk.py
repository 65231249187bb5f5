"""The live risk desk (docs/service.md): the risk profile, live simulations, `backstop export`,
and durable, bounded jobs.

The reference for a live job's numbers is the risk lab run on the bundled example the service
was loaded from (`risk_lab_cdp`, whose `simulation:` section is the profile): the live state is
that example's state, so the summaries must agree in every number.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from backstop.api.jobs import JobTable
from backstop.bundled import example_path
from backstop.cli import app as cli_app
from backstop.scenario.loader import load_scenario, scenario_from_data
from backstop.scenario.runner import run as run_scenario
from backstop.sim.api import simulate_summary
from backstop.store import MemoryStore, SqlStore
from backstop.store.base import StoredLog
from backstop.store.jobs import JobRecord

from .conftest import Api, make_api

CDP = example_path("risk_lab_cdp")
PROFILE: dict[str, Any] = yaml.safe_load(CDP.read_text())["simulation"]


def stored_commands(store: Any, upto: int | None = None) -> list[Any]:
    """Every command of the stored log (up to event seq `upto`, inclusive), in order: what made
    the live state. The rows are streamed a page at a time; only the commands are kept."""
    log = StoredLog()
    out: list[Any] = []
    for row in store.iter_events():
        if upto is not None and row.seq > upto:
            break
        if (cmd := log.command(row)) is not None:
            out.append(cmd)
    return out


def wait(api: Api, job_id: str, seconds: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = api.get(f"/v1/simulations/{job_id}", who="risk").json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


@pytest.fixture
def cdp_api(tmp_path: Path) -> Any:
    a = make_api(f"sqlite:///{tmp_path / 'live.db'}", scenario=CDP)
    yield a
    a.store.close()


def test_risk_profile_put_get_and_bad_input(cdp_api: Api) -> None:
    api = cdp_api
    missing = api.get("/v1/risk/profile", who="risk")
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "profile"
    put = api.client.put("/v1/risk/profile", json=PROFILE, headers=api.headers("risk"))
    assert put.status_code == 200, put.text
    got = api.get("/v1/risk/profile", who="risk").json()
    assert got["profile"] == PROFILE and got["updated_by"]
    for bad, field in (
        ({**PROFILE, "horizon_days": 0}, "simulation.horizon_days"),
        ({**PROFILE, "prices": {"assets": {"ETH": {"vol": -1}}}}, "simulation.prices.assets.ETH.vol"),
        ({**PROFILE, "volatility": 1}, "simulation.volatility"),
        ([1, 2], "simulation"),
        (None, "simulation"),
    ):
        r = api.client.put("/v1/risk/profile", json=bad, headers=api.headers("risk"))
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["field"] == field, r.json()
        assert api.get("/v1/risk/profile", who="risk").json()["profile"] == PROFILE  # nothing changed
    for who in ("staker", "investor", "oracle"):
        assert api.client.put("/v1/risk/profile", json=PROFILE, headers=api.headers(who)).status_code == 403
        assert api.get("/v1/risk/profile", who=who).status_code == 403


@pytest.mark.slow  # background jobs on threads and timers: not the in-process tier
def test_live_simulation_matches_the_example_and_the_export(cdp_api: Api, tmp_path: Path) -> None:
    api = cdp_api
    body = {"source": "live", "paths": 300, "seed": 5, "horizon_days": 30}
    refused = api.post("/v1/simulations", body, who="risk")
    assert refused.status_code == 409 and refused.json()["error"]["field"] == "source"  # no profile yet
    assert api.client.put("/v1/risk/profile", json=PROFILE, headers=api.headers("risk")).status_code == 200
    r = api.post("/v1/simulations", body, who="risk")
    assert r.status_code == 202, r.text
    job = wait(api, r.json()["id"])
    assert job["status"] == "done", job
    assert job["state_hash"] == api.service.state_hash()
    assert job["request"] == body | {"source": "live"}
    reference = simulate_summary(CDP, paths=300, horizon_days=30, seed=5)
    assert job["result"] == reference | {"name": "live"}
    # backstop export, then backstop simulate on the file: the same numbers again
    out = tmp_path / "live.yaml"
    exported = CliRunner().invoke(cli_app, ["export", "--db", str(api.store.url), "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert simulate_summary(out, paths=300, horizon_days=30, seed=5) == job["result"]
    report = api.get(f"/v1/simulations/{r.json()['id']}/report", who="risk")
    assert report.status_code == 200 and report.text.count("<img ") >= 5


def test_export_round_trip_reproduces_the_live_state(tmp_path: Path) -> None:
    """Set-up after the start (an asset, a layer, a market added later) and every verb the
    flagship uses: `backstop run` on the export reaches the service's state hash."""
    api = make_api(f"sqlite:///{tmp_path / 'flag.db'}", scenario=example_path("flagship"))
    try:
        assert api.post("/v1/advance", {"at": api.service.engine.state.now + 86_400}, who="oracle").status_code == 200
        assert api.post("/v1/assets", {"symbol": "USDX", "decimals": 6}).status_code == 200
        assert api.post("/v1/prices", {"asset": "USDX", "price": "1.0001"}).status_code == 200
        layer = {"id": "usdx_fund", "kind": "insurance_fund", "asset": "USDX", "max_payout_per_event": "12.345678"}
        assert api.post("/v1/layers", layer).status_code == 200, "layer"
        assert api.post("/v1/layers", {"id": "usdx_rest", "kind": "socialize"}).status_code == 200
        market = {
            "id": "usdx_market",
            "kind": "cdp",
            "debt_asset": "USDX",
            "min_collateral_ratio_bps": 11000,
            "collateral": {"ETH": {"liquidation_threshold_bps": 8000, "depth_value": 1000000}},
            "waterfall": ["usdx_fund", "usdx_rest"],
            "gas_compensation": "0.5",
        }
        r = api.post("/v1/markets", market)
        assert r.status_code == 200, r.text
        assert (
            api.post("/v1/deposit", {"layer": "usdx_fund", "account": "dao", "amount": "1000.000001"}).status_code
            == 200
        )
        opened = api.post(
            "/v1/open", {"market": "usdx_market", "account": "bob", "collateral": {"ETH": "2.5"}, "debt": "100.25"}
        )
        assert opened.status_code == 200, opened.text
        out = tmp_path / "flag.yaml"
        exported = CliRunner().invoke(cli_app, ["export", "--db", str(api.store.url), "-o", str(out)])
        assert exported.exit_code == 0, exported.output
        data = yaml.safe_load(out.read_text())
        assert "simulation" not in data  # no profile was stored
        verbs = [s["do"] for s in data["steps"]]
        assert {"add_asset", "add_layer", "add_market"} <= set(verbs)
        result = run_scenario(load_scenario(out), check=True)
        assert result.engine.state_hash() == api.service.state_hash()
        assert result.engine.commands() == stored_commands(api.store)
        ran = CliRunner().invoke(cli_app, ["run", str(out), "--json"])
        assert ran.exit_code == 0 and yaml.safe_load(ran.stdout)["state_hash"] == api.service.state_hash()
    finally:
        api.store.close()


def test_export_bad_input_exits_2(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(cli_app, ["export", "--db", str(tmp_path / "missing.db")])
    assert r.exit_code == 2 and "db:" in r.output and not (tmp_path / "missing.db").exists()
    r = runner.invoke(cli_app, ["export", "--db", str(tmp_path / "x.db"), "--out", str(tmp_path / "no" / "f.yaml")])
    assert r.exit_code == 2 and "out:" in r.output


@pytest.mark.parametrize("path", sorted(Path(example_path("flagship")).parent.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_exports_to_the_same_commands(path: Path) -> None:
    from backstop.scenario.export import dump_scenario, export_scenario

    engine = run_scenario(load_scenario(path)).engine
    again = run_scenario(scenario_from_data(yaml.safe_load(dump_scenario(export_scenario(engine.commands())))))
    assert again.engine.commands() == engine.commands()
    assert again.engine.state_hash() == engine.state_hash()


def test_every_command_type_has_a_scenario_step() -> None:
    from backstop.domain.commands import COMMAND_TYPES
    from backstop.scenario.export import _Exporter

    missing = [name for name in COMMAND_TYPES if not hasattr(_Exporter, f"s_{name}")]
    assert missing == []


def test_simulation_bad_input_is_refused_and_queues_nothing(cdp_api: Api) -> None:
    api = cdp_api
    for body, field in (
        ({"source": "elsewhere"}, "source"),
        ({"source": "example", "paths": 0}, "paths"),
        ({"source": "example", "seed": -1}, "seed"),
        ({"source": "example", "horizon_days": 0}, "horizon_days"),
        ({"source": "live", "name": "risk_lab_cdp"}, "name"),
        ({"source": "example", "name": "risk_lab_cdp", "scenario": "flagship"}, "name"),
        ({"source": "example", "color": "red"}, "color"),
    ):
        r = api.post("/v1/simulations", body, who="risk")
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["field"] == field, r.json()
    unknown = api.post("/v1/simulations", {"source": "example", "name": "../../etc/passwd"}, who="risk")
    assert unknown.status_code in (404, 422) and unknown.json()["error"]["field"] == "scenario"
    assert api.post("/v1/simulations", {"paths": 10}, who="staker").status_code == 403
    assert api.store.jobs_with_status(("queued", "running", "done", "failed", "cancelled")) == []
    gone = api.client.delete("/v1/simulations/nosuchjob", headers=api.headers("risk"))
    assert gone.status_code == 404 and gone.json()["error"]["field"] == "id"


@pytest.mark.slow  # background jobs on threads and timers: not the in-process tier
def test_full_queue_answers_429_and_cancel_frees_it(tmp_path: Path) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'q.db'}", scenario=CDP)
    jobs = api.client.app.state.backstop.jobs
    jobs.configure(max_jobs=1, max_queued=1)
    try:
        big = {"source": "example", "name": "risk_lab_cdp", "paths": 400_000, "horizon_days": 365}
        first = api.post("/v1/simulations", big, who="risk").json()["id"]
        second = api.post("/v1/simulations", big, who="risk").json()["id"]
        full = api.post("/v1/simulations", big, who="risk")
        assert full.status_code == 429 and full.json()["error"]["field"] == "queue"
        assert int(full.headers["Retry-After"]) > 0
        queued = api.client.delete(f"/v1/simulations/{second}", headers=api.headers("risk"))
        assert queued.status_code == 200 and queued.json()["status"] == "cancelled"
        assert api.client.delete(f"/v1/simulations/{first}", headers=api.headers("risk")).status_code == 200
        job = wait(api, first)
        assert job["status"] == "cancelled" and job["progress"] < 1.0, job
        again = api.client.delete(f"/v1/simulations/{first}", headers=api.headers("risk"))
        assert again.status_code == 409 and again.json()["error"]["field"] == "id"
        small = api.post("/v1/simulations", {"paths": 50, "horizon_days": 5}, who="risk")
        assert small.status_code == 202 and wait(api, small.json()["id"])["status"] == "done"
    finally:
        api.store.close()


@pytest.mark.slow  # background jobs on threads and timers: not the in-process tier
def test_a_retry_names_the_same_job_and_another_body_is_refused(cdp_api: Api) -> None:
    api = cdp_api
    body = {"source": "example", "paths": 50, "horizon_days": 5, "seed": 1}
    a = api.post("/v1/simulations", body, who="risk", idem="same")
    b = api.post("/v1/simulations", body, who="risk", idem="same")
    assert a.status_code == b.status_code == 202 and a.json()["id"] == b.json()["id"]
    c = api.post("/v1/simulations", body | {"seed": 2}, who="risk", idem="same")
    assert c.status_code == 409 and c.json()["error"]["field"] == "idempotency-key"
    assert wait(api, a.json()["id"])["status"] == "done"


@pytest.mark.slow  # background jobs on threads and timers: not the in-process tier
def test_jobs_survive_a_restart_and_interrupted_ones_fail_with_the_reason(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    api = make_api(url, scenario=CDP)
    job_id = api.post("/v1/simulations", {"paths": 60, "horizon_days": 5}, who="risk").json()["id"]
    done = wait(api, job_id)
    assert done["status"] == "done"
    now = int(time.time())
    api.store.save_job(JobRecord("stuck", "k", "running", 0.4, '{"paths": 1}', None, created_at=now, updated_at=now))
    api.store.close()

    store = SqlStore(url)  # a restart: a new process opens the same database
    try:
        table = JobTable(store)
        again = table.get(job_id).public()
        assert again["status"] == "done" and again["result"] == done["result"]
        assert table.report(job_id).startswith("<!") or "<html" in table.report(job_id)[:200].lower()
        stuck = table.get("stuck").public()
        assert stuck["status"] == "failed" and "restarted" in stuck["error"]
    finally:
        store.close()


def test_job_table_limits_are_checked() -> None:
    with pytest.raises(Exception, match="max_jobs"):
        JobTable(MemoryStore(), max_jobs=0)


@pytest.mark.slow  # a local Dask cluster listening on a loopback TCP port
@pytest.mark.xdist_group("processes")
def test_jobs_run_on_dask_when_a_scheduler_is_given(cdp_api: Api) -> None:
    from distributed import LocalCluster

    api = cdp_api
    body = {"source": "example", "paths": 200, "horizon_days": 10, "seed": 3}
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        api.client.app.state.backstop.jobs.configure(max_jobs=1, scheduler=address)
        (worker,) = cluster.workers.values()
        job = wait(api, api.post("/v1/simulations", body, who="risk").json()["id"])
        ran_on_cluster = worker.state.executed_count
    assert job["status"] == "done", job
    assert ran_on_cluster == 1  # 200 paths: one chunk, run by the cluster's worker
    assert job["result"] == simulate_summary(CDP, paths=200, horizon_days=10, seed=3)


def test_serve_refuses_max_jobs_below_one() -> None:
    r = CliRunner().invoke(cli_app, ["serve", "--max-jobs", "0"])
    assert r.exit_code == 2 and "max-jobs" in r.output


def test_the_store_keeps_jobs_and_the_profile(db_url: str) -> None:
    from backstop.store.jobs import ProfileRecord

    store = SqlStore(db_url)
    try:
        assert store.get_job("a") is None and store.get_risk_profile() is None
        row = JobRecord("a", "k", "queued", 0.0, "{}", "h" * 64, created_at=1, updated_at=1)
        store.save_job(row)
        store.save_job(JobRecord("b", "k", "done", 1.0, "{}", None, '{"x": 1}', "<html>", None, 2, 3))
        assert store.get_job("a") == row
        store.save_job(JobRecord("a", "k", "running", 0.5, "{}", "h" * 64, created_at=1, updated_at=4))
        assert [j.id for j in store.jobs_with_status(("queued", "running"))] == ["a"]
        assert store.get_job("b") is not None and store.get_job("b").report_html == "<html>"  # type: ignore[union-attr]
        store.put_risk_profile(ProfileRecord('{"horizon_days": 9}', 5, "k"))
        store.put_risk_profile(ProfileRecord('{"horizon_days": 10}', 6, "k2"))
        assert store.get_risk_profile() == ProfileRecord('{"horizon_days": 10}', 6, "k2")
    finally:
        store.close()


# -- item 4: risk history and alerts -------------------------------------------------------------


class Receiver:
    """A real local HTTP receiver: refuses the first `fail_first` POSTs with 500, keeps the rest."""

    def __init__(self, fail_first: int = 1) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.got: list[tuple[dict[str, str], bytes]] = []
        self.calls = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.calls += 1
                if outer.calls <= fail_first:
                    self.send_response(500)
                else:
                    outer.got.append(({k: v for k, v in self.headers.items()}, body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.slow  # background jobs on threads and timers: not the in-process tier
def test_history_points_and_alerts_with_a_signed_retried_webhook(cdp_api: Api) -> None:
    import hashlib
    import hmac
    import json

    from backstop.api.alerts import SIGNATURE_HEADER, Webhook

    api = cdp_api
    receiver = Receiver(fail_first=1)
    try:
        api.client.app.state.backstop.jobs.configure(
            max_jobs=1, webhook=Webhook(receiver.url, "s3cret", attempts=4, backoff_seconds=0.05)
        )
        assert api.client.put("/v1/risk/profile", json=PROFILE, headers=api.headers("risk")).status_code == 200
        rules = [{"metric": "p_exhausted:sp", "above": 0.01}, {"metric": "p_bad_debt", "above": 0.999}]
        assert api.client.put("/v1/risk/alerts", json=rules, headers=api.headers("risk")).status_code == 200
        example = wait(api, api.post("/v1/simulations", {"paths": 60, "horizon_days": 5}, who="risk").json()["id"])
        body = {"source": "live", "paths": 300, "seed": 5, "horizon_days": 30}
        live_id = api.post("/v1/simulations", body, who="risk").json()["id"]
        job = wait(api, live_id)
        assert example["status"] == job["status"] == "done"

        points = api.get("/v1/risk/history", who="risk").json()["points"]
        assert [p["job"] for p in points] == [live_id]  # the example job is not the live book
        (point,) = points
        s = job["result"]
        assert point["state_hash"] == api.service.state_hash()
        assert point["p_bad_debt"] == {"value": s["p_bad_debt"]["value"], "se": s["p_bad_debt"]["se"]}
        assert point["var99"] == {"value": s["loss"]["var99"], "se": s["loss"]["se"]["var99"]}
        p_sp = s["by_layer"]["sp"]["p_exhausted"]
        assert p_sp > 0.01  # the reference run above: 0.2467 for this seed
        assert point["layers"]["sp"] == {"p_exhausted": p_sp, "se": (p_sp * (1 - p_sp) / 300) ** 0.5}

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not receiver.got:
            time.sleep(0.05)
        fired = api.get("/v1/risk/alerts", who="risk").json()
        assert fired["rules"] == rules
        (alert,) = [a for a in fired["fired"]]
        assert alert["id"] == f"{live_id}:p_exhausted:sp" and alert["value"] == p_sp and alert["above"] == 0.01
        (headers, raw) = receiver.got[0]
        assert receiver.calls == 2 and len(receiver.got) == 1  # one refusal, one retry
        expected = "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
        assert headers[SIGNATURE_HEADER] == expected
        assert headers["Idempotency-Key"] == alert["id"] and json.loads(raw)["id"] == alert["id"]
        for _ in range(100):
            alert = api.get("/v1/risk/alerts", who="risk").json()["fired"][0]
            if alert["delivery"] != "pending":
                break
            time.sleep(0.05)
        assert alert["delivery"] == "delivered" and alert["attempts"] == 2
    finally:
        receiver.close()


def test_alert_rules_bad_input_is_refused_and_changes_nothing(cdp_api: Api) -> None:
    api = cdp_api
    good = [{"metric": "cvar99", "above": 1000}]
    assert api.client.put("/v1/risk/alerts", json=good, headers=api.headers("risk")).status_code == 200
    for bad, field in (
        ({"metric": "cvar99", "above": 1}, "alerts"),
        ([{"metric": "p_ruin", "above": 0.1}], "alerts.0.metric"),
        ([good[0], {"metric": "var99", "above": -1}], "alerts.1.above"),
        ([{"metric": "var99", "above": True}], "alerts.0.above"),
        ([{"metric": "var99", "above": 1, "below": 2}], "alerts.0.below"),
        (["var99"], "alerts.0"),
        (None, "alerts"),
    ):
        r = api.client.put("/v1/risk/alerts", json=bad, headers=api.headers("risk"))
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["field"] == field, r.json()
    assert api.get("/v1/risk/alerts", who="risk").json() == {"rules": good, "fired": []}
    assert api.get("/v1/risk/history", who="staker").status_code == 403
    assert api.client.put("/v1/risk/alerts", json=good, headers=api.headers("investor")).status_code == 403


@pytest.mark.slow  # background jobs on threads and timers: not the in-process tier
def test_the_schedule_runs_the_live_job(cdp_api: Api) -> None:
    api = cdp_api
    jobs = api.client.app.state.backstop.jobs
    assert (
        api.client.put("/v1/risk/profile", json=PROFILE | {"horizon_days": 5}, headers=api.headers("risk")).status_code
        == 200
    )
    stop = jobs.run_every(api.service, 0.2, 40)
    try:
        deadline = time.monotonic() + 60
        points: list[Any] = []
        while time.monotonic() < deadline and not points:
            points = api.get("/v1/risk/history", who="risk").json()["points"]
            time.sleep(0.1)
    finally:
        stop.set()
    assert points and points[0]["paths"] == 40 and points[0]["state_hash"] == api.service.state_hash()


def test_durations_and_serve_options() -> None:
    from backstop.api.jobs import parse_duration
    from backstop.domain.errors import BackstopError

    assert [parse_duration(t) for t in ("90s", "30m", "1h", "1d", "45")] == [90, 1800, 3600, 86_400, 45]
    for bad in ("", "h", "0m", "1.5h", "-1h", "1w"):
        with pytest.raises(BackstopError, match="risk_every"):
            parse_duration(bad)


def test_a_live_source_copies_the_state_and_never_reads_the_log(cdp_api: Api) -> None:
    """`live_source` is O(state), not O(history): it copies the state (snapshot encoding, under the
    write lock) and reads no stored event; the copy is the state at the returned hash, and a
    write after it changes the service, not the copy."""
    from backstop.api.jobs import live_source
    from backstop.engine import Engine
    from backstop.sim.model import StartState

    api = cdp_api
    assert api.client.put("/v1/risk/profile", json=PROFILE, headers=api.headers("risk")).status_code == 200
    service = api.service

    def no_log(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("live_source read the event log")

    service.store.iter_events = no_log  # type: ignore[method-assign]
    try:
        start, state_hash = live_source(service)
    finally:
        del service.store.iter_events
    assert isinstance(start, StartState) and start.name == "live" and dict(start.simulation) == PROFILE
    assert state_hash == service.state_hash()
    copy = Engine(keep_log=False)
    copy.state = start.state
    assert copy.state_hash() == state_hash
    r = api.post("/v1/advance", {"at": service.engine.state.now + 60})
    assert r.status_code == 200, r.text
    assert service.state_hash() != state_hash and copy.state_hash() == state_hash
    assert start.state is not service.engine.state
