"""Investor cover and claims (docs/cover-and-claims.md), Nexus Mutual style.

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
"""

from __future__ import annotations

from dataclasses import dataclass

from .commands import INCIDENT_CAUSES, AssessClaim, BuyCover, FileClaim
from .context import Ctx
from .errors import ClaimError, CoverError, InvalidAmount, NotPermitted, UnknownEntity
from .layers.staking_pool import ShareVault
from .ledger import user
from .money import BPS, SECONDS_PER_YEAR, bps_down, convert_down, convert_up, mul_div_up


class CoverPool(ShareVault):
    kind = "cover_pool"

    def active_cover(self, ctx: Ctx) -> int:
        return sum(p.amount - p.paid for p in ctx.state.policies.values() if p.pool == self.id and p.end > ctx.at)

    def capacity(self, ctx: Ctx) -> int:
        return bps_down(self.total_assets(ctx.state), self.config.capacity_ratio_bps)


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

    def to_dict(self) -> dict[str, object]:
        return {
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
    premium = mul_div_up(cmd.amount, pool.config.premium_bps_per_year * cmd.period_seconds, BPS * SECONDS_PER_YEAR)
    if premium > 0:
        ctx.pull(user(cmd.account), pool.account, pool.asset, premium, "premium")
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
    ctx.emit("cover_bought", policy.to_dict())


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
    if cmd.loss <= 0:
        raise InvalidAmount("loss", f"loss: must be positive, got {cmd.loss}")
    for other in ctx.state.claims.values():
        if other.policy == policy.id and other.incident == cmd.incident and other.status != "denied":
            raise ClaimError("incident", f"incident: {policy.id} already has claim {other.id} for {cmd.incident}")
    cid = f"clm-{len(ctx.state.claims) + 1}"
    claim = Claim(cid, policy.id, claimant, cmd.incident, cmd.loss, ctx.at)
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


def assess_claim(ctx: Ctx, cmd: AssessClaim) -> None:
    claim = ctx.state.claims.get(cmd.claim)
    if claim is None:
        raise UnknownEntity("claim", f"claim: unknown claim {cmd.claim!r}")
    if claim.status != "pending":
        raise ClaimError("claim", f"claim: {claim.id} is already {claim.status}")
    if cmd.assessor == claim.claimant:
        raise ClaimError("assessor", f"assessor: {cmd.assessor} cannot assess their own claim")
    if not cmd.assessor:
        raise InvalidAmount("assessor", "assessor: required")
    policy = ctx.state.policies[claim.policy]
    if not cmd.approve:
        ctx.j.put(ctx.state.claims, claim.id, _with(claim, status="denied", assessor=cmd.assessor, reason=cmd.reason))
        ctx.emit("claim_denied", {"claim": claim.id, "assessor": cmd.assessor, "reason": cmd.reason})
        return
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
    ctx.j.put(ctx.state.policies, policy.id, _with(policy, paid=policy.paid + pay))
    ctx.j.put(
        ctx.state.claims, claim.id, _with(claim, status="approved", paid=pay, assessor=cmd.assessor, reason=cmd.reason)
    )
    ctx.emit(
        "claim_paid",
        {
            "claim": claim.id,
            "policy": policy.id,
            "paid": pay,
            "claimed": claim.claimed,
            "proven_loss": proven,
            "recovered_elsewhere": recovered,
            "assessor": cmd.assessor,
        },
    )


def _with(obj: Policy | Claim, **changes: object) -> Policy | Claim:
    from dataclasses import replace

    return replace(obj, **changes)  # type: ignore[arg-type]
