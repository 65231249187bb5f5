"""Staking pool, exact rule: a share vault over one asset that is slashed to pay losses.

The share rules (cooldown or queue, the slash bounds) are the share vault's (`share_vault.py`).
This kind adds the options of the deployed staking pools it models (docs/layers/staking_pool.md):

- Aave Safety Module v1.5 (`post_slash_lock`): after a slash the pool is in its post-slashing
  period until a `settle_slashing` step: it takes no further loss, refuses new stakes, and lets
  stakers withdraw without a cooldown (aave-stk-v1-5 StakedTokenV3.sol).
- Aave Umbrella (`deficit_offset`, `liquidation_fee_bps`, `liquidation_fee_to`,
  `rewards: separate`): the first part of the cumulative deficit is never slashed; beyond it the
  pool pays the cover plus a fee to a treasury; rewards accrue per staker outside the pool's
  assets, so a slash never takes them and the exchange rate never rises; the pool is never
  slashed below 1e6 base units (aave-umbrella Umbrella.sol, ERC4626StakeTokenUpgradeable.sol).
- Blend's backstop (`auction_premium_bps`, `backstop_threshold`): see `auction.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal

from ...commands import ADMIN_STATUSES
from ...context import Ctx
from ...errors import InsufficientFunds, InvalidAmount, InvalidConfig, NotPermitted, WithdrawNotAllowed
from ...ledger import user
from ...loss import Loss
from ...money import BPS, WAD, convert_down, convert_up, mul_div_down
from ..base import AccountView, pay_in_kind
from ..share_vault import ShareVault, ShareVaultConfig, ShareVaultView
from ..spec import amount, bps, choice, flag, layer_ref
from . import auction

UMBRELLA_MIN_ASSETS_REMAINING = 1_000_000
"""Umbrella's floor: `MIN_ASSETS_REMAINING = 1e6` base units of the stake token's underlying,
whatever its decimals (aave-umbrella ERC4626StakeTokenUpgradeable.sol:61 at d34359f5)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StakingPoolConfig(ShareVaultConfig):
    kind: Literal["staking_pool"] = "staking_pool"
    post_slash_lock: bool = flag()
    """Aave Safety Module v1.5: after a slash, no further slash, no new stake and withdrawals
    without cooldown until `settle_slashing`."""
    deficit_offset: int | None = amount()
    """Umbrella: the first part of the cumulative deficit that reaches the pool, in units of its
    asset, is never slashed and passes to the next layer."""
    liquidation_fee_bps: int | None = bps(None)
    """Umbrella: beyond the offset the pool pays the covered amount × (1 + fee)."""
    liquidation_fee_to: str | None = layer_ref()
    """The layer (a treasury or fund) that receives the liquidation fee."""
    rewards: Literal["compound", "separate"] = choice("compound")
    """`compound`: rewards raise the exchange rate; `separate` (Umbrella): they accrue per staker,
    are claimed with `claim_rewards` and are never slashed."""
    auction_premium_bps: int | None = bps(None)
    """Blend: the backstop pays a loss through a bad-debt auction of up to (1 + premium) × the
    debt in its own tokens (Blend: 2000)."""
    backstop_threshold: int | None = amount()
    """Blend: the pool's assets at which Blend's backstop threshold is 100%; below ~5% of it
    (threshold^5 < 3e-7) the backstop's remaining liabilities are written off to lenders."""
    admin_status: Literal["none", "active", "on_ice", "frozen"] = choice("none")
    """Blend: the status the pool's admin set (`set_status`, pool/src/pool/status.rs). Admin active
    lends normally until 50% of the shares are queued (or the backstop is under
    `backstop_threshold`); admin on-ice refuses new borrows until 75% are queued; admin frozen
    refuses borrows and supply. Past those thresholds the admin status is lost for good and the
    permissionless ones apply (`freeze_borrow_queued_bps` / `freeze_supply_queued_bps`, Blend
    30% / 60%)."""

    def umbrella(self) -> bool:
        """Whether the Umbrella options are used (they bring Umbrella's slash floor)."""
        return self.deficit_offset is not None or self.liquidation_fee_bps is not None or self.rewards == "separate"


