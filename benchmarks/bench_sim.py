"""Risk-lab benchmarks (issue 5): the standard run against the RNG floor, a naive loop and radCAD,
common random numbers in sizing, 1 → 2 workers, and peak memory.

Run: `make bench` or `.venv/bin/python benchmarks/bench_sim.py [--paths N] [--quick]`.

Standard run: examples/risk_lab_cdp.yaml (ETH, WBTC, LINK correlated GBM with jumps, 1,000
generated positions in 3 books, every layer kind, outages, incidents, a staker run) for 100,000
paths × 365 daily steps. What each figure is compared with:

* RNG floor: the same number of normals (assets × paths × steps) drawn with PCG64 into one
  preallocated buffer of one chunk's shape, chunk by chunk (best of 3). Goal: run ≤ 2 × floor.
* Reduced model (one asset GBM, no jumps; 1,000 positions bucketed by the risk lab into ≤ 256
  buckets; liquidation when the price crosses a bucket's liquidation price, settled one step
  later, no price impact; bad debt into an insurance fund, the rest socialized). The risk lab
  runs it from a scenario file; a naive per-path Python loop and a radCAD model run the very
  same step function (`reduced_step` below) on the bucket arrays taken from the compiled model,
  so the three are one model. The step function is also checked path by path against the risk
  lab on the risk lab's own normals, and P(bad debt) is compared across the three (two-sample
  z-test). radCAD runs in its own venv (.bench-venvs/radcad, gitignored, made on first use),
  single process, deepcopy off, substeps dropped: its fastest one-core settings.
* CRN in sizing: P(socialized | fund = a) − P(socialized | fund = b) for a, b = 0.8 / 1.2 × the
  fund size found for the target, estimated on common worlds (CRN: what `backstop size` does)
  or on independent worlds (other chunks); paths per candidate for the same CI width, ratio of
  the variances. Goal ≥ 5× fewer with CRN.
* Workers: the standard run inline and on 2 local worker processes (spawn), in child
  processes that report their own peak RSS; the two results must be bit-identical.

Figures go to docs/benchmarks.md with this command.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import inspect
import json
import math
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "examples" / "risk_lab_cdp.yaml"
RADCAD_VENV = ROOT / ".bench-venvs" / "radcad"
RADCAD_PINS = ("radcad==0.14.0", "typing_extensions==4.16.0")  # radcad 0.14.0 imports it without declaring it
SEED = 1

REDUCED_YAML = """\
name: risk-lab-reduced
assets:
  LUSD: {decimals: 18}
  ETH: {decimals: 18}
prices: {LUSD: 1, ETH: 2000}
layers:
  fund: {kind: insurance_fund, asset: LUSD}
  rest: {kind: socialize}
markets:
  troves:
    kind: cdp
    debt_asset: LUSD
    min_collateral_ratio_bps: 11000
    collateral:
      ETH: {liquidation_threshold_bps: 9091, liquidation_bonus_bps: 500}
    waterfall: [fund, rest]
steps:
  - {at: 0, do: deposit, layer: fund, account: dao, amount: 3000000}
simulation:
  horizon_days: 365
  prices:
    model: gbm
    assets:
      ETH: {vol: 0.8, drift: 0.0}
  positions:
    - {market: troves, count: 1000, collateral: ETH, debt_total: 100000000, health: {median: 1.5, sigma: 0.5}}
  liquidation: {keeper_delay_steps: 1}
