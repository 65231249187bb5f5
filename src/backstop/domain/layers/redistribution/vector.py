"""Redistribution in the risk lab: not simulated yet, and refused with a clear error.

Redistribution moves a liquidated trove's debt and collateral onto the other troves, which
moves their liquidation prices while the path runs. The risk lab finds liquidations in phase A
from fixed liquidation prices, independent of the backstop; redistribution breaks that
independence, so a faithful mirror needs liquidation triggers re-evaluated in phase B path by
path (docs/risk-lab.md, "What is not simulated"). Until then a scenario with this layer is
refused rather than simulated wrongly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from ...errors import InvalidConfig
from ..base_vector import VectorLayer

if TYPE_CHECKING:
    from ....sim.model import LayerCompiler


@dataclass(frozen=True)
class Vector(VectorLayer):
    @classmethod
    def compile(cls, c: LayerCompiler, layer: Any) -> Self:
        field = f"layers.{layer.id}"
        raise InvalidConfig(
            field,
            f"{field}: the risk lab does not simulate Liquity redistribution yet (it moves other troves' "
            "liquidation prices during a path); run this scenario with `backstop run`",
        )
