"""Stability pool in the risk lab: its deposits absorb liquidated debt first (the settlement of
every liquidation reads them, `sim/liquidation.py`); it pays nothing for a loss event. Its loss
is the debt it burned less the value of the collateral it received."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from ..base_vector import AbsorbingLayer

if TYPE_CHECKING:
    from ....sim.model import LayerCompiler, SimModel


@dataclass
class PoolState:
    dep: np.ndarray
    """Deposits per path; they change only by absorption."""


@dataclass(frozen=True)
class Vector(AbsorbingLayer):
    deposits0: float = 0.0

    absorbs_liquidations: ClassVar[bool] = True
    size_meaning: ClassVar[str | None] = "deposits"

    @classmethod
    def compile(cls, c: LayerCompiler, layer: Any) -> Self:
        return cls(layer.id, layer.kind, asset=c.asset_of(layer), deposits0=c.units(layer.asset, layer.total_deposits))

    def size_of(self) -> float:
        return self.deposits0

    def with_size(self, size: float) -> Self:
        return replace(self, deposits0=size)

    def start(self, n: int, defaulted: np.ndarray) -> PoolState:
        return PoolState(np.full(n, self.deposits0, dtype=float))

    def scalar_params(self, model: SimModel) -> np.ndarray | None:
        """Compiled phase B: the deposits before each liquidation are followed path by path before
        the settlements (`sim/phase_b.py`); in a waterfall the pool pays nothing (no state here)."""
        return np.zeros(0)