"""


# -- the reduced model's step function: the naive loop and radCAD both run exactly this --------------------------
def reduced_settle(p: dict[str, Any], kb: int, ka: int, lp: float, fund: float, bad: float, soc: float) -> tuple:
    """Settle buckets kb..ka-1 at log price lp: shortfall D − C·q (q = p / (p_debt·(1 + bonus))) is bad debt;
    the fund pays what it can, the rest is socialized."""
    q = math.exp(lp) / (p["debt_price"] * (1.0 + p["bonus"]))
    debt, coll = p["debt"], p["coll"]
    loss = 0.0
    for i in range(kb, ka):
        short = debt[i] - coll[i] * q
        if short > 0.0:
            loss += short
    if loss > 0.0:
        paid = min(loss, fund)
        fund -= paid
        bad += loss
        soc += loss - paid
    return fund, bad, soc


def reduced_start(p: dict[str, Any]) -> tuple:
    """State (log price, buckets triggered, pending settlements, fund, bad debt, socialized) at step 0."""
    k, lp = 0, p["lp0"]
    while k < p["B"] and p["log_liq"][k] > lp:
        k += 1
    pending: tuple = ((min(p["delay"], p["T"]), 0, k),) if k else ()
    fund, bad, soc = p["fund0"], 0.0, 0.0
    if pending and p["delay"] == 0:
        fund, bad, soc = reduced_settle(p, 0, k, lp, fund, bad, soc)
        pending = ()
    return lp, k, pending, fund, bad, soc


def reduced_step(p: dict[str, Any], state: tuple, t: int, z: float) -> tuple:
    """Step t (1..T) with standard normal z: move the price, trigger crossed buckets, settle what is due."""
    lp, k, pending, fund, bad, soc = state
    lp += p["drift"] + p["vol"] * z
    kb = k
    log_liq = p["log_liq"]
    while k < p["B"] and log_liq[k] > lp:
        k += 1
    if k > kb:
        pending = (*pending, (min(t + p["delay"], p["T"]), kb, k))
    if pending and pending[0][0] == t:
        still = []
        for s, a, b in pending:
            if s == t:
                fund, bad, soc = reduced_settle(p, a, b, lp, fund, bad, soc)
            else:
                still.append((s, a, b))
        pending = tuple(still)
    return lp, k, pending, fund, bad, soc


def naive_run(p: dict[str, Any], paths: int, seed: int) -> tuple[list[float], list[float]]:
    """The naive per-path Python loop: one path at a time, one step at a time, random.gauss draws."""
    rng = random.Random(seed)
    bads, socs = [], []
    for _ in range(paths):
        state = reduced_start(p)
        for t in range(1, p["T"] + 1):
            state = reduced_step(p, state, t, rng.gauss(0.0, 1.0))
        bads.append(state[4])
        socs.append(state[5])
    return bads, socs


RADCAD_MAIN = """
import json, random, sys, time
from radcad import Backend, Engine, Model, Simulation

P = json.load(open(sys.argv[1]))
RUNS, SEED = int(sys.argv[2]), int(sys.argv[3])
RNG = random.Random(SEED)
NAMES = ("lp", "k", "pending", "fund", "bad", "soc")

def p_market(params, substep, history, s):
    t = s["timestep"] + 1
    new = reduced_step(P, tuple(s[n] for n in NAMES), t, RNG.gauss(0.0, 1.0))
    return dict(zip(NAMES, new))

def suf(name):
    return lambda params, substep, history, s, signal: (name, signal[name])

model = Model(
    initial_state=dict(zip(NAMES, reduced_start(P))),
    state_update_blocks=[{"policies": {"market": p_market}, "variables": {n: suf(n) for n in NAMES}}],
    params={},
)
sim = Simulation(model=model, timesteps=P["T"], runs=RUNS)
sim.engine = Engine(backend=Backend.SINGLE_PROCESS, deepcopy=False, drop_substeps=True)
t0 = time.perf_counter()
rows = sim.run()
seconds = time.perf_counter() - t0
final = [r for r in rows if r["timestep"] == P["T"]]
print(json.dumps({"seconds": seconds, "runs": len(final), "bad": [r["bad"] for r in final],
                  "soc": [r["soc"] for r in final]}))
