"""Fair premium of a layer: its expected annual loss plus a loading, with a confidence interval.

fair premium = (1 + loading) × E[what the layer pays per year]. With loading 0 it is the pure
premium, the layer's simulated expected loss (a test checks it against the closed form for a
Poisson–lognormal excess-of-loss layer). The loading is the guarantor's charge for capital,
variance and model risk, a plain multiple so its effect is easy to read. The interval is the
Monte Carlo one of the expected loss, scaled by the same factor.

For a stability pool the "loss" is economic: debt burned minus the value of the collateral
received at settlement (negative when liquidations pay the pool, as Liquity's usually do).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..domain.errors import InvalidConfig
from . import metrics
from .model import SimModel
from .waterfall import Outcome


@dataclass(frozen=True)
class Premium:
    layer: str
    kind: str
    loading: float
    expected_loss_per_year: metrics.Estimate
    premium_per_year: metrics.Estimate
    base: float
    """What a rate in bps is quoted on: a guarantor's limit, otherwise the layer's size at the start."""
    p_hit: metrics.Estimate
    """Probability the layer pays anything over the horizon."""

    @property
    def premium_bps(self) -> float:
        return self.premium_per_year.value / self.base * 10_000 if self.base > 0 else float("nan")

    def as_dict(self) -> dict[str, Any]:
        f = metrics.format_amount
        return {
            "layer": self.layer,
            "kind": self.kind,
            "loading": self.loading,
            "expected_loss_per_year": {
                "value": f(self.expected_loss_per_year.value),
                "se": f(self.expected_loss_per_year.se),
            },
            "premium_per_year": {
                "value": f(self.premium_per_year.value),
                "ci_low": f(self.premium_per_year.ci_low),
                "ci_high": f(self.premium_per_year.ci_high),
            },
            # A layer with no base to quote on (a mint layer) has no rate: null, not NaN (invalid JSON).
            "premium_bps_per_year": self.premium_bps if self.base > 0 else None,
            "base": f(self.base),
            "p_hit": self.p_hit.value,
        }


def layer_losses(model: SimModel, outcome: Outcome, j: int) -> np.ndarray:
    """Per-path loss borne by layer j over the horizon (loss-asset units)."""
    return model.layers[j].borne(outcome, j)


def check_loading(loading: float) -> None:
    if not loading >= 0:
        raise InvalidConfig("loading", f"loading: must be a non-negative fraction, got {loading}")


def fair_premium(model: SimModel, outcome: Outcome, layer_id: str, loading: float = 0.0) -> Premium:
    check_loading(loading)
    j = model.layer_index(layer_id)
    layer = model.layers[j]
    if layer.terminal:
        raise InvalidConfig("layer", f"layer: {layer_id} is the socialized layer; nobody sells it cover")
    per_year = layer_losses(model, outcome, j) / model.horizon_years
    el = metrics.mean(per_year)
    k = 1.0 + loading
    prem = metrics.Estimate(el.value * k, el.se * k, el.ci_low * k, el.ci_high * k)
    base = layer.premium_base()
    hit = layer_losses(model, outcome, j) > 1e-9
    return Premium(layer_id, layer.kind, loading, el, prem, base, metrics.probability(hit))
