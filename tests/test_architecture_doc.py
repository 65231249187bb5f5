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


SRC = ROOT / "src" / "backstop"
# What would make the core impure: I/O, clocks, randomness, floats-by-library, frameworks.
IMPURE = {
    "numpy", "pandas", "scipy", "time", "datetime", "random", "secrets", "uuid", "os", "io", "socket",
    "pathlib", "subprocess", "threading", "asyncio", "sqlalchemy", "fastapi", "httpx", "yaml", "decimal",
}  # fmt: skip


def _imports(path: Path) -> list[str]:
    """Absolute module names imported by a file under src/backstop (relative imports resolved)."""
    import ast

    package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                out.append(".".join([*base, node.module] if node.module else base))
            else:
                out.append(node.module or "")
    return out


def test_the_domain_core_imports_only_itself_and_pure_stdlib() -> None:
    """docs/architecture.md: imports point down; domain/ imports nothing else of backstop and no
    I/O, clock, randomness or NumPy; engine.py imports only domain/."""
    bad = []
    for path in sorted((SRC / "domain").rglob("*.py")):
        if path.name.endswith("vector.py"):
            continue  # a kind's risk-lab rule sits beside its exact rule; only backstop.sim imports it
        for name in _imports(path):
            top = name.split(".")[0]
            if top in IMPURE or (top == "backstop" and not name.startswith("backstop.domain")):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    for name in _imports(SRC / "engine.py"):
        if name.startswith("backstop.") and not name.startswith("backstop.domain"):
            bad.append(f"engine.py imports {name}")
    assert not bad, bad