"""


# -- helpers ------------------------------------------------------------------------------------------------------
def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def two_sample_z(k1: int, n1: int, k2: int, n2: int) -> float:
    """z of the difference of two binomial proportions (pooled); 0 when both are 0 or 1."""
    pooled = (k1 + k2) / (n1 + n2)
    var = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    return 0.0 if var == 0 else (k1 / n1 - k2 / n2) / math.sqrt(var)


def reduced_params(model: Any) -> dict[str, Any]:
    """The bucket arrays and price dynamics of the compiled reduced model, as plain Python numbers."""
    (book,) = model.books
    return {
        "lp0": float(model.prices.log_p0[0]),
        "drift": float(model.prices.drift_step[0]),
        "vol": float(model.prices.chol[0, 0]),
        "log_liq": [float(-x) for x in book.neg_log_liq],
        "debt": [float(x) for x in np.diff(book.cum_debt)],
        "coll": [float(x) for x in np.diff(book.cum_coll)],
        "B": int(book.n_buckets),
        "bonus": float(book.bonus),
        "debt_price": float(book.debt_price),
        "delay": int(model.keeper_delay_steps),
        "T": int(model.n_steps),
        "fund0": float(model.layers[model.layer_index("fund")].balances[model.loss_asset]),
    }


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its waited-for children (the worker processes)."""
    return sum(
        u.ru_utime + u.ru_stime for u in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )


def peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # KiB on Linux


# -- child process: one standard run, so that its peak RSS is its own ---------------------------------------------
def child_run(paths: int, workers: int) -> None:
    from backstop.sim import api
    from backstop.sim.model import compile_model

    model = compile_model(SCENARIO, seed=SEED)
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    res = api.simulate(model, paths, SEED, workers=workers, keep_paths=0)
    seconds = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    o = res.outcome
    digest = hashlib.sha256()
    for arr in (o.loss, o.bad_debt, o.alloc, o.staker_apr):
        digest.update(np.ascontiguousarray(arr).tobytes())
    m = res.metrics()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "paths": paths,
                "chunks": math.ceil(paths / model.chunk_paths),
                "chunk_paths": model.chunk_paths,
                "n_assets": len(model.prices.assets),
                "n_steps": model.n_steps,
                "positions": sum(b.n_positions for b in model.books),
                "buckets": sum(b.n_buckets for b in model.books),
                "p_bad_debt": float(m.loc["p_bad_debt", "value"]),
                "p_socialized": float(m.loc["p_socialized", "value"]),
                "digest": digest.hexdigest(),
                "cpu_seconds": cpu,
                "rss_self_mb": peak_rss_mb(resource.RUSAGE_SELF),
                "rss_children_mb": peak_rss_mb(resource.RUSAGE_CHILDREN),
            }
        )
    )


def run_child(paths: int, workers: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child-run", str(workers), "--paths", str(paths)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- figures -------------------------------------------------------------------------------------------------------
def rng_floor(n_assets: int, paths: int, steps: int, chunk_paths: int, repeats: int = 3) -> tuple[float, float]:
    """(wall seconds, CPU seconds), best of `repeats`, to draw the run's normals chunk by chunk into one buffer."""
    best, best_cpu = math.inf, math.inf
    buf = np.empty((n_assets, chunk_paths, steps))
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for i, start in enumerate(range(0, paths, chunk_paths)):
            n = min(chunk_paths, paths - start)
            out = buf if n == chunk_paths else np.empty((n_assets, n, steps))
            np.random.Generator(np.random.PCG64(np.random.SeedSequence(SEED, spawn_key=(i, 0)))).standard_normal(
                out=out
            )
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best, best_cpu


def ensure_radcad() -> Path:
    py = RADCAD_VENV / "bin" / "python"
    want = RADCAD_PINS[0].split("==")[1]
    probe = [str(py), "-c", "import radcad, importlib.metadata as m; print(m.version('radcad'))"]
    if py.exists():
        got = subprocess.run(probe, capture_output=True, text=True)
        if got.returncode == 0 and got.stdout.strip() == want:
            return py
    log(f"making {RADCAD_VENV} ({', '.join(RADCAD_PINS)}) ...")
    RADCAD_VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(RADCAD_VENV)], check=True)
    pip = subprocess.run([str(py), "-m", "pip", "install", "-q", *RADCAD_PINS], capture_output=True, text=True)
    if pip.returncode != 0:
        log(pip.stdout + pip.stderr)
        pip.check_returncode()
    subprocess.run(probe, check=True, capture_output=True)
    return py


