"""Smallest size of a layer that keeps P(socialized loss > 0) at or below a target.

Sizing bisects on the layer's size with common random numbers: every candidate runs phase B
(the backstop) on the very same worlds (prices, liquidations, incidents), so the estimated
probability is a monotone step function of the size whenever each path's socialized loss is
(more fund, more stake, a bigger guarantor limit or stability pool never socialize more on a
given path). With independent draws per candidate the estimate is as noisy as the target is
small, and bisection can walk the wrong way; the benchmark measures how many more paths that
costs for the same confidence interval.

The interval on the size is the range of sizes whose estimated probability is within the 95%
Monte Carlo interval of the target.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..domain.errors import InvalidConfig
from . import metrics
from .chunk import backstop_all
from .model import SimModel
from .waterfall import Outcome
from .world import World


def socialized_mask(model: SimModel, outcome: Outcome, deficit: bool | None = None) -> np.ndarray:
    """Paths on which a loss reached the end of a waterfall. `deficit`: None counts every end
    (sizing targets an unpaid loss, whether it is socialized or a reserve deficit), False only
    the ends that are the investors' loss, True only those that book a deficit (`records_deficit`)."""
    cols = [
        j
        for j, layer in enumerate(model.layers)
        if layer.terminal and (deficit is None or layer.records_deficit == deficit)
    ]
    soc = outcome.alloc[:, cols].sum(axis=1) if cols else np.zeros(len(outcome.loss))
    out: np.ndarray = soc > 1e-9 * np.maximum(1.0, outcome.loss)
    return out


def check_target(target_p: float) -> None:
    if not (0.0 < target_p < 1.0):
        raise InvalidConfig("target_p", f"target_p: must be strictly between 0 and 1, got {target_p}")


@dataclass
class SizeResult:
    layer: str
    kind: str
    target_p: float
    size: float
    """Smallest size found (to `rel_tol`) with P̂(socialized) ≤ target; inf if none was found."""
    p_at_size: metrics.Estimate
    size_ci: tuple[float, float]
    reached: bool
    evaluations: int
    current_size: float
    curve: list[tuple[float, float]] = field(default_factory=list)
    """(size, P̂(socialized)) points, for the sizing curve."""

    def as_dict(self) -> dict[str, Any]:
        f = metrics.format_amount
        return {
            "layer": self.layer,
            "kind": self.kind,
            "target_p": self.target_p,
            "reached": self.reached,
            "size": f(self.size) if math.isfinite(self.size) else None,
            "size_ci": [f(x) if math.isfinite(x) else None for x in self.size_ci],
            "current_size": f(self.current_size),
            "p_socialized_at_size": {"value": self.p_at_size.value, "se": self.p_at_size.se},
            "evaluations": self.evaluations,
        }


class Curve:
    """P̂(socialized) as a function of one layer's size, on fixed worlds (memoised)."""

    def __init__(self, model: SimModel, worlds: list[World], layer_id: str) -> None:
        self.model = model
        self.worlds = worlds
        self.layer_id = layer_id
        self.cache: dict[float, np.ndarray] = {}
        self.prepared: dict[int, Any] = {}
        """Phase B's preparation of each world, reused across sizes (the compiled path, `phase_b.py`)."""

    def mask(self, size: float) -> np.ndarray:
        if size not in self.cache:
            outcome = backstop_all(self.model.with_size(self.layer_id, size), self.worlds, self.prepared)
            self.cache[size] = socialized_mask(self.model, outcome)
        return self.cache[size]

    def p(self, size: float) -> float:
        return float(self.mask(size).mean())


def _smallest(
    f: Callable[[float], float], target: float, start: float, rel_tol: float, ceiling: float = math.inf
) -> float:
    """Smallest size with f ≤ target: doubling from `start`, then bisection. Past `ceiling` more
    size changes nothing (the layer could already pay every loss), so the search stops there."""
    if f(0.0) <= target:
        return 0.0
    hi = max(start, 1.0)
    for _ in range(80):
        if f(hi) <= target:
            break
        if hi > ceiling:
            return math.inf
        hi *= 2.0
    else:
        return math.inf
    lo = 0.0
    while hi - lo > rel_tol * hi:
        mid = 0.5 * (lo + hi)
        if f(mid) <= target:
            hi = mid
        else:
            lo = mid
    return hi


def size_ceiling(model: SimModel, worlds: list[World], layer_id: str, prepared: dict[int, Any] | None = None) -> float:
    """A size beyond which the layer cannot pay more on any path (inf when there is no simple bound).

    With the layer at 0 the losses are largest (a stability pool absorbs nothing); no path asks
    a layer for more than its losses, liquidated debt and premiums together, a staking pool
    pays at most `max_slash` of its assets per event, and a mint sells at most that loss's worth of
    tokens at its discounted price (when the token's and the loss asset's prices are fixed)."""
    layer = model.layers[model.layer_index(layer_id)]
    if not layer.bounded_size(model):
        return math.inf
    o = backstop_all(model.with_size(layer_id, 0.0), worlds, prepared)
    need = float(np.max(o.loss + o.liquidated_debt + o.premiums.sum(axis=1), initial=0.0))
    return layer.size_ceiling(model, need)


def size_layer(
    model: SimModel, worlds: list[World], layer_id: str, target_p: float, rel_tol: float = 1e-3, curve_points: int = 16
) -> SizeResult:
    check_target(target_p)
    j = model.layer_index(layer_id)
    current = model.size_of(layer_id)
    curve = Curve(model, worlds, layer_id)
    ceiling = size_ceiling(model, worlds, layer_id, curve.prepared)
    size = _smallest(curve.p, target_p, current, rel_tol, ceiling)
    n = sum(w.n_paths for w in worlds)
    delta = metrics.Z95 * math.sqrt(target_p * (1 - target_p) / n)
    lo = _smallest(curve.p, min(1.0, target_p + delta), current, rel_tol, ceiling)
    hi = _smallest(curve.p, max(0.0, target_p - delta), current, rel_tol, ceiling)
    reached = math.isfinite(size)
    p_at = metrics.probability(curve.mask(size)) if reached else metrics.probability(curve.mask(current))
    top = max(x for x in (size, hi, current, 1.0) if math.isfinite(x)) * 1.5
    points = [(float(s), curve.p(float(s))) for s in np.linspace(0.0, top, curve_points)]
    return SizeResult(
        layer_id, model.layers[j].kind, target_p, size, p_at, (lo, hi), reached, len(curve.cache), current, points
    )
