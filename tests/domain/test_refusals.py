"""Every refusal leaves the state exactly as it was (docs/architecture.md, I3: `Engine.apply` validates
everything first and changes nothing on error; typed `BackstopError` naming the field).

Run over the fuzzer's world (every layer kind, both market kinds) after a few valid commands
have given it balances, shares, requests, positions, a policy and a claim."""

from __future__ import annotations

from typing import Any

import pytest

from backstop.domain import commands as c
from backstop.domain.errors import (
    BackstopError,
    ClaimError,
    CoverError,
    DuplicateEntity,
    InsufficientFunds,
    InvalidAmount,
    InvalidConfig,
    NotPermitted,
    PositionHealthy,
    TimeWentBackwards,
    Undercollateralized,
    UnknownEntity,
    WithdrawNotAllowed,
)
from backstop.domain.layers.registry import make_config
from backstop.engine import Engine
from backstop.testing.fuzz import world

from .helpers import DAY, E6, E18

T = 10 * DAY


def _built() -> Engine:
    e = Engine(check_invariants=True)
    for cmd in world():
        e.apply(cmd)
    for cmd in [
        c.Deposit(0, "fund", "dao", 100_000 * E6),
        c.Deposit(0, "safety", "alice", 100 * E18),
        c.Deposit(0, "q4w", "alice", 10_000 * E6),
        c.Deposit(0, "sp", "alice", 10_000 * E18),
        c.Deposit(0, "cover", "cap", 50_000 * E6),
        c.Supply(0, "lend", "lp", 200_000 * E6),
        c.OpenPosition(0, "lend", "bob", (("ETH", 10 * E18),), 5_000 * E6),
        c.OpenPosition(0, "cdp", "troy", (("ETH", 10 * E18),), 5_000 * E18),
        c.RequestWithdraw(DAY, "q4w", "alice", shares=10**12),
        c.BuyCover(DAY, "cover", "lp", "lend", ("exploit",), 10_000 * E6, 365 * DAY),
        c.Incident(2 * DAY, "lend", "USDC", 1_000 * E6, "exploit"),
        c.FileClaim(2 * DAY, "pol-1", "inc-1", 1_000 * E6),
        c.Advance(T),
    ]:
        e.apply(cmd)
    return e


_BUILT: Engine | None = None


@pytest.fixture
def built() -> Engine:
    global _BUILT
    if _BUILT is None:
        _BUILT = _built()
    return Engine.replay(_BUILT.log, check_invariants=True)  # a fresh copy for each case


