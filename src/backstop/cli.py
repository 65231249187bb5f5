"""The `backstop` command line: a thin shell over library calls (typer)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console

from .bundled import resolve
from .domain.errors import BackstopError
from .examples_cli import examples_app
from .export_cli import export as export_live

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Exact DeFi backstop engine and risk lab.")
err_console = Console(stderr=True, soft_wrap=True)
app.add_typer(examples_app, name="examples")
app.command("export")(export_live)


def fail(exc: BackstopError) -> None:
    err_console.print(f"[red]error[/red] ({exc.type}): {exc.message}", highlight=False)
    raise typer.Exit(code=2)


@app.command()
def run(
    file: Path = typer.Argument(..., help="Scenario YAML file, or example:NAME (see `backstop examples`)"),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object (docs/scenario-format.md)"),
    check: bool = typer.Option(False, "--check", help="Check every invariant after every step"),
) -> None:
    """Run a scenario through the exact engine and print who paid what."""
    from .scenario.loader import load_scenario
    from .scenario.report import print_summary, result_json
    from .scenario.runner import run as run_scenario

    try:
        result = run_scenario(load_scenario(resolve(file, "file")), check=check)
    except BackstopError as exc:
        fail(exc)
        return
    if as_json:
        sys.stdout.write(json.dumps(result_json(result), indent=2) + "\n")
    else:
        console = Console(width=max(Console().width, 140))
        print_summary(result, console)
        if check:
            console.print(f"invariants held after all {result.checked_steps} commands")


@app.command()
def validate(file: Path = typer.Argument(..., help="Scenario YAML file, or example:NAME")) -> None:
    """Load a scenario and check it builds valid commands, without running it."""
    from .scenario.loader import load_scenario

    try:
        scenario = load_scenario(resolve(file, "file"))
    except BackstopError as exc:
        fail(exc)
        return
    Console().print(f"{scenario.name}: {len(scenario.steps)} commands, valid")


@app.command()
def replay(file: Path = typer.Argument(..., help="JSON written by `backstop run --json`")) -> None:
    """Replay the commands of a run's event log from empty: every event and the state hash must match."""
    from .engine import Engine, ReplayMismatch
    from .scenario.report import JsonLog

    try:
        data = json.loads(file.read_text())
        events = data["events"]
        expected = data["state_hash"]
        if not all(isinstance(e, dict) and isinstance(e.get("data"), dict) and "kind" in e for e in events):
            raise ValueError("an event is not an object with `kind` and `data`")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        fail(BackstopError("file", f"file: not a `backstop run --json` output: {exc}"))
        return
    try:
        engine = Engine.replay(events, check_invariants=True, fmt=JsonLog())
    except BackstopError as exc:
        fail(exc)
        return
    except ReplayMismatch as exc:
        err_console.print(f"[red]mismatch[/red]: {exc}")
        raise typer.Exit(code=1) from None
    got = engine.state_hash()
    n = engine.commands_applied
    if got != expected:
        err_console.print(f"[red]mismatch[/red]: replayed {n} commands to {got}, the log says {expected}")
        raise typer.Exit(code=1)
    Console().print(f"replayed {n} commands, {engine.next_seq} events: state_hash {got} matches")


def _register_optional() -> None:
    """Mount the risk lab and service commands when their packages are present."""
    try:
        from .sim.cli import add_commands as add_sim
    except ImportError:
        pass
    else:
        add_sim(app)
    try:
        from .api.cli import add_commands as add_api
    except ImportError:
        pass
    else:
        add_api(app)


_register_optional()


def main() -> None:
    from .runtime import one_blas_thread, skip_exit_collections, tune_gc

    one_blas_thread()  # before NumPy is imported (the commands import it lazily)
    tune_gc()
    try:
        app()  # click ends with SystemExit (the command's exit code), which passes through
    finally:
        skip_exit_collections()  # the process is ending: no last scan of every object for cycles


if __name__ == "__main__":
    main()
