"""Investor cover and claims, Nexus Mutual style (docs/cover-and-claims.md).

A cover pool is a share vault: capital providers deposit and earn the premiums (which raise
the exchange rate) and bear the payouts (which lower it, like a slash). It may sell cover up
to `capacity_ratio_bps` of its capital. A policy covers one market for a set of causes over a
period. After an incident the owner files a claim; an assessor who is not the claimant
approves or denies it; an approved claim pays

    min(claimed, cover amount − already paid, proven loss)

where the proven loss is what the engine itself recorded the claimant lost in that
incident's socialized part (so nobody is paid for a loss the backstop already covered), less
what the claimant's other policies already paid for it. A policy never pays twice for one
incident, and a loss is never made good twice across policies.

Nexus Mutual v2.12.4 (NexusMutual/smart-contracts @ 01c72951e93586b8b4121874c015318c1ea4329e,
contracts/modules/assessment/IndividualClaims.sol and Assessment.sol), when the pool sets it:
- a claim deposit (`claim_deposit_bps` of the cover amount) is paid into the capital pool when
  the claim is filed, returned with an approved payout, kept by the capital pool on denial;
- a grace period after the policy ends (`grace_seconds`) during which a claim for an incident
  during cover may still be filed;
- when the pool has assessment stake at filing, the claim is a poll: `assess_claim` is a vote
  weighted by the assessor's stake (the first vote must accept and restarts the voting period;
  a vote near the end extends it), and `settle_claim` decides it after the poll's end plus the
  payout cooldown: approved iff the accepting stake exceeds the denying stake. A pool without
  assessment stake keeps the single assessor.
"""

from __future__ import annotations

from dataclasses import dataclass

from .commands import (
    INCIDENT_CAUSES,
    AssessClaim,
    AssessorStake,
    AssessorUnstake,
    BuyCover,
    FileClaim,
    QuoteTerms,
    SettleClaim,
)
from .context import Ctx
from .errors import ClaimError, CoverError, InvalidAmount, NotPermitted, UnknownEntity
from .layers.cover_pool.exact import CoverPool
from .ledger import user
from .money import BPS, SECONDS_PER_YEAR, convert_down, convert_up, mul_div_up


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    pool: str
    owner: str
    market: str
    causes: tuple[str, ...]
    amount: int
    start: int
    end: int
    premium: int
    paid: int = 0

    def to_dict(self) -> dict[str, object]:
        # Built field by field: `dataclasses.asdict` deep-copies, and state hashing calls this
        # for every policy.
        return {
            "id": self.id,
            "pool": self.pool,
            "owner": self.owner,
            "market": self.market,
            "causes": list(self.causes),
            "amount": self.amount,
            "start": self.start,
            "end": self.end,
            "premium": self.premium,
            "paid": self.paid,
        }


@dataclass(frozen=True, slots=True)
class Claim:
    id: str
    policy: str
    claimant: str
    incident: str
    claimed: int
    filed_at: int
    status: str = "pending"
    paid: int = 0
    assessor: str | None = None
    reason: str = ""
    deposit: int = 0
    """Paid by the claimant at filing (0: the pool asks for none)."""
    poll_end: int | None = None
    """None: a single assessor decides; else the end of the stake-weighted vote."""
    accepted: int = 0
    denied: int = 0
    """Assessment stake that voted to accept / deny."""
    votes: tuple[tuple[str, bool, int], ...] = ()
    """(assessor, approve, stake) in the order cast."""

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.id,
            "policy": self.policy,
            "claimant": self.claimant,
            "incident": self.incident,
            "claimed": self.claimed,
            "filed_at": self.filed_at,
            "status": self.status,
            "paid": self.paid,
            "assessor": self.assessor,
            "reason": self.reason,
        }
        # Only where used, so claims of pools without deposits or votes read (and hash) as before.
        if self.deposit:
            out["deposit"] = self.deposit
        if self.poll_end is not None:
            out["poll_end"] = self.poll_end
            out["accepted"] = self.accepted
            out["denied"] = self.denied
            out["votes"] = [list(v) for v in self.votes]
        return out


def _pool(ctx: Ctx, pool_id: str) -> CoverPool:
    layer = ctx.state.layers.get(pool_id)
    if not isinstance(layer, CoverPool):
        raise UnknownEntity("pool", f"pool: {pool_id!r} is not a cover pool")
    return layer


