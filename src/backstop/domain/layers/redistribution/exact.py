"""Redistribution, exact rule: Liquity v1's redistribution of a liquidated trove's debt and
collateral to the market's other active troves, pro rata to their stake.

Source: liquity/dev at the deployed commit 5174ecd0da4842157aba989499200d690b7e374f,
`packages/contracts/contracts/TroveManager.sol`: `_redistributeDebtAndColl` (running sums
`L_ETH` / `L_LUSDDebt` with error feedback: each per-unit-staked term rounds down and the
remainder is carried to the next redistribution), `_computeNewStake` (stake = coll ×
totalStakesSnapshot / totalCollateralSnapshot, or coll before the first liquidation),
`_updateSystemSnapshots_excludeCollRemainder`, `getPendingETHReward` /
`getPendingLUSDDebtReward` and `_applyPendingRewards` (a trove's rewards are applied when it is
next touched). One redistribution is O(1) in the number of troves.

What the pool does not offset at liquidation (the debt, the 200-unit gas reserve included, and
the collateral left after gas compensation and the pool's share) moves to the market's default
pool (`market:<id>:default`, Liquity's DefaultPool); each other trove owes its share from then
on. With no other active trove the remainder passes to the next layer, as Liquity's last trove
cannot be redistributed. The layer sits only in a cdp market's waterfall, right after its
stability pool (or first), and that market holds one collateral asset (Liquity's ETH).

Debt is redistributed in the market's scaled units (debt / borrow index), so a redistributed
share accrues the stability fee like the trove's own debt; with no fee (Liquity) scaled units
are debt units and Liquity's figures reproduce exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ...context import Ctx
from ...errors import InvalidConfig
from ...money import WAD
from ..base import Layer, LayerView, count
from ..spec import LayerConfig

if TYPE_CHECKING:
    from ...markets.market import Market, Position


@dataclass(frozen=True, slots=True, kw_only=True)
class RedistributionConfig(LayerConfig):
    kind: Literal["redistribution"] = "redistribution"

    NEEDS_ASSET: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class RedistributionView(LayerView):
    L_coll: int = count()
    L_debt: int = count()
    total_stakes: int = count()
    total_stakes_snapshot: int = count()
    total_collateral_snapshot: int = count()


class Redistribution(Layer[RedistributionConfig]):
    kind: ClassVar[str] = "redistribution"
    redistributes: ClassVar[bool] = True

    def __init__(self, layer_id: str, config: RedistributionConfig) -> None:
        super().__init__(layer_id, config)
        self.market: str | None = None
        self.stakes: dict[str, int] = {}
        self.total_stakes = 0
        self.total_stakes_snapshot = 0
        self.total_collateral_snapshot = 0
        self.L_coll = 0
        self.L_debt = 0
        """Per unit staked, scaled by 1e18: collateral base units and scaled-debt units."""
        self.coll_error = 0
        self.debt_error = 0
        self.snapshots: dict[str, tuple[int, int]] = {}

    def check_place(self, state: Any, market_id: str, market_cfg: Any, index: int) -> None:
        """Only in one cdp market with one collateral, right after its stability pool (or first)."""
        field = "waterfall"
        if market_cfg.kind != "cdp" or len(market_cfg.collateral) != 1:
            raise InvalidConfig(field, f"{field}: {self.id} redistributes only in a cdp market with one collateral")
        before = market_cfg.waterfall[:index]
        if before and not (len(before) == 1 and state.layers[before[0]].first_in_waterfall):
            raise InvalidConfig(field, f"{field}: {self.id} must come first or right after the stability pool")
        if self.market is not None and self.market != market_id:
            raise InvalidConfig(field, f"{field}: {self.id} already redistributes in market {self.market}")

    def on_market_added(self, ctx: Ctx, market_id: str) -> None:
        ctx.j.set(self, "market", market_id)

    # -- stakes -------------------------------------------------------------------------------
    def _new_stake(self, coll: int) -> int:
        if self.total_collateral_snapshot == 0:
            return coll
        return coll * self.total_stakes_snapshot // self.total_collateral_snapshot

    def update_stake(self, ctx: Ctx, account: str, coll: int, active: bool) -> None:
        """`_updateStakeAndTotalStakes` after a trove changes (or `_removeStake` when it closes)."""
        old = self.stakes.get(account, 0)
        new = self._new_stake(coll) if active else 0
        if new == old and (active or account not in self.stakes):
            return
        ctx.j.set(self, "total_stakes", self.total_stakes - old + new)
        if active:
            ctx.j.put(self.stakes, account, new)
            ctx.j.put(self.snapshots, account, (self.L_coll, self.L_debt))
        else:
            ctx.j.pop(self.stakes, account)
            if account in self.snapshots:
                ctx.j.pop(self.snapshots, account)

    def pending(self, account: str) -> tuple[int, int]:
        """(collateral, scaled debt) the trove is owed from redistributions it has not yet taken."""
        stake = self.stakes.get(account, 0)
        snap = self.snapshots.get(account)
        if stake == 0 or snap is None:
            return 0, 0
        return stake * (self.L_coll - snap[0]) // WAD, stake * (self.L_debt - snap[1]) // WAD

    def apply_pending(self, ctx: Ctx, market: Market, account: str, pos: Position) -> None:
        """`_applyPendingRewards`: move the trove's share from the default pool onto the trove."""
        snap = self.snapshots.get(account)
        if snap is None or snap[0] >= self.L_coll:  # Liquity compares the collateral sum only
            return
        coll, scaled = self.pending(account)
        asset = market.only_collateral()
        if coll:
            ctx.transfer(market.default_account, market.collateral_account, asset, coll, "redistribution")
            ctx.j.put(pos.collateral, asset, pos.collateral.get(asset, 0) + coll)
        if scaled:
            ctx.j.set(pos, "scaled_debt", pos.scaled_debt + scaled)
            ctx.j.set(market, "default_scaled", market.default_scaled - scaled)
        ctx.j.put(self.snapshots, account, (self.L_coll, self.L_debt))
        ctx.emit(
            "redistribution_applied",
            {"layer": self.id, "market": market.id, "account": account, "collateral": coll, "scaled_debt": scaled},
        )

    # -- liquidation -----------------------------------------------------------------------------
    def redistribute(self, ctx: Ctx, market: Market, account: str, pos: Position) -> bool:
        """`_redistributeDebtAndColl` of what is left of the trove; False when no other trove can take it."""
        self.update_stake(ctx, account, 0, active=False)
        if self.total_stakes == 0:
            return False
        asset = market.only_collateral()
        coll = pos.collateral.get(asset, 0)
        scaled = pos.scaled_debt
        coll_num = coll * WAD + self.coll_error
        debt_num = scaled * WAD + self.debt_error
        per_coll = coll_num // self.total_stakes
        per_debt = debt_num // self.total_stakes
        ctx.j.set(self, "coll_error", coll_num - per_coll * self.total_stakes)
        ctx.j.set(self, "debt_error", debt_num - per_debt * self.total_stakes)
        ctx.j.set(self, "L_coll", self.L_coll + per_coll)
        ctx.j.set(self, "L_debt", self.L_debt + per_debt)
        if coll:
            ctx.transfer(market.collateral_account, market.default_account, asset, coll, "redistribution")
            ctx.j.put(pos.collateral, asset, 0)
        ctx.j.set(pos, "scaled_debt", 0)
        ctx.j.set(market, "default_scaled", market.default_scaled + scaled)
        ctx.emit(
            "redistributed",
            {
                "layer": self.id,
                "market": market.id,
                "account": account,
                "collateral": coll,
                "debt": market.debt_of_scaled(scaled),
                "L_coll": self.L_coll,
                "L_debt": self.L_debt,
            },
        )
        return True

    def after_liquidation(self, ctx: Ctx, market: Market) -> None:
        """`_updateSystemSnapshots_excludeCollRemainder`, after every liquidation in the market
        (the collateral gas compensation has left the market by then)."""
        ledger = ctx.state.ledger
        asset = market.only_collateral()
        held = ledger.balance(market.collateral_account, asset) + ledger.balance(market.default_account, asset)
        ctx.j.set(self, "total_stakes_snapshot", self.total_stakes)
        ctx.j.set(self, "total_collateral_snapshot", held)

    # -- views ----------------------------------------------------------------------------------
    def view(self, state: Any) -> RedistributionView:
        return RedistributionView(
            self.kind,
            None,
            {},
            {},
            L_coll=self.L_coll,
            L_debt=self.L_debt,
            total_stakes=self.total_stakes,
            total_stakes_snapshot=self.total_stakes_snapshot,
            total_collateral_snapshot=self.total_collateral_snapshot,
        )

    def hash_state(self) -> Any:
        return [
            self.market,
            self.total_stakes,
            self.total_stakes_snapshot,
            self.total_collateral_snapshot,
            self.L_coll,
            self.L_debt,
            self.coll_error,
            self.debt_error,
            sorted(self.stakes.items()),
            sorted((k, list(v)) for k, v in self.snapshots.items()),
        ]
