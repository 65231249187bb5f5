"""Plain path-major definitions of the risk lab's time-major kernels, for the tests only.

The kernels in `backstop.sim` are written for speed (time-major arrays, one pass over time, no
`accumulate` along paths); these are the whole-array definitions they must equal bit for bit
(tests/sim/test_kernels.py), and the seeding identity the chunked runs rely on
(tests/sim/test_determinism.py).
"""

from __future__ import annotations

import numpy as np

from backstop.sim.liquidation import NewMinima
from backstop.sim.outages import _draw_outages


def new_minima(oracle: np.ndarray, log_p0: float) -> NewMinima:
    """Entries (path, step) of (paths, steps) oracle log prices where the running minimum, never
    above `log_p0`, falls; the definition of `new_minima_tm`."""
    running = np.minimum.accumulate(oracle, axis=1)
    np.minimum(running, log_p0, out=running)
    mask = np.empty(running.shape, dtype=bool)
    np.less(running[:, 0], log_p0, out=mask[:, 0])
    np.less(running[:, 1:], running[:, :-1], out=mask[:, 1:])
    rows, cols = np.nonzero(mask)
    return NewMinima(rows, cols, running[rows, cols])


def run_start(log_prices: np.ndarray, log_p0: float, log_trigger: float) -> np.ndarray:
    """(paths,) first step at which the drawdown from the running peak reaches the trigger; -1 if never."""
    peak = np.maximum.accumulate(log_prices, axis=1)
    np.maximum(peak, log_p0, out=peak)
    peak -= log_prices
    hit = peak >= -log_trigger
    any_hit = hit.any(axis=1)
    first = np.argmax(hit, axis=1) + 1
    out: np.ndarray = np.where(any_hit, first, -1)
    return out


def outage_mask(
    n_paths: int, n_steps: int, per_horizon: float, mean_steps: float, rng: np.random.Generator
) -> np.ndarray | None:
    """(paths, steps) True where the oracle is down, from the very draws of `outage_cells`; None
    when there are no outages at all."""
    drawn = _draw_outages(n_paths, n_steps, per_horizon, mean_steps, rng)
    if drawn is None:
        return None
    rows, starts, lengths = drawn
    diff = np.zeros((n_paths, n_steps + 1), dtype=np.int32)
    np.add.at(diff, (rows, starts), 1)
    np.add.at(diff, (rows, np.minimum(starts + lengths, n_steps)), -1)
    down: np.ndarray = np.cumsum(diff[:, :n_steps], axis=1) > 0
    return down


def stale_oracle(log_prices: np.ndarray, down: np.ndarray, log_p0: float) -> np.ndarray:
    """The oracle's view of (paths, steps) log prices: the last price seen while it was up."""
    n_steps = log_prices.shape[1]
    idx = np.where(down, -1, np.arange(n_steps))
    last_up = np.maximum.accumulate(idx, axis=1)
    seen = np.take_along_axis(log_prices, np.maximum(last_up, 0), axis=1)
    out: np.ndarray = np.where(last_up >= 0, seen, log_p0)
    return out


def chunk_seed_sequence(seed: int, chunk: int) -> np.random.SeedSequence:
    """`SeedSequence(seed).spawn(n)[chunk]` for any n > chunk, without spawning the others: the
    identity `backstop.sim.world.component_rng` builds every chunk's streams on."""
    return np.random.SeedSequence(seed, spawn_key=(chunk,))
