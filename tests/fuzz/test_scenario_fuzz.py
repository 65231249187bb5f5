"""Fuzzing the scenario loader and runner (issue 7, item 5).

Hypothesis mutates a valid scenario — replacing values with other types, dropping and adding
keys, shuffling steps — and feeds raw YAML text too. Whatever comes in, loading and running
must either succeed or raise a typed `BackstopError`; any other exception is a bug (it would
be a traceback on the CLI). The CLI path is checked to exit 0 or 2, never 1.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from backstop.cli import app
from backstop.domain.errors import BackstopError
from backstop.scenario.loader import load_scenario, scenario_from_data
from backstop.scenario.runner import run

SCALE = 20 if os.environ.get("BACKSTOP_SOAK") == "1" else 1
ROOT = Path(__file__).resolve().parents[2]
BASE: dict[str, Any] = yaml.safe_load((ROOT / "examples" / "liquity_stability_pool.yaml").read_text())

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["1.5", "-1", "0", "1e5", "0.0000000000000000001", "abc", "", "ETH", "LUSD", "sp", "troves"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return doc


def _delete(doc: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return doc
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return doc


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        try:
            if action == "replace":
                doc = _set(doc, path, draw(values))
            elif action == "delete":
                doc = _delete(doc, path)
            else:
                target = doc
                for key in path:
                    target = target[key]
                if isinstance(target, dict):
                    target[draw(st.text(max_size=8))] = draw(values)
                elif isinstance(target, list):
                    target.insert(draw(st.integers(0, len(target))), draw(values))
        except (KeyError, IndexError, TypeError):
            continue
    return doc


def _load_and_run(doc: Any) -> None:
    try:
        run(scenario_from_data(doc), check=True)
    except BackstopError:
        pass


@settings(max_examples=300 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_scenarios_fail_only_with_typed_errors(doc: Any) -> None:
    _load_and_run(doc)


@settings(max_examples=150 * SCALE, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_yaml_text_fails_only_with_typed_errors(tmp_path_factory: Any, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "s.yaml"
    path.write_text(text)
    try:
        run(load_scenario(path))
    except BackstopError:
        pass


@settings(max_examples=25, deadline=None)
@given(mutated())
def test_cli_exits_0_or_2_never_a_traceback(tmp_path_factory: Any, doc: Any) -> None:
    path = tmp_path_factory.mktemp("cli") / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(app, ["run", str(path), "--check"])
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output
