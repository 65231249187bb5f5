"""`backstop export --db URL`: the service's live state as a scenario file.

The file's steps are the stored command log written back as scenario steps
(`scenario/export.py`), and its `simulation:` section is the stored risk profile, so
`backstop run` on it reproduces the live state (the same `state_hash`) and `backstop simulate`
gives the numbers a live job gives at the same seed. The store is opened as a reader: the
running service keeps its writer lock, and nothing is written to the database.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from .domain.errors import BackstopError


def export(
    db: str = typer.Option(..., "--db", help="The service's database: SQLite file/URL or postgresql+psycopg://… URL"),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the scenario here (default: standard output)"),
    name: str = typer.Option("live", "--name", help="The scenario's name"),
) -> None:
    """Write the live state (and the risk profile as `simulation:`) as a scenario file."""
    from .engine import Engine, ReplayMismatch
    from .scenario.export import dump_scenario, export_scenario
    from .store.base import StoredEvent, StoredLog
    from .store.sql import SqlStore

    err = Console(stderr=True, soft_wrap=True)
    try:
        if out is not None and not out.resolve().parent.is_dir():
            raise BackstopError("out", f"out: directory {out.resolve().parent} does not exist")
        url = db if "://" in db else f"sqlite:///{db}"
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
            raise BackstopError("db", f"db: no database at {url.removeprefix('sqlite:///')}")
        store = SqlStore(url, single_writer=False)
        log = StoredLog()
        commands: list[Any] = []

        def rows() -> Iterator[StoredEvent]:
            """The log streamed a page at a time; only its commands are kept, for the file."""
            for row in store.iter_events():
                if (cmd := log.command(row)) is not None:
                    commands.append(cmd)
                yield row

        try:
            profile = store.get_risk_profile()
            # the log must replay before it is exported; streamed, so memory holds the commands only
            state_hash = Engine.replay(rows(), fmt=log, keep_log=False).state_hash()
        finally:
            store.close()
        data = export_scenario(
            commands,
            None if profile is None else json.loads(profile.profile),
            name=name,
            description=f"the live state at state_hash {state_hash} ({len(commands)} commands)",
        )
    except BackstopError as exc:
        err.print(f"[red]error[/red] ({exc.type}): {exc.message}", highlight=False)
        raise typer.Exit(code=2) from None
    except ReplayMismatch as exc:
        err.print(f"[red]mismatch[/red]: the stored log does not replay: {exc}", highlight=False)
        raise typer.Exit(code=1) from None
    text = dump_scenario(data)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
        err.print(f"wrote {out}: {len(commands)} commands, state_hash {state_hash}")
