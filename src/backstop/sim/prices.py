"""Price paths: correlated GBM with Merton jumps, and replay of historical shock paths.

All paths of a chunk are drawn at once into one (assets, paths, steps) array of log returns,
which is then summed in place into log prices: the cost is the normal draws plus a few passes
over that buffer. The diffusion is GBM (Black–Scholes); jumps follow Merton (1976): Poisson
arrivals, log jump size Normal(mean, std), with the compensator λ·(E[e^J] − 1) taken out of the
drift so `drift` stays the expected total return. A historical shock (CSV) is added on top of
the diffusion as log returns from a random (or fixed) start day, so a replay and background
noise compose.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..domain.errors import InvalidConfig
from .config import JumpSpec, PricesSpec

BUNDLED_SHOCKS = ("eth_black_thursday_2020", "crv_squeeze_2022")


@dataclass(frozen=True)
class PriceModel:
    """Compiled price model over the simulated assets (those listed in `prices.assets`)."""

    assets: tuple[str, ...]
    log_p0: np.ndarray
    """(A,) log of the start prices (quote per whole token)."""
    chol: np.ndarray
    """(A, A) lower Cholesky factor of the correlation matrix, rows scaled by vol·√dt."""
    drift_step: np.ndarray
    """(A,) deterministic log-return per step: (μ − σ²/2 − λk)·dt."""
    jump_rate_step: np.ndarray
    """(A,) expected jumps per step."""
    jump_mean: np.ndarray
    jump_std: np.ndarray
    shock: np.ndarray | None
    """(A, K) log returns of the historical shock per step (0 for assets it does not move)."""
    shock_start: int | None
    """Fixed first step of the shock; None = uniform random per path."""


def correlation_matrix(assets: tuple[str, ...], pairs: dict[str, float]) -> np.ndarray:
    n = len(assets)
    index = {a: i for i, a in enumerate(assets)}
    corr = np.eye(n)
    for key, rho in pairs.items():
        field = f"simulation.prices.correlation.{key}"
        parts = key.split("/")
        if len(parts) != 2:
            raise InvalidConfig(field, f"{field}: name a pair as A/B")
        a, b = parts
        for sym in (a, b):
            if sym not in index:
                raise InvalidConfig(field, f"{field}: {sym} is not a simulated asset (simulation.prices.assets)")
        if a == b:
            raise InvalidConfig(field, f"{field}: an asset's correlation with itself is 1")
        if not -1.0 <= rho <= 1.0 or math.isnan(rho):
            raise InvalidConfig(field, f"{field}: a correlation must be in [-1, 1], got {rho}")
        corr[index[a], index[b]] = corr[index[b], index[a]] = rho
    return corr


def cholesky(corr: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor; a matrix that is not positive definite is a config error."""
    try:
        lower = np.linalg.cholesky(corr)
    except np.linalg.LinAlgError:
        eig = float(np.linalg.eigvalsh(corr).min())
        raise InvalidConfig(
            "simulation.prices.correlation",
            f"simulation.prices.correlation: the correlation matrix is not positive definite "
            f"(smallest eigenvalue {eig:.4g})",
        ) from None
    return np.asarray(lower)


def bundled_shock(source: str) -> str | None:
    """The bundled shock a name refers to (`eth_black_thursday_2020` or `eth_black_thursday_2020.csv`)."""
    stem = source.removesuffix(".csv")
    return stem if stem in BUNDLED_SHOCKS and "/" not in source and "\\" not in source else None


def read_shock_text(source: str, base_dir: Path | None) -> tuple[str, str]:
    """(text, name) of a shock CSV: a path (relative to the scenario's directory) wins; otherwise a
    bare bundled name resolves to the copy shipped in `backstop/data/`."""
    field = "simulation.prices.csv"
    path = Path(source)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    bundled = bundled_shock(source)
    if bundled is not None and not path.is_file():
        return resources.files("backstop").joinpath("data", f"{bundled}.csv").read_text(), f"{bundled}.csv"
    try:
        return path.read_text(), str(path)
    except OSError as exc:
        raise InvalidConfig(
            field,
            f"{field}: cannot read {path}: {exc.strerror or exc} (bundled shocks: {', '.join(BUNDLED_SHOCKS)})",
        ) from None


