"""Print the soak profile's counts (8 seeds x 125,000 fuzzed commands, every invariant after each,
the log replayed at the end) that pytest-xdist swallows; docs/reliability.md quotes its output.

Run: `.venv/bin/python scripts/soak_stats.py [--seeds 8] [--commands 125000] [--workers 2]`.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Any

from backstop.runtime import tune_gc
from backstop.testing.fuzz import Fuzzer


def run(seed: int, commands: int) -> dict[str, Any]:
    tune_gc()
    t = time.perf_counter()
    fuzzer = Fuzzer(seed)
    st = fuzzer.run(commands)
    return {
        "seed": seed,
        "commands": st.commands,
        "refused": st.failed,
        "hash_checked": st.hash_checks,
        "losses": st.losses,
        "replay_ok": fuzzer.replay_matches(),
        "seconds": round(time.perf_counter() - t, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--commands", type=int, default=125_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    t = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as ex:
        rows = list(ex.map(partial(run, commands=args.commands), range(1, args.seeds + 1)))
    for r in rows:
        print(json.dumps(r))
    total = {k: sum(r[k] for r in rows) for k in ("commands", "refused", "hash_checked", "losses")}
    summary = {"total": total, "all_replays_ok": all(r["replay_ok"] for r in rows)}
    print(json.dumps({**summary, "wall_seconds": round(time.perf_counter() - t, 1)}))


if __name__ == "__main__":
    main()