def run_radcad(p: dict[str, Any], runs: int, seed: int) -> dict[str, Any]:
    py = ensure_radcad()
    kernel = "\n\n".join(textwrap.dedent(inspect.getsource(f)) for f in (reduced_settle, reduced_start, reduced_step))
    with tempfile.TemporaryDirectory() as tmp:
        params = Path(tmp) / "params.json"
        params.write_text(json.dumps(p))
        script = Path(tmp) / "radcad_reduced.py"
        script.write_text(
            "from __future__ import annotations\nimport math\nfrom typing import Any\n\n" + kernel + "\n" + RADCAD_MAIN
        )
        out = subprocess.run(
            [str(py), str(script), str(params), str(runs), str(seed)], check=True, capture_output=True, text=True
        )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def reduced_figures(paths: int, naive_paths: int, radcad_paths: int, skip_radcad: bool) -> dict[str, Any]:
    from backstop.sim import api
    from backstop.sim.model import compile_model
    from backstop.sim.world import DIFFUSION, component_rng

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reduced.yaml"
        path.write_text(REDUCED_YAML)
        model = compile_model(path, seed=SEED)
    p = reduced_params(model)
    out: dict[str, Any] = {"buckets": p["B"], "positions": model.books[0].n_positions}

    # 1. Same model: the step function on the risk lab's own normals gives the risk lab's per-path results.
    k = min(500, paths)
    check = api.simulate(model, k, SEED, keep_paths=0)
    z = component_rng(SEED, 0, DIFFUSION).standard_normal((1, k, p["T"]))[0]
    soc_check = check.socialized()
    worst = 0.0
    for i in range(k):
        state = reduced_start(p)
        for t in range(1, p["T"] + 1):
            state = reduced_step(p, state, t, float(z[i, t - 1]))
        for mine, theirs in ((state[4], check.outcome.bad_debt[i]), (state[5], soc_check[i])):
            worst = max(worst, abs(mine - theirs) / max(1.0, abs(theirs)))
    out["same_model_paths"] = k
    out["same_model_max_rel_diff"] = worst

    # 2. Throughput, one core each.
    api.simulate(model, min(paths, 2_000), SEED + 7, keep_paths=0)  # warm-up
    t0 = time.perf_counter()
    res = api.simulate(model, paths, SEED, keep_paths=0)
    out["backstop_seconds"] = time.perf_counter() - t0
    out["backstop_paths"] = paths
    out["backstop_bad"] = int((res.outcome.bad_debt > 1e-9).sum())
    log(f"  reduced model, risk lab: {paths:,} paths in {out['backstop_seconds']:.2f} s")

    t0 = time.perf_counter()
    bads, _ = naive_run(p, naive_paths, SEED + 1)
    out["naive_seconds"] = time.perf_counter() - t0
    out["naive_paths"] = naive_paths
    out["naive_bad"] = sum(b > 1e-9 for b in bads)
    log(f"  reduced model, naive loop: {naive_paths:,} paths in {out['naive_seconds']:.2f} s")

    if not skip_radcad:
        rc = run_radcad(p, radcad_paths, SEED + 2)
        out["radcad_seconds"] = rc["seconds"]
        out["radcad_paths"] = rc["runs"]
        out["radcad_bad"] = sum(b > 1e-9 for b in rc["bad"])
        out["radcad_version"] = RADCAD_PINS[0]
        log(f"  reduced model, radCAD: {rc['runs']:,} paths in {rc['seconds']:.2f} s")
    return out


