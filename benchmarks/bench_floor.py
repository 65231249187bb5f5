"""The risk lab against its floor (issue 15): whole commands, side by side with the RNG floor in one run.

Run: `.venv/bin/python benchmarks/bench_floor.py [--paths N] [--rounds R]` (also run by `make bench`).

Each figure is measured with the compiled kernels (`BACKSTOP_JIT=1`, numba installed and warm)
and with the NumPy path (`BACKSTOP_JIT=0`, what a machine without numba runs), interleaved round
by round with the floor, and the best of the rounds is kept (wall and CPU separately):

* floor: the run's normals (assets × paths × steps) drawn chunk by chunk with PCG64 into one
  preallocated buffer (`bench_sim.rng_floor`, best of 3);
* 2-thread floor: the same normals drawn by 2 threads of one process, each chunk by its own
  thread (`rng_floor_threads`, best of 3): the floor of a command that uses both cores, as the
  compiled command does when it draws the next chunk ahead (`executors.PrefetchingExecutor`);
* compiled, one thread: the compiled command with `BACKSTOP_PREFETCH=0` (no drawing ahead; whole
  command, in-process and start only);
* whole command: `backstop simulate examples/risk_lab_cdp.yaml --paths N --seed 1 --json` as a
  child process (interpreter start, imports, model, all chunks, the summary, the JSON), its CPU
  time (user + system) and peak RSS from `wait4`;
* in-process: `api.simulate` on the compiled model inside a child (`bench_sim.py --child-run 1`);
* cold start: the whole command with an empty Numba cache (`NUMBA_CACHE_DIR` a new directory):
  every kernel is compiled in that run; and `backstop warmup` cold and warm;
* 1 → 2 workers: the whole command with `--workers 2`;
* sizing: `backstop size examples/risk_lab_cdp.yaml --layer fund --target-p 0.01 --paths 20000
  --seed 1 --json` (the example's own sizing command), inline and with `--workers 2` (each chunk's
  world kept in the worker that drew it, `sizing.KeptWorlds`).

`--against DIR` adds a third setting: the same commands run on another checkout's code
(`PYTHONPATH=DIR/src`, compiled path; warm its cache first with its own `backstop warmup`), in
the same rounds, for before/after figures taken side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "examples" / "risk_lab_cdp.yaml"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_sim  # noqa: E402  (the floor and the in-process child run)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall seconds, CPU seconds (user + system, the child and its own children) and peak RSS (MB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"failed ({status}): {' '.join(cmd)}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024.0, "out": out}  # type: ignore[dict-item]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "backstop.cli", *args]


def rng_floor_threads(
    n_assets: int, paths: int, steps: int, chunk_paths: int, threads: int = 2, repeats: int = 3
) -> tuple[float, float]:
    """`bench_sim.rng_floor` on `threads` threads (thread t draws chunks t, t + threads, ... into its
    own buffer; NumPy releases the GIL while it fills): (wall seconds, CPU seconds of the process)."""
    import threading

    import numpy as np

    def draw(t: int) -> None:
        buf = np.empty((n_assets, chunk_paths, steps))
        for i, start in enumerate(range(0, paths, chunk_paths)):
            if i % threads != t:
                continue
            n = min(chunk_paths, paths - start)
            out = buf if n == chunk_paths else np.empty((n_assets, n, steps))
            seq = np.random.SeedSequence(bench_sim.SEED, spawn_key=(i, 0))
            np.random.Generator(np.random.PCG64(seq)).standard_normal(out=out)

    best_wall, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        workers = [threading.Thread(target=draw, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        best_wall = min(best_wall, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best_wall, best_cpu


def best(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {k: min(r[k] for r in rows) for k in ("wall", "cpu", "rss_mb")}


def phases(chunks: int) -> None:
    """Per 10,000-path chunk, in this process: CPU ms of phase A and phase B on each path (best of
    chunks 1..), the floor of one chunk (best of 5), and each kernel's CPU per chunk."""
    import collections

    import numpy as np

    from backstop.sim import jit
    from backstop.sim.model import compile_model
    from backstop.sim.waterfall import run_backstop
    from backstop.sim.world import simulate_world

    spent: collections.Counter[str] = collections.Counter()
    calls = jit._Lazy.__call__

    def timed(self: Any, *a: Any) -> Any:
        c = time.process_time()
        try:
            return calls(self, *a)
        finally:
            spent[self.__name__] += time.process_time() - c

    model = compile_model(SCENARIO, seed=1)
    n = model.chunk_paths
    buf = np.empty((3, n, model.n_steps))
    floor = []
    for i in range(5):
        c = time.process_time()
        np.random.Generator(np.random.PCG64(i)).standard_normal(out=buf)
        floor.append(time.process_time() - c)
    settings = ("0", "1") if jit.available() else ("0",)
    for s in settings:
        os.environ["BACKSTOP_JIT"] = s
        run_backstop(model, simulate_world(model, 0, n))  # first chunk: imports, kernels loaded
        jit._Lazy.__call__ = timed  # type: ignore[method-assign]
        spent.clear()
        a, b = [], []
        for i in range(1, chunks + 1):
            c0 = time.process_time()
            w = simulate_world(model, i, n)
            c1 = time.process_time()
            run_backstop(model, w)
            b.append(time.process_time() - c1)
            a.append(c1 - c0)
        jit._Lazy.__call__ = calls  # type: ignore[method-assign]
        kernels = ", ".join(f"{k} {1000 * v / chunks:.0f}" for k, v in spent.most_common())
        print(
            f"BACKSTOP_JIT={s}: per chunk of {n:,} paths, CPU ms (best of {chunks}): phase A {1000 * min(a):.0f}, "
            f"phase B {1000 * min(b):.0f}; floor {1000 * min(floor):.0f}"
            + (f"; kernels (mean): {kernels}" if kernels else "")
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phases", type=int, default=0, help="only the per-chunk phase profile, over this many chunks")
    ap.add_argument("--paths", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--size-paths", type=int, default=20_000)
    ap.add_argument("--against", type=Path, default=None, help="another checkout to measure side by side (before)")
    args = ap.parse_args()
    if args.phases:
        phases(args.phases)
        return
    base = dict(os.environ)
    base["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + base.get("PYTHONPATH", "")
    env = {s: {**base, "BACKSTOP_JIT": s} for s in ("1", "0")}
    env["1t"] = {**base, "BACKSTOP_JIT": "1", "BACKSTOP_PREFETCH": "0"}
    from backstop.sim import jit

    if not jit.available():
        log("numba is not installed: only the NumPy path is measured")
        env.pop("1")
        env.pop("1t")
    if args.against is not None:
        before = dict(os.environ)
        before["PYTHONPATH"] = str(args.against.resolve() / "src") + os.pathsep + before.get("PYTHONPATH", "")
        env["before"] = {**before, "BACKSTOP_JIT": "1"}
    started = time.perf_counter()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if "1" in env:
        warm = run(cli("warmup", "--json"), env["1"])
        log(f"warmup (cache as it is): {warm['wall']:.2f} s")
    sim = cli("simulate", str(SCENARIO), "--paths", str(args.paths), "--seed", "1", "--json")
    size = cli(
        "size",
        str(SCENARIO),
        "--layer",
        "fund",
        "--target-p",
        "0.01",
        "--paths",
        str(args.size_paths),
        "--seed",
        "1",
        "--json",
    )
    child = [sys.executable, str(ROOT / "benchmarks" / "bench_sim.py"), "--child-run", "1", "--paths", str(args.paths)]
    tiny = cli("simulate", str(SCENARIO), "--paths", "10", "--seed", "1", "--json")
    pandas_import = [sys.executable, "-c", "import pandas"]
    start: dict[str, list[dict[str, Any]]] = {s: [] for s in env}
    pandas_rows: list[dict[str, Any]] = []
    floors: list[tuple[float, float]] = []
    floors2: list[tuple[float, float]] = []
    whole: dict[str, list[dict[str, Any]]] = {s: [] for s in env}
    inproc: dict[str, list[dict[str, Any]]] = {s: [] for s in env}
    two: dict[str, list[dict[str, Any]]] = {s: [] for s in env}
    sizing: dict[str, list[dict[str, Any]]] = {s: [] for s in env}
    sizing2: dict[str, list[dict[str, Any]]] = {s: [] for s in env}
    outputs: dict[str, bytes] = {}
    size_outputs: dict[str, bytes] = {}
    for r in range(args.rounds):
        for s in env:
            floors.append(bench_sim.rng_floor(3, args.paths, 365, 10_000))
            floors2.append(rng_floor_threads(3, args.paths, 365, 10_000))
            res = run(sim, env[s])
            outputs[s] = res.pop("out")  # type: ignore[arg-type]
            whole[s].append(res)
            log(f"round {r}: BACKSTOP_JIT={s} whole command {res['wall']:.2f} s (CPU {res['cpu']:.2f} s)")
            out = subprocess.run(child, env=env[s], check=True, capture_output=True, text=True, cwd=ROOT)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            inproc[s].append({"wall": got["seconds"], "cpu": got["cpu_seconds"], "rss_mb": got["rss_self_mb"]})
            for _ in range(3):
                res4 = run(tiny, env[s])
                res4.pop("out")
                start[s].append(res4)
            if s == "1t":  # the rest does not run chunks inline (workers) or draws nothing ahead (size)
                continue
            res2 = run([*sim, "--workers", "2"], env[s])
            res2.pop("out")
            two[s].append(res2)
            res3 = run(size, env[s])
            size_outputs[s] = res3.pop("out")  # type: ignore[assignment]
            sizing[s].append(res3)
            res6 = run([*size, "--workers", "2"], env[s])
            size_outputs[s + " workers"] = res6.pop("out")  # type: ignore[assignment]
            sizing2[s].append(res6)
            log(f"round {r}: BACKSTOP_JIT={s} 2 workers {res2['wall']:.2f} s, size {res3['wall']:.2f} s")
    for _ in range(3):
        res5 = run(pandas_import, base)
        res5.pop("out")
        pandas_rows.append(res5)
    floor_wall = min(f[0] for f in floors)
    floor_cpu = min(f[1] for f in floors)
    floor2_wall = min(f[0] for f in floors2)
    floor2_cpu = min(f[1] for f in floors2)
    cold: dict[str, Any] = {}
    if "1" in env:
        with tempfile.TemporaryDirectory() as tmp:
            cold_env = {**env["1"], "NUMBA_CACHE_DIR": tmp}
            cold["warmup_cold"] = run(cli("warmup", "--json"), {**env["1"], "NUMBA_CACHE_DIR": tmp + "/w"})
            cold["warmup_warm"] = run(cli("warmup", "--json"), {**env["1"], "NUMBA_CACHE_DIR": tmp + "/w"})
            cold["command"] = run(sim, cold_env)
            cold["command"].pop("out")
    same = len(set(outputs.values())) == 1
    same_size = len(set(size_outputs.values())) == 1
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; load average at start "
        f"{load}; {args.paths:,} paths of {SCENARIO.name}; best of {args.rounds} rounds, interleaved with the floor"
    )
    print(
        f"floor ({3 * args.paths * 365 / 1e6:.1f} M normals, PCG64, preallocated): "
        f"{floor_wall:.2f} s wall, {floor_cpu:.2f} s CPU"
    )
    print(
        f"2-thread floor (the same normals, 2 threads of one process): {floor2_wall:.2f} s wall, {floor2_cpu:.2f} s CPU"
    )
    names = {
        "1": "compiled (numba)",
        "1t": "compiled, 1 thread",
        "0": "NumPy path",
        "before": f"before ({args.against})",
    }
    for s in env:
        w, i = best(whole[s]), best(inproc[s])
        print(
            f"{names[s]:<17} whole command {w['wall']:6.2f} s = {w['wall'] / floor_wall:4.2f}× floor, "
            f"{w['wall'] / floor2_wall:4.2f}× 2-thread floor "
            f"(CPU {w['cpu']:5.2f} s = {w['cpu'] / floor_cpu:4.2f}×), peak RSS {w['rss_mb']:,.0f} MB"
        )
        print(
            f"{'':<17} in-process    {i['wall']:6.2f} s = {i['wall'] / floor_wall:4.2f}× floor, "
            f"{i['wall'] / floor2_wall:4.2f}× 2-thread floor "
            f"(CPU {i['cpu']:5.2f} s = {i['cpu'] / floor_cpu:4.2f}×), peak RSS {i['rss_mb']:,.0f} MB"
        )
        st = best(start[s])
        if s == "1t":
            print(f"{'':<17} start (simulate --paths 10 --json) {st['wall']:.2f} s, CPU {st['cpu']:.2f} s")
            continue
        t, z, z2 = best(two[s]), best(sizing[s]), best(sizing2[s])
        print(
            f"{'':<17} 2 workers     {t['wall']:6.2f} s (1 → 2: {w['wall'] / t['wall']:.2f}×), CPU {t['cpu']:.2f} s, "
            f"peak RSS of one process {t['rss_mb']:,.0f} MB"
        )
        print(
            f"{'':<17} size (fund, {args.size_paths:,} paths) {z['wall']:6.2f} s, CPU {z['cpu']:.2f} s; "
            f"2 workers {z2['wall']:.2f} s, CPU {z2['cpu']:.2f} s"
        )
        print(f"{'':<17} start (simulate --paths 10 --json) {st['wall']:.2f} s, CPU {st['cpu']:.2f} s")
    if "1" in env:
        w1, w0 = best(whole["1"]), best(whole["0"])
        z1, z0 = best(sizing["1"]), best(sizing["0"])
        r = w1["cpu"] / floor_cpu
        rw = w1["wall"] / floor_wall
        print(
            f"compiled whole command: wall {rw:.2f}× floor ({rw / 2:.2f}× the 2× goal; "
            f"{w1['wall'] / floor2_wall:.2f}× the 2-thread floor), CPU {r:.2f}× floor "
            f"({r / 2:.2f}× the 2× goal, {r / 1.5:.2f}× the 1.5× stretch); "
            f"NumPy path / compiled: whole command {w0['cpu'] / w1['cpu']:.2f}×, size {z0['cpu'] / z1['cpu']:.2f}×"
        )
    pi = best(pandas_rows)
    print(f"import pandas alone (what simulate --json no longer pays): {pi['wall']:.2f} s, CPU {pi['cpu']:.2f} s")
    if cold:
        c = cold["command"]
        print(
            f"cold start (empty Numba cache): whole command {c['wall']:.2f} s (CPU {c['cpu']:.2f} s); "
            f"backstop warmup cold {cold['warmup_cold']['wall']:.2f} s, warm {cold['warmup_warm']['wall']:.2f} s"
        )
    print(f"JSON output identical in every setting: simulate {same}, size (inline and 2 workers) {same_size}")
    end_load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"(benchmark wall time {time.perf_counter() - started:.0f} s; load average at the end {end_load})")


if __name__ == "__main__":
    main()
