"""Investor cover and claims (docs/cover-and-claims.md), Nexus Mutual style.

Nexus Mutual: cover is sold up to a capacity derived from the staked capital, priced per
year on the cover amount and period; a claim is assessed by others than the claimant and
pays at most the cover amount, for a covered event during the cover period; payouts are
borne by the staking pools (their exchange rate falls). Indemnity (a loss is paid once) is
the engine's rule: the payout is also capped by the loss the engine recorded for the
claimant. Figures in USDC (6 decimals).
"""

from __future__ import annotations

import pytest

from backstop.domain import commands as c
from backstop.domain.cover import CoverPool
from backstop.domain.errors import ClaimError, CoverError, InvalidAmount, NotPermitted, UnknownEntity
from backstop.engine import Engine

from .helpers import DAY, E6, YEAR, assets, bal, engine, layer, layer_bal, lending, ok


def world(capital: int = 10_000 * E6) -> Engine:
    """Lending market with no backstop (losses are socialized to suppliers `inv` and `other`,
    10,000 each) and a cover pool (capacity 200% of capital, 5% a year)."""
    e = engine()
    assets(e, USDC=1, ETH=2000)
    layer(e, "cover", "cover_pool", asset="USDC", capacity_ratio_bps=20_000, premium_bps_per_year=500)
    layer(e, "rest", "socialize")
    lending(e, ("rest",))
    lending(e, ("rest",), market="other_market")
    e.apply(c.Supply(0, "lend", "inv", 10_000 * E6))
    e.apply(c.Supply(0, "lend", "other", 10_000 * E6))
    e.apply(c.Deposit(0, "cover", "cap", capital))
    return e


def pool(e: Engine) -> CoverPool:
    p = e.state.layers["cover"]
    assert isinstance(p, CoverPool)
    return p


def cap_value(e: Engine) -> int:
    p = pool(e)
    return p.assets_for_shares(p.shares["cap"], p.total_assets(e.state))


def test_capacity_ratio_limits_cover_sold() -> None:
    e = world()
    e.apply(c.BuyCover(0, "cover", "inv", "lend", ("exploit",), 15_000 * E6, YEAR))
    before = e.state_hash()
    # The message speaks whole tokens, as a person reads them (6,500 USDC left, not 6500000000).
    with pytest.raises(CoverError, match=r"can sell 6500 USDC more cover, asked 6501 USDC"):
        # capacity = 200% × (10,000 + 750 premium) = 21,500; 15,000 sold; 6,501 is too much
        e.apply(c.BuyCover(0, "cover", "inv", "lend", ("exploit",), 6_501 * E6, YEAR))
    assert e.state_hash() == before
    e.apply(c.BuyCover(0, "cover", "inv", "lend", ("exploit",), 6_500 * E6, YEAR))
    # Expired cover frees capacity.
    e.apply(c.BuyCover(YEAR + 1, "cover", "inv", "lend", ("exploit",), 20_000 * E6, DAY))
    ok(e)


def test_premium_is_priced_per_year_and_raises_the_capital_providers_rate() -> None:
    """10,000 of cover for 73 days at 5% a year: 10,000 × 0.05 × 73/365 = 100 USDC exactly."""
    e = world()
    e.apply(c.BuyCover(0, "cover", "inv", "lend", ("exploit", "bug"), 10_000 * E6, 73 * DAY))
    assert e.state.policies["pol-1"].premium == 100 * E6
    assert layer_bal(e, "cover", "USDC") == 10_100 * E6
    assert cap_value(e) == 10_100 * E6 - 1  # the virtual share keeps its 10^-6 of a unit
    # 1 USDC for one second: 1e6 × 500 / (1e4 × 31,536,000) = 0.0000016 units, rounded up to 1.
    e.apply(c.BuyCover(0, "cover", "inv", "lend", ("exploit",), E6, 1))
    assert e.state.policies["pol-2"].premium == 1


