"""The staker run rule: who asks to leave a staking pool, and who gets out before a slash.

Stakers watch a reference asset. The first step it is `drawdown_trigger` below its running peak,
`fraction` of the shares not yet queued ask to withdraw; with `queued_trigger`, another wave
follows every step while the queued share of the pool is at least that (a bank run feeding on
itself). A request is honoured only after the pool's cooldown (Aave Safety Module) or queue
(Blend Q4W); until then the queued shares stay in the pool and are slashed like any others
(docs/layers/staking_pool.md), so the cooldown decides who escapes a loss and who does not.

The schedule depends on a path only through the run's start step, so it is computed once.
"""

from __future__ import annotations

import numpy as np

from .jit import kernel
from .model import RunSim


def run_start_tm(
    log_prices: np.ndarray, log_p0: float, log_trigger: float, work: np.ndarray | None = None
) -> np.ndarray:
    """(paths,) first step at which the drawdown from the running peak (never below `log_p0`)
    reaches the trigger, -1 if never, from time-major (steps, paths) log prices (the plain
    definition is in tests/sim/reference_kernels.py); `work`: a scratch array of that shape."""
    peak = np.empty_like(log_prices) if work is None else work
    np.maximum(log_prices[0], log_p0, out=peak[0])
    for t in range(1, peak.shape[0]):  # running peak over time, all paths at once
        np.maximum(peak[t - 1], log_prices[t], out=peak[t])
    peak -= log_prices
    hit = peak >= -log_trigger
    any_hit = hit.any(axis=0)
    first = np.argmax(hit, axis=0) + 1
    out: np.ndarray = np.where(any_hit, first, -1)
    return out


def run_start_pm(log_prices: np.ndarray, log_p0: float, log_trigger: float) -> np.ndarray:
    """`run_start` of path-major (paths, steps) log prices by the compiled kernel (stops at the hit)."""
    out = np.empty(log_prices.shape[0], dtype=np.int64)
    _run_start_kernel(log_prices, float(log_p0), float(log_trigger), out)
    return out


@kernel
def _run_start_kernel(log_prices: np.ndarray, log_p0: float, log_trigger: float, out: np.ndarray) -> None:
    n_paths, n_steps = log_prices.shape
    threshold = -log_trigger
    for p in range(n_paths):
        out[p] = -1
        peak = log_p0
        for t in range(n_steps):
            v = log_prices[p, t]
            if t == 0:
                peak = v if v > log_p0 else log_p0
            elif v > peak:
                peak = v
            if peak - v >= threshold:
                out[p] = t + 1
                break


def withdrawal_schedule(rule: RunSim, delay_steps: int, horizon_steps: int) -> list[tuple[int, float]]:
    """(offset from the run's start, fraction of the start's shares) of each completed withdrawal."""
    shares, queued = 1.0, 0.0
    pending: list[tuple[int, float]] = []
    done: list[tuple[int, float]] = []
    for offset in range(horizon_steps + 1):
        still: list[tuple[int, float]] = []
        for ready, q in pending:
            if ready == offset:
                shares -= q
                queued -= q
                done.append((offset, q))
            else:
                still.append((ready, q))
        pending = still
        wave = offset == 0 or (
            rule.queued_trigger is not None and shares > 1e-12 and queued / shares >= rule.queued_trigger
        )
        free = shares - queued
        if wave and free > 1e-9:
            q = rule.fraction * free
            queued += q
            pending.append((offset + delay_steps, q))
            if delay_steps == 0:
                shares -= q
                queued -= q
                done.append((offset, q))
                pending.pop()
    return done
