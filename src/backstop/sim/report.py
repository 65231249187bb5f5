"""`backstop simulate --report out.html`: one self-contained HTML file (no network, no scripts).

Figures are drawn with matplotlib's Agg renderer through `matplotlib.figure.Figure` (no pyplot,
so no global state and nothing that needs a display) and embedded as base64 PNG `data:` URIs:
the file can be mailed, archived or attached to a governance post and still open as it was.

What it shows, in the order a risk committee asks: the summary table (with Monte Carlo standard
errors), the loss distribution and its tail, who pays (mean loss by layer), how often each layer
runs dry, what stakers earn after slashing, sample price paths with the liquidations they set
off, and — when a sizing run is given — P(socialized) against the layer's size.
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from . import cover, metrics

if TYPE_CHECKING:
    from .api import SimulationResult, SizingRun

DPI = 100
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf"]


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(title: str, fig: Figure, caption: str) -> str:
    return (
        f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{_png(fig)}">'
        f"<figcaption><b>{html.escape(title)}.</b> {html.escape(caption)}</figcaption></figure>"
    )


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return html.escape(x)
    x = float(x)
    if math.isnan(x):
        return "-"
    if x != 0 and (abs(x) >= 1e6 or abs(x) < 1e-3):
        return f"{x:.4g}"
    return f"{x:,.4f}".rstrip("0").rstrip(".")


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# -- figures ------------------------------------------------------------------------------------
def loss_distribution(res: SimulationResult) -> str:
    loss = res.outcome.loss
    asset = res.model.loss_asset_name
    fig = Figure(figsize=(11, 4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    pos = loss[loss > 0]
    zero_share = 1.0 - len(pos) / len(loss) if len(loss) else math.nan
    if len(pos):
        lo, hi = float(pos.min()), float(pos.max())
        bins = np.geomspace(lo, hi * 1.0001, 50) if hi > lo * 1.01 else 10
        ax1.hist(pos, bins=bins, color=COLOURS[0])
        if hi > lo * 1.01:
            ax1.set_xscale("log")
    ax1.set_xlabel(f"loss per path ({asset}, paths with a loss)")
    ax1.set_ylabel("paths")
    ax1.set_title(f"loss distribution ({100 * zero_share:.3g}% of paths lose nothing)")
    s = np.sort(loss)
    exceed = 1.0 - np.arange(1, len(s) + 1) / len(s)
    keep = (s > 0) & (exceed > 0)
    if keep.any():
        ax2.step(s[keep], exceed[keep], where="post", color=COLOURS[0])
        ax2.set_xscale("log")
        ax2.set_yscale("log")
    for q, style in ((0.95, "--"), (0.99, ":")):
        v = metrics.value_at_risk(loss, q).value
        if v > 0:
            ax2.axvline(v, color="k", linestyle=style, label=f"VaR{round(100 * q)} {_fmt(v)}")
    cvar = metrics.expected_shortfall(loss, 0.99).value
    if cvar > 0:
        ax2.axvline(cvar, color=COLOURS[3], linestyle="-.", label=f"CVaR99 {_fmt(cvar)}")
    ax2.set_xlabel(f"loss ({asset})")
    ax2.set_ylabel("P(loss > x)")
    ax2.set_title("exceedance curve")
    if ax2.get_legend_handles_labels()[0]:
        ax2.legend(fontsize=8)
    return _figure(
        "Loss distribution",
        fig,
        "Total loss per path (bad debt after liquidations plus incident losses), before the backstop pays. "
        "Left: histogram of the paths with a loss (log bins); right: P(loss > x) with VaR and CVaR marked.",
    )


def loss_by_layer(res: SimulationResult) -> str:
    bl = res.by_layer()
    fig = Figure(figsize=(9, 0.45 * len(bl) + 1.5), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(bl))[::-1]
    ax.barh(y, bl["mean"], xerr=metrics.Z95 * bl["se"].fillna(0.0), color=COLOURS[1], capsize=3)
    ax.set_yticks(y, [f"{lid} ({k})" for lid, k in zip(bl.index, bl["kind"], strict=True)])
    ax.set_xlabel(f"mean paid per path ({res.model.loss_asset_name}), 95% MC interval")
    ax.set_title("who pays: loss by layer, in waterfall order")
    return _figure(
        "Loss by layer",
        fig,
        "What each layer paid towards loss events over the horizon, averaged over paths; the last bar "
        "(socialize) is the investors' loss.",
    )


def exhaustion(res: SimulationResult) -> str:
    o, model = res.outcome, res.model
    order = [j for j in res.layer_order() if not model.layers[j].terminal]
    fig = Figure(figsize=(9, 0.45 * max(1, len(order)) + 1.5), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(order))[::-1]
    est = [metrics.probability(o.exhausted[:, j]) for j in order]
    pays = [float((o.alloc[:, j] > 1e-9).mean()) for j in order]
    err = np.array([[e.value - e.ci_low, e.ci_high - e.value] for e in est]).T.reshape(2, len(order))
    err = np.clip(err, 0.0, None)  # a Wilson bound at p = 0 can sit a rounding error above the estimate
    ax.barh(y + 0.2, [e.value for e in est], height=0.4, xerr=err, color=COLOURS[3], capsize=3, label="P(exhausted)")
    ax.barh(y - 0.2, pays, height=0.4, color=COLOURS[7], label="P(pays anything)")
    ax.set_yticks(y, [model.layers[j].id for j in order])
    ax.set_xlabel("probability over the horizon (Wilson 95% interval)")
    ax.set_title("how often each layer runs dry")
    ax.legend(fontsize=8)
    return _figure(
        "Exhaustion probabilities",
        fig,
        "P(exhausted): the layer could not pay all that reached it at least once on the path (its balance, "
        "per-event cap, slash cap or limit ran out); a stability pool is exhausted when a liquidation needs "
        "more than its deposits.",
    )


def staker_apr(res: SimulationResult) -> str | None:
    model = res.model
    pools = [j for j, layer in enumerate(model.layers) if layer.share_price]
    pools = [j for j in pools if np.any(~np.isnan(res.outcome.staker_apr[:, j]))]
    if not pools:
        return None
    fig = Figure(figsize=(9, 4), layout="constrained")
    ax = fig.subplots()
    for i, j in enumerate(pools):
        apr = res.outcome.staker_apr[:, j]
        apr = 100 * apr[~np.isnan(apr)]
        ax.hist(apr, bins=60, alpha=0.6, color=COLOURS[i % len(COLOURS)], label=model.layers[j].id)
        ax.axvline(float(apr.mean()), color=COLOURS[i % len(COLOURS)], linestyle="--")
    ax.set_yscale("log")
    ax.set_xlabel("staker APR after slashing (% per year; dashed: mean)")
    ax.set_ylabel("paths (log scale)")
    ax.set_title("what a staker who stayed earned")
    ax.legend(fontsize=8)
    return _figure(
        "Staker APR",
        fig,
        "Share-price return of a staker who did not run, annualised: rewards less slashes. The mass at the "
        "reward rate is the paths with no slash; the left tail is the slashing risk the APR is paid for.",
    )


def price_paths(res: SimulationResult) -> str | None:
    sample, marks, model = res.sample_prices, res.sample_liquidations, res.model
    if sample is None or sample.size == 0:
        return None
    n_assets = sample.shape[0]
    fig = Figure(figsize=(11, 3.2 * n_assets), layout="constrained")
    axes = np.atleast_1d(fig.subplots(n_assets, 1, squeeze=False)[:, 0])
    days = np.arange(sample.shape[2]) / model.steps_per_day
    for r, ax in enumerate(axes):
        asset = model.prices.assets[r]
        for k in range(sample.shape[1]):
            ax.plot(days, sample[r, k], lw=0.8, color=COLOURS[k % len(COLOURS)], alpha=0.8)
        n_marked = 0
        if marks is not None and len(marks):
            rows = np.array([model.books[int(b)].price_row for b in marks[:, 2]])
            sel = rows == r
            if sel.any():
                p, s = marks[sel, 0].astype(np.int64), marks[sel, 1].astype(np.int64)
                ax.scatter(s / model.steps_per_day, sample[r, p, s], marker="x", color="k", s=18, zorder=3)
                n_marked = int(sel.sum())
        ax.set_yscale("log")
        ax.set_ylabel(f"{asset} price")
        ax.set_title(f"{asset}: {sample.shape[1]} sample paths, {n_marked} liquidation settlements (x)")
    axes[-1].set_xlabel("day")
    return _figure(
        "Sample price paths",
        fig,
        "The first simulated paths of the first chunk; each x is a liquidation settlement (a range of "
        "buckets of one book settling at that step's market price, after the keeper delay).",
    )


def sizing_curve(sizing: SizingRun, asset: str) -> str:
    r = sizing.result
    pts = np.array(r.curve) if r.curve else np.zeros((0, 2))
    fig = Figure(figsize=(9, 4), layout="constrained")
    ax = fig.subplots()
    if len(pts):
        ax.step(pts[:, 0], pts[:, 1], where="post", color=COLOURS[2], marker=".")
    ax.axhline(r.target_p, color="k", linestyle="--", label=f"target {r.target_p:g}")
    if math.isfinite(r.size):
        ax.axvline(r.size, color=COLOURS[3], linestyle=":", label=f"smallest size {_fmt(r.size)}")
    ax.axvline(r.current_size, color=COLOURS[7], linestyle="-.", label=f"current {_fmt(r.current_size)}")
    ax.set_xlabel(f"size of {r.layer} ({asset})")
    ax.set_ylabel("P(socialized loss > 0)")
    ax.set_title(f"sizing curve of {r.layer} (common random numbers, {sizing.paths:,} paths)")
    ax.legend(fontsize=8)
    return _figure(
        "Sizing curve",
        fig,
        "Estimated P(socialized) as the layer's size changes, every size evaluated on the same simulated "
        "worlds, so the curve is monotone and the bisection cannot walk the wrong way.",
    )


# -- the page ----------------------------------------------------------------------------------
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1180px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right} th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
figure{margin:1.2em 0} img{max-width:100%;border:1px solid #eee} figcaption{font-size:.85em;color:#555}
.note{font-size:.85em;color:#555}
"""