def incident(e: Engine, amount: int = 6_000 * E6, at: int = DAY, cause: str = "exploit") -> str:
    e.apply(c.Incident(at, "lend", "USDC", amount, cause))
    return f"inc-{len(e.state.incidents)}"


def test_claim_pays_the_least_of_claimed_cover_left_and_proven_loss() -> None:
    """A 6,000 exploit socialized over two equal suppliers: `inv` lost 3,000 (proven). With a
    5,000 policy a 5,000 claim pays 3,000; the capital provider's 10,000 + 250 premium falls
    to 7,250."""
    e = world()
    e.apply(c.BuyCover(0, "cover", "inv", "lend", ("exploit",), 5_000 * E6, YEAR))
    inc = incident(e)
    assert e.state.losses[-1].by_account == {"inv": 3_000 * E6, "other": 3_000 * E6}
    e.apply(c.FileClaim(DAY, "pol-1", inc, 5_000 * E6))
    e.apply(c.AssessClaim(DAY, "clm-1", "assessor", True, "on-chain evidence"))
    assert e.state.claims["clm-1"].paid == 3_000 * E6
    assert bal(e, "inv", "USDC") == 3_000 * E6
    assert cap_value(e) == 7_250 * E6
    ok(e)


def test_claim_capped_by_what_is_claimed_and_by_cover_left() -> None:
    e = world()
    e.apply(c.BuyCover(0, "cover", "inv", "lend", ("exploit",), 2_000 * E6, YEAR))
    inc1 = incident(e)
    e.apply(c.FileClaim(DAY, "pol-1", inc1, 500 * E6))
    e.apply(c.AssessClaim(DAY, "clm-1", "assessor", True))
    assert e.state.claims["clm-1"].paid == 500 * E6  # claimed
    inc2 = incident(e, at=2 * DAY)
    e.apply(c.FileClaim(2 * DAY, "pol-1", inc2, 3_000 * E6))
    e.apply(c.AssessClaim(2 * DAY, "clm-2", "assessor", True))
    assert e.state.claims["clm-2"].paid == 1_500 * E6  # cover left: 2,000 − 500
    inc3 = incident(e, at=3 * DAY)
    e.apply(c.FileClaim(3 * DAY, "pol-1", inc3, 1_000 * E6))
    e.apply(c.AssessClaim(3 * DAY, "clm-3", "assessor", True))
    assert e.state.claims["clm-3"].paid == 0
    assert e.state.policies["pol-1"].paid == 2_000 * E6
    ok(e)


def test_a_policy_never_pays_twice_for_one_incident() -> None:
    e = world()
    e.apply(c.BuyCover(0, "cover", "inv", "lend", ("exploit",), 5_000 * E6, YEAR))
    inc = incident(e)
    e.apply(c.FileClaim(DAY, "pol-1", inc, 1_000 * E6))
    with pytest.raises(ClaimError, match="already has claim"):
        e.apply(c.FileClaim(DAY, "pol-1", inc, 1_000 * E6))
    e.apply(c.AssessClaim(DAY, "clm-1", "assessor", False, "not enough evidence"))
    with pytest.raises(ClaimError, match="already denied"):
        e.apply(c.AssessClaim(DAY, "clm-1", "assessor2", True))
    e.apply(c.FileClaim(DAY, "pol-1", inc, 1_000 * E6))  # a denied claim may be filed again
    e.apply(c.AssessClaim(DAY, "clm-2", "assessor", True))
    with pytest.raises(ClaimError):
        e.apply(c.FileClaim(DAY, "pol-1", inc, 1_000 * E6))
    assert e.state.policies["pol-1"].paid == 1_000 * E6


