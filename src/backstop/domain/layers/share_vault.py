"""Share vault, exact rule: shares over one asset, slashed to pay losses (the staking pool's
and the cover pool's common base; neither kind is this module).

Modelled on Aave's Safety Module / Umbrella (cooldown then an unstake window, a maximum slash
per event, a minimum of assets left), Blend's backstop (queue-for-withdrawal, Q4W) and Drift's
insurance fund. Queued shares stay in the pool and are slashed like any others, so a staker
who sees a loss coming cannot leave ahead of it.

Shares use virtual shares and assets (OpenZeppelin ERC-4626 style): the first depositor
cannot inflate the share price with a donation and steal a later deposit, because the
virtual position absorbs most of any donation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal, TypeVar

from ..context import Ctx
from ..errors import InsufficientFunds, InvalidAmount, WithdrawNotAllowed
from ..ledger import user
from ..loss import Loss
from ..money import BPS, bps_down, mul_div_down, mul_div_up
from .base import AccountView, Layer, LayerView, count, pay_in_kind, rate_e6
from .spec import LayerConfig, amount, bps, choice, positive, seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class ShareVaultConfig(LayerConfig):
    """What every share vault has: withdrawal rules, the slash bounds, virtual offsets."""

    mode: Literal["cooldown", "queue"] = choice("cooldown")
    """`cooldown`: request, wait `cooldown_seconds`, withdraw within `unstake_window_seconds`
    (Aave Safety Module); `queue`: request, wait `queue_seconds`, no expiry (Blend Q4W)."""
    cooldown_seconds: int = seconds(0)
    unstake_window_seconds: int = seconds(0)
    queue_seconds: int = seconds(0)
    max_slash_bps: int = bps(10_000)
    """Most of its assets the vault pays for one event."""
    min_remaining_assets: int = amount(0)
    """Never slashed below this."""
    haircut_bps: int = bps(0)
    """Haircut when the vault's asset is sold to pay a loss in another asset."""
    virtual_shares: int = positive(1_000)
    virtual_assets: int = positive(1)
    freeze_borrow_queued_bps: int | None = bps(None)
    """Blend: borrowing freezes when this share of the vault is queued for withdrawal."""
    freeze_supply_queued_bps: int | None = bps(None)


V = TypeVar("V", bound=ShareVaultConfig)


@dataclass(frozen=True, slots=True)
class ShareVaultView(LayerView):
    total_shares: int = count()
    queued_shares: int = count()
    exchange_rate: int = rate_e6(key="exchange_rate")
    """Share price relative to the first deposit's (1.000000 at launch; a slash lowers it, a
    reward raises it), scaled by 1e6 and rounded down like every redemption."""


@dataclass(frozen=True, slots=True)
class WithdrawRequest:
    shares: int
    ready_at: int
    expires_at: int | None
    """End of the unstake window (cooldown mode); None in queue mode (no expiry)."""


