"""Insurance fund and treasury (design §6.1, §6.5): plain balances that pay losses.

The fund is fed by reserve-factor interest, liquidation fees, premiums and donations. It pays
in the loss asset first; with `swap` it then sells its other assets at the oracle price less
`haircut_bps` (in asset-name order, so the result is deterministic). `max_payout_per_event`
(insurance fund) or `cap` (treasury) bound one event, in loss-asset units.
"""

from __future__ import annotations

from typing import Any

from ..commands import LayerConfig
from ..context import Ctx
from ..errors import InvalidConfig
from ..ledger import user
from ..loss import Loss
from .base import Layer, pay_in_kind


class InsuranceFund(Layer):
    kind = "insurance_fund"

    def __init__(self, layer_id: str, config: LayerConfig) -> None:
        super().__init__(layer_id, config)
        self.contributions: dict[tuple[str, str], int] = {}

    @property
    def event_cap(self) -> int | None:
        return self.config.max_payout_per_event

    @property
    def swaps(self) -> bool:
        return self.config.swap

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
        covered = 0
        covered += pay_in_kind(ctx, self.account, loss.asset, ledger.balance(self.account, loss.asset), loss, budget)
        if self.swaps:
            others = sorted(a for a in ctx.state.assets if ledger.balance(self.account, a) > 0)
            for asset in others:
                if covered >= budget:
                    break
                if asset == loss.asset:
                    continue
                covered += pay_in_kind(
                    ctx,
                    self.account,
                    asset,
                    ledger.balance(self.account, asset),
                    loss,
                    budget - covered,
                    self.config.haircut_bps,
                )
        return covered

    def view(self, state: Any) -> dict[str, Any]:
        accounts: dict[str, Any] = {}
        for (acct, asset), amount in sorted(self.contributions.items()):
            accounts.setdefault(acct, {"deposit": {}, "shares": 0, "gains": {}})["deposit"][asset] = amount
        return {"kind": self.kind, "total_assets": self.holdings(state), "accounts": accounts}

    def hash_state(self) -> Any:
        return sorted([list(k), v] for k, v in self.contributions.items())


class Treasury(InsuranceFund):
    """The platform's own funds: same rules as the fund, bounded per event by `cap`, swap on."""

    kind = "treasury"

    @property
    def event_cap(self) -> int | None:
        return self.config.cap

    @property
    def swaps(self) -> bool:
        return True
