"""Stability pool, exact rule: the Liquity v1 product-sum algorithm.

Depositors hold the debt asset. A liquidation burns up to the pool's size of the debt and
hands the pool the collateral in proportion. Per-depositor balances are never touched: a
running product P (compounded deposit = d × P / P₀) and per-collateral sums S (gain =
d × (S − S₀) / P₀) make each liquidation O(1) whatever the number of depositors. When P
would fall below 1e9 it is re-based by 1e9 and the `scale` goes up; when a liquidation empties
the pool, a new `epoch` starts and all older deposits are worth 0.

Source: Liquity `StabilityPool.sol` (`_computeRewardsPerUnitStaked`,
`_updateRewardSumAndProduct`, `_getCompoundedStakeFromSnapshots`, `_getETHGainFromSnapshots`)
and "Scalable Reward Distribution with Compounding Stakes" (Liquity, 2020). Rounding follows
Liquity: the debt loss per unit staked rounds up (+1) with error feedback, the collateral gain
per unit rounds down with error feedback, so the pool never owes more than it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from ...context import Ctx
from ...errors import InsufficientFunds, InvalidConfig, NotPermitted
from ...ledger import user
from ...money import WAD
from ..base import AccountView, Layer, LayerView, count, view_amount
from ..spec import LayerConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class StabilityPoolConfig(LayerConfig):
    """Deposits in the market's debt asset; the pool comes first in the waterfall."""

    kind: Literal["stability_pool"] = "stability_pool"


@dataclass(frozen=True, slots=True)
class StabilityPoolView(LayerView):
    P: int = count()
    scale: int = count()
    epoch: int = count()
    total_deposits: int = view_amount()


SCALE_FACTOR = 10**9


@dataclass(frozen=True, slots=True)
class Snapshot:
    initial: int
    P: int
    scale: int
    epoch: int
    S: tuple[tuple[str, int], ...]


