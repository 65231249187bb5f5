"""What every layer can be asked to do in the exact engine, its typed view, and the shared rule
for paying a loss in kind (the vectorized twin of that rule is `base_vector.pay_in_kind`)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, ClassVar, Generic, TypeVar

from ..context import Ctx
from ..errors import NotPermitted
from ..ledger import DEX
from ..loss import Loss
from ..money import BPS, convert_down, convert_up, mul_div_down
from .spec import LayerConfig

C = TypeVar("C", bound=LayerConfig)


@dataclass(frozen=True, slots=True)
class AccountView:
    """One account's position in a layer. `deposit` is an amount of the layer's asset, or per
    asset for a fund that took donations in several; optional fields are shown when set."""

    deposit: int | dict[str, int] = 0
    shares: int = 0
    gains: dict[str, int] = dc_field(default_factory=dict)
    deposited: int | None = None
    withdrawn: int | None = None
    queued_shares: int | None = None


@dataclass(frozen=True, slots=True)
class LayerView:
    """What the CLI table, `run --json` and the API show of a layer. A kind adds its own fields
    in a subclass; each declares its unit in metadata (`count`, `amount`, `rate_e6`)."""

    kind: str
    asset: str | None
    total_assets: dict[str, int]
    accounts: dict[str, AccountView]


def count(default: int = 0) -> Any:
    """A view field shown as a plain integer (shares, P, scale, epoch)."""
    return dc_field(default=default, metadata={"unit": "count"})


def view_amount(default: int = 0) -> Any:
    """A view field in base units of the layer's asset."""
    return dc_field(default=default, metadata={"unit": "amount"})


def rate_e6(default: int = 0, key: str = "") -> Any:
    """A view field that is a ratio scaled by 1e6 (shown with six decimals), under the name `key`."""
    return dc_field(default=default, metadata={"unit": "rate_e6", "key": key})


class Layer(Generic[C]):
    """Base layer: holds assets in `layer:<id>:assets`; refuses operations it does not support.

    Class attributes say what the generic code may rely on, so nothing outside a kind's home
    needs its name: `protocol_owned` (the balance is the protocol's own: it may pay rewards and
    premiums to other layers), `default_fee_layer` (receives a market's fees when none is named),
    `first_in_waterfall` / `terminal` (where the kind must sit in a market's waterfall)."""

    kind: ClassVar[str] = "layer"
    protocol_owned: ClassVar[bool] = False
    default_fee_layer: ClassVar[bool] = False
    first_in_waterfall: ClassVar[bool] = False
    terminal: ClassVar[bool] = False
    redistributes: ClassVar[bool] = False
    """Takes what a cdp's stability pool cannot offset at liquidation onto the other troves."""

    def __init__(self, layer_id: str, config: C) -> None:
        self.id = layer_id
        self.config = config
        self.account = f"layer:{layer_id}:assets"
        self.asset: str | None = config.asset

    @classmethod
    def check_config(cls, state: Any, config: C) -> None:
        """Checks of this kind's config beyond each field's declared range (run before it is added)."""

    def on_added(self, ctx: Ctx) -> None:
        """Runs once, in the command that adds the layer."""

    def check_place(self, state: Any, market_id: str, market_cfg: Any, index: int) -> None:
        """Refuse a place in a market's waterfall that the kind's rule does not allow."""

    def on_market_added(self, ctx: Ctx, market_id: str) -> None:
        """Runs when a market that has this layer in its waterfall is added."""

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

    def freeze_queued_bps(self, what: str) -> int | None:
        """Queued share (bps) at which a market using this layer refuses new `what` ("borrow" or
        "supply"); None: the layer never freezes a market."""
        return None

    # -- views ----------------------------------------------------------------------------
    def holdings(self, state: Any) -> dict[str, int]:
        """What the layer's ledger account holds, per asset (O(assets), not O(ledger)); the
        layer's own asset is always listed, at 0 when it holds none."""
        balances = state.ledger.balances
        out: dict[str, int] = {}
        own = self.asset
        for asset in sorted(state.assets):
            amount = balances.get((self.account, asset), 0)
            if amount or asset == own:
                out[asset] = amount
        return out

    def view(self, state: Any) -> LayerView:
        return LayerView(self.kind, self.asset, self.holdings(state), {})

    def account_view(self, state: Any, account: str) -> AccountView | None:
        """`view(state).accounts.get(account)` in O(that account's records), for the API's
        one-account read; a kind whose view lists accounts overrides it (tests/domain/
        test_account_view.py holds every kind to the equality)."""
        return None

    def account_keys(self) -> dict[Any, Any]:
        """The mapping whose keys name the accounts of `view(state).accounts` (an account, or an
        `(account, asset)` pair): it only ever gains keys, so the API pages a layer's accounts
        from an index it keeps up to date from the mapping's newest keys (`api/readmodel.py`)."""
        return {}

    def totals_view(self, state: Any) -> LayerView:
        """`view(state)` without its per-account map, in O(1) in the number of accounts (the
        API's `/v1/layers`); a kind whose view lists accounts overrides it."""
        return self.view(state)

    def hash_state(self) -> Any:
        return {}


def pay_in_kind(
    ctx: Ctx,
    payer: str,
    pay_asset: str,
    max_units: int | None,
    loss: Loss,
    remaining: int,
    haircut_bps: int = 0,
    field: str = "amount",
) -> tuple[int, int]:
    """Pay up to `max_units` (None: no limit) of `pay_asset` towards `remaining` of the loss;
    return (units paid, loss units covered).

    When the payer holds another asset than the loss, it is sold at the oracle price less
    `haircut_bps` (the payer pays the rounding: units needed round up, cover rounds down). A
    payer never gives up units for no cover.
    """
    if (max_units is not None and max_units <= 0) or remaining <= 0:
        return 0, 0
    if pay_asset == loss.asset:
        units = remaining if max_units is None else min(max_units, remaining)
        ctx.transfer(payer, loss.sink, pay_asset, units, field)
        return units, units
    eff_price = mul_div_down(ctx.price(pay_asset), BPS - haircut_bps, BPS)
    if eff_price <= 0:
        return 0, 0
    loss_price = ctx.price(loss.asset)
    pay_dec = ctx.decimals(pay_asset)
    loss_dec = ctx.decimals(loss.asset)
    needed = convert_up(remaining, loss_price, loss_dec, eff_price, pay_dec)
    units = needed if max_units is None else min(max_units, needed)
    covered = (
        remaining if units == needed else min(remaining, convert_down(units, eff_price, pay_dec, loss_price, loss_dec))
    )
    if units <= 0 or covered <= 0:
        return 0, 0
    ctx.transfer(payer, DEX, pay_asset, units, field)
    ctx.transfer(DEX, loss.sink, loss.asset, covered)
    return units, covered
