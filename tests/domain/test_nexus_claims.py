"""Nexus Mutual's claim rules as deployed in v2.12.4 (NexusMutual/smart-contracts @
01c72951e93586b8b4121874c015318c1ea4329e: contracts/modules/assessment/IndividualClaims.sol,
Assessment.sol, contracts/modules/cover/Cover.sol), with figures reproduced from that commit's
own unit tests (test/unit/Assessment/*.js), cited per test. Amounts in the pool's asset (USDC
here, NXM there): the rules are ratios of stake and whole seconds, so the figures carry over.
"""

from __future__ import annotations

from typing import Any

import pytest

from backstop.domain import commands as c
from backstop.domain.cover import Claim, CoverPool
from backstop.domain.errors import (
    ClaimError,
    InsufficientFunds,
    InvalidAmount,
    NotPermitted,
    UnknownEntity,
    WithdrawNotAllowed,
)
from backstop.engine import Engine

from .helpers import DAY, E6, YEAR, assets, bal, engine, layer, layer_bal, lending, ok

VOTING = 3 * DAY  # Assessment.sol:43 MIN_VOTING_PERIOD
LOCKUP = 14 * DAY  # :44 STAKE_LOCKUP_PERIOD
COOLDOWN = DAY  # :45 PAYOUT_COOLDOWN


def world(**pool: Any) -> Engine:
    """A lending market whose losses are socialized to `inv` (10,000) and `other`; a Nexus-style
    cover pool with 10,000 of stakers' capital; `inv` holds 10,000 of exploit cover for a year."""
    e = engine()
    assets(e, USDC=1, ETH=2000)
    cfg = {"asset": "USDC", "capacity_ratio_bps": 20_000, "premium_bps_per_year": 500, **pool}
    layer(e, "cover", "cover_pool", **cfg)
    layer(e, "rest", "socialize")
    lending(e, ("rest",))
    e.apply(c.Supply(0, "lend", "inv", 10_000 * E6))
    e.apply(c.Supply(0, "lend", "other", 10_000 * E6))
    e.apply(c.Deposit(0, "cover", "cap", 10_000 * E6))
    e.apply(c.BuyCover(0, "cover", "inv", "lend", ("exploit",), 10_000 * E6, YEAR))
    return e


def stake(e: Engine, **stakes: int) -> None:
    for who, amount in stakes.items():
        e.apply(c.AssessorStake(0, "cover", who, amount * E6))


def pool(e: Engine) -> CoverPool:
    p = e.state.layers["cover"]
    assert isinstance(p, CoverPool)
    return p


def claim(e: Engine, cid: str = "clm-1") -> Claim:
    cl: Claim = e.state.claims[cid]
    return cl


def file(e: Engine, at: int = 2 * DAY, loss: int = 3_000) -> None:
    """An exploit of 6,000 on day 1 (inv loses 3,000), claimed at `at`."""
    if not e.state.incidents:
        e.apply(c.Incident(DAY, "lend", "USDC", 6_000 * E6, "exploit"))
    e.apply(c.FileClaim(at, "pol-1", "inc-1", loss * E6))


def vote(e: Engine, at: int, who: str, approve: bool = True, cid: str = "clm-1") -> None:
    e.apply(c.AssessClaim(at, cid, who, approve))


def refused(e: Engine, cmd: Any, error: type[Exception], field: str) -> None:
    before = e.state_hash()
    with pytest.raises(error) as info:
        e.apply(cmd)
    assert getattr(info.value, "field", None) == field
    assert e.state_hash() == before


# -- premium split -----------------------------------------------------------------------------


