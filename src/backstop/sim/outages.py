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


def outage_mask(
    n_paths: int, n_steps: int, per_horizon: float, mean_steps: float, rng: np.random.Generator
) -> np.ndarray | None:
    """(paths, steps) True where the oracle is down; None when there are no outages at all."""
    drawn = _draw_outages(n_paths, n_steps, per_horizon, mean_steps, rng)
    if drawn is None:
        return None
    rows, starts, lengths = drawn
    diff = np.zeros((n_paths, n_steps + 1), dtype=np.int32)
    np.add.at(diff, (rows, starts), 1)
    np.add.at(diff, (rows, np.minimum(starts + lengths, n_steps)), -1)
    down: np.ndarray = np.cumsum(diff[:, :n_steps], axis=1) > 0
    return down


def outage_cells(
    n_paths: int, n_steps: int, per_horizon: float, mean_steps: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, paths) of every cell where the oracle is down (a cell may repeat), from the very draws
    of `outage_mask`; None when there are no outages at all."""
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


def stale_oracle(log_prices: np.ndarray, down: np.ndarray, log_p0: float) -> np.ndarray:
    """The oracle's view of (paths, steps) log prices: the last price seen while it was up."""
    n_steps = log_prices.shape[1]
    idx = np.where(down, -1, np.arange(n_steps))
    last_up = np.maximum.accumulate(idx, axis=1)
    seen = np.take_along_axis(log_prices, np.maximum(last_up, 0), axis=1)
    out: np.ndarray = np.where(last_up >= 0, seen, log_p0)
    return out
