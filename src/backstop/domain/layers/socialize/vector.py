"""Socialized loss in the risk lab: pays whatever is left (the investors' loss)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..base_vector import Absorb, VectorLayer

if TYPE_CHECKING:
    from ....sim.model import SimModel


@dataclass(frozen=True)
class Vector(VectorLayer):
    terminal: ClassVar[bool] = True

    def absorb(self, s: Any, a: Absorb) -> np.ndarray:
        return a.remaining

    def scalar_params(self, model: SimModel) -> np.ndarray | None:
        return np.zeros(0)


# -- per-path scalar rule (compiled phase B) ------------------------------------------------------


def socialize_absorb(remaining: float) -> float:
    return remaining