def test_half_of_each_premium_goes_to_stakers_the_rest_to_the_capital_pool() -> None:
    """Cover.sol:54 GLOBAL_REWARDS_RATIO = 5000 (v3.1.0 test/unit/Cover/buyCover.js stores
    rewardsRatio == 5000): of the 500 premium (10,000 × 5% × 1 year), 250 raises the stakers'
    exchange rate and 250 goes to the capital pool."""
    e = world(staker_reward_bps=5000)
    p = pool(e)
    assert e.state.policies["pol-1"].premium == 500 * E6
    assert layer_bal(e, "cover", "USDC") == 10_250 * E6
    assert bal(e, p.capital_account, "USDC") == 250 * E6
    view = p.view(e.state)
    assert view.capital_pool == 250 * E6
    # An odd premium: the stakers' half rounds down, the capital pool takes the unit.
    e.apply(c.BuyCover(0, "cover", "other", "lend", ("exploit",), 1, YEAR))  # premium ⌈0.05⌉ = 1 unit
    assert bal(e, p.capital_account, "USDC") == 250 * E6 + 1
    ok(e)


def test_a_pool_without_the_mutual_options_is_a_plain_share_vault() -> None:
    e = world()
    assert type(pool(e).view(e.state)).__name__ == "ShareVaultView"
    assert layer_bal(e, "cover", "USDC") == 10_500 * E6


# -- deposit and grace period ------------------------------------------------------------------


def test_deposit_is_paid_at_filing_and_returned_with_an_approved_payout() -> None:
    e = world(claim_deposit_bps=50)  # 0.5% of the 10,000 covered = 50
    p = pool(e)
    file(e)
    assert claim(e).deposit == 50 * E6
    assert bal(e, p.capital_account, "USDC") == 50 * E6
    vote(e, 3 * DAY, "assessor")
    assert claim(e).status == "approved" and claim(e).paid == 3_000 * E6
    assert bal(e, p.capital_account, "USDC") == 0
    # inv's wallet was empty, so the deposit came from outside at filing; now it is back with the payout.
    assert bal(e, "user:inv", "USDC") == 3_000 * E6 + 50 * E6
    ok(e)


def test_deposit_is_kept_by_the_capital_pool_when_the_claim_is_denied() -> None:
    e = world(claim_deposit_bps=50)
    file(e)
    vote(e, 3 * DAY, "assessor", approve=False)
    assert claim(e).status == "denied"
    assert bal(e, pool(e).capital_account, "USDC") == 50 * E6
    assert pool(e).deposits_kept == 50 * E6
    ok(e)


def test_grace_period_is_strict_as_in_nexus() -> None:
    """v3.1.0 test/unit/Claims/submitClaim.js "reverts if the cover is outside the grace period"
    (same check as v2.12.4 IndividualClaims.sol:275): cover of 30 days with a 7-day grace; a
    claim at start + period + grace is refused (`GracePeriodPassed`), one second earlier is
    accepted, for an incident during cover."""
    e = world(grace_seconds=7 * DAY)
    e.apply(c.BuyCover(0, "cover", "other", "lend", ("exploit",), 1_000 * E6, 30 * DAY))
    e.apply(c.Incident(29 * DAY, "lend", "USDC", 6_000 * E6, "exploit"))
    refused(e, c.FileClaim(37 * DAY, "pol-2", "inc-1", 100 * E6), ClaimError, "at")
    e.apply(c.FileClaim(37 * DAY - 1, "pol-2", "inc-1", 100 * E6))
    assert claim(e).filed_at == 37 * DAY - 1


def test_without_grace_seconds_there_is_no_filing_deadline() -> None:
    e = world()
    e.apply(c.Incident(DAY, "lend", "USDC", 6_000 * E6, "exploit"))
    e.apply(c.FileClaim(3 * YEAR, "pol-1", "inc-1", 100 * E6))


# -- stake-weighted vote (Assessment.sol `_castVote`) ---------------------------------------------


def test_first_vote_must_accept_and_restarts_the_voting_period() -> None:
    """castVotes.js "reverts if the first vote is deny" (AcceptVoteRequired) and "resets the
    voting period to minVotingPeriodInDays after the first accept vote" (a day after filing, the
    poll ends at the vote's time + 3 days)."""
    e = world()
    stake(e, u1=100)
    file(e, at=2 * DAY)
    assert claim(e).poll_end == 2 * DAY + VOTING
    refused(e, c.AssessClaim(3 * DAY, "clm-1", "u1", False), ClaimError, "approve")
    vote(e, 3 * DAY + 1, "u1")
    assert claim(e).poll_end == 3 * DAY + 1 + VOTING