def crn_figures(paths: int, sizing_paths: int, target: float, layer: str) -> dict[str, Any]:
    from backstop.sim.chunk import backstop_all, chunk_sizes, world_chunk
    from backstop.sim.model import compile_model
    from backstop.sim.sizing import size_layer, socialized_mask

    model = compile_model(SCENARIO, seed=SEED)
    sizes = chunk_sizes(paths, model.chunk_paths)
    t0 = time.perf_counter()
    common = [world_chunk(model, i, n) for i, n in enumerate(sizes)]
    other = [world_chunk(model, len(sizes) + i, n) for i, n in enumerate(sizes)]  # independent streams
    log(f"  sizing: worlds for 2 × {paths:,} paths in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    # The bisection itself (what `backstop size` does) on the first chunks only, to keep the benchmark short.
    first = common[: max(1, math.ceil(sizing_paths / model.chunk_paths))]
    found = size_layer(model, first, layer, target, rel_tol=0.01, curve_points=2)
    log(
        f"  sizing: {layer} for P(socialized) ≤ {target}: {found.size:,.0f} on {sum(w.n_paths for w in first):,} "
        f"paths ({found.evaluations} evaluations, "
        f"{time.perf_counter() - t0:.1f} s)"
    )
    a, b = 0.8 * found.size, 1.2 * found.size

    def mask(size: float, worlds: list[Any]) -> np.ndarray:
        m: np.ndarray = socialized_mask(model, backstop_all(model.with_size(layer, float(size)), worlds))
        return m.astype(float)

    sa, sb = mask(a, common), mask(b, common)
    ia, ib = mask(a, other), sb  # a on other worlds, b on the common ones: independent draws
    n = len(sa)
    var_crn = float(np.var(sa - sb, ddof=1))
    var_ind = float(np.var(ia, ddof=1) + np.var(ib, ddof=1))
    half = 0.0005  # CI half-width asked of the difference
    z2 = 1.959963984540054**2
    return {
        "layer": layer,
        "target": target,
        "size": found.size,
        "sizing_paths": sum(w.n_paths for w in first),
        "a": a,
        "b": b,
        "paths": n,
        "diff_crn": float(sa.mean() - sb.mean()),
        "diff_ind": float(ia.mean() - ib.mean()),
        "p_a": float(sa.mean()),
        "p_b": float(sb.mean()),
        "var_crn": var_crn,
        "var_ind": var_ind,
        "half": half,
        "need_crn": math.ceil(z2 * var_crn / half**2),
        "need_ind": math.ceil(z2 * var_ind / half**2),
        "ratio": var_ind / var_crn if var_crn > 0 else math.inf,
    }


# -- main ----------------------------------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=None, help="paths of the standard run (default 100,000)")
    ap.add_argument("--quick", action="store_true", help="small sizes everywhere (a smoke run, not figures)")
    ap.add_argument("--skip-radcad", action="store_true", help="do not make or run the radCAD venv")
    ap.add_argument("--child-run", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    paths = args.paths or (10_000 if args.quick else 100_000)
    if args.child_run is not None:
        child_run(paths, args.child_run)
        return
    naive_paths = 200 if args.quick else 20_000
    radcad_paths = 50 if args.quick else 2_000
    crn_paths = 10_000 if args.quick else 100_000

    load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    started = time.perf_counter()
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"numpy {importlib.metadata.version('numpy')}, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')}"
    )
    log(f"standard run, inline: {paths:,} paths ...")
    one = run_child(paths, 1)
    log(f"  {one['seconds']:.1f} s, peak RSS {one['rss_self_mb']:.0f} MB")
    log("RNG floor ...")
    floor, floor_cpu = rng_floor(one["n_assets"], paths, one["n_steps"], one["chunk_paths"])
    log(f"  {floor:.2f} s")
    log("standard run, 2 workers ...")
    two = run_child(paths, 2)
    log(f"  {two['seconds']:.1f} s")
    log("reduced model ...")
    red = reduced_figures(paths, naive_paths, radcad_paths, args.skip_radcad)
    log("common random numbers in sizing ...")
    crn = crn_figures(crn_paths, 20_000, 0.002, "fund")

    n_normals = one["n_assets"] * paths * one["n_steps"]
    ratio_floor = one["seconds"] / floor
    ratio_floor_cpu = one["cpu_seconds"] / floor_cpu
    bs_rate = red["backstop_paths"] / red["backstop_seconds"]
    naive_rate = red["naive_paths"] / red["naive_seconds"]
    speedup = one["seconds"] / two["seconds"]
    # What 2 idle cores would give: the inline CPU time over half the 2-worker run's CPU time (spawn, imports,
    # pickling included). Only an estimate; the measured wall-clock speedup is the figure.
    speedup_cpu = one["cpu_seconds"] / (two["cpu_seconds"] / 2)
    identical = one["digest"] == two["digest"]
    rss_two = two["rss_self_mb"] + 2 * two["rss_children_mb"]
    p_bs = red["backstop_bad"] / red["backstop_paths"]
    p_nv = red["naive_bad"] / red["naive_paths"]
    z_nv = two_sample_z(red["backstop_bad"], red["backstop_paths"], red["naive_bad"], red["naive_paths"])

    print(
        f"standard run: {paths:,} paths × {one['n_steps']} steps × {one['n_assets']} assets, "
        f"{one['positions']:,} positions in {one['buckets']} buckets, full waterfall; chunks of {one['chunk_paths']:,}"
    )
    print(
        f"  inline (1 worker): {one['seconds']:.2f} s = {paths / one['seconds']:,.0f} paths/s; "
        f"P(bad debt) {one['p_bad_debt']:.4f}, P(socialized) {one['p_socialized']:.5f}"
    )
    print(
        f"  RNG floor ({n_normals / 1e6:,.1f} M normals, PCG64, preallocated, best of 3): {floor:.2f} s "
        f"(CPU {floor_cpu:.2f} s); inline run CPU {one['cpu_seconds']:.2f} s"
    )
    print(
        f"  2 workers (processes): {two['seconds']:.2f} s, speedup {speedup:.2f}×, bit-identical: {identical}; "
        f"CPU time inline {one['cpu_seconds']:.1f} s, 2 workers {two['cpu_seconds']:.1f} s; "
        f"load average at start {load_at_start}"
    )
    print(
        f"  peak RSS: inline {one['rss_self_mb']:,.0f} MB; 2 workers: parent {two['rss_self_mb']:,.0f} MB + "
        f"2 × worker ≤ {two['rss_children_mb']:,.0f} MB"
    )
    print(
        f"reduced model (1 asset GBM, {red['positions']:,} positions in {red['buckets']} buckets, delay 1 step, "
        "fund then socialize), one core each:"
    )
    print(
        f"  same model check: step function vs risk lab on the risk lab's normals, {red['same_model_paths']} paths, "
        f"max rel. diff of bad debt / socialized {red['same_model_max_rel_diff']:.1e}"
    )
    print(
        f"  risk lab:   {red['backstop_paths']:>7,} paths {red['backstop_seconds']:7.2f} s {bs_rate:>10,.0f} paths/s"
        f"  P(bad debt) {p_bs:.4f} ± {math.sqrt(p_bs * (1 - p_bs) / red['backstop_paths']):.4f}"
    )
    print(
        f"  naive loop: {red['naive_paths']:>7,} paths {red['naive_seconds']:7.2f} s {naive_rate:>10,.0f} paths/s"
        f"  P(bad debt) {p_nv:.4f} ± {math.sqrt(p_nv * (1 - p_nv) / red['naive_paths']):.4f} (z {z_nv:+.2f})"
    )
    rows: list[tuple[str, str, str, str]] = [
        (
            "standard run, inline",
            f"{one['seconds']:.1f} s ({paths / one['seconds']:,.0f} paths/s)",
            "a few minutes",
            verdict(one["seconds"] < 300),
        ),
        ("time vs RNG floor", f"{ratio_floor:.2f}×", "≤ 2×", verdict(ratio_floor <= 2.0)),
        ("CPU time vs RNG floor CPU (load-proof)", f"{ratio_floor_cpu:.2f}×", "≤ 2×", verdict(ratio_floor_cpu <= 2.0)),
        ("vs naive Python loop", f"{bs_rate / naive_rate:,.0f}×", "(reported)", "-"),
    ]
    if "radcad_seconds" in red:
        rc_rate = red["radcad_paths"] / red["radcad_seconds"]
        p_rc = red["radcad_bad"] / red["radcad_paths"]
        z_rc = two_sample_z(red["backstop_bad"], red["backstop_paths"], red["radcad_bad"], red["radcad_paths"])
        print(
            f"  radCAD:     {red['radcad_paths']:>7,} paths {red['radcad_seconds']:7.2f} s {rc_rate:>10,.1f} paths/s"
            f"  P(bad debt) {p_rc:.4f} ± {math.sqrt(p_rc * (1 - p_rc) / red['radcad_paths']):.4f} (z {z_rc:+.2f})"
            f"  [{red['radcad_version']}, single process, deepcopy off, substeps dropped]"
        )
        rows.append(
            ("vs radCAD (reduced model)", f"{bs_rate / rc_rate:,.0f}×", "≥ 100×", verdict(bs_rate / rc_rate >= 100))
        )
        rows.append(("P(bad debt) risk lab vs radCAD", f"z = {z_rc:+.2f}", "|z| < 3", verdict(abs(z_rc) < 3)))
    else:
        rows.append(("vs radCAD (reduced model)", "skipped", "≥ 100×", "-"))
    rows += [
        ("P(bad debt) risk lab vs naive", f"z = {z_nv:+.2f}", "|z| < 3", verdict(abs(z_nv) < 3)),
        (
            "same model (same normals)",
            f"max rel. diff {red['same_model_max_rel_diff']:.0e}",
            "≤ 1e-9",
            verdict(red["same_model_max_rel_diff"] <= 1e-9),
        ),
    ]
    print(
        f"sizing with common random numbers: {crn['layer']} for P(socialized) ≤ {crn['target']} → "
        f"{crn['size']:,.0f} (bisection on {crn['sizing_paths']:,} paths); "
        f"a = {crn['a']:,.0f}, b = {crn['b']:,.0f}, {crn['paths']:,} paths per candidate"
    )
    print(
        f"  P(soc|a) {crn['p_a']:.5f}, P(soc|b) {crn['p_b']:.5f}; difference CRN {crn['diff_crn']:.5f} "
        f"(var/path {crn['var_crn']:.2e}), independent {crn['diff_ind']:.5f} (var/path {crn['var_ind']:.2e})"
    )
    print(
        f"  paths per candidate for a 95% CI of ±{crn['half']} on the difference: CRN {crn['need_crn']:,}, "
        f"independent {crn['need_ind']:,}"
    )
    rows += [
        ("CRN vs independent (paths, same CI)", f"{crn['ratio']:.1f}× fewer", "≥ 5×", verdict(crn["ratio"] >= 5)),
        ("1 → 2 workers (wall clock)", f"{speedup:.2f}×", "(none set; ≥ 1.5× here)", verdict(speedup >= 1.5)),
        (
            "1 → 2 workers, from CPU time (estimate)",
            f"{speedup_cpu:.2f}×" if one["chunks"] >= 2 else "n/a (1 chunk)",
            "(none set; ≥ 1.5× here)",
            "-",
        ),
        ("1 vs 2 workers bit-identical", str(identical), "True", verdict(identical)),
        (
            "peak RSS, standard run inline",
            f"{one['rss_self_mb']:,.0f} MB",
            "< 2 GB",
            verdict(one["rss_self_mb"] < 2048),
        ),
        ("peak RSS, 2 workers (all processes)", f"≤ {rss_two:,.0f} MB", "< 2 GB", verdict(rss_two < 2048)),
    ]
    w = [max(len(r[i]) for r in [("figure", "value", "goal", ""), *rows]) for i in range(4)]
    print()
    print(f"{'figure':<{w[0]}}  {'value':<{w[1]}}  {'goal':<{w[2]}}  result")
    for r in rows:
        print(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]}")
    print(f"(benchmark wall time {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
