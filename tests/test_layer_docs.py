"""The worked examples of docs/layers/staking_pool.md (its protocol options) and
docs/layers/deficit.md run as written, and give the figures their text states."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from backstop.scenario.loader import load_scenario
from backstop.scenario.runner import run

DOCS = Path(__file__).resolve().parents[1] / "docs" / "layers"
U6, U7 = 10**6, 10**7


def _examples() -> dict[str, dict[str, Any]]:
    out = {}
    for page in ("staking_pool.md", "deficit.md"):
        for block in re.findall(r"```yaml\n(.*?)```", (DOCS / page).read_text(), flags=re.S):
            data = yaml.safe_load(block)
            if isinstance(data, dict) and str(data.get("name", "")).startswith("doc-"):
                out[data["name"]] = data
    return out


def _run(name: str) -> Any:
    data = _examples()[name]
    return run(load_scenario(data), check=True).engine


def test_every_worked_example_is_found() -> None:
    assert set(_examples()) == {"doc-post-slash", "doc-umbrella", "doc-blend", "doc-deficit"}


def test_post_slash_example() -> None:
    e = _run("doc-post-slash")
    first, second = e.state.losses
    assert first.allocation == {"sm": 200 * U6, "rest": 0}
    assert second.allocation == {"sm": 0, "rest": 100 * U6}
    assert e.state.ledger.balance("user:a", "USDC") == 400 * U6
    assert e.state.layers["sm"].shares.get("b", 0) > 0 and not e.state.layers["sm"].in_post_slashing_period


def test_umbrella_example() -> None:
    e = _run("doc-umbrella")
    first, second = e.state.losses
    assert first.allocation == {"umb": 500 * U6, "reserve_deficit": 500 * U6}
    assert second.allocation == {"umb": 1000 * U6, "reserve_deficit": 0}
    assert e.state.ledger.balance("layer:umb:assets", "USDC") == 8350 * U6
    assert e.state.ledger.balance("layer:collector:assets", "USDC") == 150 * U6
    assert e.state.markets["m"].deficit["USDC"] == 500 * U6
    assert 100 * U6 - 1 <= e.state.ledger.balance("user:a", "USDC") <= 100 * U6


def test_blend_example() -> None:
    e = _run("doc-blend")
    first, second = e.state.losses
    assert first.allocation == {"bs": 100 * U7, "lenders": 0}
    assert second.allocation == {"bs": 500 * U7, "lenders": 500 * U7}
    assert e.state.ledger.balance("user:keeper", "BLP") == (120 + 880) * U7
    assert e.state.layers["bs"].liabilities == {} and e.state.markets["pool"].socialized_total == 500 * U7


def test_deficit_example() -> None:
    e = _run("doc-deficit")
    (loss,) = e.state.losses
    assert loss.allocation == {"fund": 100 * U6, "reserve_deficit": 200 * U6}
    m = e.state.markets["m"]
    assert m.deficit["USDC"] == 0 and e.state.ledger.balance("layer:dao:assets", "USDC") == 300 * U6
    assert e.state.ledger.balance("user:lp", "USDC") == 900 * U6
