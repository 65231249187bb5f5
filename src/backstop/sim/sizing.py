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

import contextlib
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..domain.errors import InvalidConfig
from . import metrics
from .chunk import backstop_all, world_chunk
from .model import SimModel
from .waterfall import Outcome
from .world import World


def socialized_mask(model: SimModel, outcome: Outcome, deficit: bool | None = None) -> np.ndarray:
    """Paths on which a loss reached the end of a waterfall. `deficit`: None counts every end
    (sizing targets an unpaid loss, whether it is socialized or a reserve deficit), False only
    the ends that are the investors' loss, True only those that book a deficit (`records_deficit`)."""
    return _mask(outcome, terminal_columns(model, deficit))


def terminal_columns(model: SimModel, deficit: bool | None = None) -> list[int]:
    """The layers (columns of `Outcome.alloc`) that `socialized_mask` counts."""
    return [
        j
        for j, layer in enumerate(model.layers)
        if layer.terminal and (deficit is None or layer.records_deficit == deficit)
    ]


def _mask(outcome: Outcome, cols: list[int]) -> np.ndarray:
    soc = outcome.alloc[:, cols].sum(axis=1) if cols else np.zeros(len(outcome.loss))
    out: np.ndarray = soc > 1e-9 * np.maximum(1.0, outcome.loss)
    return out


def _need(outcome: Outcome) -> float:
    """The most any path asks of the layers: its losses, liquidated debt and premiums together."""
    return float(np.max(outcome.loss + outcome.liquidated_debt + outcome.premiums.sum(axis=1), initial=0.0))


# -- worlds kept in worker processes ---------------------------------------------------------------------------
_kept: dict[str, dict[int, tuple[SimModel, World, dict[int, Any]]]] = {}
"""In a worker process: the worlds it keeps, by run token and chunk, each with its model and phase
B's preparation."""


def _keep_world(token: str, model: SimModel, index: int, n_paths: int) -> int:
    """Worker task: draw chunk `index`'s world (phase A) and keep it, with its model, for the run `token`."""
    _kept.setdefault(token, {})[index] = (model, world_chunk(model, index, n_paths), {})
    return n_paths


def _evaluate_kept(
    token: str, layer_id: str, size: float, chunks: list[int], cols: list[int]
) -> list[tuple[np.ndarray, float]]:
    """Worker task: phase B with the layer at `size` on each kept world of `chunks`: (socialized
    mask, need) each. The kept model is resized here, as the caller would (`with_size`), so the
    world's preparation, which keys on the model's books, is reused from size to size."""
    out = []
    for i in chunks:
        model, world, prepared = _kept[token][i]
        outcome = backstop_all(model.with_size(layer_id, size), [world], prepared)
        out.append((_mask(outcome, cols), _need(outcome)))
    return out


def _drop_kept(token: str) -> None:
    """Worker task: forget the run's worlds."""
    _kept.pop(token, None)