def buy_cover(ctx: Ctx, cmd: BuyCover) -> None:
    pool = _pool(ctx, cmd.pool)
    if cmd.market not in ctx.state.markets:
        raise UnknownEntity("market", f"market: unknown market {cmd.market!r}")
    if not cmd.causes or any(cause not in INCIDENT_CAUSES for cause in cmd.causes):
        # Claims are filed on incidents; cover against `bad_debt` could never pay, so it is not sold.
        raise CoverError("causes", f"causes: each must be one of {', '.join(INCIDENT_CAUSES)}; got {list(cmd.causes)}")
    if cmd.amount <= 0:
        raise InvalidAmount("amount", f"amount: must be positive, got {cmd.amount}")
    if cmd.period_seconds <= 0:
        raise InvalidAmount("period_days", f"period_days: must be positive, got {cmd.period_seconds} s")
    capacity = pool.capacity(ctx)
    active = pool.active_cover(ctx)
    if active + cmd.amount > capacity:
        raise CoverError(
            "amount",
            f"amount: {pool.id} can sell {ctx.tokens(pool.asset, max(0, capacity - active))} more cover, "
            f"asked {ctx.tokens(pool.asset, cmd.amount)}",
        )
    if cmd.quote is None:
        premium = mul_div_up(cmd.amount, pool.config.premium_bps_per_year * cmd.period_seconds, BPS * SECONDS_PER_YEAR)
    else:
        premium = quoted_premium(ctx, pool, cmd.market, cmd.quote)
    to_stakers, to_capital = pool.collect_premium(ctx, cmd.account, premium)
    pid = f"pol-{len(ctx.state.policies) + 1}"
    policy = Policy(
        pid,
        pool.id,
        cmd.account,
        cmd.market,
        tuple(cmd.causes),
        cmd.amount,
        ctx.at,
        ctx.at + cmd.period_seconds,
        premium,
    )
    ctx.j.put(ctx.state.policies, pid, policy)
    ctx.emit("cover_bought", policy.to_dict() if cmd.quote is None else {**policy.to_dict(), "quote": cmd.quote.id})
    if to_capital:
        ctx.emit("premium_split", {"policy": pid, "to_stakers": to_stakers, "to_capital_pool": to_capital})


def market_tvl(ctx: Ctx, market_id: str) -> int:
    """What a quote's tolerance watches in the market: its supply, or its debt where it has no
    supply (a cdp), in base units of its debt asset (the risk lab's TVL, sim/model.py)."""
    m = ctx.state.markets[market_id]
    if m.kind == "lending" and m.supply_assets > 0:
        return int(m.supply_assets)
    return int(m.total_debt())


def moved_beyond(now: int, then: int, tolerance_bps: int) -> bool:
    """|now − then| > tolerance of `then` (exact: |now − then| × 10000 > tolerance × then)."""
    return abs(now - then) * BPS > tolerance_bps * then


def quoted_premium(ctx: Ctx, pool: CoverPool, market_id: str, quote: QuoteTerms) -> int:
    """The premium a risk-lab quote fixed, if the state is still within its tolerance: the pool's
    assets and the market's TVL each within `tolerance_bps` of what they were when quoted
    (docs/cover-and-claims.md, "Quotes"). Expiry is the service's check, not the engine's."""
    if quote.premium < 0 or quote.pool_assets < 0 or quote.market_tvl < 0 or not 0 <= quote.tolerance_bps <= BPS:
        raise InvalidAmount("quote", f"quote: {quote.id} has negative terms or a tolerance outside 0..{BPS} bps")
    assets = pool.total_assets(ctx.state)
    if moved_beyond(assets, quote.pool_assets, quote.tolerance_bps):
        raise CoverError(
            "quote",
            f"quote: {quote.id} was for {pool.id} holding {ctx.tokens(pool.asset, quote.pool_assets)}; it holds "
            f"{ctx.tokens(pool.asset, assets)}, beyond the quote's tolerance of {quote.tolerance_bps} bps",
        )
    tvl = market_tvl(ctx, market_id)
    if moved_beyond(tvl, quote.market_tvl, quote.tolerance_bps):
        debt = ctx.state.markets[market_id].debt_asset
        raise CoverError(
            "quote",
            f"quote: {quote.id} was for {market_id} at a TVL of {ctx.tokens(debt, quote.market_tvl)}; it is "
            f"{ctx.tokens(debt, tvl)}, beyond the quote's tolerance of {quote.tolerance_bps} bps",
        )
    return quote.premium


