"""Incidents (docs/risk-lab.md, "Incidents"): exploits, bugs, oracle and technology failures as Poisson arrivals.

Each market's incidents arrive at `per_year`; the loss is a fraction of the market's TVL drawn
from a lognormal (median, sigma) or a Pareto (scale `min_fraction`, tail index `alpha`: heavy
tails, as exploit losses are), capped at `max_fraction`. Each incident is its own loss event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import IncidentSim


@dataclass(frozen=True)
class IncidentDraws:
    path: np.ndarray
    step: np.ndarray
    ref: np.ndarray
    """Index of the incident spec (its market and cause)."""
    amount: np.ndarray
    """Loss in whole tokens of the loss asset."""


def severity_fraction(inc: IncidentSim, n: int, rng: np.random.Generator) -> np.ndarray:
    if inc.dist == "pareto":
        frac = inc.min_fraction * (1.0 + rng.pareto(inc.alpha, n))
    else:
        frac = inc.median_fraction * np.exp(inc.sigma * rng.standard_normal(n))
    out: np.ndarray = np.minimum(frac, inc.max_fraction)
    return out


def draw_incidents(
    incidents: tuple[IncidentSim, ...], n_paths: int, n_steps: int, rng: np.random.Generator
) -> IncidentDraws:
    paths, steps, refs, amounts = [], [], [], []
    for i, inc in enumerate(incidents):
        counts = rng.poisson(inc.per_horizon, n_paths)
        total = int(counts.sum())
        paths.append(np.repeat(np.arange(n_paths), counts))
        steps.append(rng.integers(1, n_steps + 1, total))
        refs.append(np.full(total, i))
        amounts.append(severity_fraction(inc, total, rng) * inc.tvl)
    if not paths:
        z = np.zeros(0, dtype=np.int64)
        return IncidentDraws(z, z, z, np.zeros(0))
    return IncidentDraws(np.concatenate(paths), np.concatenate(steps), np.concatenate(refs), np.concatenate(amounts))
