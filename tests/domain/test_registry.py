"""The layer-kind registry: one home per kind (`domain/layers/<kind>/`), and everything else
iterates over it. These tests fail when a kind is half-registered or its name leaks out."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from backstop.api.schemas import LAYER_BODIES
from backstop.domain.layers import spec
from backstop.domain.layers.base import Layer
from backstop.domain.layers.base_vector import VectorLayer
from backstop.domain.layers.registry import KINDS

SRC = Path(__file__).resolve().parents[2] / "src" / "backstop"
LAYERS = SRC / "domain" / "layers"

# String literals equal to a kind's name outside its home that name something else: the
# `guarantor` role and account field (api keys, demo keys, P&L rows), the `treasury` section of
# the P&L (a documented output key), and the legacy field list of the event decoder.
OTHER_MEANINGS = {
    ("api/keys.py", "guarantor"),
    ("api/app.py", "guarantor"),
    ("api/cli.py", "guarantor"),
    ("api/auth.py", "guarantor"),
    ("api/routes/commands.py", "guarantor"),
    ("domain/pnl.py", "guarantor"),
    ("domain/pnl.py", "treasury"),
    ("scenario/report.py", "guarantor"),
    ("scenario/report.py", "treasury"),
    ("domain/codec.py", "guarantor"),
    ("testing/fuzz.py", "treasury"),
    ("domain/markets/market.py", "deficit"),
    ("sim/api.py", "deficit"),
    ("scenario/report.py", "deficit"),
}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_kind_is_complete_in_its_home(name: str) -> None:
    k = KINDS[name]
    assert k.package == f"backstop.domain.layers.{name}"
    assert issubclass(k.exact, Layer) and k.exact.kind == name
    assert issubclass(k.config, spec.LayerConfig) and k.name == name
    for f in k.config.declared():
        assert spec.unit_of(f) is not None, f"{name}.{f.name} declares no unit"
    vector = k.vector()
    assert issubclass(vector, VectorLayer) and dataclasses.is_dataclass(vector)
    home = LAYERS / name
    assert {p.name for p in home.glob("*.py")} >= {"__init__.py", "exact.py", "vector.py"}


def test_kind_names_appear_as_literals_only_in_their_home() -> None:
    leaks = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in KINDS:
                name = node.value
                if rel.startswith(f"domain/layers/{name}/") or (rel, name) in OTHER_MEANINGS:
                    continue
                leaks.append(f"{rel}:{node.lineno}: {name!r}")
    assert not leaks, leaks


def test_the_engine_loads_no_numpy() -> None:
    """The domain core (and so every kind's exact rule) stays free of NumPy: the vectorized rules
    are imported only by the risk lab."""
    code = (
        "import sys, backstop.engine, backstop.scenario.loader, backstop.domain.layers.registry as r\n"
        "[k.exact for k in r.KINDS.values()]\n"
        "assert 'numpy' not in sys.modules, 'numpy loaded'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("body", LAYER_BODIES, ids=lambda b: b.__name__)
def test_each_kind_has_its_own_request_body(body: type) -> None:
    """`POST /v1/layers` takes one body per kind (each its own schema in OpenAPI), with exactly
    the kind's declared fields besides `id`, `kind` and `asset`."""
    schema = body.model_json_schema()  # type: ignore[attr-defined]
    name = schema["properties"]["kind"]["const"]
    declared = {f.name for f in KINDS[name].config.declared()}
    assert set(schema["properties"]) == {"id", "kind", "asset"} | declared
