"""Mint layer, exact rule: sell newly minted governance tokens to cover the rest (Maker's "flop"
debt auctions, used after Black Thursday, March 2020).

Tokens are sold at the oracle price × (1 − `discount_bps`), up to `cap` tokens over the
layer's life, through the same `pay_in_kind` rule as any payer selling an asset. Minting comes
from the issuer (an external account), so it shows in the ledger as new supply; the tokens
minted are the holders' dilution and are always reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from ...context import Ctx
from ...ledger import ISSUER
from ...loss import Loss
from ..base import Layer, LayerView, pay_in_kind, view_amount
from ..spec import LayerConfig, amount, bps


@dataclass(frozen=True, slots=True, kw_only=True)
class MintConfig(LayerConfig):
    kind: Literal["mint"] = "mint"
    cap: int | None = amount()
    """Most governance tokens the layer may ever mint (None: no cap)."""
    discount_bps: int = bps(0)
    """Discount the buyers of minted tokens win on the oracle price."""


@dataclass(frozen=True, slots=True)
class MintView(LayerView):
    minted: int = view_amount()


class Mint(Layer[MintConfig]):
    kind: ClassVar[str] = "mint"

    def __init__(self, layer_id: str, config: MintConfig) -> None:
        super().__init__(layer_id, config)
        assert config.asset is not None  # checked with the config (`NEEDS_ASSET`)
        self.token: str = config.asset
        self.minted = 0

    def absorb(self, ctx: Ctx, loss: Loss, remaining: int) -> int:
        cap = self.config.cap
        room = None if cap is None else cap - self.minted
        tokens, covered = pay_in_kind(
            ctx, ISSUER, self.token, room, loss, remaining, self.config.discount_bps, "minted"
        )
        if tokens <= 0:
            return 0
        ctx.j.set(self, "minted", self.minted + tokens)
        ctx.j.put(ctx.state.minted, self.token, ctx.state.minted.get(self.token, 0) + tokens)
        ctx.emit(
            "minted", {"layer": self.id, "loss": loss.id, "token": self.token, "tokens": tokens, "covered": covered}
        )
        return covered

    def view(self, state: Any) -> MintView:
        return MintView(self.kind, self.token, {}, {}, minted=self.minted)

    def hash_state(self) -> Any:
        return [self.minted]
