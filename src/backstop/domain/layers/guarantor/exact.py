"""Guarantor layer, exact rule: excess-of-loss cover sold by an external party for a premium.

The layer pays `min(remaining, max(0, min(loss, attachment + limit) − attachment))`, measured
on the event's whole loss, so stacked layers (2M xs 1M, then 5M xs 3M) split a loss the way a
reinsurance tower does. An optional `aggregate_limit` bounds what it pays per year (counted
from the layer's creation). The premium, `premium_bps_per_year` of the limit, is accrued on
time from a named payer layer (insurance fund or treasury) to the guarantor; if the payer
cannot pay in full, cover lapses and later losses skip the layer (an event says so).

Reinstatements (`reinstatements: N`, reinsurance market practice, docs/layers/guarantor.md): the
limit is a bank that each recovery uses up and that is refilled ("reinstated") by what was used,
at most N times the limit per contract year, so the year's cover is (N + 1) × `limit`. Each
reinstatement is charged to the payer at `reinstatement_premium_bps` of the annual premium, pro
rata to the limit reinstated (100% as to time: no time factor), when the loss uses it. Without
`reinstatements` the limit is not a bank (unlimited reinstatements, free).

Posted collateral pays first. The rest is paid from the guarantor's own wallet unless a
`guarantor_defaults` command has been applied, in which case the uncollateralized part is
unpaid and passes down the waterfall (the risk lab draws that default with a probability).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from ...context import Ctx
from ...errors import InvalidConfig, NotPermitted, UnknownEntity
from ...ledger import user
from ...loss import Loss
from ...money import BPS, SECONDS_PER_YEAR, mul_div_up
from ..base import Layer, LayerView, view_amount
from ..spec import LayerConfig, account, amount, bps, count, layer_ref


@dataclass(frozen=True, slots=True, kw_only=True)
class GuarantorConfig(LayerConfig):
    kind: Literal["guarantor"] = "guarantor"
    guarantor: str | None = account()
    """The account of the party that sells the cover."""
    attachment: int = amount(0)
    limit: int = amount(0)
    aggregate_limit: int | None = amount()
    """Most the layer pays per contract year (None: no aggregate limit)."""
    premium_bps_per_year: int = bps(0, upper=10 * BPS)
    """Premium per year, in bps of the limit."""
    payer: str | None = layer_ref()
    """The fund or treasury that pays the premium."""
    collateral: int = amount(0)
    """Posted by the guarantor when the layer is added; pays first."""
    reinstatements: int | None = count(None)
    """How many times per contract year the limit used by losses is reinstated (None: no limit
    bank, the limit applies afresh to every event)."""
    reinstatement_premium_bps: int = bps(0, upper=10 * BPS)
    """Premium for reinstating the whole limit, in bps of the annual premium (10000 = "100%
    a.p."); charged pro rata to the limit reinstated."""


@dataclass(frozen=True, slots=True)
class GuarantorView(LayerView):
    """Shown for a guarantor with `reinstatements`: what is left of its limit this contract year."""

    limit_left: int = view_amount()
    reinstated: int = view_amount()
    """Limit reinstated so far this contract year (at most N × limit)."""
    reinstatement_premiums: int = view_amount()
    """All reinstatement premiums charged to the payer since the layer was added."""


class Guarantor(Layer[GuarantorConfig]):
    kind: ClassVar[str] = "guarantor"

    def __init__(self, layer_id: str, config: GuarantorConfig) -> None:
        super().__init__(layer_id, config)
        if config.asset is None or config.guarantor is None:
            raise InvalidConfig("guarantor", f"guarantor: layer {layer_id} needs `asset` and `guarantor`")
        self.asset: str = config.asset
        self.guarantor: str = config.guarantor
        self.created_at = 0
        self.accrued_to = 0
        self.lapsed = False
        self.defaulted = False
        self.year = 0
        self.paid_this_year = 0
        self.losses_paid = 0
        self.premiums_earned = 0
        self.premium_carry = 0
        """Premium owed but not yet due as a whole base unit (numerator over BPS × year)."""
        self.limit_left = config.limit
        self.reinstated = 0
        self.reinstatement_premiums = 0

    @classmethod
    def check_config(cls, state: Any, config: GuarantorConfig) -> None:
        if config.limit <= 0:
            raise InvalidConfig("limit", "limit: a guarantor layer needs a positive limit")
        if not config.guarantor:
            raise InvalidConfig("guarantor", "guarantor: name the account of the guarantor")
        if config.payer is not None:
            payer = state.layers.get(config.payer)
            if payer is None:
                raise UnknownEntity("payer", f"payer: unknown layer {config.payer!r}")
            if not payer.protocol_owned:
                raise InvalidConfig(
                    "payer", f"payer: {config.payer} is a {payer.kind}; premiums come from a fund or treasury"
                )
        if config.premium_bps_per_year > 0 and config.payer is None:
            raise InvalidConfig("payer", "payer: a guarantor with a premium needs a payer layer")
        if config.reinstatement_premium_bps > 0 and config.reinstatements is None:
            raise InvalidConfig(
                "reinstatement_premium_bps",
                "reinstatement_premium_bps: set `reinstatements` (how many times the limit is reinstated)",
            )
        if config.reinstatement_premium_bps > 0 and config.payer is None:
            raise InvalidConfig("payer", "payer: a guarantor with a reinstatement premium needs a payer layer")

    def on_added(self, ctx: Ctx) -> None:
        self.created_at = ctx.at
        self.accrued_to = ctx.at
        if self.config.collateral > 0:
            self.post_collateral(ctx, self.config.collateral)

    def post_collateral(self, ctx: Ctx, amount: int) -> None:
        ctx.pull(user(self.guarantor), self.account, self.asset, amount, "collateral")

    def deposit(self, ctx: Ctx, account: str, amount: int) -> None:
        """Only the guarantor adds collateral to its own layer."""
        if account != self.guarantor:
            raise NotPermitted("account", f"account: only {self.guarantor} posts collateral to {self.id}")
        self.post_collateral(ctx, amount)
        ctx.emit("collateral_posted", {"layer": self.id, "amount": amount})

    def _roll_year(self, ctx: Ctx) -> None:
        year = (ctx.at - self.created_at) // SECONDS_PER_YEAR
        if year != self.year:
            ctx.j.set(self, "year", year)
            ctx.j.set(self, "paid_this_year", 0)
            ctx.j.set(self, "limit_left", self.config.limit)
            ctx.j.set(self, "reinstated", 0)

    def owed_for(self, loss_amount: int) -> int:
        c = self.config
        return max(0, min(loss_amount, c.attachment + c.limit) - c.attachment)

    def absorb(self, ctx: Ctx, loss: Loss, remaining: int) -> int:
        if self.lapsed or loss.asset != self.asset or remaining <= 0:
            return 0
        self._roll_year(ctx)
        due = min(remaining, self.owed_for(loss.amount))
        if self.config.aggregate_limit is not None:
            due = min(due, max(0, self.config.aggregate_limit - self.paid_this_year))
        if self.config.reinstatements is not None:
            due = min(due, self.limit_left)
        if due <= 0:
            return 0
        collateral = ctx.state.ledger.balance(self.account, self.asset)
        from_collateral = min(due, collateral)
        ctx.transfer(self.account, loss.sink, self.asset, from_collateral, "collateral")
        from_wallet = 0 if self.defaulted else due - from_collateral
        if from_wallet:
            ctx.pull(user(self.guarantor), loss.sink, self.asset, from_wallet)
        paid = from_collateral + from_wallet
        ctx.j.set(self, "paid_this_year", self.paid_this_year + paid)
        ctx.j.set(self, "losses_paid", self.losses_paid + paid)
        ctx.emit(
            "guarantor_paid",
            {
                "layer": self.id,
                "loss": loss.id,
                "from_collateral": from_collateral,
                "from_guarantor": from_wallet,
                "unpaid": due - paid,
            },
        )
        if self.config.reinstatements is not None and paid > 0:
            self._reinstate(ctx, loss, paid)
        return paid

    def _reinstate(self, ctx: Ctx, loss: Loss, used: int) -> None:
        """Refill the limit bank by what `used` took, within N × limit a year, and charge the payer
        `used / limit × annual premium × reinstatement_premium_bps` (rounded up: the payer pays
        the rounding). A payer that cannot pay in full pays what it has and the cover lapses,
        as for the annual premium."""
        c = self.config
        assert c.reinstatements is not None
        back = min(used, c.reinstatements * c.limit - self.reinstated)
        ctx.j.set(self, "limit_left", self.limit_left - used + back)
        if back <= 0:
            return
        ctx.j.set(self, "reinstated", self.reinstated + back)
        due = mul_div_up(back, c.premium_bps_per_year * c.reinstatement_premium_bps, BPS * BPS)
        event: dict[str, Any] = {"layer": self.id, "loss": loss.id, "reinstated": back, "premium": due}
        if due > 0 and c.payer is not None:
            payer = ctx.state.layers[c.payer]
            available = ctx.state.ledger.balance(payer.account, self.asset)
            pay = min(due, available)
            ctx.transfer(payer.account, user(self.guarantor), self.asset, pay, "reinstatement_premium")
            ctx.j.set(self, "premiums_earned", self.premiums_earned + pay)
            ctx.j.set(self, "reinstatement_premiums", self.reinstatement_premiums + pay)
            event["paid"] = pay
            if pay < due:
                ctx.j.set(self, "lapsed", True)
                ctx.emit("cover_lapsed", {"layer": self.id, "premium_due": due, "paid": pay, "payer": c.payer})
        ctx.emit("limit_reinstated", event)

    def advance(self, ctx: Ctx) -> None:
        """Accrue the premium since the last accrual and collect it from the payer, or lapse."""
        c = self.config
        dt_seconds = ctx.at - self.accrued_to
        if self.lapsed or c.premium_bps_per_year == 0 or dt_seconds <= 0 or c.payer is None:
            return
        ctx.j.set(self, "accrued_to", ctx.at)
        # Exact accrual: carry the sub-unit remainder so Σ premiums over many small steps equals
        # one step over the same time (payer pays whole units, rounded up at each collection).
        numerator = self.premium_carry + c.limit * c.premium_bps_per_year * dt_seconds
        denom = BPS * SECONDS_PER_YEAR
        due = mul_div_up(numerator, 1, denom)
        ctx.j.set(self, "premium_carry", numerator - due * denom)
        if due <= 0:
            return
        payer = ctx.state.layers[c.payer]
        available = ctx.state.ledger.balance(payer.account, self.asset)
        if available < due:
            ctx.transfer(payer.account, user(self.guarantor), self.asset, available, "premium")
            ctx.j.set(self, "premiums_earned", self.premiums_earned + available)
            ctx.j.set(self, "lapsed", True)
            ctx.emit("cover_lapsed", {"layer": self.id, "premium_due": due, "paid": available, "payer": c.payer})
            return
        ctx.transfer(payer.account, user(self.guarantor), self.asset, due, "premium")
        ctx.j.set(self, "premiums_earned", self.premiums_earned + due)
        ctx.emit("premium_paid", {"layer": self.id, "amount": due, "payer": c.payer})

    def default(self, ctx: Ctx) -> None:
        ctx.j.set(self, "defaulted", True)
        ctx.emit("guarantor_defaulted", {"layer": self.id, "guarantor": self.guarantor})

    def view(self, state: Any) -> LayerView:
        if self.config.reinstatements is None:
            return LayerView(self.kind, self.asset, self.holdings(state), {})
        return GuarantorView(
            self.kind,
            self.asset,
            self.holdings(state),
            {},
            limit_left=self.limit_left,
            reinstated=self.reinstated,
            reinstatement_premiums=self.reinstatement_premiums,
        )

    def hash_state(self) -> Any:
        # The limit bank is hashed only where it exists, so layers without reinstatements hash as before.
        bank = (
            []
            if self.config.reinstatements is None
            else [self.limit_left, self.reinstated, self.reinstatement_premiums]
        )
        return [
            self.created_at,
            self.accrued_to,
            self.lapsed,
            self.defaulted,
            self.year,
            self.paid_this_year,
            self.losses_paid,
            self.premiums_earned,
            self.premium_carry,
            *bank,
        ]
