"""Reserve deficit in the risk lab: takes whatever is left, like `socialize`, but it is the
market's deficit (suppliers not cut), not an investor loss: the capability `records_deficit`
tells the reports to show it as `deficit`, apart from the socialized loss."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..base_vector import Absorb, VectorLayer


@dataclass(frozen=True)
class Vector(VectorLayer):
    terminal: ClassVar[bool] = True
    records_deficit: ClassVar[bool] = True

    def absorb(self, s: Any, a: Absorb) -> np.ndarray:
        return a.remaining
