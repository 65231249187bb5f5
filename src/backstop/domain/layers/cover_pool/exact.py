"""Cover pool, exact rule (Nexus Mutual style): capital providers hold shares of a vault that
sells cover. Premiums raise the exchange rate, payouts (claims, and slashes when the pool sits
in a waterfall) lower it. It sells cover up to `capacity_ratio_bps` of its capital, priced at
`premium_bps_per_year` of the amount covered. Policies and claims are in `domain/cover.py`.

Nexus Mutual v2.12.4 (NexusMutual/smart-contracts @ 01c72951, docs/cover-and-claims.md):
- `staker_reward_bps` of each premium goes to the stakers (Cover.sol `GLOBAL_REWARDS_RATIO =
  5000`), the rest to the pool's **capital pool** (`layer:<id>:capital_pool`), the mutual's
  own account, which also takes the claim deposits (IndividualClaims.sol:308-323);
- assessors stake into the pool's **assessment stake** (`layer:<id>:assessment`, Assessment.sol
  `stake`/`unstake`), which is never slashed and weighs their votes on claims; unstaking waits
  `assessor_lockup_seconds` after the assessor's last vote (`STAKE_LOCKUP_PERIOD = 14 days`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from ...context import Ctx
from ...errors import InsufficientFunds, WithdrawNotAllowed
from ...ledger import user
from ...money import BPS, bps_down, mul_div_down
from ..base import count, view_amount
from ..share_vault import ShareVault, ShareVaultConfig, ShareVaultView
from ..spec import bps, seconds

DAY_SECONDS = 86_400


@dataclass(frozen=True, slots=True, kw_only=True)
class CoverPoolConfig(ShareVaultConfig):
    kind: Literal["cover_pool"] = "cover_pool"
    capacity_ratio_bps: int = bps(10_000, upper=100 * BPS)
    """Active cover may reach this share of the pool's capital."""
    premium_bps_per_year: int = bps(0, upper=10 * BPS)
    """Price of cover per year, in bps of the amount covered."""
    staker_reward_bps: int = bps(10_000)
    """Share of each premium that goes to the stakers (Nexus: 5000); the rest goes to the
    capital pool. 10000: all of it raises the exchange rate."""
    claim_deposit_bps: int = bps(0)
    """Deposit paid when a claim is filed, in bps of the policy's cover amount (rounded up); back
    to the claimant when the claim is approved, kept by the capital pool when it is denied."""
    grace_seconds: int | None = seconds(None)
    """After a policy ends, claims for an incident during cover may still be filed for this long
    (strictly before end + grace, as Nexus). None: no filing deadline."""
    voting_seconds: int = seconds(3 * DAY_SECONDS)
    """Voting period of a claim decided by the assessment stake (Nexus `MIN_VOTING_PERIOD`)."""
    silent_ending_seconds: int = seconds(DAY_SECONDS)
    """A vote cast when the poll ends in less than this extends it by up to this, pro rata to
    the voter's stake over the stake that voted before (Nexus `SILENT_ENDING_PERIOD`)."""
    payout_cooldown_seconds: int = seconds(DAY_SECONDS)
    """A voted claim can be settled this long after its poll ends (Nexus `PAYOUT_COOLDOWN`)."""
    assessor_lockup_seconds: int = seconds(14 * DAY_SECONDS)
    """An assessor may unstake only strictly after this long since their last vote (Nexus
    `STAKE_LOCKUP_PERIOD`)."""
    quote_loading_bps: int = bps(2500, upper=10 * BPS)
    """A risk-lab quote's premium is the cover's expected payout on the live state's simulated
    paths times (1 + this) (docs/service.md, `POST /v1/quotes`)."""
    quote_tolerance_bps: int = bps(100)
    """A quoted `buy_cover` is refused once the pool's assets or the market's TVL moved more than
    this from the quote's (docs/cover-and-claims.md, "Quotes")."""


@dataclass(frozen=True, slots=True)
class CoverPoolView(ShareVaultView):
    """Shown for a pool that uses the capital pool, claim deposits or assessment stake."""

    capital_pool: int = view_amount()
    """What the pool's capital-pool account holds: premiums not paid to stakers, kept deposits."""
    assessment_stake: int = view_amount()
    assessors: int = count()


