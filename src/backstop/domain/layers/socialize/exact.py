"""Socialized loss, exact rule: whatever no layer paid is written off from the market's
suppliers or depositors pro rata (the market applies the write-off to its own books, see
`Market.write_off`). It is the investors' loss and is always reported. It ends every waterfall."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from ...context import Ctx
from ...loss import Loss
from ..base import Layer
from ..spec import LayerConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class SocializeConfig(LayerConfig):
    kind: Literal["socialize"] = "socialize"

    NEEDS_ASSET: ClassVar[bool] = False


class Socialize(Layer[SocializeConfig]):
    kind: ClassVar[str] = "socialize"
    terminal: ClassVar[bool] = True

    def absorb(self, ctx: Ctx, loss: Loss, remaining: int) -> int:
        return remaining