def summary_tables(res: SimulationResult) -> str:
    m = res.metrics()
    asset = res.model.loss_asset_name
    labels = {
        "p_bad_debt": "P(bad debt)",
        "loss_mean": f"mean loss ({asset})",
        "loss_var95": f"VaR95 of loss ({asset})",
        "loss_var99": f"VaR99 of loss ({asset})",
        "loss_cvar99": f"CVaR99 of loss ({asset})",
        "bad_debt_mean": f"mean bad debt ({asset})",
        "incident_loss_mean": f"mean incident loss ({asset})",
        "p_socialized": "P(socialized loss > 0)",
        "socialized_mean": f"mean socialized loss ({asset})",
    }
    rows = [[labels.get(str(k), str(k)), r["value"], r["se"], r["ci_low"], r["ci_high"]] for k, r in m.iterrows()]
    out = _table(["metric", "value", "MC se", "95% low", "95% high"], rows)
    bl = res.by_layer()
    rows = [
        [str(lid), r["kind"], r["mean"], r["se"], r["p_exhausted"], r["p_exhausted_se"], r["p_pays"]]
        for lid, r in bl.iterrows()
    ]
    out += "<h3>by layer</h3>" + _table(
        ["layer", "kind", f"mean paid ({asset})", "se", "P(exhausted)", "se", "P(pays)"], rows
    )
    if res.model.several_debt_assets:  # totals are in quote units; each market also in its own debt asset
        rows = [[str(mid), *r.drop("p_bad_debt_se").tolist()] for mid, r in res.by_market().iterrows()]
        out += f"<h3>by market, in its own debt asset (totals above: {html.escape(asset)} at fixed prices)</h3>"
        out += _table(
            ["market", "debt asset", "P(bad debt)", "mean loss", "VaR99", "CVaR99", "mean bad debt", "mean incidents"],
            rows,
        )
    apr = res.staker_apr()
    if len(apr):
        rows = [[str(lid), r["mean"], r["se"], r["p5"], r["p50"], r["p95"], r["stayed"]] for lid, r in apr.iterrows()]
        out += "<h3>staker APR (fraction per year)</h3>" + _table(
            ["layer", "mean", "se", "p5", "median", "p95", "paths with stakers left"], rows
        )
    if res.outcome.claims.shape[1]:
        out += cover_table(res)
    return out


