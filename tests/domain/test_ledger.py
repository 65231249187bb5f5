"""The double-entry ledger (docs/engine.md, "The ledger"): per asset the balances sum to zero, only `external:*`
accounts may go negative, and an overdraft is refused with a typed error."""

from __future__ import annotations

import pytest

from backstop.domain import commands as c
from backstop.domain.errors import InsufficientFunds, InvalidAmount
from backstop.domain.journal import Journal
from backstop.domain.ledger import Ledger

from .helpers import E6, assets, engine, layer, lending


def test_transfer_moves_value_and_conserves_it() -> None:
    ledger, j = Ledger(), Journal()
    ledger.transfer(j, "external:world", "user:alice", "USDC", 100)
    ledger.transfer(j, "user:alice", "user:bob", "USDC", 40)
    assert ledger.balance("user:alice", "USDC") == 60
    assert ledger.balance("user:bob", "USDC") == 40
    assert ledger.balance("external:world", "USDC") == -100  # only external accounts go negative
    assert ledger.totals() == {"USDC": 0}


def test_overdraft_of_a_non_external_account_is_refused() -> None:
    ledger, j = Ledger(), Journal()
    ledger.transfer(j, "external:world", "user:alice", "USDC", 10)
    with pytest.raises(InsufficientFunds) as err:
        ledger.transfer(j, "user:alice", "user:bob", "USDC", 11, "amount")
    assert err.value.field == "amount"
    assert ledger.balance("user:alice", "USDC") == 10


@pytest.mark.parametrize("amount", [0, -1])
def test_postings_must_be_positive(amount: int) -> None:
    with pytest.raises(InvalidAmount):
        Ledger().transfer(Journal(), "external:world", "user:a", "USDC", amount)


def test_rollback_restores_every_balance() -> None:
    ledger, j = Ledger(), Journal()
    ledger.transfer(Journal(), "external:world", "user:a", "USDC", 5)
    before = dict(ledger.balances)
    ledger.transfer(j, "user:a", "user:b", "USDC", 5)
    ledger.transfer(j, "external:world", "user:b", "ETH", 7)
    j.rollback()
    assert {k: v for k, v in ledger.balances.items() if v} == {k: v for k, v in before.items() if v}


def test_an_engine_run_keeps_conservation_per_asset_and_no_negative_internal_balance() -> None:
    """A whole life cycle (supply, borrow, interest, crash, liquidation with bad debt, fund
    payout): every asset still sums to zero and only `external:*` is negative."""
    e = engine()
    assets(e, USDC=1, ETH=2000)
    layer(e, "fund", "insurance_fund", asset="USDC")
    layer(e, "rest", "socialize")
    lending(e, ("fund", "rest"), base_rate_bps=500, reserve_factor_bps=1000)
    e.apply(c.Deposit(0, "fund", "dao", 1_000 * E6))
    e.apply(c.Supply(0, "lend", "lp", 50_000 * E6))
    e.apply(c.OpenPosition(0, "lend", "bob", (("ETH", 10**19),), 15_000 * E6))
    e.apply(c.Advance(86_400 * 30))
    e.apply(c.SetPrice(86_400 * 30, "ETH", 1000 * 10**18))
    e.apply(c.Liquidate(86_400 * 30, "lend", "bob"))
    assert e.state.losses, "the crash left bad debt"
    totals = e.state.ledger.totals()
    assert set(totals) == {"USDC", "ETH"}
    assert all(v == 0 for v in totals.values())
    negative = [k for k, v in e.state.ledger.balances.items() if v < 0]
    assert negative and all(acct.startswith("external:") for acct, _ in negative)