class KeptWorlds:
    """The chunks' worlds drawn and kept in the kept worker processes (chunk i in worker i mod n,
    `executors.pinned_pools`), so each candidate size runs phase B where its world already is, the
    workers in parallel, and only each path's verdict comes back. Every number is the one
    `backstop_all` gives on the same worlds in the calling process (the same code on the same
    arrays; the chunks are put back in order). `close()` (or `with`) frees the worlds."""

    def __init__(
        self, model: SimModel, sizes: list[int], workers: int, on_done: Callable[[int], None] | None = None
    ) -> None:
        from concurrent.futures import wait

        from .executors import pinned_pools

        self.pools = pinned_pools(workers)
        self.token = uuid.uuid4().hex
        self.sizes = sizes
        self.n_paths = sum(sizes)
        self.owner = [i % len(self.pools) for i in range(len(sizes))]
        futures = [self.pools[self.owner[i]].submit(_keep_world, self.token, model, i, n) for i, n in enumerate(sizes)]
        try:
            for fut in futures:
                n = fut.result()
                if on_done is not None:
                    on_done(n)
        except BaseException:
            for fut in futures:
                fut.cancel()
            wait(futures)
            self.close()
            raise

    def evaluate(self, layer_id: str, size: float, cols: list[int]) -> tuple[np.ndarray, float]:
        """(socialized mask over every path in chunk order, need) with the layer at `size`."""
        by_pool: dict[int, list[int]] = {}
        for i, w in enumerate(self.owner):
            by_pool.setdefault(w, []).append(i)
        futures = {
            w: self.pools[w].submit(_evaluate_kept, self.token, layer_id, size, chunks, cols)
            for w, chunks in by_pool.items()
        }
        results: dict[int, tuple[np.ndarray, float]] = {}
        for w, fut in futures.items():
            for i, r in zip(by_pool[w], fut.result(), strict=True):
                results[i] = r
        masks = [results[i][0] for i in range(len(self.sizes))]
        mask = np.concatenate(masks) if masks else np.zeros(0, dtype=bool)
        return mask, max((r[1] for r in results.values()), default=0.0)

    def close(self) -> None:
        for pool in self.pools:
            with contextlib.suppress(Exception):  # a broken worker kept nothing
                pool.submit(_drop_kept, self.token).result()

    def __enter__(self) -> KeptWorlds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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


Worlds = list[World] | KeptWorlds
"""Sizing's fixed worlds: in this process, or kept in the workers (`KeptWorlds`)."""


class Curve:
    """P̂(socialized) as a function of one layer's size, on fixed worlds (memoised)."""

    def __init__(self, model: SimModel, worlds: Worlds, layer_id: str) -> None:
        self.model = model
        self.worlds = worlds
        self.layer_id = layer_id
        self.cache: dict[float, np.ndarray] = {}
        self.prepared: dict[int, Any] = {}
        """Phase B's preparation of each world, reused across sizes (the compiled path, `phase_b.py`)."""

    def mask(self, size: float) -> np.ndarray:
        if size not in self.cache:
            self.cache[size] = evaluate(self.model, self.layer_id, size, self.worlds, self.prepared)[0]
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


def size_ceiling(model: SimModel, worlds: Worlds, layer_id: str, prepared: dict[int, Any] | None = None) -> float:
    """A size beyond which the layer cannot pay more on any path (inf when there is no simple bound).

    With the layer at 0 the losses are largest (a stability pool absorbs nothing); no path asks
    a layer for more than its losses, liquidated debt and premiums together, a staking pool
    pays at most `max_slash` of its assets per event, and a mint sells at most that loss's worth of
    tokens at its discounted price (when the token's and the loss asset's prices are fixed)."""
    layer = model.layers[model.layer_index(layer_id)]
    if not layer.bounded_size(model):
        return math.inf
    need = evaluate(model, layer_id, 0.0, worlds, prepared)[1]
    return layer.size_ceiling(model, need)


def evaluate(
    model: SimModel, layer_id: str, size: float, worlds: Worlds, prepared: dict[int, Any] | None
) -> tuple[np.ndarray, float]:
    """Phase B with the layer at `size` on the worlds: (the paths `socialized_mask` counts, the
    most any path asks of the layers), wherever the worlds are."""
    cols = terminal_columns(model)
    if isinstance(worlds, KeptWorlds):
        return worlds.evaluate(layer_id, size, cols)
    outcome = backstop_all(model.with_size(layer_id, size), worlds, prepared)
    return _mask(outcome, cols), _need(outcome)


def size_layer(
    model: SimModel, worlds: Worlds, layer_id: str, target_p: float, rel_tol: float = 1e-3, curve_points: int = 16
) -> SizeResult:
    check_target(target_p)
    j = model.layer_index(layer_id)
    current = model.size_of(layer_id)
    curve = Curve(model, worlds, layer_id)
    ceiling = size_ceiling(model, worlds, layer_id, curve.prepared)
    size = _smallest(curve.p, target_p, current, rel_tol, ceiling)
    n = worlds.n_paths if isinstance(worlds, KeptWorlds) else sum(w.n_paths for w in worlds)
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
