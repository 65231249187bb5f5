"""`backstop simulate | price | size`: the risk lab's commands, a thin shell over `backstop.sim.api`.

Bad input (a non-positive-definite correlation, a negative volatility, paths ≤ 0, an unknown
layer, a target outside (0, 1), a CSV missing columns...) prints `error (Type): field: message`
on stderr and exits 2, having written nothing: the report file and the JSON are written only
after everything has succeeded.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from ..bundled import resolve
from ..domain.errors import BackstopError, InvalidConfig
from ..runtime import keep_freed_memory

_err = Console(stderr=True, soft_wrap=True)


def _fail(exc: BackstopError) -> None:
    _err.print(f"[red]error[/red] ({exc.type}): {exc.message}", highlight=False)
    raise typer.Exit(code=2)


def _check_report_path(report: Path | None) -> None:
    if report is None:
        return
    parent = report.resolve().parent
    if not parent.is_dir():
        raise InvalidConfig("report", f"report: directory {parent} does not exist")
    if report.exists() and report.is_dir():
        raise InvalidConfig("report", f"report: {report} is a directory")


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.resolve().parent, prefix=".backstop-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide the report from everyone else
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, allow_nan=False) + "\n")


def _pct(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.3g}%"


def _summary_table(summary: dict[str, Any], seconds: float, executor: str) -> None:
    con = Console(width=max(Console().width, 120))
    asset = summary["loss_asset"]
    con.print(
        f"[bold]{summary['name']}[/bold]: {summary['paths']:,} paths × {summary['steps']} steps "
        f"({summary['horizon_days']} days), seed {summary['seed']}, {executor}, {seconds:.2f} s "
        f"({summary['paths'] / max(seconds, 1e-9):,.0f} paths/s)"
    )
    p, s = summary["p_bad_debt"], summary["p_socialized"]
    loss = summary["loss"]
    con.print(f"P(bad debt)        {_pct(p['value'])} ± {_pct(p['se'])}")
    con.print(f"P(investors hit)   {_pct(s['value'])} ± {_pct(s['se'])}  (socialized loss > 0)")
    if "p_deficit" in summary:  # a waterfall ending in a reserve deficit (Aave v3.3)
        dp = summary["p_deficit"]
        con.print(
            f"P(reserve deficit) {_pct(dp['value'])} ± {_pct(dp['se'])}  (mean {summary['deficit_mean']} {asset})"
        )
    con.print(
        f"loss ({asset})       mean {loss['mean']} ± {loss['se']['mean']}, VaR95 {loss['var95']}, "
        f"VaR99 {loss['var99']}, CVaR99 {loss['cvar99']} ± {loss['se']['cvar99']}"
    )
    t = Table(title="who pays (mean over paths, whole tokens of " + asset + ")")
    for col in ("layer", "kind", "mean paid", "± se", "P(exhausted)", "notes"):
        t.add_column(col, justify="right" if col not in ("layer", "kind", "notes") else "left")
    for lid, r in summary["by_layer"].items():
        notes = []
        for key, label in (
            ("absorbed_mean", "absorbed"),
            ("pool_loss_mean", "pool loss"),
            ("expected_loss_per_year", "EL/yr"),
            ("premiums_mean", "premiums"),
            ("minted_mean", "tokens minted"),
            ("escaped_mean", "ran with"),
        ):
            if key in r:
                notes.append(f"{label} {r[key]}")
        t.add_row(lid, r["kind"], r["mean"], r["se"], _pct(r["p_exhausted"]), ", ".join(notes))
    con.print(t)
    if "by_market" in summary:  # several debt assets: the totals are in the loss unit, each market in its own
        _market_table(con, summary)
    for lid, a in summary["staker_apr"].items():
        con.print(
            f"staker APR {lid}: mean {_pct(a['mean'])}, p5 {_pct(a['p5'])}, p95 {_pct(a['p95'])} "
            f"({a['stayed']:,} paths with stakers left)"
        )
    for pool, cv in summary.get("cover", {}).items():  # cover policies in force (docs/risk-lab.md)
        net = cv["staker_return_net"]
        con.print(
            f"cover {pool}: expected payout {cv['expected_payout']} ± {cv['expected_payout_se']} {cv['asset']}, "
            f"P(claim paid) {_pct(cv['p_claim_paid']['value'])}, P(exhausted) {_pct(cv['p_exhausted']['value'])}, "
            f"stakers' return net of payouts {_pct(None if net is None else net['mean'])}"
        )


def _market_table(con: Console, summary: dict[str, Any]) -> None:
    prices = ", ".join(f"{a} = {p} {summary['loss_unit']}" for a, p in summary["debt_asset_prices"].items())
    t = Table(title=f"each market in its own debt asset (the totals above value them at {prices})")
    for col in ("market", "debt asset", "P(bad debt)", "mean loss", "VaR99", "CVaR99", "bad debt", "incidents"):
        t.add_column(col, justify="left" if col in ("market", "debt asset") else "right")
    for mid, r in summary["by_market"].items():
        loss = r["loss"]
        t.add_row(
            mid,
            r["debt_asset"],
            _pct(r["p_bad_debt"]["value"]),
            loss["mean"],
            loss["var99"],
            loss["cvar99"],
            r["bad_debt_mean"],
            r["incident_loss_mean"],
        )
    con.print(t)


def add_commands(app: typer.Typer) -> None:
    add_warmup(app)

    @app.command()
    def simulate(
        file: Path = typer.Argument(..., help="Scenario YAML with a `simulation:` section, or example:NAME"),
        paths: int = typer.Option(10_000, "--paths", help="Monte Carlo paths"),
        horizon_days: int | None = typer.Option(None, "--horizon-days", help="Override simulation.horizon_days"),
        seed: int = typer.Option(0, "--seed", help="Root seed (results are bit-identical for a seed)"),
        workers: int = typer.Option(1, "--workers", help="Local worker processes (1 = inline)"),
        scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler address, tcp://host:8786"),
        chunk_paths: int | None = typer.Option(None, "--chunk-paths", help="Override simulation.chunk_paths"),
        report: Path | None = typer.Option(None, "--report", help="Write a self-contained HTML report here"),
        as_json: bool = typer.Option(False, "--json", help="Print the JSON summary (docs/risk-lab.md)"),
        size_layer: str | None = typer.Option(
            None, "--size-layer", help="With --report: add the sizing curve of this layer (same paths and seed)"
        ),
        target_p: float = typer.Option(0.01, "--target-p", help="With --size-layer: target P(socialized)"),
    ) -> None:
        """Monte Carlo of the whole backstop: P(bad debt), loss VaR/CVaR, who pays, staker APR."""
        from . import api

        keep_freed_memory()  # a command that ends: its chunks reuse freed memory (runtime.py)
        try:
            api.check_paths(paths)
            _check_report_path(report)
            if size_layer is not None:
                if report is None:
                    raise InvalidConfig("size_layer", "size_layer: the sizing curve goes in the report; add --report")
                from .sizing import check_target

                check_target(target_p)
            res = api.simulate(
                resolve(file, "file"),
                paths=paths,
                seed=seed,
                horizon_days=horizon_days,
                workers=workers,
                scheduler=scheduler,
                chunk_paths=chunk_paths,
                progress=True,
            )
            html = None
            if report is not None:
                from .report import build_report

                sizing = None
                if size_layer is not None:
                    sizing = api.size(
                        res.model,
                        size_layer,
                        target_p,
                        paths=paths,
                        seed=seed,
                        workers=workers,
                        scheduler=scheduler,
                        progress=True,
                    )
                html = build_report(res, sizing)
        except BackstopError as exc:
            _fail(exc)
            return
        if report is not None and html is not None:
            _write_atomic(report, html)
        summary = res.summary()
        if as_json:
            _print_json(summary)
        else:
            _summary_table(summary, res.seconds, res.executor)
            if report is not None:
                Console().print(f"report written to {report}")

    @app.command()
    def price(
        file: Path = typer.Argument(..., help="Scenario YAML with a `simulation:` section, or example:NAME"),
        layer: str = typer.Option(..., "--layer", help="Layer to price (a guarantor, fund, pool...)"),
        loading: float = typer.Option(0.0, "--loading", help="Safety loading: premium = (1 + loading) × E[loss]"),
        paths: int = typer.Option(10_000, "--paths"),
        horizon_days: int | None = typer.Option(None, "--horizon-days"),
        seed: int = typer.Option(0, "--seed"),
        workers: int = typer.Option(1, "--workers"),
        scheduler: str | None = typer.Option(None, "--scheduler"),
        chunk_paths: int | None = typer.Option(None, "--chunk-paths"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Fair premium of a layer: expected annual loss plus loading, with its 95% interval."""
        from . import api

        keep_freed_memory()  # a command that ends: its chunks reuse freed memory (runtime.py)
        try:
            res = api.price(
                resolve(file, "file"),
                layer,
                paths=paths,
                seed=seed,
                loading=loading,
                horizon_days=horizon_days,
                workers=workers,
                scheduler=scheduler,
                chunk_paths=chunk_paths,
                progress=True,
            )
        except BackstopError as exc:
            _fail(exc)
            return
        data = res.premium.as_dict() | {
            "paths": paths,
            "seed": seed,
            "loss_asset": res.simulation.model.loss_asset_name,
        }
        if as_json:
            _print_json(data)
            return
        p = res.premium
        asset = data["loss_asset"]
        Console().print(
            f"{p.layer} ({p.kind}): expected loss {data['expected_loss_per_year']['value']} {asset}/year "
            f"± {data['expected_loss_per_year']['se']} (P(pays) {_pct(p.p_hit.value)})\n"
            f"fair premium with loading {p.loading:g}: {data['premium_per_year']['value']} {asset}/year, "
            f"95% CI [{data['premium_per_year']['ci_low']}, {data['premium_per_year']['ci_high']}]"
            + (f" = {p.premium_bps:.1f} bps/year of {data['base']}" if p.base > 0 else "")
        )

    @app.command()
    def size(
        file: Path = typer.Argument(..., help="Scenario YAML with a `simulation:` section, or example:NAME"),
        layer: str = typer.Option(..., "--layer", help="Layer to size (fund, treasury, pool, guarantor, mint)"),
        target_p: float = typer.Option(..., "--target-p", help="Largest acceptable P(socialized loss > 0)"),
        paths: int = typer.Option(10_000, "--paths"),
        horizon_days: int | None = typer.Option(None, "--horizon-days"),
        seed: int = typer.Option(0, "--seed"),
        workers: int = typer.Option(1, "--workers"),
        scheduler: str | None = typer.Option(None, "--scheduler"),
        chunk_paths: int | None = typer.Option(None, "--chunk-paths"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Smallest size of a layer meeting a target P(socialized), bisection on common random numbers."""
        from . import api

        keep_freed_memory()  # a command that ends: its chunks reuse freed memory (runtime.py)
        try:
            run = api.size(
                resolve(file, "file"),
                layer,
                target_p,
                paths=paths,
                seed=seed,
                horizon_days=horizon_days,
                workers=workers,
                scheduler=scheduler,
                chunk_paths=chunk_paths,
                progress=True,
            )
        except BackstopError as exc:
            _fail(exc)
            return
        data = run.result.as_dict() | {"paths": paths, "seed": seed}
        if as_json:
            _print_json(data)
            return
        r = run.result
        if not r.reached:
            Console().print(
                f"{layer}: no size brings P(socialized) to {target_p:g} (losses reach investors by "
                f"another route); at the current size it is {_pct(r.p_at_size.value)}"
            )
            return
        Console().print(
            f"{layer} ({r.kind}): smallest size with P(socialized) ≤ {target_p:g} is {data['size']} "
            f"(95% MC range {data['size_ci'][0]} – {data['size_ci'][1]}; now {data['current_size']}); "
            f"P there {_pct(r.p_at_size.value)} ± {_pct(r.p_at_size.se)}, {r.evaluations} evaluations on the same "
            f"{paths:,} paths, {run.seconds:.1f} s"
        )


def add_warmup(app: typer.Typer) -> None:
    """`backstop warmup`: compile the risk lab's kernels into Numba's on-disk cache (once per install;
    `make` runs it), so that no simulation pays for compiling. Without numba it says so and exits 0."""

    @app.command()
    def warmup(
        as_json: bool = typer.Option(False, "--json", help="Print what was compiled as JSON"),
    ) -> None:
        """Compile and cache the risk lab's kernels (Numba, the `fast` extra); a no-op without numba."""
        from .jit import warmup as run_warmup

        info = run_warmup()
        if as_json:
            _print_json(info)
        elif info["numba"] is None:
            Console().print(f"warmup: {info['note']}")
        else:
            Console().print(
                f"warmup: {info['kernels']} of {info['of']} kernels compiled or loaded with numba {info['numba']} "
                f"in {info['seconds']:.2f} s; cache: {info['cache_dir']}"
            )
