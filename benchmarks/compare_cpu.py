"""CPU time of the engine mix and of an in-process simulation, for comparing two source trees on
a shared machine (wall time is meaningless under load; CPU time of one process much less so).

    PYTHONPATH=<tree>/src python benchmarks/compare_cpu.py engine <tree> <label>
    PYTHONPATH=<tree>/src python benchmarks/compare_cpu.py sim <tree> <label>

Run the two trees alternately, several times, and compare the best figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def engine(tree: Path, label: str, commands: int = 100_000) -> None:
    sys.path.insert(0, str(tree / "benchmarks"))
    import bench_engine as b  # the tree's own benchmark module

    from backstop.engine import Engine
    from backstop.runtime import tune_gc

    tune_gc()
    best = None
    for _ in range(3):
        cmds = b.realistic_mix(commands)
        e = Engine()
        for c in b.world():
            e.apply(c)
        t0 = time.process_time()
        for c in cmds:
            try:
                e.apply(c)
            except Exception:  # refused commands are part of the mix
                pass
        dt = time.process_time() - t0
        best = dt if best is None else min(best, dt)
    assert best is not None
    print(f"{label}: {commands / best:,.0f} commands/s (CPU time, best of 3)")


def sim(tree: Path, label: str, paths: int = 30_000) -> None:
    from backstop.sim.api import simulate
    from backstop.sim.model import compile_model

    model = compile_model(tree / "examples" / "risk_lab_cdp.yaml", seed=1)
    best = None
    for _ in range(3):
        t0 = time.process_time()
        simulate(model, paths=paths, seed=1)
        dt = time.process_time() - t0
        best = dt if best is None else min(best, dt)
    print(f"{label}: simulate {paths:,} paths CPU {best:.3f} s (best of 3)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=["engine", "sim"])
    parser.add_argument("tree", type=Path)
    parser.add_argument("label")
    args = parser.parse_args()
    (engine if args.what == "engine" else sim)(args.tree, args.label)


if __name__ == "__main__":
    main()