def test_two_policies_do_not_pay_one_loss_twice() -> None:
    """Regression: each policy was capped by the claimant's whole proven loss, so two 5,000
    policies paid 3,000 + 3,000 for one 3,000 loss. Now the second pays only what is left."""
    e = world()
    e.apply(c.BuyCover(0, "cover", "inv", "lend", ("exploit",), 5_000 * E6, YEAR))
    e.apply(c.BuyCover(0, "cover", "inv", "lend", ("exploit",), 5_000 * E6, YEAR))
    inc = incident(e)
    e.apply(c.FileClaim(DAY, "pol-1", inc, 2_000 * E6))
    e.apply(c.FileClaim(DAY, "pol-2", inc, 5_000 * E6))
    e.apply(c.AssessClaim(DAY, "clm-1", "assessor", True))
    e.apply(c.AssessClaim(DAY, "clm-2", "assessor", True))
    assert e.state.claims["clm-1"].paid == 2_000 * E6
    assert e.state.claims["clm-2"].paid == 1_000 * E6
    assert bal(e, "inv", "USDC") == 3_000 * E6
    ok(e)


def test_claim_refusals_are_typed() -> None:
    e = world()
    e.apply(c.BuyCover(0, "cover", "inv", "lend", ("bug",), 5_000 * E6, 10 * DAY))
    e.apply(c.BuyCover(0, "cover", "inv", "lend", ("exploit",), 5_000 * E6, 10 * DAY))
    e.apply(c.BuyCover(0, "cover", "inv", "other_market", ("exploit",), 5_000 * E6, YEAR))
    exploit = incident(e)
    late = incident(e, at=20 * DAY)
    e.apply(c.FileClaim(20 * DAY, "pol-2", exploit, 100 * E6))  # filed late, incident in period: fine
    before = e.state_hash()
    cases: list[tuple[c.FileClaim | c.AssessClaim, type[Exception], str]] = [
        (c.FileClaim(20 * DAY, "pol-1", exploit, 100 * E6), ClaimError, "incident"),  # wrong cause
        (c.FileClaim(20 * DAY, "pol-2", late, 100 * E6), ClaimError, "policy"),  # expired
        (c.FileClaim(20 * DAY, "pol-3", exploit, 100 * E6), ClaimError, "incident"),  # other market
        (c.FileClaim(20 * DAY, "pol-2", exploit, 100 * E6, claimant="other"), NotPermitted, "claimant"),
        (c.FileClaim(20 * DAY, "pol-9", exploit, 100 * E6), UnknownEntity, "policy"),
        (c.FileClaim(20 * DAY, "pol-3", "inc-9", 100 * E6), UnknownEntity, "incident"),
        (c.FileClaim(20 * DAY, "pol-2", exploit, 0), InvalidAmount, "loss"),
        (c.AssessClaim(20 * DAY, "clm-1", "inv", True), ClaimError, "assessor"),  # self-assessment
        (c.AssessClaim(20 * DAY, "clm-9", "assessor", True), UnknownEntity, "claim"),
    ]
    for cmd, error, field in cases:
        with pytest.raises(error) as err:
            e.apply(cmd)
        assert err.value.field == field, cmd  # type: ignore[attr-defined]
        assert e.state_hash() == before, cmd


def test_buy_cover_refusals() -> None:
    e = world()
    before = e.state_hash()
    for cmd, error in [
        (c.BuyCover(0, "cover", "inv", "lend", ("meteor",), E6, DAY), CoverError),
        (c.BuyCover(0, "cover", "inv", "lend", ("bad_debt",), E6, DAY), CoverError),  # could never be claimed
        (c.BuyCover(0, "cover", "inv", "lend", (), E6, DAY), CoverError),
        (c.BuyCover(0, "cover", "inv", "nowhere", ("bug",), E6, DAY), UnknownEntity),
        (c.BuyCover(0, "rest", "inv", "lend", ("bug",), E6, DAY), UnknownEntity),
        (c.BuyCover(0, "cover", "inv", "lend", ("bug",), 0, DAY), InvalidAmount),
        (c.BuyCover(0, "cover", "inv", "lend", ("bug",), E6, 0), InvalidAmount),
    ]:
        with pytest.raises(error):
            e.apply(cmd)
        assert e.state_hash() == before