class CoverPool(ShareVault[CoverPoolConfig]):
    kind: ClassVar[str] = "cover_pool"

    def __init__(self, layer_id: str, config: CoverPoolConfig) -> None:
        super().__init__(layer_id, config)
        self.capital_account = f"layer:{layer_id}:capital_pool"
        self.assessment_account = f"layer:{layer_id}:assessment"
        self.assessor_stake: dict[str, int] = {}
        self.assessment_total = 0
        self.last_vote: dict[str, int] = {}
        self.premiums_to_capital = 0
        self.deposits_kept = 0

    def active_cover(self, ctx: Ctx) -> int:
        return sum(p.amount - p.paid for p in ctx.state.policies.values() if p.pool == self.id and p.end > ctx.at)

    def capacity(self, ctx: Ctx) -> int:
        return bps_down(self.total_assets(ctx.state), self.config.capacity_ratio_bps)

    # -- premiums ----------------------------------------------------------------------------
    def collect_premium(self, ctx: Ctx, payer: str, premium: int) -> tuple[int, int]:
        """Take `premium` from `payer`'s wallet: the stakers' share (rounded down) into the
        vault, the rest into the capital pool. Returns (to stakers, to the capital pool)."""
        to_stakers = mul_div_down(premium, self.config.staker_reward_bps, BPS)
        to_capital = premium - to_stakers
        if to_stakers > 0:
            ctx.pull(user(payer), self.account, self.asset, to_stakers, "premium")
        if to_capital > 0:
            ctx.pull(user(payer), self.capital_account, self.asset, to_capital, "premium")
            ctx.j.set(self, "premiums_to_capital", self.premiums_to_capital + to_capital)
        return to_stakers, to_capital

    # -- assessment stake ------------------------------------------------------------------------
    def assessor_deposit(self, ctx: Ctx, account: str, amount: int) -> None:
        ctx.pull(user(account), self.assessment_account, self.asset, amount)
        ctx.j.put(self.assessor_stake, account, self.assessor_stake.get(account, 0) + amount)
        ctx.j.set(self, "assessment_total", self.assessment_total + amount)
        ctx.emit("assessor_staked", {"pool": self.id, "account": account, "amount": amount})

    def assessor_withdraw(self, ctx: Ctx, account: str, amount: int) -> None:
        staked = self.assessor_stake.get(account, 0)
        if amount > staked:
            raise InsufficientFunds(
                "amount", f"amount: {account} has {ctx.tokens(self.asset, staked)} staked for assessment in {self.id}"
            )
        last = self.last_vote.get(account)
        if last is not None and not ctx.at > last + self.config.assessor_lockup_seconds:
            # Assessment.sol `_unstake`: require(block.timestamp > lastVote + STAKE_LOCKUP_PERIOD).
            raise WithdrawNotAllowed(
                "at",
                f"at: {account} voted at {last}; the assessment stake is locked until after "
                f"{last + self.config.assessor_lockup_seconds}",
            )
        ctx.transfer(self.assessment_account, user(account), self.asset, amount)
        ctx.j.put(self.assessor_stake, account, staked - amount)
        ctx.j.set(self, "assessment_total", self.assessment_total - amount)
        ctx.emit("assessor_unstaked", {"pool": self.id, "account": account, "amount": amount})

    # -- views ------------------------------------------------------------------------------------
    def uses_mutual(self) -> bool:
        """Whether the pool uses the capital pool, deposits or assessment stake (else it shows
        and hashes exactly as a plain share vault)."""
        c = self.config
        return c.staker_reward_bps != BPS or c.claim_deposit_bps != 0 or bool(self.assessor_stake)

    def extend(self, state: Any, base: ShareVaultView) -> ShareVaultView:
        if not self.uses_mutual():
            return base
        return CoverPoolView(
            base.kind,
            base.asset,
            base.total_assets,
            base.accounts,
            total_shares=base.total_shares,
            queued_shares=base.queued_shares,
            exchange_rate=base.exchange_rate,
            capital_pool=state.ledger.balances.get((self.capital_account, self.asset), 0),
            assessment_stake=self.assessment_total,
            assessors=sum(1 for v in self.assessor_stake.values() if v > 0),
        )

    def hash_state(self) -> Any:
        base = super().hash_state()
        if not self.uses_mutual():
            return base
        return [
            *base,
            sorted(self.assessor_stake.items()),
            self.assessment_total,
            sorted(self.last_vote.items()),
            self.premiums_to_capital,
            self.deposits_kept,
        ]