def file_claim(ctx: Ctx, cmd: FileClaim) -> None:
    policy = ctx.state.policies.get(cmd.policy)
    if policy is None:
        raise UnknownEntity("policy", f"policy: unknown policy {cmd.policy!r}")
    claimant = cmd.claimant if cmd.claimant is not None else policy.owner
    if claimant != policy.owner:
        raise NotPermitted("claimant", f"claimant: {claimant} does not own {policy.id}")
    incident = ctx.state.incidents.get(cmd.incident)
    if incident is None:
        raise UnknownEntity("incident", f"incident: unknown incident {cmd.incident!r}")
    if incident["market"] != policy.market:
        raise ClaimError(
            "incident", f"incident: {cmd.incident} hit {incident['market']}, {policy.id} covers {policy.market}"
        )
    if incident["cause"] not in policy.causes:
        raise ClaimError(
            "incident",
            f"incident: cause {incident['cause']} is not covered by {policy.id} ({', '.join(policy.causes)})",
        )
    if not policy.start <= incident["at"] <= policy.end:
        raise ClaimError(
            "policy", f"policy: {policy.id} was not active at {incident['at']} ({policy.start}..{policy.end})"
        )
    pool = _pool(ctx, policy.pool)
    grace = pool.config.grace_seconds
    if grace is not None and not ctx.at < policy.end + grace:
        # IndividualClaims.sol:275: require(start + period + gracePeriod > block.timestamp).
        raise ClaimError(
            "at", f"at: {policy.id} ended at {policy.end}; claims closed at {policy.end + grace} (grace {grace} s)"
        )
    if cmd.loss <= 0:
        raise InvalidAmount("loss", f"loss: must be positive, got {cmd.loss}")
    for other in ctx.state.claims.values():
        if other.policy == policy.id and other.incident == cmd.incident and other.status != "denied":
            raise ClaimError("incident", f"incident: {policy.id} already has claim {other.id} for {cmd.incident}")
    cid = f"clm-{len(ctx.state.claims) + 1}"
    deposit = mul_div_up(policy.amount, pool.config.claim_deposit_bps, BPS)
    if deposit > 0:
        ctx.pull(user(claimant), pool.capital_account, pool.asset, deposit, "deposit")
    # A claim on a pool with assessment stake is a poll (Assessment.sol `startAssessment`: end = now + 3 days).
    poll_end = ctx.at + pool.config.voting_seconds if pool.assessment_total > 0 else None
    claim = Claim(cid, policy.id, claimant, cmd.incident, cmd.loss, ctx.at, deposit=deposit, poll_end=poll_end)
    ctx.j.put(ctx.state.claims, cid, claim)
    ctx.emit("claim_filed", claim.to_dict())


def proven_loss(ctx: Ctx, claim: Claim, pool: CoverPool) -> int:
    """The claimant's recorded share of the incident's socialized loss, in the pool's asset."""
    incident = ctx.state.incidents[claim.incident]
    loss = next(x for x in ctx.state.losses if x.id == incident["loss"])
    lost = loss.by_account.get(claim.claimant, 0)
    if lost == 0 or loss.asset == pool.asset:
        return lost
    return convert_down(
        lost, ctx.price(loss.asset), ctx.decimals(loss.asset), ctx.price(pool.asset), ctx.decimals(pool.asset)
    )


def recovered_elsewhere(ctx: Ctx, claim: Claim, pool: CoverPool) -> int:
    """What the claimant's other approved claims on the same incident paid, in `pool`'s asset
    (rounded up: the claimant is not paid for the rounding)."""
    total = 0
    for other in ctx.state.claims.values():
        if other.id == claim.id or other.paid == 0:
            continue
        if other.incident != claim.incident or other.claimant != claim.claimant:
            continue
        other_pool = _pool(ctx, ctx.state.policies[other.policy].pool)
        if other_pool.asset == pool.asset:
            total += other.paid
        else:
            total += convert_up(
                other.paid,
                ctx.price(other_pool.asset),
                ctx.decimals(other_pool.asset),
                ctx.price(pool.asset),
                ctx.decimals(pool.asset),
            )
    return total


