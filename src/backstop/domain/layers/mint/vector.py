"""Mint layer in the risk lab: sells governance tokens at the price less the discount, up to the
cap in tokens over the horizon; the tokens sold are the holders' dilution (see `exact.py`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from ...money import BPS
from ..base_vector import Absorb, VectorLayer, pay_in_kind

if TYPE_CHECKING:
    from ....sim.model import LayerCompiler, SimModel
    from ....sim.waterfall import Outcome


@dataclass
class MintState:
    minted: np.ndarray


@dataclass(frozen=True)
class Vector(VectorLayer):
    mint_cap: float = math.inf
    minted0: float = 0.0
    discount: float = 0.0

    size_meaning: ClassVar[str | None] = "cap in governance tokens"

    @classmethod
    def compile(cls, c: LayerCompiler, layer: Any) -> Self:
        cap = layer.config.cap
        return cls(
            layer.id,
            layer.kind,
            asset=c.asset_of(layer),
            mint_cap=math.inf if cap is None else c.units(layer.token, cap),
            minted0=c.units(layer.token, layer.minted),
            discount=layer.config.discount_bps / BPS,
        )

    def size_of(self) -> float:
        return self.mint_cap

    def with_size(self, size: float) -> Self:
        return replace(self, mint_cap=size)

    def premium_base(self) -> float:
        return 0.0

    def _fixed_eff_price(self, model: SimModel) -> float:
        """Tokens sold per unit of loss are p_loss / (p_token · (1 − discount)): bounded only when
        both prices are fixed (0.0 when they are not)."""
        fixed = model.price_rows[self.asset] < 0 and model.price_rows[model.loss_asset] < 0
        eff = float(model.prices0[self.asset]) * (1.0 - self.discount)
        return eff if fixed and eff > 0 else 0.0

    def bounded_size(self, model: SimModel) -> bool:
        return self._fixed_eff_price(model) > 0

    def size_ceiling(self, model: SimModel, need: float) -> float:
        eff = self._fixed_eff_price(model)
        if eff <= 0:
            return math.inf
        return 2.0 * (need * float(model.prices0[model.loss_asset]) / eff) + 1.0

    def summary(self, outcome: Outcome, j: int, horizon_years: float, paid_mean: float) -> dict[str, float]:
        return {"minted_mean": float(outcome.minted[:, j].mean())}

    def start(self, n: int, defaulted: np.ndarray) -> MintState:
        return MintState(np.full(n, self.minted0, dtype=float))

    def absorb(self, s: MintState, a: Absorb) -> np.ndarray:
        minted, p = s.minted, a.p
        room = np.maximum(0.0, self.mint_cap - minted[p])
        units, paid = pay_in_kind(room, a.prices[:, self.asset], a.loss_price, self.discount, a.remaining, False)
        minted[p] += units
        a.out.minted[p, a.j] += units
        return paid