BAD: list[tuple[str, Any, type[BackstopError], str]] = [
    ("duplicate asset", c.AddAsset(T, "USDC", 6), DuplicateEntity, "symbol"),
    ("decimals out of range", c.AddAsset(T, "X", 40), InvalidConfig, "decimals"),
    ("price of unknown asset", c.SetPrice(T, "NOPE", E18), UnknownEntity, "asset"),
    ("zero price", c.SetPrice(T, "ETH", 0), InvalidAmount, "price"),
    ("duplicate layer", c.AddLayer(T, "fund", make_config(kind="socialize")), DuplicateEntity, "layer"),
    (
        "guarantor without limit",
        c.AddLayer(T, "gx", make_config(kind="guarantor", asset="USDC", guarantor="r")),
        InvalidConfig,
        "limit",
    ),
    (
        "socialize not last",
        c.AddMarket(T, "m2", c.MarketConfig("lending", "USDC", (c.CollateralConfig("ETH"),), ("rest", "fund"))),
        InvalidConfig,
        "waterfall",
    ),
    (
        "stability pool not first",
        c.AddMarket(T, "m2", c.MarketConfig("cdp", "LUSD", (c.CollateralConfig("ETH"),), ("mkr", "sp", "rest"))),
        InvalidConfig,
        "waterfall",
    ),
    ("deposit to unknown layer", c.Deposit(T, "nope", "a", 1), UnknownEntity, "layer"),
    ("zero deposit", c.Deposit(T, "safety", "a", 0), InvalidAmount, "amount"),
    ("deposit as external account", c.Deposit(T, "safety", "external:world", 1), InvalidAmount, "account"),
    ("deposit to socialize", c.Deposit(T, "rest", "a", 1), NotPermitted, "layer"),
    ("request more than owned", c.RequestWithdraw(T, "safety", "alice", shares=10**40), InsufficientFunds, "shares"),
    ("request both shares and amount", c.RequestWithdraw(T, "safety", "alice", 1, 1), InvalidAmount, "shares"),
    ("cancel without request", c.CancelWithdraw(T, "safety", "alice"), WithdrawNotAllowed, "account"),
    ("withdraw without request", c.Withdraw(T, "safety", "alice", shares=1), WithdrawNotAllowed, "account"),
    ("withdraw before the queue ends", c.Withdraw(T, "q4w", "alice"), WithdrawNotAllowed, "at"),
    ("withdraw nothing from the SP", c.Withdraw(T, "sp", "nobody"), InsufficientFunds, "amount"),
    ("withdraw too much from the SP", c.Withdraw(T, "sp", "alice", amount=10**30), InsufficientFunds, "amount"),
    ("supply to a cdp", c.Supply(T, "cdp", "a", 1), NotPermitted, "market"),
    ("withdraw more supply than owned", c.WithdrawSupply(T, "lend", "lp", 10**15), InsufficientFunds, "amount"),
    ("non-collateral asset", c.OpenPosition(T, "lend", "b", (("MKR", E18),), 1), UnknownEntity, "collateral"),
    ("over the LTV", c.OpenPosition(T, "lend", "b", (("ETH", E18),), 10**12), Undercollateralized, "debt"),
    ("below the MCR", c.OpenPosition(T, "cdp", "b", (("ETH", E18),), 2_000 * E18), Undercollateralized, "debt"),
    ("negative debt", c.OpenPosition(T, "lend", "b", (), -1), InvalidAmount, "debt"),
    ("more debt than cash", c.OpenPosition(T, "lend", "b", (("ETH", 10**24),), 10**15), InsufficientFunds, "debt"),
    ("repay without a position", c.Repay(T, "lend", "nobody", 1), UnknownEntity, "account"),
    ("repay more than owed", c.Repay(T, "lend", "bob", 10**15), InvalidAmount, "amount"),
    ("add no collateral", c.AddCollateral(T, "lend", "bob", ()), InvalidAmount, "collateral"),
    ("liquidate a healthy position", c.Liquidate(T, "lend", "bob"), PositionHealthy, "account"),
    ("liquidate a healthy trove", c.Liquidate(T, "cdp", "troy"), PositionHealthy, "account"),
    ("incident larger than the pool", c.Incident(T, "lend", "USDC", 10**15, "exploit"), InvalidAmount, "amount"),
    ("incident cause bad_debt", c.Incident(T, "lend", "USDC", 1, "bad_debt"), InvalidConfig, "cause"),
    ("incident on a cdp's debt asset", c.Incident(T, "cdp", "LUSD", 1, "bug"), InvalidConfig, "asset"),
    ("incident in a foreign asset", c.Incident(T, "lend", "MKR", 1, "bug"), UnknownEntity, "asset"),
    ("reward from stakers' pool", c.Reward(T, "fund", 1, "q4w"), NotPermitted, "from"),
    ("reward from an empty treasury", c.Reward(T, "fund", 1, "treasury"), InsufficientFunds, "from"),
    ("reward to socialize", c.Reward(T, "rest", 1), NotPermitted, "layer"),
    ("time going backwards", c.Advance(T - 1), TimeWentBackwards, "at"),
    ("cover beyond capacity", c.BuyCover(T, "cover", "x", "lend", ("bug",), 10**12, DAY), CoverError, "amount"),
    ("claim on an unknown policy", c.FileClaim(T, "pol-9", "inc-1", 1), UnknownEntity, "policy"),
    ("second claim for one incident", c.FileClaim(T, "pol-1", "inc-1", 1), ClaimError, "incident"),
    ("self-assessment", c.AssessClaim(T, "clm-1", "lp", True), ClaimError, "assessor"),
    ("defaults of a non-guarantor", c.GuarantorDefaults(T, "fund"), NotPermitted, "layer"),
    ("assessor stake in a non-cover pool", c.AssessorStake(T, "fund", "a", 1), UnknownEntity, "pool"),
    ("zero assessor stake", c.AssessorStake(T, "cover", "a", 0), InvalidAmount, "amount"),
    ("assessor stake as external account", c.AssessorStake(T, "cover", "external:x", 1), InvalidAmount, "account"),
    ("unstake more than staked", c.AssessorUnstake(T, "cover", "a", 1), InsufficientFunds, "amount"),
    ("settle a single-assessor claim", c.SettleClaim(T, "clm-1"), ClaimError, "claim"),
    ("settle an unknown claim", c.SettleClaim(T, "clm-9"), UnknownEntity, "claim"),
    (
        "reinstatement premium without reinstatements",
        c.AddLayer(
            T,
            "gx",
            make_config(kind="guarantor", asset="USDC", guarantor="r", limit=1, reinstatement_premium_bps=100),
        ),
        InvalidConfig,
        "reinstatement_premium_bps",
    ),
    (
        "negative reinstatements",
        c.AddLayer(T, "gx", make_config(kind="guarantor", asset="USDC", guarantor="r", limit=1, reinstatements=-1)),
        InvalidConfig,
        "reinstatements",
    ),
    (
        "staker reward above 100%",
        c.AddLayer(T, "cx", make_config(kind="cover_pool", asset="USDC", staker_reward_bps=10_001)),
        InvalidConfig,
        "staker_reward_bps",
    ),
]


@pytest.mark.parametrize(("name", "cmd", "error", "field"), BAD, ids=[b[0] for b in BAD])
def test_refusal_changes_nothing(built: Engine, name: str, cmd: Any, error: type[BackstopError], field: str) -> None:
    before = built.state_hash()
    log_len = len(built.log)
    with pytest.raises(error) as err:
        built.apply(cmd)
    assert err.value.field == field
    assert field in err.value.message
    assert built.state_hash() == before
    assert len(built.log) == log_len


def test_a_failure_deep_in_a_command_is_rolled_back() -> None:
    """An error after postings were made (here: the lending market must pay the borrower more
    cash than it has after the collateral was already posted) still leaves the hash unchanged."""
    e = _built()
    before = e.state_hash()
    with pytest.raises(InsufficientFunds):
        e.apply(c.OpenPosition(T, "lend", "whale", (("ETH", 10**24),), 10**15))
    assert e.state_hash() == before
    assert "whale" not in e.state.markets["lend"].positions
