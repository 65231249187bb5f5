"""A lending or cdp market: positions, suppliers, interest, health and write-offs.

Lending (Aave/Compound): suppliers deposit the debt asset for shares of `supply_assets`;
borrowers post collateral and borrow cash. cdp (Liquity/Maker): a position mints the debt
asset against collateral; interest (the stability fee) is minted to the fee layer, which is
how Maker's surplus buffer fills. Debt is held as scaled debt over a borrow index (Aave), so
accrual is O(1) per market; a position's debt rounds up.

Liquity's borrower rules live here too (`BorrowerOperations.sol` at the deployed commit
5174ecd0da4842157aba989499200d690b7e374f of liquity/dev): the gas-compensation reserve minted
to a gas pool when a trove opens, and the Recovery Mode checks on opening and adjusting a trove
(`_requireValidAdjustmentInCurrentMode`). The market's total collateral ratio (TCR) is O(1):
the collateral account holds exactly the positions' collateral (a ledger invariant).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..commands import CollateralConfig, MarketConfig
from ..context import Ctx
from ..errors import (
    InsufficientFunds,
    InvalidAmount,
    MarketFrozen,
    NotPermitted,
    Undercollateralized,
    UnknownEntity,
)
from ..ledger import ISSUER, user
from ..money import BPS, bps_up, mul_div_down, mul_div_up, split_pro_rata, value_down, value_up
from .interest import RAY, borrow_rate_bps, grow_index, utilization_bps


@dataclass(frozen=True, slots=True)
class PositionView:
    """One position as the CLI, `run --json` and the API show it (pending Liquity rewards included)."""

    collateral: dict[str, int]
    debt: int
    health_bps: int | None
    gas_reserve: int = 0


@dataclass(frozen=True, slots=True)
class MarketView:
    """A market as the CLI, `run --json` and the API show it; amounts in base units of the debt
    asset. Optional parts are None where the market does not use them."""

    kind: str
    debt_asset: str
    total_debt: int
    cash: int
    supply_assets: int
    suppliers: dict[str, int]
    bad_debt: int
    socialized: int
    unbacked: int
    interest: int
    positions: dict[str, PositionView]
    deficit: dict[str, int] | None = None
    """Aave v3.3 reserve deficit per asset, when the waterfall ends in a `deficit` layer."""
    tcr_bps: int | None = None
    recovery_mode: bool | None = None
    gas_pool: int | None = None
    claimable_collateral: dict[str, dict[str, int]] | None = None


@dataclass(slots=True)
class Position:
    collateral: dict[str, int] = field(default_factory=dict)
    scaled_debt: int = 0
    gas_reserve: int = 0
    """Part of the debt held in the market's gas pool for the liquidator (Liquity's 200 LUSD)."""


class Market:
    def __init__(self, market_id: str, config: MarketConfig, created_at: int) -> None:
        self.id = market_id
        self.config = config
        self.kind = config.kind
        self.debt_asset = config.debt_asset
        self.coll: dict[str, CollateralConfig] = {c.asset: c for c in config.collateral}
        self.reserve = f"market:{market_id}:reserve"
        self.collateral_account = f"market:{market_id}:collateral"
        self.gas_pool = f"market:{market_id}:gas_pool"
        self.surplus_account = f"market:{market_id}:surplus"
        self.default_account = f"market:{market_id}:default"
        self.default_scaled = 0
        """Scaled debt redistributed to troves that have not yet taken it (Liquity's DefaultPool);
        it is part of `total_scaled`."""
        self.claimable: dict[str, dict[str, int]] = {}
        """Collateral surplus of capped Recovery Mode liquidations, per account (Liquity's
        `CollSurplusPool`)."""
        self.positions: dict[str, Position] = {}
        self.index = RAY
        self.total_scaled = 0
        self.last_accrual = created_at
        self.supply_assets = 0
        self.supply_shares_total = 0
        self.supply_shares: dict[str, int] = {}
        self.pending_reserves = 0
        self.unbacked = 0
        self.bad_debt_total = 0
        self.socialized_total = 0
        self.interest_total = 0
        self.deficit: dict[str, int] = {}
        """Aave v3.3 reserve deficit per asset: unpaid losses booked by a `deficit` end, not yet covered."""

    # -- debt -----------------------------------------------------------------------------
    def debt_of(self, pos: Position) -> int:
        return mul_div_up(pos.scaled_debt, self.index, RAY)

    def debt_of_scaled(self, scaled: int) -> int:
        return mul_div_up(scaled, self.index, RAY)

    def only_collateral(self) -> str:
        """The market's one collateral asset (markets with a redistribution layer have one)."""
        return self.config.collateral[0].asset

    # -- Liquity redistribution (the market's redistribution layer, if it has one) -------------
    def redistribution(self, ctx: Ctx) -> Any:
        # The waterfall and its layers never change once the market exists, so the lookup is
        # cached (a derived value, not state: it is not hashed or journaled).
        lid = self.__dict__.get("_redistribution_id", "")
        if lid == "":
            found = [x for x in self.config.waterfall if ctx.state.layers[x].redistributes]
            lid = found[0] if found else None
            self.__dict__["_redistribution_id"] = lid
        return None if lid is None else ctx.state.layers[lid]

    def touch(self, ctx: Ctx, account: str) -> None:
        """Apply the trove's pending redistribution rewards before it changes (Liquity)."""
        layer = self.redistribution(ctx)
        pos = self.positions.get(account)
        if layer is not None and pos is not None:
            layer.apply_pending(ctx, self, account, pos)

    def sync_stake(self, ctx: Ctx, account: str) -> None:
        """Recompute the trove's stake after it changed; a trove without debt has none."""
        layer = self.redistribution(ctx)
        pos = self.positions.get(account)
        if layer is not None and pos is not None:
            active = pos.scaled_debt > 0
            layer.update_stake(ctx, account, pos.collateral.get(self.only_collateral(), 0), active)

    def entire(self, ctx: Ctx, account: str, pos: Position) -> Position:
        """The position with its pending redistribution rewards included (Liquity's
        `getEntireDebtAndColl`), for views; the position itself when there are none."""
        layer = self.redistribution(ctx)
        if layer is None:
            return pos
        extra_coll, extra_scaled = layer.pending(account)
        if not extra_coll and not extra_scaled:
            return pos
        coll = dict(pos.collateral)
        asset = self.only_collateral()
        coll[asset] = coll.get(asset, 0) + extra_coll
        return Position(coll, pos.scaled_debt + extra_scaled, pos.gas_reserve)

    def total_debt(self) -> int:
        return mul_div_up(self.total_scaled, self.index, RAY)

    def _add_debt(self, ctx: Ctx, pos: Position, amount: int) -> None:
        scaled = mul_div_up(amount, RAY, self.index)
        ctx.j.set(pos, "scaled_debt", pos.scaled_debt + scaled)
        ctx.j.set(self, "total_scaled", self.total_scaled + scaled)

    def _reduce_debt(self, ctx: Ctx, pos: Position, amount: int) -> None:
        """Reduce a position's debt by `amount`; the scaled part burned rounds down."""
        if amount >= self.debt_of(pos):
            scaled = pos.scaled_debt
        else:
            scaled = min(pos.scaled_debt, mul_div_down(amount, RAY, self.index))
        ctx.j.set(pos, "scaled_debt", pos.scaled_debt - scaled)
        ctx.j.set(self, "total_scaled", self.total_scaled - scaled)

    # -- interest -------------------------------------------------------------------------
    def accrue(self, ctx: Ctx) -> None:
        dt = ctx.at - self.last_accrual
        if dt <= 0:
            return
        ctx.j.set(self, "last_accrual", ctx.at)
        if self.total_scaled == 0:
            return
        cash = ctx.state.ledger.balance(self.reserve, self.debt_asset)
        before = self.total_debt()
        if self.kind == "lending":
            rate = borrow_rate_bps(self.config, utilization_bps(cash, before))
        else:
            rate = self.config.base_rate_bps
        if rate == 0:
            return
        ctx.j.set(self, "index", grow_index(self.index, rate, dt))
        interest = self.total_debt() - before
        if interest <= 0:
            return
        ctx.j.set(self, "interest_total", self.interest_total + interest)
        fee_layer = ctx.state.fee_layer_account(self)
        if self.kind == "cdp":
            # Stability fee: minted to the fee layer (Maker's surplus buffer), or left unminted.
            if fee_layer is not None:
                ctx.transfer(ISSUER, fee_layer, self.debt_asset, interest, "interest")
            ctx.emit("accrued", {"market": self.id, "interest": interest, "rate_bps": rate})
            return
        reserve_part = bps_up(interest, self.config.reserve_factor_bps) if fee_layer is not None else 0
        ctx.j.set(self, "supply_assets", self.supply_assets + interest - reserve_part)
        ctx.j.set(self, "pending_reserves", self.pending_reserves + reserve_part)
        self.sweep_reserves(ctx)
        ctx.emit("accrued", {"market": self.id, "interest": interest, "rate_bps": rate, "reserve": reserve_part})

    def sweep_reserves(self, ctx: Ctx) -> None:
        """Send accrued reserve-factor interest to the fee layer as far as cash allows."""
        fee_layer = ctx.state.fee_layer_account(self)
        if fee_layer is None or self.pending_reserves == 0:
            return
        cash = ctx.state.ledger.balance(self.reserve, self.debt_asset)
        move = min(cash, self.pending_reserves)
        if move > 0:
            ctx.transfer(self.reserve, fee_layer, self.debt_asset, move, "reserve_factor")
            ctx.j.set(self, "pending_reserves", self.pending_reserves - move)

    # -- suppliers ------------------------------------------------------------------------
    def supply_value(self, shares: int) -> int:
        return mul_div_down(shares, self.supply_assets + 1, self.supply_shares_total + 1000)

    def supply(self, ctx: Ctx, account: str, amount: int) -> None:
        if self.kind != "lending":
            raise NotPermitted("market", f"market: {self.id} is a cdp; supply goes to a stability pool")
        self.check_frozen(ctx, "supply")
        minted = mul_div_down(amount, self.supply_shares_total + 1000, self.supply_assets + 1)
        if minted <= 0:
            raise InvalidAmount("amount", f"amount: {amount} base units buys no supply share of {self.id}")
        ctx.pull(user(account), self.reserve, self.debt_asset, amount)
        ctx.j.put(self.supply_shares, account, self.supply_shares.get(account, 0) + minted)
        ctx.j.set(self, "supply_shares_total", self.supply_shares_total + minted)
        ctx.j.set(self, "supply_assets", self.supply_assets + amount)
        ctx.emit("supplied", {"market": self.id, "account": account, "amount": amount, "shares": minted})

    def withdraw_supply(self, ctx: Ctx, account: str, amount: int) -> None:
        owned = self.supply_shares.get(account, 0)
        value = self.supply_value(owned)
        if amount > value:
            raise InsufficientFunds(
                "amount",
                f"amount: {account} has {ctx.tokens(self.debt_asset, value)} supplied in {self.id}, "
                f"asked {ctx.tokens(self.debt_asset, amount)}",
            )
        cash = ctx.state.ledger.balance(self.reserve, self.debt_asset)
        if amount > cash:
            owed = self.deficit.get(self.debt_asset, 0)
            why = f"; a deficit of {ctx.tokens(self.debt_asset, owed)} is uncovered (cover_deficit)" if owed else ""
            raise InsufficientFunds(
                "amount", f"amount: {self.id} has only {ctx.tokens(self.debt_asset, cash)} cash available{why}"
            )
        burn = min(owned, mul_div_up(amount, self.supply_shares_total + 1000, self.supply_assets + 1))
        ctx.j.put(self.supply_shares, account, owned - burn)
        ctx.j.set(self, "supply_shares_total", self.supply_shares_total - burn)
        ctx.j.set(self, "supply_assets", self.supply_assets - amount)
        ctx.transfer(self.reserve, user(account), self.debt_asset, amount)
        ctx.emit("supply_withdrawn", {"market": self.id, "account": account, "amount": amount, "shares": burn})

    # -- health ---------------------------------------------------------------------------
    def values(self, ctx: Ctx, pos: Position) -> tuple[int, int, int, int]:
        """(collateral value, value × LTV, value × liquidation threshold, debt value), quote e18."""
        total = ltv = lt = 0
        for asset, amount in pos.collateral.items():
            if amount == 0:
                continue
            cc = self.coll[asset]
            v = value_down(amount, ctx.price(asset), ctx.decimals(asset))
            total += v
            ltv += mul_div_down(v, cc.ltv_bps, BPS)
            lt += mul_div_down(v, cc.liquidation_threshold_bps, BPS)
        debt = self.debt_of(pos)
        debt_value = value_up(debt, ctx.price(self.debt_asset), ctx.decimals(self.debt_asset)) if debt else 0
        return total, ltv, lt, debt_value

    def system_values(self, ctx: Ctx) -> tuple[int, int]:
        """(collateral value, debt value) of the whole market, quote e18: Liquity's
        `getEntireSystemColl` / `getEntireSystemDebt` at the oracle price."""
        coll = 0
        ledger = ctx.state.ledger
        for asset in self.coll:
            held = ledger.balance(self.collateral_account, asset) + ledger.balance(self.default_account, asset)
            if held:
                coll += value_down(held, ctx.price(asset), ctx.decimals(asset))
        debt = self.total_debt()
        debt_value = value_up(debt, ctx.price(self.debt_asset), ctx.decimals(self.debt_asset)) if debt else 0
        return coll, debt_value

    def in_recovery_mode(self, ctx: Ctx) -> bool:
        """Liquity `_checkRecoveryMode`: TCR < CCR (a market without debt is not in it)."""
        ccr = self.config.recovery_ccr_bps
        if ccr == 0:
            return False
        coll, debt_value = self.system_values(ctx)
        return debt_value > 0 and coll * BPS < debt_value * ccr

    def tcr_bps(self, ctx: Ctx) -> int | None:
        coll, debt_value = self.system_values(ctx)
        return None if debt_value == 0 else mul_div_down(coll, BPS, debt_value)

    def health_bps(self, ctx: Ctx, pos: Position) -> int | None:
        _, _, lt, debt_value = self.values(ctx, pos)
        return None if debt_value == 0 else mul_div_down(lt, BPS, debt_value)

    def check_frozen(self, ctx: Ctx, what: str) -> None:
        for lid in self.config.waterfall:
            layer = ctx.state.layers[lid]
            limit = layer.freeze_queued_bps(what)
            if limit is not None and layer.queued_bps() >= limit:
                raise MarketFrozen(
                    "market",
                    f"market: {self.id} refuses new {what}: {layer.queued_bps()} bps of {lid} is queued to leave",
                )

    # -- borrowers ------------------------------------------------------------------------
    def _post_collateral(self, ctx: Ctx, account: str, pos: Position, collateral: tuple[tuple[str, int], ...]) -> None:
        for asset, amount in collateral:
            if asset not in self.coll:
                raise UnknownEntity("collateral", f"collateral: {asset!r} is not a collateral of {self.id}")
            if amount <= 0:
                raise InvalidAmount("collateral", f"collateral: {asset} amount must be positive, got {amount}")
            ctx.pull(user(account), self.collateral_account, asset, amount, "collateral")
            ctx.j.put(pos.collateral, asset, pos.collateral.get(asset, 0) + amount)

    def open(self, ctx: Ctx, account: str, collateral: tuple[tuple[str, int], ...], debt: int) -> None:
        if debt < 0:
            raise InvalidAmount("debt", f"debt: must not be negative, got {debt}")
        if debt == 0 and not collateral:
            raise InvalidAmount("debt", "debt: an open needs collateral or debt")
        pos = self.positions.get(account)
        if pos is None:
            pos = Position()
            ctx.j.put(self.positions, account, pos)
        self.touch(ctx, account)
        recovery = debt > 0 and self.in_recovery_mode(ctx)
        # the old ratio matters only for Recovery Mode checks (a market without a CCR skips the work)
        old = self.values(ctx, pos) if self.config.recovery_ccr_bps and debt > 0 and self.debt_of(pos) > 0 else None
        reserve = 0
        if debt > 0 and self.kind == "cdp" and self.debt_of(pos) == 0 and self.config.gas_compensation > 0:
            reserve = self.config.gas_compensation
            if debt <= reserve:
                raise InvalidAmount(
                    "debt",
                    f"debt: {ctx.tokens(self.debt_asset, debt)} must exceed the gas compensation "
                    f"{ctx.tokens(self.debt_asset, reserve)} it includes",
                )
        self._post_collateral(ctx, account, pos, collateral)
        if debt > 0:
            self.check_frozen(ctx, "borrow")
            self._add_debt(ctx, pos, debt)
            total, ltv, _, debt_value = self.values(ctx, pos)
            if self.kind == "lending":
                if ltv < debt_value:
                    raise Undercollateralized(
                        "debt", f"debt: borrowing power {ltv} < debt value {debt_value} (quote e18) in {self.id}"
                    )
                cash = ctx.state.ledger.balance(self.reserve, self.debt_asset)
                if debt > cash:
                    raise InsufficientFunds("debt", f"debt: {self.id} has only {cash} cash to lend")
                ctx.transfer(self.reserve, user(account), self.debt_asset, debt, "debt")
            else:
                if recovery:  # Liquity checks ICR >= CCR (> MCR) in Recovery Mode, not the MCR
                    self._check_current_mode(ctx, recovery, old, total, debt_value)
                mcr = self.config.min_collateral_ratio_bps
                if total * BPS < debt_value * mcr:
                    raise Undercollateralized(
                        "debt",
                        f"debt: collateral ratio {mul_div_down(total, BPS, debt_value)} bps is below the minimum {mcr}",
                    )
                if not recovery:
                    self._check_current_mode(ctx, recovery, old, total, debt_value)
                if reserve:
                    ctx.j.set(pos, "gas_reserve", reserve)
                    ctx.transfer(ISSUER, self.gas_pool, self.debt_asset, reserve, "gas_compensation")
                ctx.transfer(ISSUER, user(account), self.debt_asset, debt - reserve, "debt")
        self.sync_stake(ctx, account)
        ctx.emit(
            "opened",
            {"market": self.id, "account": account, "collateral": [list(c) for c in collateral], "debt": debt},
        )

    def _check_current_mode(
        self, ctx: Ctx, recovery: bool, old: tuple[int, int, int, int] | None, coll_value: int, debt_value: int
    ) -> None:
        """Liquity `_requireValidAdjustmentInCurrentMode` / `openTrove`, for a debt increase.

        In Recovery Mode the position must end at ICR >= CCR and not below its old ICR; in
        Normal Mode the market's TCR after the change must stay >= CCR."""
        ccr = self.config.recovery_ccr_bps
        if ccr == 0:
            return
        icr = mul_div_down(coll_value, BPS, debt_value)
        if recovery:
            if coll_value * BPS < debt_value * ccr:
                raise Undercollateralized(
                    "debt",
                    f"debt: {self.id} is in Recovery Mode; a debt increase must leave the position at "
                    f"recovery_ccr_bps {ccr} or more, it would be at {icr} bps",
                )
            if old is not None and coll_value * old[3] < old[0] * debt_value:
                raise Undercollateralized(
                    "debt",
                    f"debt: {self.id} is in Recovery Mode; a debt increase may not lower the position's "
                    f"collateral ratio ({mul_div_down(old[0], BPS, old[3])} bps to {icr} bps)",
                )
            return
        coll, system_debt = self.system_values(ctx)
        if coll * BPS < system_debt * ccr:
            raise Undercollateralized(
                "debt",
                f"debt: would bring {self.id}'s total collateral ratio to {mul_div_down(coll, BPS, system_debt)} bps, "
                f"below recovery_ccr_bps {ccr} (Recovery Mode)",
            )

    def add_collateral(self, ctx: Ctx, account: str, collateral: tuple[tuple[str, int], ...]) -> None:
        pos = self.position(account)
        if not collateral:
            raise InvalidAmount("collateral", "collateral: nothing to add")
        self.touch(ctx, account)
        self._post_collateral(ctx, account, pos, collateral)
        self.sync_stake(ctx, account)
        ctx.emit(
            "collateral_added", {"market": self.id, "account": account, "collateral": [list(c) for c in collateral]}
        )

    def repay(self, ctx: Ctx, account: str, amount: int) -> None:
        pos = self.position(account)
        self.touch(ctx, account)
        debt = self.debt_of(pos)
        owed = debt - pos.gas_reserve
        if amount > owed:
            reserve_note = (
                f" (the other {ctx.tokens(self.debt_asset, pos.gas_reserve)} is the gas compensation, "
                "repaid from the gas pool)"
                if pos.gas_reserve
                else ""
            )
            raise InvalidAmount(
                "amount",
                f"amount: {account} owes {ctx.tokens(self.debt_asset, owed)} in {self.id}{reserve_note}, "
                f"cannot repay {ctx.tokens(self.debt_asset, amount)}",
            )
        sink = self.reserve if self.kind == "lending" else ISSUER
        ctx.pull(user(account), sink, self.debt_asset, amount)
        if pos.gas_reserve and amount == owed:
            # Liquity `closeTrove`: the reserve is burned from the gas pool with the rest.
            ctx.transfer(self.gas_pool, ISSUER, self.debt_asset, pos.gas_reserve, "gas_compensation")
            ctx.j.set(pos, "gas_reserve", 0)
            amount = debt
        self._reduce_debt(ctx, pos, amount)
        self.sync_stake(ctx, account)
        if self.kind == "lending":
            self.sweep_reserves(ctx)
        ctx.emit("repaid", {"market": self.id, "account": account, "amount": amount})

    def claim_collateral(self, ctx: Ctx, account: str) -> None:
        """Liquity `CollSurplusPool.claimColl`: pay out the surplus of a capped liquidation."""
        owed = self.claimable.get(account)
        if not owed:
            raise InsufficientFunds("account", f"account: {account} has no collateral to claim in {self.id}")
        for asset, amount in sorted(owed.items()):
            ctx.transfer(self.surplus_account, user(account), asset, amount, "collateral")
        ctx.j.pop(self.claimable, account)
        ctx.emit("collateral_claimed", {"market": self.id, "account": account, "collateral": sorted(owed.items())})

    def position(self, account: str) -> Position:
        pos = self.positions.get(account)
        if pos is None:
            raise UnknownEntity("account", f"account: {account!r} has no position in {self.id}")
        return pos

    # -- losses ---------------------------------------------------------------------------
    def loss_sink(self, asset: str) -> str:
        if asset == self.debt_asset:
            return self.reserve if self.kind == "lending" else ISSUER
        return self.collateral_account

    def write_off(self, ctx: Ctx, asset: str, socialized: int) -> dict[str, int]:
        """Take the socialized part of a loss from the market's investors, pro rata; return who
        bore how much (suppliers by supply shares, or holders of the lost collateral)."""
        if socialized <= 0:
            return {}
        if self.ends_in_deficit(ctx.state):
            # Aave v3.3: the unpaid debt is the reserve's deficit; no supplier balance is cut.
            ctx.j.put(self.deficit, asset, self.deficit.get(asset, 0) + socialized)
            ctx.emit("deficit_recorded", {"market": self.id, "asset": asset, "amount": socialized})
            return {}
        ctx.j.set(self, "socialized_total", self.socialized_total + socialized)
        if asset == self.debt_asset:
            if self.kind == "lending":
                ctx.j.set(self, "supply_assets", max(0, self.supply_assets - socialized))
                return split_pro_rata(socialized, sorted((a, s) for a, s in self.supply_shares.items() if s))
            ctx.j.set(self, "unbacked", self.unbacked + socialized)
            return {}
        holders = sorted(
            (a, p.collateral.get(asset, 0)) for a, p in self.positions.items() if p.collateral.get(asset, 0) > 0
        )
        cuts = split_pro_rata(socialized, holders)
        for acct, cut in cuts.items():
            pos = self.positions[acct]
            if cut:
                ctx.j.put(pos.collateral, asset, pos.collateral[asset] - cut)
        return cuts

    def ends_in_deficit(self, state: Any) -> bool:
        """Whether the waterfall's end books a reserve deficit (a kind with `records_deficit`)."""
        return bool(getattr(state.layers[self.config.waterfall[-1]], "records_deficit", False))

    def cover_deficit(self, ctx: Ctx, asset: str, amount: int, pay: Any) -> int:
        """Cover up to `amount` of the deficit in `asset` (clamped to it, as Aave's
        `eliminateReserveDeficit`); `pay(units, sink)` moves the money; returns what was covered."""
        owed = self.deficit.get(asset, 0)
        if owed <= 0:
            raise NotPermitted("market", f"market: {self.id} has no {asset} deficit to cover")
        take = min(amount, owed)
        pay(take, self.loss_sink(asset))
        ctx.j.put(self.deficit, asset, owed - take)
        ctx.emit("deficit_covered", {"market": self.id, "asset": asset, "amount": take, "left": owed - take})
        return take

    # -- views ----------------------------------------------------------------------------
    def view(self, ctx: Ctx) -> MarketView:
        positions: dict[str, PositionView] = {}
        for acct in sorted(self.positions):
            pos = self.entire(ctx, acct, self.positions[acct])
            positions[acct] = PositionView(
                collateral={a: v for a, v in sorted(pos.collateral.items()) if v},
                debt=self.debt_of(pos),
                health_bps=self.health_bps(ctx, pos) if ctx.state.has_prices(self, pos) else None,
                gas_reserve=pos.gas_reserve,
            )
        tcr_bps: int | None = None
        recovery_mode: bool | None = None
        if self.config.recovery_ccr_bps:
            priced = self.debt_asset in ctx.state.prices and all(a in ctx.state.prices for a in self.coll)
            if priced:
                tcr_bps, recovery_mode = self.tcr_bps(ctx), self.in_recovery_mode(ctx)
        shows_deficit = self.ends_in_deficit(ctx.state) or any(self.deficit.values())
        return MarketView(
            kind=self.kind,
            debt_asset=self.debt_asset,
            total_debt=self.total_debt(),
            cash=ctx.state.ledger.balance(self.reserve, self.debt_asset),
            supply_assets=self.supply_assets,
            suppliers={a: self.supply_value(s) for a, s in sorted(self.supply_shares.items()) if s},
            bad_debt=self.bad_debt_total,
            socialized=self.socialized_total,
            unbacked=self.unbacked,
            interest=self.interest_total,
            positions=positions,
            deficit={a: v for a, v in sorted(self.deficit.items()) if v} if shows_deficit else None,
            tcr_bps=tcr_bps,
            recovery_mode=recovery_mode,
            gas_pool=ctx.state.ledger.balance(self.gas_pool, self.debt_asset) if self.config.gas_compensation else None,
            claimable_collateral={a: dict(sorted(c.items())) for a, c in sorted(self.claimable.items())} or None,
        )

    def hash_state(self) -> Any:
        return [
            self.index,
            self.total_scaled,
            self.last_accrual,
            self.supply_assets,
            self.supply_shares_total,
            sorted(self.supply_shares.items()),
            self.pending_reserves,
            self.unbacked,
            self.bad_debt_total,
            self.socialized_total,
            self.interest_total,
            sorted(
                (a, [sorted(p.collateral.items()), p.scaled_debt, *([p.gas_reserve] if p.gas_reserve else [])])
                for a, p in self.positions.items()
            ),
            # Only when used, so the state hash of a market without them is unchanged.
            *([sorted((a, sorted(c.items())) for a, c in self.claimable.items())] if self.claimable else []),
            *([["default_scaled", self.default_scaled]] if self.default_scaled else []),
        ] + ([sorted(self.deficit.items())] if self.deficit else [])
