"""Every layer kind's one-account read and totals agree with its full view (the API serves
`GET /v1/accounts/{a}` and `/v1/layers` from them, docs/service.md "Reads").

`account_view(state, a)` must equal `view(state).accounts.get(a)` and `totals_view(state)` must
equal the view without its accounts, for every layer of every example, after every run: a kind
whose view lists accounts but which forgot to override either method fails here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from backstop.scenario.loader import load_scenario
from backstop.scenario.runner import run

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_account_view_and_totals_match_the_full_view(path: Path) -> None:
    state = run(load_scenario(path)).engine.state
    strangers = {"nobody", "user:nobody"}
    for lid, layer in state.layers.items():
        full = layer.view(state)
        assert layer.totals_view(state) == dataclasses.replace(full, accounts={}), lid
        for account, row in full.accounts.items():
            assert layer.account_view(state, account) == row, (lid, account)
        for account in strangers - set(full.accounts):
            assert layer.account_view(state, account) is None, (lid, account)


def test_the_examples_have_accounts_in_every_kind_that_lists_them() -> None:
    """The check above is only as good as its cases: some example must give each kind whose view
    lists accounts (share vaults, stability pool, funds) at least one account row."""
    kinds_with_rows: set[str] = set()
    for path in EXAMPLES:
        state = run(load_scenario(path)).engine.state
        kinds_with_rows |= {layer.kind for layer in state.layers.values() if layer.view(state).accounts}
    assert {"staking_pool", "stability_pool", "insurance_fund", "cover_pool"} <= kinds_with_rows


def _account(key: object) -> str:
    return str(key[0]) if isinstance(key, tuple) else str(key)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_account_keys_name_exactly_the_accounts_of_the_view(path: Path) -> None:
    state = run(load_scenario(path)).engine.state
    for lid, layer in state.layers.items():
        assert {_account(k) for k in layer.account_keys()} == set(layer.view(state).accounts), lid