def test_votes_add_the_voters_stake_to_their_side() -> None:
    """castVotes.js "increases the poll's accepted token count if the user vote is to accept":
    three stakes of 100; accept, deny, accept give accepted 100, 100, 200 (denied 0, 100, 100)."""
    e = world()
    stake(e, u1=100, u2=100, u3=100)
    file(e)
    seen = []
    for who, yes in (("u1", True), ("u2", False), ("u3", True)):
        vote(e, 2 * DAY + 10, who, yes)
        seen.append((claim(e).accepted // E6, claim(e).denied // E6))
    assert seen == [(100, 0), (100, 100), (200, 100)]


def test_silent_ending_extension_figures_of_nexus() -> None:
    """castVotes.js "extends the voting period up to 24h based on the user's stake if the poll ends
    in < 24h": stakes u1 100, u2 100, u3 200, u4 800, u5 300. u1 accepts; each next vote is cast
    one second before the end. u2 (100 over 100 voted), u3 (200/200) and u4 (800/400) each move
    the end to the vote's time + 1 day + 1; u5 (300/1200) to the vote's time + 0.25 day + 1."""
    e = world()
    stake(e, u1=100, u2=100, u3=100 * 2, u4=800, u5=300)
    file(e)
    vote(e, 2 * DAY, "u1")
    got = []
    for who in ("u2", "u3", "u4", "u5"):
        t = claim(e).poll_end - 1
        vote(e, t, who)
        got.append(claim(e).poll_end - t)
    assert got == [DAY + 1, DAY + 1, DAY + 1, DAY // 4 + 1]


def test_voting_closes_at_the_poll_end_and_nobody_votes_twice() -> None:
    """castVotes.js "reverts if the voting period has ended" (VotingClosed), "reverts if the user
    has already voted on the same assessment" (AlreadyVoted), "reverts if the user has no stake"
    (StakeRequired)."""
    e = world()
    stake(e, u1=100, u2=100)
    file(e)
    end = claim(e).poll_end
    assert end is not None
    refused(e, c.AssessClaim(end, "clm-1", "u1", True), ClaimError, "at")
    e2 = world()
    stake(e2, u1=100, u2=100)
    file(e2)
    vote(e2, 2 * DAY, "u1")
    refused(e2, c.AssessClaim(2 * DAY, "clm-1", "u1", True), ClaimError, "assessor")
    refused(e2, c.AssessClaim(2 * DAY, "clm-1", "nobody", True), NotPermitted, "assessor")
    refused(e2, c.AssessClaim(2 * DAY, "clm-1", "inv", True), ClaimError, "assessor")


def test_settlement_after_the_poll_and_cooldown_strict_majority_of_stake() -> None:
    """IndividualClaims.sol `redeemClaimPayout` (:333-361): after poll end + PAYOUT_COOLDOWN,
    approved iff accepted > denied. 300 accept against 200 + 100 deny is a tie: denied."""
    e = world(claim_deposit_bps=10)
    stake(e, big=300, a=200, b=100)
    file(e)
    vote(e, 2 * DAY, "big")
    vote(e, 2 * DAY + 5, "a", False)
    vote(e, 2 * DAY + 6, "b", False)
    end = claim(e).poll_end
    assert end == 2 * DAY + VOTING
    refused(e, c.SettleClaim(end + COOLDOWN - 1, "clm-1"), ClaimError, "at")
    e.apply(c.SettleClaim(end + COOLDOWN, "clm-1"))
    assert claim(e).status == "denied" and claim(e).paid == 0
    assert bal(e, pool(e).capital_account, "USDC") == 10 * E6  # the deposit is kept
    refused(e, c.SettleClaim(end + COOLDOWN, "clm-1"), ClaimError, "claim")
    ok(e)


def test_a_weighted_majority_approves_and_pays_with_the_deposit() -> None:
    e = world(claim_deposit_bps=10)
    stake(e, big=300, a=200, b=50)
    file(e)
    vote(e, 2 * DAY, "big")
    vote(e, 2 * DAY + 5, "a", False)
    vote(e, 2 * DAY + 6, "b", False)
    e.apply(c.SettleClaim(2 * DAY + VOTING + COOLDOWN, "clm-1"))
    assert claim(e).status == "approved" and claim(e).paid == 3_000 * E6
    assert bal(e, pool(e).capital_account, "USDC") == 0
    ok(e)


def test_a_poll_nobody_voted_on_is_denied() -> None:
    """Assessment.sol:336: a poll with no votes is denied once it ends."""
    e = world()
    stake(e, u1=100)
    file(e)
    e.apply(c.SettleClaim(2 * DAY + VOTING + COOLDOWN, "clm-1"))
    assert claim(e).status == "denied"


def test_a_single_assessor_claim_cannot_be_settled_and_a_vote_is_not_a_decision() -> None:
    e = world()
    file(e)
    refused(e, c.SettleClaim(10 * DAY, "clm-1"), ClaimError, "claim")
    e2 = world()
    stake(e2, u1=100)
    file(e2)
    vote(e2, 2 * DAY, "u1")
    assert claim(e2).status == "pending" and claim(e2).paid == 0


# -- assessment stake --------------------------------------------------------------------------


def test_unstake_is_locked_for_14_days_after_the_last_vote() -> None:
    """unstake.js "reverts if less than stakeLockupPeriodInDays passed since the staker's last
    vote": refused right after the vote, on each of days 1..13, and at exactly vote + 14 days
    (Assessment.sol `_unstake`: require(now > lastVote + STAKE_LOCKUP_PERIOD)); allowed a second
    later. unstake.js "decreases the user's stake": 100 − 10 − 10 − 30 − 50 = 0."""
    e = world()
    stake(e, u1=100)
    file(e)
    v = 2 * DAY
    vote(e, v, "u1")
    for day in range(0, 14):
        refused(e, c.AssessorUnstake(v + day * DAY, "cover", "u1", 100 * E6), WithdrawNotAllowed, "at")
    refused(e, c.AssessorUnstake(v + LOCKUP, "cover", "u1", 100 * E6), WithdrawNotAllowed, "at")
    left = []
    for amount in (10, 10, 30, 50):
        e.apply(c.AssessorUnstake(v + LOCKUP + 1, "cover", "u1", amount * E6))
        left.append(pool(e).assessor_stake["u1"] // E6)
    assert left == [90, 80, 50, 0]
    assert bal(e, "user:u1", "USDC") == 100 * E6
    ok(e)


def test_assessment_stake_refusals_name_the_field() -> None:
    """unstake.js "reverts with InvalidAmount if amount is bigger than the stake"."""
    e = world()
    stake(e, u1=100)
    refused(e, c.AssessorUnstake(0, "cover", "u1", 100 * E6 + 1), InsufficientFunds, "amount")
    refused(e, c.AssessorStake(0, "cover", "u1", 0), InvalidAmount, "amount")
    refused(e, c.AssessorStake(0, "rest", "u1", 1), UnknownEntity, "pool")
    refused(e, c.AssessorStake(0, "cover", "layer:x", 1), InvalidAmount, "account")


def test_assessment_stake_is_not_capital_and_is_never_slashed() -> None:
    """Assessors' stake sits in its own account: it does not raise the capital that sells cover
    nor pay claims."""
    e = world()
    stake(e, u1=1_000)
    assert pool(e).total_assets(e.state) == 10_500 * E6
    assert bal(e, pool(e).assessment_account, "USDC") == 1_000 * E6
    e.apply(c.Incident(DAY, "lend", "USDC", 6_000 * E6, "exploit"))
    e.apply(c.FileClaim(2 * DAY, "pol-1", "inc-1", 3_000 * E6))
    vote(e, 2 * DAY, "u1")
    e.apply(c.SettleClaim(2 * DAY + VOTING + COOLDOWN, "clm-1"))
    assert pool(e).total_assets(e.state) == 7_500 * E6  # the payout came from the capital
    assert bal(e, pool(e).assessment_account, "USDC") == 1_000 * E6
