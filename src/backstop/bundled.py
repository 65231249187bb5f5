"""The example scenarios shipped inside the package (`backstop/examples/*.yaml`).

They are package data, so an installed wheel finds them the same way a source checkout does:
nothing looks for an `examples/` folder beside the source tree. `example:NAME` names one of them
wherever a scenario path is accepted.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .domain.errors import DuplicateEntity, UnknownEntity

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


def resolve(source: str | Path, field: str = "scenario") -> Path:
    """A scenario argument: `example:NAME` is a bundled example, anything else a file path."""
    text = str(source)
    return example_path(text, field) if text.startswith(PREFIX) else Path(source)


def example_story(name: str) -> str:
    """The example's one-line story: the first comment line of its YAML, without the `# `."""
    for line in example_path(name).read_text().splitlines():
        if line.startswith("#") and line.strip("# "):
            return line.lstrip("#").strip()
    return ""


def copy_example(name: str, dest: Path) -> Path:
    """Write the bundled example `name` to `dest` (a directory, or a file path) and return the file.

    An existing file is never overwritten (field `dest`), like `cp -n`: a user's edited copy of an
    example is worth more than a fresh one.
    """
    source = example_path(name, "name")
    target = dest / source.name if dest.is_dir() else dest
    if target.exists():
        raise DuplicateEntity("dest", f"dest: {target} already exists; remove it or give another path")
    if not target.parent.is_dir():
        raise UnknownEntity("dest", f"dest: directory {target.parent} does not exist")
    target.write_text(source.read_text())
    return target
