"""Socialized loss in the risk lab: pays whatever is left (the investors' loss)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..base_vector import Absorb, VectorLayer


@dataclass(frozen=True)
class Vector(VectorLayer):
    terminal: ClassVar[bool] = True

    def absorb(self, s: Any, a: Absorb) -> np.ndarray:
        return a.remaining
