"""Mint layer (design §6.5): sell newly minted governance tokens to cover the rest (Maker's
"flop" debt auctions, used after Black Thursday, March 2020).

Tokens are sold at the oracle price × (1 − `discount_bps`), up to `cap` tokens over the
layer's life. Minting comes from the issuer (an external account), so it shows in the ledger
as new supply; the tokens minted are the holders' dilution and are always reported.
"""

from __future__ import annotations

from typing import Any

from ..commands import LayerConfig
from ..context import Ctx
from ..errors import InvalidConfig
from ..ledger import DEX, ISSUER
from ..loss import Loss
from ..money import BPS, convert_down, convert_up, mul_div_down
from .base import Layer


class Mint(Layer):
    kind = "mint"

    def __init__(self, layer_id: str, config: LayerConfig) -> None:
        super().__init__(layer_id, config)
        if config.asset is None:
            raise InvalidConfig("asset", f"asset: mint layer {layer_id} needs the governance token as `asset`")
        self.token: str = config.asset
        self.minted = 0

    def absorb(self, ctx: Ctx, loss: Loss, remaining: int) -> int:
        cap = self.config.cap
        room = remaining if cap is None else cap - self.minted
        if room <= 0 or remaining <= 0:
            return 0
        eff = mul_div_down(ctx.price(self.token), BPS - self.config.discount_bps, BPS)
        if eff <= 0:
            return 0
        tdec = ctx.decimals(self.token)
        ldec = ctx.decimals(loss.asset)
        lprice = ctx.price(loss.asset)
        needed = convert_up(remaining, lprice, ldec, eff, tdec)
        tokens = needed if cap is None else min(needed, room)
        covered = remaining if tokens == needed else min(remaining, convert_down(tokens, eff, tdec, lprice, ldec))
        if tokens <= 0 or covered <= 0:
            return 0
        ctx.transfer(ISSUER, DEX, self.token, tokens, "minted")
        ctx.transfer(DEX, loss.sink, loss.asset, covered)
        ctx.j.set(self, "minted", self.minted + tokens)
        ctx.j.put(ctx.state.minted, self.token, ctx.state.minted.get(self.token, 0) + tokens)
        ctx.emit(
            "minted", {"layer": self.id, "loss": loss.id, "token": self.token, "tokens": tokens, "covered": covered}
        )
        return covered

    def view(self, state: Any) -> dict[str, Any]:
        return {"kind": self.kind, "asset": self.token, "total_assets": {}, "accounts": {}, "minted": self.minted}

    def hash_state(self) -> Any:
        return [self.minted]
