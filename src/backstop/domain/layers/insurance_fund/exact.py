"""Insurance fund, exact rule: a plain balance that pays losses.

The fund is fed by reserve-factor interest, liquidation fees, premiums and donations. It pays
in the loss asset first; with `swap` it then sells its other assets at the oracle price less
`haircut_bps` (in asset-name order, so the result is deterministic). `max_payout_per_event`
bounds one event, in loss-asset units. Donations belong to the fund: no shares, no withdrawal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from ...context import Ctx
from ...errors import InvalidConfig
from ...ledger import user
from ...loss import Loss
from ..base import AccountView, Layer, LayerView, pay_in_kind
from ..spec import LayerConfig, amount, bps, flag


@dataclass(frozen=True, slots=True, kw_only=True)
class InsuranceFundConfig(LayerConfig):
    kind: Literal["insurance_fund"] = "insurance_fund"
    max_payout_per_event: int | None = amount()
    """Most the fund pays for one event, in units of the loss asset (None: no cap)."""
    swap: bool = flag()
    """Sell other assets it holds (at the oracle price less `haircut_bps`) once the loss asset is spent."""
    haircut_bps: int = bps(0)

    NEEDS_ASSET: ClassVar[bool] = False


F = TypeVar("F", bound=LayerConfig)


class BalanceLayer(Layer[F]):
    """A layer whose balance is the protocol's own: pays losses from it, in kind then by sale."""

    protocol_owned: ClassVar[bool] = True

    def __init__(self, layer_id: str, config: F) -> None:
        super().__init__(layer_id, config)
        self.contributions: dict[tuple[str, str], int] = {}

    @property
    def event_cap(self) -> int | None:
        return None

    @property
    def swaps(self) -> bool:
        return True

    @property
    def haircut_bps(self) -> int:
        return 0

    def deposit(self, ctx: Ctx, account: str, amount: int) -> None:
        """A donation: it belongs to the fund from now on (no shares, no withdrawal)."""
        asset = self._asset("asset")
        ctx.pull(user(account), self.account, asset, amount)
        key = (account, asset)
        ctx.j.put(self.contributions, key, self.contributions.get(key, 0) + amount)

    def _asset(self, field: str) -> str:
        if self.config.asset is None:
            raise InvalidConfig(field, f"{field}: layer {self.id} has no `asset` to receive deposits in")
        return self.config.asset

    def reward(self, ctx: Ctx, amount: int, source: str) -> None:
        asset = self._asset("asset")
        ctx.pull(source, self.account, asset, amount)

    def absorb(self, ctx: Ctx, loss: Loss, remaining: int) -> int:
        ledger = ctx.state.ledger
        cap = self.event_cap
        budget = remaining if cap is None else min(remaining, cap)
        _, covered = pay_in_kind(ctx, self.account, loss.asset, ledger.balance(self.account, loss.asset), loss, budget)
        if self.swaps:
            others = sorted(a for a in ctx.state.assets if ledger.balance(self.account, a) > 0)
            for asset in others:
                if covered >= budget:
                    break
                if asset == loss.asset:
                    continue
                held = ledger.balance(self.account, asset)
                covered += pay_in_kind(ctx, self.account, asset, held, loss, budget - covered, self.haircut_bps)[1]
        return covered

    def view(self, state: Any) -> LayerView:
        accounts: dict[str, AccountView] = {}
        donated: dict[str, dict[str, int]] = {}
        for (acct, asset), given in sorted(self.contributions.items()):
            donated.setdefault(acct, {})[asset] = given
        for acct, bag in donated.items():
            accounts[acct] = AccountView(deposit=bag)
        return LayerView(self.kind, self.asset, self.holdings(state), accounts)

    def account_view(self, state: Any, account: str) -> AccountView | None:
        contributions = self.contributions
        bag = {a: contributions[(account, a)] for a in sorted(state.assets) if (account, a) in contributions}
        return AccountView(deposit=bag) if bag else None

    def account_keys(self) -> dict[Any, Any]:
        return self.contributions

    def totals_view(self, state: Any) -> LayerView:
        return LayerView(self.kind, self.asset, self.holdings(state), {})

    def hash_state(self) -> Any:
        return sorted([list(k), v] for k, v in self.contributions.items())


class InsuranceFund(BalanceLayer[InsuranceFundConfig]):
    kind: ClassVar[str] = "insurance_fund"
    default_fee_layer: ClassVar[bool] = True

    @property
    def event_cap(self) -> int | None:
        return self.config.max_payout_per_event

    @property
    def swaps(self) -> bool:
        return self.config.swap

    @property
    def haircut_bps(self) -> int:
        return self.config.haircut_bps
