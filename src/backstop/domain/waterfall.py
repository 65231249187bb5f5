"""Runs a loss event through a market's ordered layers (docs/engine.md and docs/layers/).

Each layer pays what its rules allow, the remainder goes to the next one, and the last layer
is always `socialize`, so Σ allocation = loss exactly. The allocation is an event.
"""

from __future__ import annotations

from .context import Ctx
from .loss import Loss
from .markets.market import Market


def run_loss(ctx: Ctx, market: Market, asset: str, amount: int, cause: str, incident: str | None = None) -> Loss:
    state = ctx.state
    loss = Loss(
        id=f"loss-{len(state.losses) + 1}",
        market=market.id,
        asset=asset,
        amount=amount,
        cause=cause,
        at=ctx.at,
        sink=market.loss_sink(asset),
        incident=incident,
    )
    remaining = amount
    for layer_id in market.config.waterfall:
        layer = state.layers[layer_id]
        paid = layer.absorb(ctx, loss, remaining) if remaining > 0 else 0
        loss.allocation[layer_id] = paid
        remaining -= paid
        if layer.kind == "socialize":
            loss.by_account = market.write_off(ctx, asset, paid)
    if remaining != 0:  # the market config guarantees a final socialize layer
        raise AssertionError(f"waterfall of {market.id} left {remaining} unallocated")
    ctx.j.append(state.losses, loss)
    ctx.emit("loss", loss.to_dict())
    return loss
