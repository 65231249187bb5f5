"""Oracle outages (technology failure): while the oracle is down it keeps showing its last price.

Outages arrive as a Poisson process over the horizon with geometric lengths (mean
`mean_steps`). A liquidation needs the oracle to see the position under water, so an outage
delays every liquidation that the market price would have triggered in it; when the oracle comes
back, all of them trigger at once at the then price, which is how an outage turns an orderly
sell-off into a cascade (Maker, 12 March 2020: stalled keepers and congested oracles).
"""

from __future__ import annotations

import numpy as np


def _draw_outages(
    n_paths: int, n_steps: int, per_horizon: float, mean_steps: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Poisson outages per path, each with a uniform start step and a geometric length: (path of
    each outage, its start, its length), drawn in this order so both views see the same outages."""
    if per_horizon <= 0:
        return None
    counts = rng.poisson(per_horizon, n_paths)
    total = int(counts.sum())
    if total == 0:
        return None
    rows = np.repeat(np.arange(n_paths), counts)
    starts = rng.integers(0, n_steps, total)
    lengths = rng.geometric(1.0 / mean_steps, total)
    return rows, starts, lengths


def outage_cells(
    n_paths: int, n_steps: int, per_horizon: float, mean_steps: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, paths) of every cell where the oracle is down (a cell may repeat); None when there
    are no outages at all. An outage covers the steps from its start to start + length - 1."""
    drawn = _draw_outages(n_paths, n_steps, per_horizon, mean_steps, rng)
    if drawn is None:
        return None
    rows, starts, lengths = drawn
    span = np.minimum(starts + lengths, n_steps) - starts
    first = np.cumsum(span) - span
    offsets = np.arange(int(span.sum())) - np.repeat(first, span)
    return np.repeat(starts, span) + offsets, np.repeat(rows, span)


def outage_mask_pm(
    n_paths: int, n_steps: int, per_horizon: float, mean_steps: float, rng: np.random.Generator, out: np.ndarray
) -> np.ndarray | None:
    """`outage_mask` (paths, steps), from the very draws of `outage_cells`, written into `out` (a
    bool scratch array of that shape); None when there are no outages at all."""
    cells = outage_cells(n_paths, n_steps, per_horizon, mean_steps, rng)
    if cells is None:
        return None
    out.fill(False)
    steps, rows = cells
    out[rows, steps] = True
    return out
