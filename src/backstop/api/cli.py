"""`backstop serve`, `backstop keys create` and `backstop verify`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from ..bundled import example_path

DEFAULT_DB = "sqlite:///backstop.db"
DEMO_DB = "backstop-demo.db"
FLAGSHIP = example_path("flagship")
FALLBACK = example_path("liquity_stability_pool")


def _db_url(db: str) -> str:
    return db if "://" in db else f"sqlite:///{db}"


def load_demo(service: Any, scenario_path: Path, risk_profile: bool = False) -> int:
    """Apply an example's commands through the service (durably); expected failures are skipped.
    With `risk_profile` (`serve --demo`), the example's `simulation:` section, if it has one and no
    profile is stored yet, becomes the risk profile of live simulations."""
    from ..scenario.loader import load_scenario
    from ..store.base import KeyRecord

    system = KeyRecord("demo-loader", "", "admin", None)
    applied = 0
    scenario = load_scenario(scenario_path)
    if risk_profile and scenario.spec.simulation is not None and service.store.get_risk_profile() is None:
        import json
        import time

        from ..sim.config import parse_simulation
        from ..store.jobs import ProfileRecord

        parse_simulation(scenario.spec.simulation)  # validated as `PUT /v1/risk/profile` does
        profile = ProfileRecord(json.dumps(scenario.spec.simulation), int(time.time()), system.key_id)
        service.store.put_risk_profile(profile)
    for i, step in enumerate(scenario.steps):
        if step.expect_error:
            continue
        status, body = service.execute(system, f"demo-{i}", f"demo-{i}", lambda _e, cmd=step.command: cmd)
        if status != 200:
            raise RuntimeError(f"demo step {step.index}: {body}")
        applied += 1
    return applied


def demo_keys(service: Any, scenario_path: Path) -> dict[str, str]:
    from .keys import new_key

    wanted = {
        "admin": None,
        "risk": "risk-desk",
        "oracle": "oracle",
        "assessor": "assessor",
        "staker": _first_account(service, "layers"),
        "investor": _first_account(service, "policies") or "investor",
        "guarantor": _first_account(service, "guarantors") or "reinsurer",
    }
    out = {}
    for role, account in wanted.items():
        token, record = new_key(role, account)
        service.store.add_key(record)
        out[f"{role}" + (f" ({account})" if account else "")] = token
    return out


def _first_account(service: Any, what: str) -> str | None:
    state = service.engine.state
    if what == "policies":
        return next((p.owner for p in state.policies.values()), None)
    if what == "guarantors":  # the account that writes the first guarantor layer (its dashboard shows it)
        writers = (getattr(layer, "guarantor", None) for _, layer in sorted(state.layers.items()))
        return next((str(g) for g in writers if g), None)
    for layer in state.layers.values():
        shares = getattr(layer, "shares", None)
        if shares:
            return str(sorted(shares)[0])
    return None


def add_commands(app: typer.Typer) -> None:
    keys_app = typer.Typer(help="API keys for the service.", no_args_is_help=True)
    app.add_typer(keys_app, name="keys")

    @app.command()
    def serve(
        db: str = typer.Option(DEFAULT_DB, "--db", help="SQLite file/URL or postgresql+psycopg://… URL"),
        demo: bool = typer.Option(False, "--demo", help="Fresh SQLite file with the flagship example and demo keys"),
        host: str = typer.Option("127.0.0.1", "--host"),
        port: int = typer.Option(8000, "--port"),
        max_jobs: int | None = typer.Option(
            None, "--max-jobs", min=1, help="Simulations run at once (default: cores - 1)"
        ),
        scheduler: str | None = typer.Option(None, "--scheduler", help="Run simulations on Dask: tcp://host:8786"),
        risk_every: str | None = typer.Option(None, "--risk-every", help="Simulate the live book every 1h, 30m, …"),
        risk_paths: int = typer.Option(10_000, "--risk-paths", min=1, help="Paths of each scheduled live simulation"),
        alert_webhook: str | None = typer.Option(None, "--alert-webhook", help="POST fired alerts to this URL"),
        alert_secret: str = typer.Option("", "--alert-secret", envvar="BACKSTOP_ALERT_SECRET", help="HMAC key"),
        snapshot_every: int = typer.Option(
            10_000, "--snapshot-every", min=0, help="Snapshot the state every this many commands (0: never)"
        ),
        snapshot_seconds: float = typer.Option(
            300.0, "--snapshot-seconds", min=1.0, help="…or after this many seconds with new commands"
        ),
        pipeline_depth: int = typer.Option(
            1, "--pipeline-depth", min=1, max=8, help="Groups in flight: 2 applies the next while one commits"
        ),
    ) -> None:
        """Run the HTTP API and the dashboard (rebuilds the engine from the store first)."""
        import uvicorn

        from ..domain.errors import BackstopError
        from ..store import open_store
        from .app import create_app
        from .service import RebuildMismatch, Service

        console = Console(stderr=True, soft_wrap=True)  # keys and URLs must not be wrapped
        if demo:
            Path(DEMO_DB).unlink(missing_ok=True)
            for suffix in ("-wal", "-shm"):
                Path(DEMO_DB + suffix).unlink(missing_ok=True)
            db = f"sqlite:///{DEMO_DB}"
        try:
            service = Service(
                open_store(_db_url(db)),
                snapshot_every=snapshot_every,
                snapshot_seconds=snapshot_seconds,
                pipeline_depth=pipeline_depth,
                offload=True,  # checkpoints and snapshots in a forked child (store/cow.py): reads go on
            )
        except (BackstopError, RebuildMismatch) as exc:
            console.print(f"[red]error[/red]: {exc}")
            raise typer.Exit(code=2) from None
        for warning in service.warnings:
            console.print(f"[yellow]warning[/yellow]: {warning}")
        if demo:
            scenario = FLAGSHIP if FLAGSHIP.exists() else FALLBACK
            n = load_demo(service, scenario, risk_profile=True)
            keys = demo_keys(service, scenario)
            console.print(f"demo: {n} commands of {scenario.name} loaded into {DEMO_DB}")
            console.print("demo API keys (shown once):")
            for who, token in keys.items():
                console.print(f"  {who:28} {token}")
            viewer = next(t for w, t in keys.items() if w.startswith("risk"))
            console.print(f"\ndashboard: http://{host}:{port}/#key={viewer}")
        console.print(f"API docs:  http://{host}:{port}/docs   state_hash {service.state_hash()[:16]}…")
        from .alerts import Webhook
        from .jobs import parse_duration

        web = create_app(service)
        jobs = web.state.backstop.jobs
        try:
            every = None if risk_every is None else parse_duration(risk_every)
            jobs.configure(max_jobs, None, scheduler, Webhook(alert_webhook, alert_secret) if alert_webhook else None)
        except BackstopError as exc:
            console.print(f"[red]error[/red]: {exc}")
            raise typer.Exit(code=2) from None
        if every is not None:
            jobs.run_every(service, every, risk_paths)
        uvicorn.run(web, host=host, port=port, log_level="warning")

    @keys_app.command("create")
    def create_key(
        role: str = typer.Option(..., "--role", help="admin, risk, staker, investor, guarantor, assessor, oracle"),
        account: str | None = typer.Option(None, "--account", help="The account this key acts for"),
        db: str = typer.Option(DEFAULT_DB, "--db"),
    ) -> None:
        """Create an API key; the token is printed once and only its hash is stored."""
        from ..domain.errors import BackstopError
        from ..store import open_store
        from .keys import new_key

        try:
            token, record = new_key(role, account)
            store = open_store(_db_url(db))
        except BackstopError as exc:
            Console(stderr=True).print(f"[red]error[/red] ({exc.type}): {exc.message}")
            raise typer.Exit(code=2) from None
        store.add_key(record)
        store.close()
        typer.echo(token)

    @app.command()
    def verify(
        db: str = typer.Option(DEFAULT_DB, "--db", help="SQLite file/URL or postgresql+psycopg://… URL"),
    ) -> None:
        """Replay the whole log from empty; check its hash chain, every snapshot and checkpoint.

        Exit 0 when all is well, 1 naming the first bad row, 2 when the store cannot be opened.
        Safe while a service writes: it reads committed rows and takes no writer lock.
        """
        from ..domain.errors import BackstopError
        from ..store import SqlStore
        from ..store.verify import verify_store

        err = Console(stderr=True, soft_wrap=True)
        url = _db_url(db)
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            err.print(f"[red]error[/red] (db): db: no such file {url.removeprefix('sqlite:///')}")
            raise typer.Exit(code=2)
        try:
            store = SqlStore(url, single_writer=False)
        except BackstopError as exc:
            err.print(f"[red]error[/red] ({exc.type}): {exc.message}")
            raise typer.Exit(code=2) from None
        except Exception as exc:  # a URL that does not connect: a typed answer, not a traceback
            err.print(f"[red]error[/red] (db): db: cannot open {db}: {type(exc).__name__}: {exc}")
            raise typer.Exit(code=2) from None
        try:
            verdict = verify_store(store)
        finally:
            store.close()
        if verdict.problem is not None:
            err.print(f"[red]bad[/red]: {verdict.problem}")
            err.print(f"verified {verdict.events} events before it")
            raise typer.Exit(code=1)
        Console(soft_wrap=True).print(
            f"ok: {verdict.events} events, {verdict.commands} commands, {verdict.snapshots} snapshots; "
            f"head_hash {verdict.head_hash} state_hash {verdict.state_hash}"
        )
