"""The example scenarios shipped inside the package (`backstop/examples/*.yaml`).

They are package data, so an installed wheel finds them the same way a source checkout does:
nothing looks for an `examples/` folder beside the source tree. `example:NAME` names one of them
wherever a scenario path is accepted.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .domain.errors import UnknownEntity

PREFIX = "example:"


def examples_dir() -> Path:
    return Path(str(resources.files("backstop").joinpath("examples")))


def example_names() -> list[str]:
    return sorted(p.stem for p in examples_dir().glob("*.yaml"))


def example_path(name: str, field: str = "scenario") -> Path:
    """The bundled example `name` (with or without `example:` / `.yaml`), or UnknownEntity naming `field`."""
    stem = name.removeprefix(PREFIX).removesuffix(".yaml")
    path = examples_dir() / f"{stem}.yaml"
    if not stem.replace("_", "").replace("-", "").isalnum() or not path.is_file():
        raise UnknownEntity(field, f"{field}: no example scenario named {stem!r} (have: {', '.join(example_names())})")
    return path


def resolve(source: str | Path) -> Path:
    """A scenario argument: `example:NAME` is a bundled example, anything else a file path."""
    text = str(source)
    return example_path(text) if text.startswith(PREFIX) else Path(source)