@dataclass(frozen=True, slots=True)
class StakingPoolView(ShareVaultView):
    post_slashing_period: bool = False
    deficit_offset_left: int | None = None
    rewards_unclaimed: int = 0
    liabilities: int = 0
    """Blend: debt the backstop has taken on and not yet auctioned off (loss-asset base units)."""


class StakingPool(ShareVault[StakingPoolConfig]):
    kind: ClassVar[str] = "staking_pool"

    def __init__(self, layer_id: str, config: StakingPoolConfig) -> None:
        super().__init__(layer_id, config)
        self.in_post_slashing_period = False
        self.offset_used = 0
        """Base units of the pool's asset of the deficit offset consumed so far."""
        self.rewards_account = f"layer:{layer_id}:rewards"
        self.reward_index = 0
        """Rewards per share, scaled by 1e18 (`rewards: separate`)."""
        self.index_of: dict[str, int] = {}
        self.accrued: dict[str, int] = {}
        self.liabilities: dict[tuple[str, str], int] = {}
        """Blend: (market, asset) -> debt the backstop holds, loss-asset base units."""
        self.auction: auction.Auction | None = None
        self.admin_status = config.admin_status
        """Blend: the admin-set status while it holds ("none" once lost, see `update_status`)."""

    @classmethod
    def check_config(cls, state: Any, config: StakingPoolConfig) -> None:
        fee = config.liquidation_fee_bps or 0
        if fee > 0 and config.liquidation_fee_to is None:
            raise InvalidConfig(
                "liquidation_fee_to", "liquidation_fee_to: name the layer (a treasury) that receives the fee"
            )
        if config.liquidation_fee_to is not None:
            to = state.layers.get(config.liquidation_fee_to)
            if to is not None and not to.protocol_owned:
                raise InvalidConfig(
                    "liquidation_fee_to",
                    f"liquidation_fee_to: {config.liquidation_fee_to} is a {to.kind}; "
                    "the fee goes to a treasury or fund",
                )
        if (config.auction_premium_bps is None) != (config.backstop_threshold is None):
            raise InvalidConfig(
                "backstop_threshold", "backstop_threshold: give it together with auction_premium_bps (Blend backstop)"
            )
        if config.backstop_threshold is not None and config.backstop_threshold <= 0:
            raise InvalidConfig("backstop_threshold", "backstop_threshold: must be positive")
        if config.admin_status != "none" and (
            config.freeze_borrow_queued_bps is None or config.freeze_supply_queued_bps is None
        ):
            raise InvalidConfig(
                "admin_status",
                "admin_status: give the permissionless thresholds it falls back to, freeze_borrow_queued_bps "
                "and freeze_supply_queued_bps (Blend: 3000 and 6000)",
            )
        if config.auction_premium_bps is not None and (config.post_slash_lock or config.umbrella()):
            raise InvalidConfig(
                "auction_premium_bps", "auction_premium_bps: a Blend backstop takes no Aave (v1.5/Umbrella) option"
            )

    # -- the slash floor and withdrawals ---------------------------------------------------------
    def min_remaining(self) -> int:
        floor = self.config.min_remaining_assets
        return max(floor, UMBRELLA_MIN_ASSETS_REMAINING) if self.config.umbrella() else floor

    def needs_request(self) -> bool:
        return not self.in_post_slashing_period and super().needs_request()

    def deposit(self, ctx: Ctx, account: str, amount: int) -> None:
        if self.in_post_slashing_period:
            raise NotPermitted(
                "post_slash_lock",
                f"post_slash_lock: {self.id} is in its post-slashing period; "
                "it takes no new stake until settle_slashing",
            )
        super().deposit(ctx, account, amount)

    def withdraw(self, ctx: Ctx, account: str, shares: int | None, amount: int | None) -> None:
        if self.liabilities:
            raise WithdrawNotAllowed(
                "layer", f"layer: {self.id} holds bad debt (Blend BadDebtExists); withdrawals wait for its auction"
            )
        super().withdraw(ctx, account, shares, amount)
        self.update_status(ctx)

    def request_withdraw(self, ctx: Ctx, account: str, shares: int | None, amount: int | None) -> None:
        super().request_withdraw(ctx, account, shares, amount)
        self.update_status(ctx)

    # -- Blend's pool status (admin-set thresholds) -----------------------------------------------
    def update_status(self, ctx: Ctx) -> None:
        """Blend `execute_update_pool_status` (status.rs:11-64 at ba22b487), run by a keeper after
        every change to the queue or the backstop's assets (modelled: at once). An admin active pool
        goes on ice (permissionless) at q4w ≥ 50% or under the threshold; admin on-ice freezes
        (permissionless) at q4w ≥ 75%; admin frozen stays. Blend's q4w_pct is floored in 7 decimals
        and compared with whole percentages, so the floored bps compare the same."""
        status = self.admin_status
        if status in ("none", "frozen"):
            return
        q4w = self.queued_bps()
        t = self.config.backstop_threshold
        under = t is not None and self.total_assets(ctx.state) < t
        if (status == "active" and (q4w >= 5_000 or under)) or (status == "on_ice" and q4w >= 7_500):
            ctx.j.set(self, "admin_status", "none")
            ctx.emit("pool_status", {"layer": self.id, "admin_status": status, "now": "permissionless", "q4w_bps": q4w})

    def set_status(self, ctx: Ctx, status: str) -> None:
        """Blend `execute_set_pool_status` (status.rs:68-114 at ba22b487), the admin's command: admin
        active (0) needs the backstop at or above its threshold and under 50% queued; admin on-ice
        (2) and on-ice (3, here `none`: the permissionless thresholds, which the keeper's update
        applies at once) need under 75% queued; admin frozen (4) is always allowed. Blend refuses
        the others (`BadRequest`), and a refusal (`StatusNotAllowed`) changes nothing."""
        if status not in ADMIN_STATUSES:
            raise InvalidConfig("status", f"status: must be one of {', '.join(ADMIN_STATUSES)}, got {status!r}")
        c = self.config
        if c.freeze_borrow_queued_bps is None or c.freeze_supply_queued_bps is None:
            raise NotPermitted(
                "layer",
                f"layer: {self.id} has no Blend pool status; set_status needs freeze_borrow_queued_bps and "
                "freeze_supply_queued_bps (the permissionless thresholds, Blend 3000 and 6000)",
            )
        q4w = self.queued_bps()
        t = c.backstop_threshold
        if status == "active":
            if t is not None and self.total_assets(ctx.state) < t:
                raise NotPermitted(
                    "status",
                    f"status: {self.id} holds {ctx.tokens(self.asset, self.total_assets(ctx.state))}, under its "
                    f"backstop_threshold {ctx.tokens(self.asset, t)}; Blend refuses admin active (StatusNotAllowed)",
                )
            if q4w >= 5_000:
                raise NotPermitted(
                    "status",
                    f"status: {q4w / 100:g}% of {self.id} is queued for withdrawal; admin active needs under 50% "
                    "(Blend StatusNotAllowed)",
                )
        if status in ("on_ice", "none") and q4w >= 7_500:
            raise NotPermitted(
                "status",
                f"status: {q4w / 100:g}% of {self.id} is queued for withdrawal; {status} needs under 75% "
                "(Blend StatusNotAllowed)",
            )
        ctx.j.set(self, "admin_status", status)
        ctx.emit("pool_status_set", {"layer": self.id, "admin_status": status, "q4w_bps": q4w})

    def freeze_queued_bps(self, what: str) -> int | None:
        """While an admin status holds it decides (0: always frozen; None: never); after, the
        permissionless thresholds."""
        status = self.admin_status
        if status == "active":
            return None
        if status == "on_ice":
            return 0 if what == "borrow" else None
        if status == "frozen":
            return 0
        return super().freeze_queued_bps(what)

    def settle_slashing(self, ctx: Ctx) -> None:
        if not self.config.post_slash_lock:
            raise NotPermitted("layer", f"layer: {self.id} has no post-slashing period (post_slash_lock is off)")
        ctx.j.set(self, "in_post_slashing_period", False)
        ctx.emit("slashing_settled", {"layer": self.id})

    # -- rewards ------------------------------------------------------------------------------------
    def before_shares_change(self, ctx: Ctx, account: str) -> None:
        if self.config.rewards != "separate":
            return
        owed = mul_div_down(self.shares.get(account, 0), self.reward_index - self.index_of.get(account, 0), WAD)
        if owed:
            ctx.j.put(self.accrued, account, self.accrued.get(account, 0) + owed)
        if self.index_of.get(account) != self.reward_index:
            ctx.j.put(self.index_of, account, self.reward_index)

    def reward(self, ctx: Ctx, amount: int, source: str) -> None:
        if self.config.rewards != "separate":
            super().reward(ctx, amount, source)
            return
        if self.total_shares == 0:
            raise NotPermitted("layer", f"layer: {self.id} has no stakers to accrue rewards to")
        ctx.pull(source, self.rewards_account, self.asset, amount)
        ctx.j.set(self, "reward_index", self.reward_index + mul_div_down(amount, WAD, self.total_shares))
        ctx.emit("rewarded", {"layer": self.id, "amount": amount, "source": source, "rewards": "separate"})

    def claimable(self, account: str) -> int:
        owed = mul_div_down(self.shares.get(account, 0), self.reward_index - self.index_of.get(account, 0), WAD)
        return self.accrued.get(account, 0) + owed

    def claim_rewards(self, ctx: Ctx, account: str) -> None:
        if self.config.rewards != "separate":
            raise NotPermitted("layer", f"layer: {self.id} compounds its rewards (rewards: compound); nothing to claim")
        self.before_shares_change(ctx, account)
        owed = self.accrued.get(account, 0)
        if owed <= 0:
            raise InvalidAmount("account", f"account: {account} has no rewards to claim in {self.id}")
        ctx.j.put(self.accrued, account, 0)
        ctx.transfer(self.rewards_account, user(account), self.asset, owed)
        ctx.emit("rewards_claimed", {"layer": self.id, "account": account, "amount": owed})

    # -- losses -------------------------------------------------------------------------------------
    def _offset_pass(self, ctx: Ctx, loss: Loss, remaining: int) -> int:
        """The part of `remaining` (loss units) the deficit offset lets through unslashed."""
        left = (self.config.deficit_offset or 0) - self.offset_used
        if left <= 0:
            return 0
        if loss.asset == self.asset:
            passed = min(remaining, left)
            used = passed
        else:
            pa, pd = ctx.price(self.asset), ctx.decimals(self.asset)
            la, ld = ctx.price(loss.asset), ctx.decimals(loss.asset)
            passed = min(remaining, convert_down(left, pa, pd, la, ld))
            used = min(left, convert_up(passed, la, ld, pa, pd))
        ctx.j.set(self, "offset_used", self.offset_used + used)
        if passed:
            ctx.emit("deficit_offset", {"layer": self.id, "loss": loss.id, "passed": passed})
        return passed

    def absorb(self, ctx: Ctx, loss: Loss, remaining: int) -> int:
        paid = self._absorb(ctx, loss, remaining)
        self.update_status(ctx)
        return paid

    def _absorb(self, ctx: Ctx, loss: Loss, remaining: int) -> int:
        c = self.config
        if c.auction_premium_bps is not None:
            return auction.take_liability(self, ctx, loss, remaining)
        if self.in_post_slashing_period:
            return 0
        rest = remaining - self._offset_pass(ctx, loss, remaining)
        if rest <= 0:
            return 0
        ta = self.total_assets(ctx.state)
        cap = self.slash_capacity(ta)
        fee_bps = c.liquidation_fee_bps or 0
        # Units that can go to the cover so that cover × (1 + fee) fits in the cap.
        cover_cap = cap if fee_bps == 0 else mul_div_down(cap, BPS, BPS + fee_bps)
        before = ctx.state.ledger.balance(self.account, self.asset)
        units, covered = pay_in_kind(ctx, self.account, self.asset, cover_cap, loss, rest, c.haircut_bps)
        fee = 0
        if fee_bps and units:
            # Umbrella.sol:200-233: the fee is floor(cover × fee); when the slash is capped the
            # whole capped amount leaves the pool (cover pro rata, the rest as fee).
            fee = cap - units if covered < rest else mul_div_down(units, fee_bps, BPS)
            assert c.liquidation_fee_to is not None
            ctx.transfer(
                self.account, ctx.state.layers[c.liquidation_fee_to].account, self.asset, fee, "liquidation_fee"
            )
        slashed = before - ctx.state.ledger.balance(self.account, self.asset)
        if slashed:
            data: dict[str, Any] = {"layer": self.id, "loss": loss.id, "amount": slashed, "covered": covered}
            if fee_bps:
                data["fee"] = fee
            ctx.emit("slashed", data)
            if c.post_slash_lock:
                ctx.j.set(self, "in_post_slashing_period", True)
        return covered

    def cover_deficit(self, ctx: Ctx, asset: str, units: int, sink: str) -> None:
        """Slash the pool to cover a market's deficit (`cover_deficit` from a staking pool),
        within its slash bounds and outside a post-slashing period."""
        if asset != self.asset:
            raise NotPermitted("layer", f"layer: {self.id} holds {self.asset}, not the {asset} of the deficit")
        if self.in_post_slashing_period:
            raise NotPermitted(
                "post_slash_lock", f"post_slash_lock: {self.id} was slashed and is not settled (settle_slashing)"
            )
        cap = self.slash_capacity(self.total_assets(ctx.state))
        if units > cap:
            raise InsufficientFunds(
                "amount",
                f"amount: {self.id} can be slashed by {ctx.tokens(asset, cap)}, not {ctx.tokens(asset, units)}",
            )
        ctx.transfer(self.account, sink, asset, units, "amount")
        ctx.emit("slashed", {"layer": self.id, "loss": None, "amount": units, "covered": units})
        if self.config.post_slash_lock:
            ctx.j.set(self, "in_post_slashing_period", True)

    # -- views --------------------------------------------------------------------------------------
    def extend_account(self, account: str, row: AccountView) -> AccountView:
        if self.config.rewards == "separate" and self.claimable(account):
            return replace(row, gains={self.asset: self.claimable(account)})
        return row

    def extend(self, state: Any, base: ShareVaultView) -> StakingPoolView:
        c = self.config
        accounts = base.accounts
        return StakingPoolView(
            base.kind,
            base.asset,
            base.total_assets,
            accounts,
            total_shares=base.total_shares,
            queued_shares=base.queued_shares,
            exchange_rate=base.exchange_rate,
            post_slashing_period=self.in_post_slashing_period,
            deficit_offset_left=None if c.deficit_offset is None else c.deficit_offset - self.offset_used,
            rewards_unclaimed=state.ledger.balance(self.rewards_account, self.asset),
            liabilities=sum(self.liabilities.values()),
        )

    def hash_state(self) -> Any:
        extra: list[Any] = []
        if self.in_post_slashing_period or self.offset_used or self.reward_index or self.accrued:
            extra = [
                self.in_post_slashing_period,
                self.offset_used,
                self.reward_index,
                sorted(self.index_of.items()),
                sorted(self.accrued.items()),
            ]
        if self.liabilities or self.auction is not None:
            extra.append([sorted([list(k), v] for k, v in self.liabilities.items()), auction.hash_of(self.auction)])
        if self.config.admin_status != "none" or self.admin_status != "none":  # the second: set_status
            extra.append(["admin_status", self.admin_status])
        base = super().hash_state()
        return [*base, extra] if extra else base
