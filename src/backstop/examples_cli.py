"""`backstop examples`: list the example scenarios shipped inside the package, or copy one out.

An installed wheel has no `examples/` folder beside it, so this is how a user finds the bundled
scenarios and gets an editable copy; `example:NAME` runs one in place.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from .bundled import PREFIX, copy_example, example_names, example_story
from .domain.errors import BackstopError

examples_app = typer.Typer(help="The example scenarios shipped with backstop (run one as `example:NAME`).")


@examples_app.callback(invoke_without_command=True)
def list_examples(ctx: typer.Context) -> None:
    """List the bundled examples with their one-line story."""
    if ctx.invoked_subcommand is not None:
        return
    names = example_names()
    width = max(len(n) for n in names)
    for name in names:
        typer.echo(f"{name:{width}}  {example_story(name)}")
    typer.echo(f"\nrun one with `backstop run {PREFIX}NAME`, or write it out with `backstop examples copy NAME`")


@examples_app.command("copy")
def copy(
    name: str = typer.Argument(..., help="Example name (see `backstop examples`)"),
    dest: Path = typer.Argument(Path("."), help="Directory or file to write; default: NAME.yaml here"),
) -> None:
    """Write a bundled example to a file you can edit; an existing file is never overwritten."""
    try:
        target = copy_example(name, dest)
    except BackstopError as exc:
        Console(stderr=True, soft_wrap=True).print(f"[red]error[/red] ({exc.type}): {exc.message}", highlight=False)
        raise typer.Exit(code=2) from None
    typer.echo(f"wrote {target}")