def _pending(ctx: Ctx, claim_id: str) -> Claim:
    claim: Claim | None = ctx.state.claims.get(claim_id)
    if claim is None:
        raise UnknownEntity("claim", f"claim: unknown claim {claim_id!r}")
    if claim.status != "pending":
        raise ClaimError("claim", f"claim: {claim.id} is already {claim.status}")
    return claim


def assess_claim(ctx: Ctx, cmd: AssessClaim) -> None:
    claim = _pending(ctx, cmd.claim)
    if cmd.assessor == claim.claimant:
        raise ClaimError("assessor", f"assessor: {cmd.assessor} cannot assess their own claim")
    if not cmd.assessor:
        raise InvalidAmount("assessor", "assessor: required")
    if claim.poll_end is not None:
        _vote(ctx, claim, cmd)
        return
    if not cmd.approve:
        _deny(ctx, claim, cmd.assessor, cmd.reason)
        return
    _approve(ctx, claim, cmd.assessor, cmd.reason)


def _deny(ctx: Ctx, claim: Claim, assessor: str | None, reason: str) -> None:
    """Nothing is paid; a deposit stays in the capital pool (in Nexus v2.12.4 it is returned only
    with an accepted payout, `redeemClaimPayout`; it "covers assessment rewards in case it's
    denied", Assessment.sol `startAssessment`)."""
    ctx.j.put(ctx.state.claims, claim.id, _with(claim, status="denied", assessor=assessor, reason=reason))
    data: dict[str, object] = {"claim": claim.id, "assessor": assessor, "reason": reason}
    if claim.deposit:
        pool = _pool(ctx, ctx.state.policies[claim.policy].pool)
        ctx.j.set(pool, "deposits_kept", pool.deposits_kept + claim.deposit)
        data["deposit_kept"] = claim.deposit
    ctx.emit("claim_denied", data)


def _approve(ctx: Ctx, claim: Claim, assessor: str | None, reason: str) -> None:
    policy = ctx.state.policies[claim.policy]
    pool = _pool(ctx, policy.pool)
    # Indemnity: a loss is made good once, however many policies the claimant holds. What other
    # claims already paid this claimant for this incident comes off the proven loss (converted
    # to this pool's asset when another pool paid in another asset).
    proven = proven_loss(ctx, claim, pool)
    recovered = recovered_elsewhere(ctx, claim, pool)
    pay = min(
        claim.claimed,
        policy.amount - policy.paid,
        max(0, proven - recovered),
        ctx.state.ledger.balance(pool.account, pool.asset),
    )
    if pay > 0:
        ctx.transfer(pool.account, user(claim.claimant), pool.asset, pay, "payout")
    if claim.deposit:
        # IndividualClaims.sol `redeemClaimPayout`: sendPayout(asset, owner, amount, deposit).
        ctx.transfer(pool.capital_account, user(claim.claimant), pool.asset, claim.deposit, "deposit")
    ctx.j.put(ctx.state.policies, policy.id, _with(policy, paid=policy.paid + pay))
    ctx.j.put(ctx.state.claims, claim.id, _with(claim, status="approved", paid=pay, assessor=assessor, reason=reason))
    data: dict[str, object] = {
        "claim": claim.id,
        "policy": policy.id,
        "paid": pay,
        "claimed": claim.claimed,
        "proven_loss": proven,
        "recovered_elsewhere": recovered,
        "assessor": assessor,
    }
    if claim.deposit:
        data["deposit_returned"] = claim.deposit
    ctx.emit("claim_paid", data)


