"""Python API of the risk lab: simulate, price and size a scenario; results as pandas DataFrames.

    from backstop.sim import api
    res = api.simulate("examples/risk_lab_cdp.yaml", paths=20_000, seed=1)
    res.metrics()       # metric, value, se, ci_low, ci_high
    res.by_layer()      # per layer: mean paid, se, P(exhausted), ...
    res.paths_frame()   # one row per path
    api.price("examples/risk_lab_cdp.yaml", "g1", paths=20_000, loading=0.25).frame()
    api.size("examples/risk_lab_cdp.yaml", "fund", target_p=0.01, paths=20_000).curve_frame()

The CLI is a thin shell over these calls.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..domain.errors import InvalidConfig
from ..scenario.loader import Scenario
from . import cover, metrics
from .chunk import ChunkResult, chunk_sizes, combine, run_chunk, world_chunk
from .executors import Executor, make_executor
from .metrics import Estimate
from .model import SimModel, StartState, compile_model
from .pricing import Premium, check_loading, fair_premium
from .sizing import KeptWorlds, SizeResult, check_target, size_layer, socialized_mask
from .waterfall import Outcome
from .world import World

if TYPE_CHECKING:
    import pandas as pd

Source = str | Path | Scenario | StartState


def check_paths(paths: int) -> None:
    if isinstance(paths, bool) or not isinstance(paths, int) or paths <= 0:
        raise InvalidConfig("paths", f"paths: must be a positive whole number, got {paths!r}")


def check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidConfig("seed", f"seed: must be a non-negative whole number, got {seed!r}")


ProgressCallback = Callable[[int, int], None]
"""`progress(paths_done, paths_total)`, called as each chunk finishes (the service's job status)."""

Progress = bool | ProgressCallback | None


@contextmanager
def _progress(total: int, label: str, enabled: Progress) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr (paths done, paths/s, ETA), a caller's callback, or a no-op."""
    if callable(enabled):
        callback = enabled
        done = [0]

        def report(n: int) -> None:
            done[0] += n
            callback(done[0], total)

        yield report
        return
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("paths"),
        TextColumn("{task.fields[rate]:>10} paths/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    t0 = time.perf_counter()
    with progress:
        task = progress.add_task(label, total=total, rate="-")

        def advance(n: int) -> None:
            progress.advance(task, n)
            done = progress.tasks[0].completed
            elapsed = time.perf_counter() - t0
            progress.update(task, rate=f"{done / elapsed:,.0f}" if elapsed > 0 else "-")

        yield advance


def _compile(source: Source | SimModel, seed: int, horizon_days: int | None, chunk_paths: int | None) -> SimModel:
    if isinstance(source, SimModel):
        return source
    return compile_model(source, seed=seed, horizon_days=horizon_days, chunk_paths=chunk_paths)


@dataclass
class SimulationResult:
    model: SimModel
    outcome: Outcome
    paths: int
    seed: int
    seconds: float
    executor: str
    sample_prices: np.ndarray | None
    sample_liquidations: np.ndarray | None

    # -- tables ------------------------------------------------------------------------------
    def layer_order(self) -> list[int]:
        seen: list[int] = []
        for m in self.model.markets:
            seen += [j for j in m.waterfall if j not in seen]
        return seen + [j for j in range(len(self.model.layers)) if j not in seen]

    def socialized(self, deficit: bool = False) -> np.ndarray:
        """Per-path loss at the waterfall's end: the investors' (socialized) loss, or with
        `deficit` the reserve deficit booked by ends that cut no supplier (`records_deficit`)."""
        cols = [j for j, layer in enumerate(self.model.layers) if layer.terminal and layer.records_deficit == deficit]
        out: np.ndarray = self.outcome.alloc[:, cols].sum(axis=1)
        return out

    def has_deficit_end(self) -> bool:
        return any(layer.records_deficit for layer in self.model.layers)

    def metrics(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(
            [
                {"metric": k, "value": e.value, "se": e.se, "ci_low": e.ci_low, "ci_high": e.ci_high}
                for k, e in self._metric_rows()
            ]
        ).set_index("metric")

    # The tables are built from plain rows, which the JSON summary reads directly: `simulate --json`
    # then never imports pandas (~0.3 s of CPU a process, issue 15).
    def _metric_rows(self) -> list[tuple[str, Estimate]]:
        o = self.outcome
        rows = [
            ("p_bad_debt", metrics.probability(o.bad_debt > 1e-9)),
            ("loss_mean", metrics.mean(o.loss)),
            ("loss_var95", metrics.value_at_risk(o.loss, 0.95)),
            ("loss_var99", metrics.value_at_risk(o.loss, 0.99)),
            ("loss_cvar99", metrics.expected_shortfall(o.loss, 0.99)),
            ("bad_debt_mean", metrics.mean(o.bad_debt)),
            ("incident_loss_mean", metrics.mean(o.incident_loss)),
            ("p_socialized", metrics.probability(socialized_mask(self.model, o, deficit=False))),
            ("socialized_mean", metrics.mean(self.socialized())),
        ]
        if self.has_deficit_end():
            rows += [
                ("p_deficit", metrics.probability(socialized_mask(self.model, o, deficit=True))),
                ("deficit_mean", metrics.mean(self.socialized(deficit=True))),
            ]
        return rows

    def by_layer(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self._layer_rows()).set_index("layer")

    def _layer_rows(self) -> list[dict[str, Any]]:
        o, model = self.outcome, self.model
        rows = []
        for j in self.layer_order():
            layer = model.layers[j]
            paid = metrics.mean(o.alloc[:, j])
            exh = metrics.probability(o.exhausted[:, j])
            row: dict[str, Any] = {
                "layer": layer.id,
                "kind": layer.kind,
                "mean": paid.value,
                "se": paid.se,
                "p_exhausted": exh.value if not layer.terminal else math.nan,
                "p_exhausted_se": exh.se if not layer.terminal else math.nan,
                "p_pays": float((o.alloc[:, j] > 1e-9).mean()),
            }
            row.update(layer.summary(o, j, model.horizon_years, paid.value))
            rows.append(row)
        return rows

    def by_market(self) -> pd.DataFrame:
        """Per market, in whole tokens of its own debt asset: P(bad debt), the loss's mean, VaR99
        and CVaR99, mean bad debt and incident loss (the aggregates of `metrics()` are in the loss unit)."""
        import pandas as pd

        return pd.DataFrame(self._market_rows()).set_index("market")

    def _market_rows(self) -> list[dict[str, Any]]:
        """`by_market`'s rows as plain dicts (the JSON summary needs no pandas)."""
        o, model = self.outcome, self.model
        rows = []
        for i, mk in enumerate(model.markets):
            loss = o.market_loss[:, i]
            p_bad = metrics.probability(o.market_bad_debt[:, i] > 1e-9)
            rows.append(
                {
                    "market": mk.id,
                    "debt_asset": model.assets[mk.debt_asset],
                    "p_bad_debt": p_bad.value,
                    "p_bad_debt_se": p_bad.se,
                    "loss_mean": metrics.mean(loss).value,
                    "loss_var99": metrics.value_at_risk(loss, 0.99).value,
                    "loss_cvar99": metrics.expected_shortfall(loss, 0.99).value,
                    "bad_debt_mean": metrics.mean(o.market_bad_debt[:, i]).value,
                    "incident_loss_mean": metrics.mean(o.market_incident_loss[:, i]).value,
                }
            )
        return rows

    def staker_apr(self) -> pd.DataFrame:
        import pandas as pd

        columns = ["layer", "mean", "se", "p5", "p50", "p95", "stayed"]
        return pd.DataFrame(self._apr_rows(), columns=columns).set_index("layer")

    def _apr_rows(self) -> list[dict[str, Any]]:
        rows = []
        for j, layer in enumerate(self.model.layers):
            if not layer.share_price:
                continue
            apr = self.outcome.staker_apr[:, j]
            ok = apr[~np.isnan(apr)]
            est = metrics.mean(ok)
            rows.append(
                {
                    "layer": layer.id,
                    "mean": est.value,
                    "se": est.se,
                    "p5": metrics.quantile(ok, 0.05),
                    "p50": metrics.quantile(ok, 0.5),
                    "p95": metrics.quantile(ok, 0.95),
                    "stayed": len(ok),
                }
            )
        return rows

    def paths_frame(self) -> pd.DataFrame:
        import pandas as pd

        o, model = self.outcome, self.model
        data: dict[str, Any] = {
            "loss": o.loss,
            "bad_debt": o.bad_debt,
            "incident_loss": o.incident_loss,
            "liquidated_debt": o.liquidated_debt,
            "liquidations": o.liquidations,
            "fees": o.fees,
            "socialized": self.socialized(),
        }
        if self.has_deficit_end():
            data["deficit"] = self.socialized(deficit=True)
        for j in self.layer_order():
            data[f"paid:{model.layers[j].id}"] = o.alloc[:, j]
        for j, layer in enumerate(model.layers):
            if layer.share_price:
                data[f"apr:{layer.id}"] = o.staker_apr[:, j]
        return pd.DataFrame(data)

    # -- the JSON summary (docs/risk-lab.md, "Outputs") ---------------------------------------------
    def summary(self) -> dict[str, Any]:
        f = metrics.format_amount
        m = dict(self._metric_rows())

        def prob(name: str) -> dict[str, float]:
            e = m[name]
            return {"value": float(e.value), "se": float(e.se), "ci_low": float(e.ci_low), "ci_high": float(e.ci_high)}

        loss_keys = {"mean": "loss_mean", "var95": "loss_var95", "var99": "loss_var99", "cvar99": "loss_cvar99"}
        by_layer: dict[str, Any] = {}
        for r in self._layer_rows():
            entry: dict[str, Any] = {
                "kind": r["kind"],
                "mean": f(r["mean"]),
                "se": f(r["se"]),
                "p_exhausted": None if math.isnan(r["p_exhausted"]) else float(r["p_exhausted"]),
                "p_pays": float(r["p_pays"]),
            }
            for extra in (
                "absorbed_mean",
                "pool_loss_mean",
                "expected_loss_per_year",
                "premiums_mean",
                "minted_mean",
                "escaped_mean",
            ):
                if extra in r and not math.isnan(float(r[extra])):
                    entry[extra] = f(float(r[extra]))
            by_layer[str(r["layer"])] = entry
        aprs = {
            str(r["layer"]): {
                "mean": _num(r["mean"]),
                "se": _num(r["se"]),
                "p5": _num(r["p5"]),
                "p95": _num(r["p95"]),
                "stayed": int(r["stayed"]),
            }
            for r in self._apr_rows()
        }
        out: dict[str, Any] = {
            "name": self.model.name,
            "paths": self.paths,
            "seed": self.seed,
            "horizon_days": self.model.horizon_days,
            "steps": self.model.n_steps,
            "loss_asset": self.model.loss_asset_name,
            "p_bad_debt": prob("p_bad_debt"),
            "loss": {k: f(float(m[v].value)) for k, v in loss_keys.items()}
            | {"se": {k: f(float(m[v].se)) for k, v in loss_keys.items()}},
            "bad_debt_mean": f(float(m["bad_debt_mean"].value)),
            "incident_loss_mean": f(float(m["incident_loss_mean"].value)),
            "by_layer": by_layer,
            "p_socialized": prob("p_socialized"),
            "socialized_mean": f(float(m["socialized_mean"].value)),
            "staker_apr": aprs,
        } | (
            {"p_deficit": prob("p_deficit"), "deficit_mean": f(float(m["deficit_mean"].value))}
            if self.has_deficit_end()
            else {}
        )
        if self.outcome.claims.shape[1]:  # cover policies in force (docs/risk-lab.md)
            out["cover"] = cover.summary(self.model, self.outcome)
        return out | self._several_debt_assets() if self.model.several_debt_assets else out

    def _several_debt_assets(self) -> dict[str, Any]:
        """With several debt assets: the loss unit (aggregates are the value of each market's loss
        at its debt asset's fixed price), those prices, and each market's figures in its own debt
        asset. With one debt asset the summary is unchanged: its unit is `loss_asset`."""
        f = metrics.format_amount
        model = self.model
        markets: dict[str, Any] = {}
        for r in self._market_rows():
            markets[str(r["market"])] = {
                "debt_asset": r["debt_asset"],
                "p_bad_debt": {"value": float(r["p_bad_debt"]), "se": float(r["p_bad_debt_se"])},
                "loss": {k: f(float(r[f"loss_{k}"])) for k in ("mean", "var99", "cvar99")},
                "bad_debt_mean": f(float(r["bad_debt_mean"])),
                "incident_loss_mean": f(float(r["incident_loss_mean"])),
            }
        prices = {a: f(float(model.prices0[model.assets.index(a)]), 12) for a in model.debt_assets}
        return {"loss_unit": model.loss_asset_name, "debt_asset_prices": prices, "by_market": markets}


def _num(x: Any) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def simulate(
    source: Source | SimModel,
    paths: int,
    seed: int = 0,
    horizon_days: int | None = None,
    workers: int = 1,
    scheduler: Any = None,
    chunk_paths: int | None = None,
    keep_paths: int = 20,
    progress: Progress = False,
    executor: Executor | None = None,
) -> SimulationResult:
    """Run the risk lab; the result is bit-identical for any `workers` / `scheduler`."""
    check_paths(paths)
    check_seed(seed)
    model = _compile(source, seed, horizon_days, chunk_paths)
    sizes = chunk_sizes(paths, model.chunk_paths)
    tasks = [(model, i, n, keep_paths if i == 0 else 0) for i, n in enumerate(sizes)]
    own = executor is None
    ex = executor or make_executor(workers, scheduler)
    t0 = time.perf_counter()
    try:
        with _progress(paths, f"simulate {model.name}", progress) as advance:
            results: list[ChunkResult] = ex.map(run_chunk, tasks, lambda i, r: advance(r.n_paths))
    finally:
        if own:
            ex.close()
    seconds = time.perf_counter() - t0
    return SimulationResult(
        model,
        combine([r.outcome for r in results]),
        paths,
        seed,
        seconds,
        ex.name,
        results[0].sample_prices,
        results[0].sample_liquidations,
    )


def simulate_summary(
    path: Source,
    paths: int,
    horizon_days: int | None = None,
    seed: int = 0,
    progress: Progress = None,
    workers: int = 1,
) -> dict[str, Any]:
    """The JSON-able summary of docs/risk-lab.md (what `backstop simulate --json` prints)."""
    return simulate(
        path, paths=paths, seed=seed, horizon_days=horizon_days, workers=workers, keep_paths=0, progress=progress
    ).summary()


@dataclass
class PriceResult:
    premium: Premium
    simulation: SimulationResult

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        p = self.premium
        return pd.DataFrame(
            [
                {
                    "layer": p.layer,
                    "kind": p.kind,
                    "loading": p.loading,
                    "expected_loss_per_year": p.expected_loss_per_year.value,
                    "expected_loss_se": p.expected_loss_per_year.se,
                    "premium_per_year": p.premium_per_year.value,
                    "premium_ci_low": p.premium_per_year.ci_low,
                    "premium_ci_high": p.premium_per_year.ci_high,
                    "premium_bps_per_year": p.premium_bps,
                    "base": p.base,
                    "p_hit": p.p_hit.value,
                }
            ]
        ).set_index("layer")


def price(
    source: Source | SimModel,
    layer: str,
    paths: int,
    seed: int = 0,
    loading: float = 0.0,
    horizon_days: int | None = None,
    workers: int = 1,
    scheduler: Any = None,
    chunk_paths: int | None = None,
    progress: Progress = False,
) -> PriceResult:
    check_paths(paths)
    check_loading(loading)
    model = _compile(source, seed, horizon_days, chunk_paths)
    model.layer_index(layer)
    sim = simulate(model, paths, seed, workers=workers, scheduler=scheduler, keep_paths=0, progress=progress)
    return PriceResult(fair_premium(model, sim.outcome, layer, loading), sim)


@dataclass
class SizingRun:
    result: SizeResult
    paths: int
    seconds: float

    def curve_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.result.curve, columns=["size", "p_socialized"])


def worlds(
    model: SimModel,
    paths: int,
    workers: int = 1,
    scheduler: Any = None,
    progress: Progress = False,
    label: str = "worlds",
) -> list[World]:
    """Phase A for every chunk (what sizing keeps fixed across candidate sizes)."""
    sizes = chunk_sizes(paths, model.chunk_paths)
    ex = make_executor(workers, scheduler)
    try:
        with _progress(paths, label, progress) as advance:
            out: list[World] = ex.map(
                world_chunk, [(model, i, n) for i, n in enumerate(sizes)], lambda i, w: advance(w.n_paths)
            )
    finally:
        ex.close()
    return out


def size(
    source: Source | SimModel,
    layer: str,
    target_p: float,
    paths: int,
    seed: int = 0,
    horizon_days: int | None = None,
    workers: int = 1,
    scheduler: Any = None,
    chunk_paths: int | None = None,
    rel_tol: float = 1e-3,
    progress: Progress = False,
) -> SizingRun:
    check_paths(paths)
    check_target(target_p)
    model = _compile(source, seed, horizon_days, chunk_paths)
    model.size_of(layer)
    t0 = time.perf_counter()
    if workers > 1 and scheduler is None:  # each world stays in the worker that drew it
        with _progress(paths, f"size {layer}", progress) as advance:
            kept = KeptWorlds(model, chunk_sizes(paths, model.chunk_paths), workers, advance)
        with kept:
            result = size_layer(model, kept, layer, target_p, rel_tol)
    else:
        ws = worlds(model, paths, workers, scheduler, progress, f"size {layer}")
        result = size_layer(model, ws, layer, target_p, rel_tol)
    return SizingRun(result, paths, time.perf_counter() - t0)