class ShareVault(Layer[V]):
    """Shares over one asset with virtual offsets; the base of the staking and cover pools."""

    kind: ClassVar[str] = "share_vault"

    def __init__(self, layer_id: str, config: V) -> None:
        super().__init__(layer_id, config)
        assert config.asset is not None  # checked with the config (`NEEDS_ASSET`)
        self.asset: str = config.asset
        self.total_shares = 0
        self.shares: dict[str, int] = {}
        self.requests: dict[str, WithdrawRequest] = {}
        self.queued_shares = 0
        self.deposited: dict[str, int] = {}
        self.withdrawn: dict[str, int] = {}
        self.since: dict[str, int] = {}
        """Time of each account's first deposit, for its realised APR."""

    # -- exchange rate -------------------------------------------------------------------
    def total_assets(self, ctx_state: Any) -> int:
        bal: int = ctx_state.ledger.balances.get((self.account, self.asset), 0)
        return bal

    def shares_for_deposit(self, assets: int, total_assets: int) -> int:
        """Shares minted for a deposit: rounded down (the pool keeps the dust)."""
        c = self.config
        return mul_div_down(assets, self.total_shares + c.virtual_shares, total_assets + c.virtual_assets)

    def assets_for_shares(self, shares: int, total_assets: int) -> int:
        """Assets paid for shares: rounded down."""
        c = self.config
        return mul_div_down(shares, total_assets + c.virtual_assets, self.total_shares + c.virtual_shares)

    def shares_for_assets_up(self, assets: int, total_assets: int) -> int:
        """Shares that must be burned to take `assets` out: rounded up."""
        c = self.config
        return mul_div_up(assets, self.total_shares + c.virtual_shares, total_assets + c.virtual_assets)

    # -- staker operations ---------------------------------------------------------------
    def deposit(self, ctx: Ctx, account: str, amount: int) -> None:
        ta = self.total_assets(ctx.state)
        minted = self.shares_for_deposit(amount, ta)
        if minted <= 0:
            raise InvalidAmount("amount", f"amount: {amount} base units buys no share of {self.id}")
        self.before_shares_change(ctx, account)
        ctx.pull(user(account), self.account, self.asset, amount)
        j = ctx.j
        j.put(self.shares, account, self.shares.get(account, 0) + minted)
        j.set(self, "total_shares", self.total_shares + minted)
        j.put(self.deposited, account, self.deposited.get(account, 0) + amount)
        if account not in self.since:
            j.put(self.since, account, ctx.at)
        ctx.emit("staked", {"layer": self.id, "account": account, "amount": amount, "shares": minted})

    def _shares_arg(self, ctx: Ctx, account: str, shares: int | None, amount: int | None) -> int:
        if (shares is None) == (amount is None):
            raise InvalidAmount("shares", "shares: give exactly one of `shares` or `amount`")
        if shares is not None:
            if shares <= 0:
                raise InvalidAmount("shares", f"shares: must be positive, got {shares}")
            return shares
        assert amount is not None
        if amount <= 0:
            raise InvalidAmount("amount", f"amount: must be positive, got {amount}")
        return self.shares_for_assets_up(amount, self.total_assets(ctx.state))

    def _instant(self) -> bool:
        c = self.config
        return c.mode == "cooldown" and c.cooldown_seconds == 0 and c.unstake_window_seconds == 0

    def needs_request(self) -> bool:
        """Whether a withdrawal needs an earlier request that has matured (a kind may lift it,
        e.g. a staking pool in its post-slashing period)."""
        return not self._instant()

    def min_remaining(self) -> int:
        """Base units a slash never takes the pool below (a kind may raise the configured floor)."""
        return self.config.min_remaining_assets

    def before_shares_change(self, ctx: Ctx, account: str) -> None:
        """Runs before `account`'s shares change (a kind that accrues per-share rewards
        checkpoints the account here)."""

    def request_withdraw(self, ctx: Ctx, account: str, shares: int | None, amount: int | None) -> None:
        n = self._shares_arg(ctx, account, shares, amount)
        owned = self.shares.get(account, 0)
        if n > owned:
            raise InsufficientFunds("shares", f"shares: {account} owns {owned} shares of {self.id}, asked {n}")
        c = self.config
        if c.mode == "queue":
            req = WithdrawRequest(n, ctx.at + c.queue_seconds, None)
        else:
            ready = ctx.at + c.cooldown_seconds
            req = WithdrawRequest(n, ready, ready + c.unstake_window_seconds)
        old = self.requests.get(account)
        ctx.j.set(self, "queued_shares", self.queued_shares - (old.shares if old else 0) + n)
        ctx.j.put(self.requests, account, req)
        ctx.emit(
            "withdraw_requested",
            {"layer": self.id, "account": account, "shares": n, "ready_at": req.ready_at, "expires_at": req.expires_at},
        )

    def cancel_withdraw(self, ctx: Ctx, account: str) -> None:
        old = self.requests.get(account)
        if old is None:
            raise WithdrawNotAllowed("account", f"account: {account} has no withdrawal request in {self.id}")
        ctx.j.pop(self.requests, account)
        ctx.j.set(self, "queued_shares", self.queued_shares - old.shares)
        ctx.emit("withdraw_cancelled", {"layer": self.id, "account": account, "shares": old.shares})

    def withdraw(self, ctx: Ctx, account: str, shares: int | None, amount: int | None) -> None:
        owned = self.shares.get(account, 0)
        if shares is None and amount is None:
            # "Withdraw what I asked for" (or everything, where no request is needed).
            pending = self.requests.get(account)
            n = pending.shares if pending is not None else owned
            if n == 0:
                raise InsufficientFunds("shares", f"shares: {account} holds no shares of {self.id}")
        else:
            n = self._shares_arg(ctx, account, shares, amount)
        if n > owned:
            raise InsufficientFunds("shares", f"shares: {account} owns {owned} shares of {self.id}, asked {n}")
        req = self.requests.get(account)
        if self.needs_request():
            if req is None:
                raise WithdrawNotAllowed(
                    "account", f"account: {account} must request a withdrawal from {self.id} first"
                )
            if ctx.at < req.ready_at:
                raise WithdrawNotAllowed("at", f"at: withdrawal from {self.id} opens at {req.ready_at}, it is {ctx.at}")
            if req.expires_at is not None and ctx.at > req.expires_at:
                raise WithdrawNotAllowed(
                    "at", f"at: the unstake window of {self.id} closed at {req.expires_at}; request again"
                )
            if n > req.shares:
                raise InsufficientFunds("shares", f"shares: only {req.shares} shares were requested, asked {n}")
        ta = self.total_assets(ctx.state)
        paid = self.assets_for_shares(n, ta)
        if paid == 0:
            # Solmate ERC4626 `redeem`: require(assets != 0, "ZERO_ASSETS"). Burning shares for
            # nothing would hand their value to the other holders.
            raise InvalidAmount("shares", f"shares: {n} shares of {self.id} are worth 0 base units")
        if amount is not None and paid < amount:
            raise InsufficientFunds(
                "amount",
                f"amount: {n} shares are worth {ctx.tokens(self.asset, paid)}, "
                f"less than {ctx.tokens(self.asset, amount)}",
            )
        self.before_shares_change(ctx, account)
        j = ctx.j
        j.put(self.shares, account, owned - n)
        j.set(self, "total_shares", self.total_shares - n)
        if req is not None:
            left = req.shares - n
            j.set(self, "queued_shares", self.queued_shares - min(n, req.shares))
            if left > 0:
                j.put(self.requests, account, WithdrawRequest(left, req.ready_at, req.expires_at))
            else:
                j.pop(self.requests, account)
        if paid > 0:
            ctx.transfer(self.account, user(account), self.asset, paid)
        j.put(self.withdrawn, account, self.withdrawn.get(account, 0) + paid)
        ctx.emit("unstaked", {"layer": self.id, "account": account, "shares": n, "amount": paid})

    def reward(self, ctx: Ctx, amount: int, source: str) -> None:
        ctx.pull(source, self.account, self.asset, amount)
        ctx.emit("rewarded", {"layer": self.id, "amount": amount, "source": source})

    # -- losses ---------------------------------------------------------------------------
    def slash_capacity(self, total_assets: int) -> int:
        """Umbrella rule: at most `max_slash_bps` of the pool per event, and never below
        `min_remaining()` left in it."""
        c = self.config
        return max(0, min(bps_down(total_assets, c.max_slash_bps), total_assets - self.min_remaining()))

    def absorb(self, ctx: Ctx, loss: Loss, remaining: int) -> int:
        ta = self.total_assets(ctx.state)
        cap = self.slash_capacity(ta)
        before = ctx.state.ledger.balance(self.account, self.asset)
        _, covered = pay_in_kind(ctx, self.account, self.asset, cap, loss, remaining, self.config.haircut_bps)
        slashed = before - ctx.state.ledger.balance(self.account, self.asset)
        if slashed:
            ctx.emit("slashed", {"layer": self.id, "loss": loss.id, "amount": slashed, "covered": covered})
        return covered

    def freeze_queued_bps(self, what: str) -> int | None:
        c = self.config
        return c.freeze_borrow_queued_bps if what == "borrow" else c.freeze_supply_queued_bps

    def queued_bps(self) -> int:
        if self.total_shares == 0:
            return 0
        return mul_div_down(self.queued_shares, BPS, self.total_shares)

    # -- views ----------------------------------------------------------------------------
    def exchange_rate_e6(self, state: Any) -> int:
        c = self.config
        held = self.total_assets(state) + c.virtual_assets
        return mul_div_down(held * c.virtual_shares, 10**6, (self.total_shares + c.virtual_shares) * c.virtual_assets)

    def _row(self, account: str, total_assets: int) -> AccountView:
        sh = self.shares.get(account, 0)
        req = self.requests.get(account)
        return self.extend_account(
            account,
            AccountView(
                deposit=self.assets_for_shares(sh, total_assets),
                shares=sh,
                deposited=self.deposited.get(account, 0),
                withdrawn=self.withdrawn.get(account, 0),
                queued_shares=req.shares if req else 0,
            ),
        )

    def extend(self, state: Any, base: ShareVaultView) -> ShareVaultView:
        """A kind's own view fields on top of the vault's (the staking and cover pools' hook)."""
        return base

    def extend_account(self, account: str, row: AccountView) -> AccountView:
        """A kind's own per-account fields on top of the vault's."""
        return row

    def totals_view(self, state: Any) -> ShareVaultView:
        return self.extend(
            state,
            ShareVaultView(
                self.kind,
                self.asset,
                self.holdings(state),
                {},
                total_shares=self.total_shares,
                queued_shares=self.queued_shares,
                exchange_rate=self.exchange_rate_e6(state),
            ),
        )

    def view(self, state: Any) -> ShareVaultView:
        ta = self.total_assets(state)
        accounts = {acct: self._row(acct, ta) for acct in sorted(set(self.shares) | set(self.deposited))}
        return replace(self.totals_view(state), accounts=accounts)

    def account_view(self, state: Any, account: str) -> AccountView | None:
        if account not in self.shares and account not in self.deposited:
            return None
        return self._row(account, self.total_assets(state))

    def account_keys(self) -> dict[Any, Any]:
        return self.shares

    def hash_state(self) -> Any:
        return [
            self.total_shares,
            self.queued_shares,
            sorted(self.shares.items()),
            sorted((k, [r.shares, r.ready_at, r.expires_at]) for k, r in self.requests.items()),
            sorted(self.deposited.items()),
            sorted(self.withdrawn.items()),
            sorted(self.since.items()),
        ]
