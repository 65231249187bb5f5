"""docs/architecture.md cites the tests that prove each invariant (I1, I2, ...): every cited test
file and test name must exist, so a renamed or deleted test cannot leave the page claiming a
proof that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"


def _citations() -> list[tuple[str, str | None]]:
    """(test file, test name or None) for every `tests/...py[::name]` and `::name` in the page;
    a bare `::name` belongs to the file cited last before it on the same row."""
    out: list[tuple[str, str | None]] = []
    for row in DOC.read_text().splitlines():
        current: str | None = None
        for m in re.finditer(r"`(tests/[\w/]+\.py)?(::\w+)?`", row):
            path, name = m.group(1), m.group(2)
            current = path or current
            if current is not None and (path or name):
                out.append((current, name[2:] if name else None))
    return out


def test_the_invariants_are_numbered_in_order() -> None:
    numbers = [int(n) for n in re.findall(r"^\| I(\d+) \|", DOC.read_text(), flags=re.M)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 10


def test_every_cited_test_exists() -> None:
    cited = _citations()
    assert len(cited) > 30
    missing = []
    for path, name in cited:
        source = ROOT / path
        if not source.is_file():
            missing.append(path)
        elif name is not None and not re.search(rf"^(def |class |){name}\b", source.read_text(), flags=re.M):
            missing.append(f"{path}::{name}")
    assert not missing, missing
