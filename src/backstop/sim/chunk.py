"""One chunk of paths: the unit of work, seeding and parallelism.

`paths` are cut into chunks of `chunk_paths` (the last one shorter); chunk i draws only from
`SeedSequence(seed).spawn(n_chunks)[i]`, and results are put back in chunk order before any
statistic is computed, so the numbers are bit-identical whatever runs the chunks (inline, local
processes, Dask) and with how many workers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .jit import enabled as jit_enabled
from .jit import loading_kernels
from .liquidation import with_phase_b_sample
from .model import SimModel
from .waterfall import Outcome, run_backstop
from .world import KIND_LIQUIDATION, DrawnAhead, World, draw_normals_ahead, simulate_world


def chunk_sizes(paths: int, chunk_paths: int) -> list[int]:
    full, rest = divmod(paths, chunk_paths)
    return [chunk_paths] * full + ([rest] if rest else [])


@dataclass
class ChunkResult:
    index: int
    n_paths: int
    outcome: Outcome
    sample_prices: np.ndarray | None
    """(simulated assets, kept paths, steps + 1) prices of the chunk's first paths."""
    sample_liquidations: np.ndarray | None
    """(k, 3) rows (path, step, book) of the kept paths' liquidation settlements."""
    seconds: float


def run_chunk(
    model: SimModel, index: int, n_paths: int, keep_paths: int = 0, normals: np.ndarray | DrawnAhead | None = None
) -> ChunkResult:
    """Phase A then phase B of one chunk; `normals`: its draws made ahead (`draw_ahead`)."""
    t0 = time.perf_counter()
    world = simulate_world(model, index, n_paths, keep_paths, normals)
    outcome = run_backstop(model, world)
    marks = None
    if keep_paths > 0:
        world = with_phase_b_sample(model, world, keep_paths)
        sel = (world.ev_kind == KIND_LIQUIDATION) & (world.ev_path < keep_paths)
        marks = np.stack([world.ev_path[sel], world.ev_step[sel], world.ev_ref[sel]], axis=1)
    return ChunkResult(index, n_paths, outcome, world.sample_prices, marks, time.perf_counter() - t0)


def draw_ahead(model: SimModel, index: int, n_paths: int, keep_paths: int = 0, *, slot: int) -> DrawnAhead | None:
    """A `run_chunk` task's random numbers that another thread can draw before it runs (its diffusion
    normals, jumps, shock starts and outages, `world.draw_normals_ahead`, in that thread's buffers
    `slot`); None: nothing to draw ahead."""
    return draw_normals_ahead(model, index, n_paths, slot)


_kernels_loaded = False


def load_kernels(model: SimModel, index: int, n_paths: int, keep_paths: int = 0) -> None:
    """Load the compiled kernels a `run_chunk` task of this model calls, by running a tiny chunk of
    it (the first kernel call imports numba and sets up its CPU target, ~0.3 s of a command's
    start), once per process: `executors.PrefetchingExecutor` does it while the first chunk's
    normals are drawn in its other thread. The tiny chunk's result is dropped; what the load
    leaves is frozen out of the collector's generations (`jit.loading_kernels`)."""
    global _kernels_loaded
    if _kernels_loaded or not jit_enabled():
        return
    with loading_kernels():
        run_chunk(model, index, min(n_paths, 64))
    _kernels_loaded = True


def world_chunk(model: SimModel, index: int, n_paths: int) -> World:
    """Phase A only (for sizing: the world does not depend on the layer being sized)."""
    return simulate_world(model, index, n_paths)


def combine(outcomes: list[Outcome]) -> Outcome:
    """Concatenate chunk outcomes in chunk order."""
    return Outcome(**{f.name: np.concatenate([getattr(o, f.name) for o in outcomes]) for f in fields(Outcome)})


def backstop_all(model: SimModel, worlds: list[World], cache: dict[int, Any] | None = None) -> Outcome:
    """Phase B on every world; `cache`: see `waterfall.run_backstop` (sizing keeps one)."""
    return combine([run_backstop(model, w, cache) for w in worlds])