class StabilityPool(Layer[StabilityPoolConfig]):
    kind: ClassVar[str] = "stability_pool"
    first_in_waterfall: ClassVar[bool] = True

    def __init__(self, layer_id: str, config: StabilityPoolConfig) -> None:
        super().__init__(layer_id, config)
        if config.asset is None:
            raise InvalidConfig("asset", f"asset: stability pool {layer_id} needs the debt asset")
        self.asset: str = config.asset
        self.P = WAD
        self.scale = 0
        self.epoch = 0
        self.total_deposits = 0
        self.sums: dict[tuple[int, int, str], int] = {}
        self.coll_error: dict[str, int] = {}
        self.debt_error = 0
        self.deposits: dict[str, Snapshot] = {}
        self.collaterals: tuple[str, ...] = ()
        self.paid_gains: dict[tuple[str, str], int] = {}
        self.deposited: dict[str, int] = {}
        self.withdrawn: dict[str, int] = {}
        self.since: dict[str, int] = {}

    # -- Liquity's read functions ----------------------------------------------------------
    def compounded(self, snap: Snapshot) -> int:
        if snap.initial == 0 or snap.epoch < self.epoch:
            return 0
        diff = self.scale - snap.scale
        if diff == 0:
            value = snap.initial * self.P // snap.P
        elif diff == 1:
            value = snap.initial * self.P // snap.P // SCALE_FACTOR
        else:
            return 0
        # Liquity: a deposit compounded below a billionth of its start is treated as zero.
        return 0 if value < snap.initial // 10**9 else value

    def gain(self, snap: Snapshot, asset: str) -> int:
        if snap.initial == 0:
            return 0
        s0 = dict(snap.S).get(asset, 0)
        first = self.sums.get((snap.epoch, snap.scale, asset), 0) - s0
        second = self.sums.get((snap.epoch, snap.scale + 1, asset), 0) // SCALE_FACTOR
        return snap.initial * (first + second) // snap.P // WAD

    def _snapshot(self, initial: int) -> Snapshot:
        s = tuple((a, self.sums.get((self.epoch, self.scale, a), 0)) for a in self.collaterals)
        return Snapshot(initial, self.P, self.scale, self.epoch, s)

    # -- depositor operations ----------------------------------------------------------------
    def _settle(self, ctx: Ctx, account: str) -> int:
        """Pay out collateral gains and return the compounded deposit (Liquity does both on
        every deposit and withdrawal)."""
        snap = self.deposits.get(account)
        if snap is None:
            return 0
        for asset in self.collaterals:
            g = self.gain(snap, asset)
            if g > 0:
                ctx.transfer(self.account, user(account), asset, g, "gains")
                key = (account, asset)
                ctx.j.put(self.paid_gains, key, self.paid_gains.get(key, 0) + g)
        return self.compounded(snap)

    def deposit(self, ctx: Ctx, account: str, amount: int) -> None:
        current = self._settle(ctx, account)
        ctx.pull(user(account), self.account, self.asset, amount)
        ctx.j.put(self.deposits, account, self._snapshot(current + amount))
        ctx.j.set(self, "total_deposits", self.total_deposits + amount)
        ctx.j.put(self.deposited, account, self.deposited.get(account, 0) + amount)
        if account not in self.since:
            ctx.j.put(self.since, account, ctx.at)
        ctx.emit("sp_deposit", {"layer": self.id, "account": account, "amount": amount})

    def withdraw(self, ctx: Ctx, account: str, shares: int | None, amount: int | None) -> None:
        if shares is not None:
            raise NotPermitted("shares", "shares: a stability pool has no shares; withdraw an `amount`")
        snap = self.deposits.get(account)
        current = self.compounded(snap) if snap else 0
        if snap is None or snap.initial == 0:
            # Liquity's withdrawFromSP: `_requireUserHasDeposit(initialDeposit)`. Without it a
            # withdrawal of nothing records an empty deposit and emits a zero withdrawal. A deposit
            # emptied by a liquidation still has its initial value, so its gains can be collected.
            raise InsufficientFunds("amount", f"amount: {account} has no deposit in {self.id}")
        want = current if amount is None else amount
        if want > current:
            raise InsufficientFunds("amount", f"amount: {account} has {current} in {self.id}, asked {want}")
        self._settle(ctx, account)
        # The pool's balance can fall short of the compounded figure only by Liquity's dust.
        pay = min(want, ctx.state.ledger.balance(self.account, self.asset))
        if pay > 0:
            ctx.transfer(self.account, user(account), self.asset, pay)
        ctx.j.put(self.deposits, account, self._snapshot(current - want))
        ctx.j.set(self, "total_deposits", max(0, self.total_deposits - want))
        ctx.j.put(self.withdrawn, account, self.withdrawn.get(account, 0) + pay)
        ctx.emit("sp_withdraw", {"layer": self.id, "account": account, "amount": pay})

    # -- liquidation offset ---------------------------------------------------------------
    def offset(self, ctx: Ctx, debt: int, collateral: dict[str, int], collateral_from: str, burn_to: str) -> int:
        """Absorb up to the pool's size of `debt`; take the matching share of `collateral`.

        Returns the debt absorbed. The caller has already capped `collateral` to the share
        that matches the absorbed debt.
        """
        total = self.total_deposits
        if total == 0 or debt == 0:
            return 0
        absorbed = min(debt, total)
        j = ctx.j
        new_assets = [a for a in sorted(collateral) if a not in self.collaterals]
        if new_assets:
            j.set(self, "collaterals", tuple(sorted((*self.collaterals, *new_assets))))
        # _computeRewardsPerUnitStaked
        if absorbed == total:
            loss_per_unit = WAD
            j.set(self, "debt_error", 0)
        else:
            numerator = absorbed * WAD - self.debt_error
            loss_per_unit = numerator // total + 1
            j.set(self, "debt_error", loss_per_unit * total - numerator)
        # _updateRewardSumAndProduct
        current_p = self.P
        for asset in sorted(collateral):
            coll = collateral[asset]
            num = coll * WAD + self.coll_error.get(asset, 0)
            gain_per_unit = num // total
            j.put(self.coll_error, asset, num - gain_per_unit * total)
            key = (self.epoch, self.scale, asset)
            j.put(self.sums, key, self.sums.get(key, 0) + gain_per_unit * current_p)
            if coll > 0:
                ctx.transfer(collateral_from, self.account, asset, coll, "collateral")
        factor = WAD - loss_per_unit
        if factor == 0:
            j.set(self, "epoch", self.epoch + 1)
            j.set(self, "scale", 0)
            new_p = WAD
        elif current_p * factor // WAD < SCALE_FACTOR:
            new_p = current_p * factor * SCALE_FACTOR // WAD
            j.set(self, "scale", self.scale + 1)
        else:
            new_p = current_p * factor // WAD
        j.set(self, "P", new_p)
        j.set(self, "total_deposits", total - absorbed)
        ctx.transfer(self.account, burn_to, self.asset, absorbed, "debt")
        ctx.emit(
            "sp_offset",
            {"layer": self.id, "debt": absorbed, "collateral": dict(sorted(collateral.items())), "P": new_p},
        )
        return absorbed

    # -- views --------------------------------------------------------------------------
    def view(self, state: Any) -> StabilityPoolView:
        accounts: dict[str, AccountView] = {}
        for acct in sorted(self.deposits):
            snap = self.deposits[acct]
            accounts[acct] = AccountView(
                deposit=self.compounded(snap),
                gains={a: self.gain(snap, a) for a in self.collaterals},
                deposited=self.deposited.get(acct, 0),
                withdrawn=self.withdrawn.get(acct, 0),
            )
        return StabilityPoolView(
            self.kind,
            self.asset,
            self.holdings(state),
            accounts,
            P=self.P,
            scale=self.scale,
            epoch=self.epoch,
            total_deposits=self.total_deposits,
        )

    def account_view(self, state: Any, account: str) -> AccountView | None:
        snap = self.deposits.get(account)
        if snap is None:
            return None
        return AccountView(
            deposit=self.compounded(snap),
            gains={a: self.gain(snap, a) for a in self.collaterals},
            deposited=self.deposited.get(account, 0),
            withdrawn=self.withdrawn.get(account, 0),
        )

    def account_keys(self) -> dict[Any, Any]:
        return self.deposits

    def totals_view(self, state: Any) -> StabilityPoolView:
        return StabilityPoolView(
            self.kind,
            self.asset,
            self.holdings(state),
            {},
            P=self.P,
            scale=self.scale,
            epoch=self.epoch,
            total_deposits=self.total_deposits,
        )

    def hash_state(self) -> Any:
        return [
            self.P,
            self.scale,
            self.epoch,
            self.total_deposits,
            self.debt_error,
            sorted([list(k), v] for k, v in self.sums.items()),
            sorted(self.coll_error.items()),
            sorted((k, [s.initial, s.P, s.scale, s.epoch, list(s.S)]) for k, s in self.deposits.items()),
            sorted([list(k), v] for k, v in self.paid_gains.items()),
            sorted(self.since.items()),
        ]
