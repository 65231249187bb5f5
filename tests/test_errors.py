"""Errors chain the typed error they report, and carry no transport detail.

A ScenarioError raised for a bad amount, an unknown name or a command the engine refused is
raised `from` that typed error; its `type` (what the CLI prints as `error (InvalidAmount): ...`
and the API as `error.type`) is derived from the chained error, not stored as a string.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
import yaml

from backstop.domain import errors as domain_errors
from backstop.domain.errors import BackstopError, InsufficientFunds, InvalidAmount, UnknownEntity
from backstop.scenario.errors import ScenarioError
from backstop.scenario.loader import load_scenario
from backstop.scenario.runner import run
from backstop.store import sql

DOC: dict[str, Any] = {
    "name": "errors",
    "assets": {"LUSD": {"decimals": 18}},
    "prices": {"LUSD": 1},
    "layers": {"sp": {"kind": "stability_pool", "asset": "LUSD"}},
    "markets": {},
    "steps": [{"at": 0, "do": "deposit", "layer": "sp", "account": "alice", "amount": 100}],
}


def _load(tmp_path: Path, step: dict[str, Any]) -> Any:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**DOC, "steps": [*DOC["steps"], step]}, sort_keys=False))
    return load_scenario(path)


def test_a_bad_amount_is_chained_and_named_by_it(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        _load(tmp_path, {"at": 1, "do": "deposit", "layer": "sp", "account": "bob", "amount": "0.0000000000000000001"})
    err = info.value
    assert isinstance(err.__cause__, InvalidAmount)
    assert err.cause is InvalidAmount and err.type == "InvalidAmount"
    assert err.step == 2 and err.field == "amount"


def test_an_unknown_name_found_while_loading_is_an_unknown_entity(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        _load(tmp_path, {"at": 1, "do": "deposit", "layer": "nope", "account": "bob", "amount": 1})
    assert isinstance(info.value.__cause__, UnknownEntity) and info.value.type == "UnknownEntity"


def test_a_refused_command_is_chained_by_the_runner(tmp_path: Path) -> None:
    scenario = _load(tmp_path, {"at": 1, "do": "withdraw", "layer": "sp", "account": "alice", "amount": 101})
    with pytest.raises(ScenarioError) as info:
        run(scenario)
    assert isinstance(info.value.__cause__, InsufficientFunds)
    assert info.value.type == "InsufficientFunds" and "step 2" in info.value.message


def test_a_scenario_error_of_its_own_is_named_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        _load(tmp_path, {"at": 1, "do": "fly"})
    assert info.value.cause is ScenarioError and info.value.type == "ScenarioError"


@pytest.mark.parametrize("module", [domain_errors, sql, inspect.getmodule(ScenarioError)])
def test_domain_scenario_and_store_errors_know_no_http_status(module: Any) -> None:
    classes = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, BackstopError)]
    assert classes
    assert not [cls.__name__ for cls in classes if hasattr(cls, "http_status")]
