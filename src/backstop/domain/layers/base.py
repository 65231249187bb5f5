"""What every layer can be asked to do, and the shared rule for paying a loss in kind."""

from __future__ import annotations

from typing import Any

from ..commands import LayerConfig
from ..context import Ctx
from ..errors import NotPermitted
from ..ledger import DEX
from ..loss import Loss
from ..money import BPS, convert_down, convert_up, mul_div_down


class Layer:
    """Base layer: holds assets in `layer:<id>:assets`; refuses operations it does not support."""

    kind = "layer"

    def __init__(self, layer_id: str, config: LayerConfig) -> None:
        self.id = layer_id
        self.config = config
        self.account = f"layer:{layer_id}:assets"

    # -- operations a kind may support --------------------------------------------------
    def deposit(self, ctx: Ctx, account: str, amount: int) -> None:
        raise NotPermitted("layer", f"layer: {self.id} ({self.kind}) takes no deposits")

    def request_withdraw(self, ctx: Ctx, account: str, shares: int | None, amount: int | None) -> None:
        raise NotPermitted("layer", f"layer: {self.id} ({self.kind}) has no withdrawal requests")

    def cancel_withdraw(self, ctx: Ctx, account: str) -> None:
        raise NotPermitted("layer", f"layer: {self.id} ({self.kind}) has no withdrawal requests")

    def withdraw(self, ctx: Ctx, account: str, shares: int | None, amount: int | None) -> None:
        raise NotPermitted("layer", f"layer: {self.id} ({self.kind}) allows no withdrawals")

    def reward(self, ctx: Ctx, amount: int, source: str) -> None:
        raise NotPermitted("layer", f"layer: {self.id} ({self.kind}) takes no rewards")

    def absorb(self, ctx: Ctx, loss: Loss, remaining: int) -> int:
        """Pay part of `remaining` (in loss-asset units); return what was covered."""
        return 0

    def advance(self, ctx: Ctx) -> None:
        """Accrue anything that runs with time (guarantor premiums)."""

    def queued_bps(self) -> int:
        return 0

    # -- views ----------------------------------------------------------------------------
    def holdings(self, state: Any) -> dict[str, int]:
        """What the layer's ledger account holds, per asset (O(assets), not O(ledger))."""
        balances = state.ledger.balances
        out: dict[str, int] = {}
        for asset in sorted(state.assets):
            amount = balances.get((self.account, asset), 0)
            if amount:
                out[asset] = amount
        return out

    def view(self, state: Any) -> dict[str, Any]:
        return {"kind": self.kind, "total_assets": self.holdings(state), "accounts": {}}

    def hash_state(self) -> Any:
        return {}


def pay_in_kind(
    ctx: Ctx, payer: str, pay_asset: str, max_units: int, loss: Loss, remaining: int, haircut_bps: int = 0
) -> int:
    """Pay up to `max_units` of `pay_asset` towards `remaining` of the loss; return loss units covered.

    When the payer holds another asset than the loss, it is sold at the oracle price less
    `haircut_bps` (the payer pays the rounding: units needed round up, cover rounds down).
    """
    if max_units <= 0 or remaining <= 0:
        return 0
    if pay_asset == loss.asset:
        units = min(max_units, remaining)
        ctx.transfer(payer, loss.sink, pay_asset, units)
        return units
    eff_price = mul_div_down(ctx.price(pay_asset), BPS - haircut_bps, BPS)
    if eff_price <= 0:
        return 0
    loss_price = ctx.price(loss.asset)
    pay_dec = ctx.decimals(pay_asset)
    loss_dec = ctx.decimals(loss.asset)
    needed = convert_up(remaining, loss_price, loss_dec, eff_price, pay_dec)
    units = min(max_units, needed)
    covered = (
        remaining if units == needed else min(remaining, convert_down(units, eff_price, pay_dec, loss_price, loss_dec))
    )
    if units > 0:
        ctx.transfer(payer, DEX, pay_asset, units)
    if covered > 0:
        ctx.transfer(DEX, loss.sink, loss.asset, covered)
    return covered