def _vote(ctx: Ctx, claim: Claim, cmd: AssessClaim) -> None:
    """Assessment.sol `_castVote` (v2.12.4, :344-390), the assessor's whole stake at the time of
    the vote on one side."""
    assert claim.poll_end is not None
    pool = _pool(ctx, ctx.state.policies[claim.policy].pool)
    c = pool.config
    if any(v[0] == cmd.assessor for v in claim.votes):
        raise ClaimError("assessor", f"assessor: {cmd.assessor} already voted on {claim.id}")
    stake = pool.assessor_stake.get(cmd.assessor, 0)
    if stake <= 0:
        raise NotPermitted("assessor", f"assessor: {cmd.assessor} has no assessment stake in {pool.id}")
    end = claim.poll_end
    if not ctx.at < end:
        raise ClaimError("at", f"at: voting on {claim.id} closed at {end}")
    if claim.accepted == 0 and not cmd.approve:
        raise ClaimError("approve", f"approve: the first vote on {claim.id} must accept (Nexus AcceptVoteRequired)")
    if claim.accepted == 0:
        end = ctx.at + c.voting_seconds  # the first accept restarts the voting period
    if end - ctx.at < c.silent_ending_seconds:
        voted = claim.accepted + claim.denied
        extra = (
            c.silent_ending_seconds
            if voted == 0
            else min(c.silent_ending_seconds, c.silent_ending_seconds * stake // voted)
        )
        end += extra
    accepted = claim.accepted + (stake if cmd.approve else 0)
    denied = claim.denied + (0 if cmd.approve else stake)
    votes = (*claim.votes, (cmd.assessor, cmd.approve, stake))
    ctx.j.put(ctx.state.claims, claim.id, _with(claim, poll_end=end, accepted=accepted, denied=denied, votes=votes))
    ctx.j.put(pool.last_vote, cmd.assessor, ctx.at)
    ctx.emit(
        "claim_vote",
        {
            "claim": claim.id,
            "assessor": cmd.assessor,
            "approve": cmd.approve,
            "stake": stake,
            "accepted": accepted,
            "denied": denied,
            "poll_end": end,
            "reason": cmd.reason,
        },
    )


def settle_claim(ctx: Ctx, cmd: SettleClaim) -> None:
    """Decide a voted claim once its poll has ended and the payout cooldown has passed: approved
    iff the accepting stake exceeds the denying stake (IndividualClaims.sol `redeemClaimPayout`:
    `poll.accepted > poll.denied`; a poll nobody voted on is denied)."""
    claim = _pending(ctx, cmd.claim)
    if claim.poll_end is None:
        raise ClaimError("claim", f"claim: {claim.id} is decided by a single assessor (assess_claim), not a vote")
    pool = _pool(ctx, ctx.state.policies[claim.policy].pool)
    ready = claim.poll_end + pool.config.payout_cooldown_seconds
    if ctx.at < ready:
        raise ClaimError("at", f"at: {claim.id} can be settled from {ready} (poll ends {claim.poll_end} + cooldown)")
    reason = (
        f"stake-weighted vote: accepted {ctx.tokens(pool.asset, claim.accepted)}, "
        f"denied {ctx.tokens(pool.asset, claim.denied)}"
    )
    if claim.accepted > claim.denied:
        _approve(ctx, claim, None, reason)
    else:
        _deny(ctx, claim, None, reason)


def payout_delay_seconds(pool: CoverPool) -> int:
    """Seconds from filing a claim on `pool` to its payout when its first vote, an accept, is cast
    as it is filed (the risk lab's assumption, docs/risk-lab.md): 0 for a single-assessor pool (no
    assessment stake: `assess_claim` pays at once); else the voting period that vote restarts,
    extended by the silent ending when the period is shorter than it (`_vote`: nobody voted
    before, so by the whole `silent_ending_seconds`), plus the payout cooldown (`settle_claim`)."""
    if pool.assessment_total <= 0:
        return 0
    c = pool.config
    silent = c.silent_ending_seconds if c.voting_seconds < c.silent_ending_seconds else 0
    return c.voting_seconds + silent + c.payout_cooldown_seconds


def assessor_stake(ctx: Ctx, cmd: AssessorStake) -> None:
    pool = _pool(ctx, cmd.pool)
    if cmd.amount <= 0:
        raise InvalidAmount("amount", f"amount: must be positive, got {cmd.amount}")
    pool.assessor_deposit(ctx, cmd.account, cmd.amount)


def assessor_unstake(ctx: Ctx, cmd: AssessorUnstake) -> None:
    pool = _pool(ctx, cmd.pool)
    if cmd.amount <= 0:
        raise InvalidAmount("amount", f"amount: must be positive, got {cmd.amount}")
    pool.assessor_withdraw(ctx, cmd.account, cmd.amount)


def _with(obj: Policy | Claim, **changes: object) -> Policy | Claim:
    from dataclasses import replace

    return replace(obj, **changes)  # type: ignore[arg-type]