def cover_table(res: SimulationResult) -> str:
    """Cover policies and claims (docs/risk-lab.md): per pool, then per policy."""
    rows = []
    for pool, c in cover.summary(res.model, res.outcome).items():
        net = c["staker_return_net"]
        rows.append(
            [
                html.escape(pool),
                "(pool)",
                c["expected_payout"],
                c["p_claim_paid"]["value"],
                c["p_exhausted"]["value"],
                c["premiums_earned"],
                "" if net is None else net["mean"],
            ]
        )
        for pid, p in c["policies"].items():
            rows.append(
                [
                    html.escape(pool),
                    html.escape(f"{pid} ({p['owner']}, {p['market']})"),
                    p["expected_payout"],
                    p["p_claim_paid"]["value"],
                    "",
                    p["premium_earned"],
                    "",
                ]
            )
    return "<h3>cover policies and claims (pool's asset)</h3>" + _table(
        [
            "pool",
            "policy",
            "expected payout",
            "P(claim paid)",
            "P(exhausted)",
            "premiums earned",
            "stakers' net return",
        ],
        rows,
    )


def build_report(res: SimulationResult, sizing: SizingRun | None = None) -> str:
    """The whole report as one HTML string (the caller writes it, atomically)."""
    model = res.model
    figures = [loss_distribution(res), loss_by_layer(res), exhaustion(res)]
    for extra in (staker_apr(res), price_paths(res)):
        if extra is not None:
            figures.append(extra)
    if sizing is not None:
        figures.append(sizing_curve(sizing, model.loss_asset_name))
    books = ", ".join(
        f"{b.market}/{b.collateral}: {b.n_positions:,} positions in {b.n_buckets} buckets" for b in model.books
    )
    title = f"backstop risk lab: {model.name}"
    head = (
        f"<p>{res.paths:,} paths × {model.n_steps:,} steps ({model.horizon_days} days, "
        f"{model.steps_per_day} per day), seed {res.seed}, executor {html.escape(res.executor)}, "
        f"{res.seconds:.2f} s. Amounts in whole {html.escape(model.loss_asset_name)}. "
        f"Books: {html.escape(books) or 'none'}.</p>"
        '<p class="note">Every estimate carries its Monte Carlo standard error; the same seed gives the same '
        "numbers on any executor and number of workers.</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{head}<h2>Summary</h2>{summary_tables(res)}"
        f"<h2>Figures</h2>{''.join(figures)}</body></html>\n"
    )