def load_shock_csv(source: str, base_dir: Path | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Read a shock path: a `hour` column and one price column per series; '#' lines are comments."""
    field = "simulation.prices.csv"
    text, name = read_shock_text(source, base_dir)
    rows = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.DictReader(rows)
    columns = [c.strip() for c in (reader.fieldnames or [])]
    if "hour" not in columns or len(columns) < 2:
        raise InvalidConfig(field, f"{field}: {name} is missing columns: needs `hour` and at least one price column")
    hours: list[float] = []
    series: dict[str, list[float]] = {c: [] for c in columns if c != "hour"}
    for i, row in enumerate(reader, start=2):
        try:
            hours.append(float(row["hour"]))
            for c in series:
                value = float(row[c])
                if value <= 0:
                    raise ValueError(c)
                series[c].append(value)
        except (TypeError, ValueError, KeyError):
            raise InvalidConfig(field, f"{field}: {name} row {i}: prices must be positive numbers") from None
    h = np.asarray(hours)
    if len(h) < 2 or np.any(np.diff(h) <= 0):
        raise InvalidConfig(field, f"{field}: {name}: `hour` must increase, with at least two rows")
    return h, {c: np.asarray(v) for c, v in series.items()}


def shock_log_returns(hours: np.ndarray, prices: np.ndarray, steps_per_day: int) -> np.ndarray:
    """Per-step log returns of a shock, resampled on the simulation's step grid (log-linear)."""
    step_hours = 24.0 / steps_per_day
    n = max(1, math.ceil((hours[-1] - hours[0]) / step_hours))
    grid = hours[0] + step_hours * np.arange(n + 1)
    logp = np.interp(grid, hours, np.log(prices))
    return np.asarray(np.diff(logp))


def compile_prices(
    spec: PricesSpec,
    start_prices: dict[str, float],
    steps_per_day: int,
    base_dir: Path | None,
    n_steps: int,
) -> PriceModel:
    assets = tuple(spec.assets)
    for sym in assets:
        if sym not in start_prices:
            raise InvalidConfig(
                f"simulation.prices.assets.{sym}",
                f"simulation.prices.assets.{sym}: unknown asset or no start price in the scenario",
            )
    dt = 1.0 / (365.0 * steps_per_day)
    corr = correlation_matrix(assets, spec.correlation)
    lower = cholesky(corr) if assets else np.zeros((0, 0))
    vols = np.array([spec.assets[a].vol for a in assets], dtype=float)
    drifts = np.array([spec.assets[a].drift for a in assets], dtype=float)
    jumps = [spec.assets[a].jumps or JumpSpec() for a in assets]
    rates = np.array([j.per_year for j in jumps], dtype=float)
    jmean = np.array([j.mean for j in jumps], dtype=float)
    jstd = np.array([j.std for j in jumps], dtype=float)
    compensator = rates * (np.exp(jmean + 0.5 * jstd**2) - 1.0)
    shock: np.ndarray | None = None
    start: int | None = None
    if spec.model == "historical":
        if spec.csv is None:
            raise InvalidConfig("simulation.prices.csv", "simulation.prices.csv: the historical model needs a CSV")
        hours, series = load_shock_csv(spec.csv, base_dir)
        rets: list[np.ndarray] = []
        for a in assets:
            col = spec.assets[a].column or a
            if col in series:
                rets.append(spec.scale * shock_log_returns(hours, series[col], steps_per_day))
            else:
                rets.append(np.zeros(0))
        if not any(len(r) for r in rets):
            raise InvalidConfig(
                "simulation.prices.csv",
                f"simulation.prices.csv: no column of {spec.csv} matches a simulated asset "
                f"(columns: {', '.join(sorted(series))}); set `column:` on the asset",
            )
        k = max(len(r) for r in rets)
        if k > n_steps:
            raise InvalidConfig(
                "simulation.horizon_days",
                f"simulation.horizon_days: the shock lasts {k} steps, longer than the horizon",
            )
        shock = np.zeros((len(assets), k))
        for i, r in enumerate(rets):
            shock[i, : len(r)] = r
        if spec.start_day != "random":
            start = int(spec.start_day) * steps_per_day
            if start < 0 or start + k > n_steps:
                raise InvalidConfig(
                    "simulation.prices.start_day",
                    f"simulation.prices.start_day: the shock ({k} steps) must fit inside the horizon",
                )
    return PriceModel(
        assets=assets,
        log_p0=np.log(np.array([start_prices[a] for a in assets], dtype=float)),
        chol=lower * (vols * math.sqrt(dt))[:, None],
        drift_step=(drifts - 0.5 * vols**2 - compensator) * dt,
        jump_rate_step=rates * dt,
        jump_mean=jmean,
        jump_std=jstd,
        shock=shock,
        shock_start=start,
    )


DRAW_BLOCK = 256
"""Paths drawn per call while filling the time-major buffer (the block stays in cache while it is transposed)."""


def simulate_log_prices_tm(
    model: PriceModel,
    n_paths: int,
    n_steps: int,
    rng_diffusion: np.random.Generator,
    rng_jumps: np.random.Generator,
    rng_shock: np.random.Generator,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Log prices at the end of steps 1..T, time-major: shape (A, T, paths); the start price is step 0.
    `out`, if given, is a float64 array of that shape to write them into.

    The normals are the stream's (asset, path, step) order, drawn a block of paths at a time and
    stored transposed, so running sums and minima over time are row operations over all paths
    (vectorised) rather than scalar scans along each path. Every element sees the same float
    operations in the same order as in the path-major layout, so the numbers are identical."""
    a_count = len(model.assets)
    x = np.empty((a_count, n_steps, n_paths)) if out is None else out
    assert x.shape == (a_count, n_steps, n_paths) and x.dtype == np.float64
    if a_count == 0 or n_paths == 0 or n_steps == 0:
        return x
    # Draw asset by asset (the stream's order), a block of paths at a time, stored transposed.
    buf = np.empty((min(DRAW_BLOCK, n_paths), n_steps))
    for j in range(a_count):
        for i in range(0, n_paths, DRAW_BLOCK):
            w = min(DRAW_BLOCK, n_paths - i)
            b = buf[:w]
            rng_diffusion.standard_normal(out=b)
            x[j, :, i : i + w] = b.T
    jumps: list[tuple[np.ndarray, np.ndarray, np.ndarray, bool] | None] = []
    for j in range(a_count):
        rate = model.jump_rate_step[j] * n_steps
        if rate <= 0:
            jumps.append(None)
            continue
        counts = rng_jumps.poisson(rate, n_paths)
        total = int(counts.sum())
        if not total:
            jumps.append(None)
            continue
        rows = np.repeat(np.arange(n_paths), counts)
        cols = rng_jumps.integers(0, n_steps, total)
        sizes = rng_jumps.normal(model.jump_mean[j], model.jump_std[j], total)
        # by step, each step's jumps in draw order (the order np.add.at adds two jumps on one cell)
        by_step = np.argsort(cols, kind="stable")
        rows, cols, sizes = rows[by_step], cols[by_step], sizes[by_step]
        key = cols * n_paths + rows
        unique = bool(np.all(key[1:] != key[:-1])) if total > 1 else True
        jumps.append((rows, np.searchsorted(cols, np.arange(n_steps + 1)), sizes, unique))
    if model.shock is None:
        _correlate_jump_sum(model, x, jumps)
        return x
    # A historical shock: whole-array passes in the same order of operations.
    tmp = np.empty((n_steps, n_paths)) if a_count > 1 else None
    for k in range(a_count - 1, -1, -1):
        x[k] *= model.chol[k, k]
        for m in range(k):
            if model.chol[k, m] != 0.0:
                assert tmp is not None
                np.multiply(x[m], model.chol[k, m], out=tmp)
                x[k] += tmp
        x[k] += model.drift_step[k]
    del tmp
    for j, jump in enumerate(jumps):
        if jump is not None:
            rows, off, sizes, _ = jump
            cols = np.repeat(np.arange(n_steps), np.diff(off))
            np.add.at(x[j], (cols, rows), sizes)
    k = model.shock.shape[1]
    if model.shock_start is None:
        starts = rng_shock.integers(0, n_steps - k + 1, n_paths)
    else:
        starts = np.full(n_paths, model.shock_start)
    cols = starts[:, None] + np.arange(k)[None, :]
    rows = np.arange(n_paths)[:, None]
    for j in range(a_count):
        if np.any(model.shock[j]):
            x[j][cols, rows] += model.shock[j][None, :]
    for j in range(a_count):
        xj = x[j]
        for t in range(1, n_steps):  # cumulative sum over time, one row (all paths) at a time
            np.add(xj[t - 1], xj[t], out=xj[t])
        xj += model.log_p0[j]
    return x


def _correlate_jump_sum(
    model: PriceModel, x: np.ndarray, jumps: list[tuple[np.ndarray, np.ndarray, np.ndarray, bool] | None]
) -> None:
    """Correlate, add drift and jumps, sum over time and add the start price, one step (a row of all
    paths, in cache) at a time; per element the same operations in the same order as whole-array
    passes: x_k ← c_kk·z_k (+ c_km·z_m …) + drift_k (last asset first), then the jumps in draw order,
    then the running sum, then + log p0."""
    a_count, n_steps, n_paths = x.shape
    chol, drift, log_p0 = model.chol, model.drift_step, model.log_p0
    terms = [[(m, float(chol[k, m])) for m in range(k) if chol[k, m] != 0.0] for k in range(a_count)]
    tmp = np.empty(n_paths)
    acc = np.empty((a_count, n_paths))
    for t in range(n_steps):
        for k in range(a_count - 1, -1, -1):
            xk = x[k, t]
            xk *= chol[k, k]
            for m, c in terms[k]:
                np.multiply(x[m, t], c, out=tmp)
                xk += tmp
            xk += drift[k]
        for j, jump in enumerate(jumps):
            if jump is None:
                continue
            rows, off, sizes, unique = jump
            a, b = off[t], off[t + 1]
            if b > a:
                if unique:
                    x[j, t, rows[a:b]] += sizes[a:b]
                else:
                    np.add.at(x[j, t], rows[a:b], sizes[a:b])
        for j in range(a_count):
            if t == 0:
                acc[j] = x[j, 0]
            else:
                acc[j] += x[j, t]
            np.add(acc[j], log_p0[j], out=x[j, t])


# -- compiled path (Numba, see jit.py): path-major, one path at a time -------------------------------------------
def draw_normals_pm(x: np.ndarray, rng_diffusion: np.random.Generator) -> None:
    """The diffusion normals of a chunk into x (A, paths, steps), asset by asset: most of a chunk's
    random numbers, and the whole of the diffusion stream. NumPy releases the GIL while it fills
    each row, so another thread can draw them while this one works (`executors.PrefetchingExecutor`)."""
    for j in range(x.shape[0]):
        rng_diffusion.standard_normal(out=x[j])


def draw_log_prices_pm(
    model: PriceModel,
    x: np.ndarray,
    rng_diffusion: np.random.Generator,
    rng_jumps: np.random.Generator,
    rng_shock: np.random.Generator,
    normals_drawn: bool = False,
) -> tuple[np.ndarray, ...]:
    """The draws of the compiled path: the normals straight into x (A, paths, steps) in the
    stream's (asset, path, step) order (no transposition; `draw_normals_pm`, skipped with
    `normals_drawn`: x already holds them, drawn ahead by another thread), and the other
    arguments of `log_prices_path` (the model's matrices, the jumps by path, the shock start: the
    very draws of `simulate_log_prices_tm`). `log_prices_path` then turns each path's normals into
    its log prices, bit for bit those of `simulate_log_prices` (world.py runs it path by path)."""
    a_count, n_paths, n_steps = x.shape
    if not normals_drawn:
        draw_normals_pm(x, rng_diffusion)
    ptr = np.zeros((a_count, n_paths + 1), dtype=np.int64)
    steps_parts: list[np.ndarray] = []
    sizes_parts: list[np.ndarray] = []
    offset = 0
    for j in range(a_count):
        rate = model.jump_rate_step[j] * n_steps
        counts = rng_jumps.poisson(rate, n_paths) if rate > 0 else None
        total = int(counts.sum()) if counts is not None else 0
        if counts is None or not total:
            ptr[j] = offset
            continue
        cols = rng_jumps.integers(0, n_steps, total)
        sizes = rng_jumps.normal(model.jump_mean[j], model.jump_std[j], total)
        # rows come in path order; a stable sort by (path, step) keeps two jumps on one cell in draw order
        order = np.argsort(np.repeat(np.arange(n_paths) * n_steps, counts) + cols, kind="stable")
        steps_parts.append(cols[order])
        sizes_parts.append(sizes[order])
        ptr[j, 0] = offset
        np.cumsum(counts, out=ptr[j, 1:])
        ptr[j, 1:] += offset
        offset += total
    jump_steps = np.concatenate(steps_parts) if steps_parts else np.zeros(0, dtype=np.int64)
    jump_sizes = np.concatenate(sizes_parts) if sizes_parts else np.zeros(0)
    if model.shock is None:
        shock = np.zeros((a_count, 0))
        starts = np.zeros(n_paths, dtype=np.int64)
    else:
        shock = np.ascontiguousarray(model.shock, dtype=np.float64)
        k = shock.shape[1]
        if model.shock_start is None:
            starts = rng_shock.integers(0, n_steps - k + 1, n_paths)
        else:
            starts = np.full(n_paths, model.shock_start, dtype=np.int64)
    shock_on = np.array([bool(np.any(shock[j])) for j in range(a_count)], dtype=np.bool_)
    return (
        np.ascontiguousarray(model.chol, dtype=np.float64),
        np.ascontiguousarray(model.drift_step, dtype=np.float64),
        np.ascontiguousarray(model.log_p0, dtype=np.float64),
        ptr,
        jump_steps.astype(np.int64, copy=False),
        jump_sizes.astype(np.float64, copy=False),
        shock,
        shock_on,
        starts.astype(np.int64, copy=False),
    )


def log_prices_path(
    x: np.ndarray,
    p: int,
    chol: np.ndarray,
    drift: np.ndarray,
    log_p0: np.ndarray,
    jump_ptr: np.ndarray,
    jump_steps: np.ndarray,
    jump_sizes: np.ndarray,
    shock: np.ndarray,
    shock_on: np.ndarray,
    starts: np.ndarray,
) -> None:
    """Path p's normals in x (A, paths, steps) replaced by its log prices (compiled: a part of
    `world._phase_a_kernel`); per element the operations of
    `_correlate_jump_sum` (and of the shock branch) in their order: x_k ← c_kk·z_k (+ c_km·z_m, m
    ascending) + drift_k, last asset first; then the path's jumps on that step in draw order; then
    the shock's return; then the running sum, and + log p0."""
    a_count = x.shape[0]
    n_steps = x.shape[2]
    k_shock = shock.shape[1]
    # correlate and add the drift: rows of this path (in cache), last asset first
    for k in range(a_count - 1, -1, -1):
        xk = x[k, p]
        ckk = chol[k, k]
        for t in range(n_steps):
            xk[t] *= ckk
        for m in range(k):
            c = chol[k, m]
            if c != 0.0:
                xm = x[m, p]
                for t in range(n_steps):
                    xk[t] += xm[t] * c
        d = drift[k]
        for t in range(n_steps):
            xk[t] += d
    # this path's jumps, sorted by step, two on one cell in draw order; then the shock's returns
    for j in range(a_count):
        xj = x[j, p]
        for q in range(jump_ptr[j, p], jump_ptr[j, p + 1]):
            xj[jump_steps[q]] += jump_sizes[q]
        if shock_on[j]:
            s0 = starts[p]
            for s in range(k_shock):
                xj[s0 + s] += shock[j, s]
    # running sums, two assets at a time (each sum is a chain of dependent additions)
    j = 0
    while j + 1 < a_count:
        xa = x[j, p]
        xb = x[j + 1, p]
        acc_a = xa[0]
        acc_b = xb[0]
        la = log_p0[j]
        lb = log_p0[j + 1]
        xa[0] = acc_a + la
        xb[0] = acc_b + lb
        for t in range(1, n_steps):
            acc_a += xa[t]
            acc_b += xb[t]
            xa[t] = acc_a + la
            xb[t] = acc_b + lb
        j += 2
    if j < a_count:
        xj = x[j, p]
        acc = xj[0]
        lp = log_p0[j]
        xj[0] = acc + lp
        for t in range(1, n_steps):
            acc += xj[t]
            xj[t] = acc + lp
