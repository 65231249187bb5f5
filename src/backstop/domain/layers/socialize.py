"""Socialized loss (design §6.6): whatever no layer paid is written off from the market's
suppliers or depositors pro rata. It is the investors' loss and is always reported."""

from __future__ import annotations

from ..context import Ctx
from ..loss import Loss
from .base import Layer


class Socialize(Layer):
    kind = "socialize"

    def absorb(self, ctx: Ctx, loss: Loss, remaining: int) -> int:
        # The market applies the write-off to its own books (see Market.write_off).
        return remaining
