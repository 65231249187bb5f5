"""History benchmark (issue 13 §1, §2): server memory after N commands, and start-up time with
a long history against a short one.

`rss`: one service over a SQLite file (WAL, synchronous=FULL, snapshots every 10,000 commands,
the defaults of `backstop serve`), the Liquity stability-pool example loaded, then commands that
create no new accounts: an ETH price tick and an `advance` of one second, alternately, handed
to the service's group commit 64 at a time (what 64 concurrent clients make of it; driving it
from this loaded two-core machine's threads gave groups of two and 300 commands/s, too slow
for millions). `--batch 1024` amortises this VM's slow fsync (~30 ms under load) so that
millions of commands fit in minutes; memory does not depend on the group size beyond one
group. RSS (VmRSS) is read after `gc.collect()` at every mark.

`startup`: the time `Service(SqlStore(url))` takes in a fresh process (restore the newest
snapshot, replay the tail, check the projection) on two stores of different lengths built the
same way; and the full replay rate: `verify_store` (replay from empty, hash chain, snapshots).

`live`: what a live job or a quote pays before it simulates (`api/jobs.live_source`: a copy of
the state at a state hash) on stores of different lengths, best of 5 in one process per store,
then a small live simulation (1,000 paths, 30 days) from that copy; the risk profile is an ETH
GBM with jumps (stored if the store has none). Before the copy, the live source replayed the
whole log as scenario steps: linear in the history.

Run:
  python benchmarks/bench_history.py rss --batch 1024 --marks 1000000,2000000 --db /tmp/long.db
  python benchmarks/bench_history.py rss --batch 1024 --marks 100000 --db /tmp/short.db
  python benchmarks/bench_history.py startup --db /tmp/short.db --db /tmp/long.db
  python benchmarks/bench_history.py live --db /tmp/short.db --db /tmp/long.db
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BATCH = 64
"""Commands per group commit: what 64 or more concurrent clients give the service."""


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def run_rss(db: Path, marks: list[int], batch_size: int = BATCH) -> dict[str, Any]:
    from backstop.api.cli import FALLBACK, load_demo
    from backstop.api.service import Service, _Pending
    from backstop.domain import commands as c
    from backstop.store import SqlStore
    from backstop.store.base import KeyRecord

    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    service = Service(SqlStore(f"sqlite:///{db}"), max_batch=batch_size)
    load_demo(service, FALLBACK)
    admin = KeyRecord("bench", "", "admin", None)
    t0 = service.engine.state.now + 1
    gc.collect()
    out: dict[str, Any] = {"db": str(db), "setup_rss_mb": round(rss_mb(), 1), "marks": []}
    done = 0
    started = time.perf_counter()
    for mark in marks:
        while done < mark:
            size = min(batch_size, mark - done)
            batch = []
            for i in range(done, done + size):
                at = t0 + i // 2
                cmd: Any = c.Advance(at) if i % 2 else c.SetPrice(at, "ETH", 2000 * 10**18 + (i % 97) * 10**15)
                batch.append(_Pending(admin, f"b{i}", f"b{i}", lambda _e, cmd=cmd: cmd))
            with service.write_lock:
                service._run_batch(batch)  # one group commit, as `batch_size` concurrent clients make
            bad = next((p for p in batch if p.result is None or p.result[0] != 200), None)
            if bad is not None:
                raise RuntimeError(f"command {bad.idem_key}: {bad.result}")
            done += size
        gc.collect()
        elapsed = time.perf_counter() - started
        out["marks"].append(
            {
                "commands": mark,
                "rss_mb": round(rss_mb(), 1),
                "events": service.engine.next_seq,
                "elapsed_s": round(elapsed, 1),
                "commands_per_s": round(mark / elapsed),
            }
        )
        print(json.dumps(out["marks"][-1]), flush=True)
    out["snapshots"] = len(service.store.snapshots())
    service.store.close()
    return out


def _startup_child(url: str) -> None:
    from backstop.api.service import Service
    from backstop.store import SqlStore

    t = time.perf_counter()
    service = Service(SqlStore(url))
    took = time.perf_counter() - t
    print(
        json.dumps(
            {
                "url": url,
                "startup_s": round(took, 3),
                "commands": service.engine.commands_applied,
                "tail_replayed": service.tail_replayed,
            }
        )
    )


def run_startup(dbs: list[Path]) -> dict[str, Any]:
    from backstop.store import SqlStore
    from backstop.store.verify import verify_store

    results = []
    for db in dbs:
        runs = []
        for _ in range(3):
            child = subprocess.run(
                [sys.executable, __file__, "startup-child", "--db", str(db)], capture_output=True, text=True, check=True
            )
            runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
        best = min(runs, key=lambda r: r["startup_s"])
        results.append(best)
        print(json.dumps(best), flush=True)
    short, long_ = results[0], results[-1]
    ratio = round(long_["startup_s"] / short["startup_s"], 2)
    out: dict[str, Any] = {"startups": results, "ratio_long_over_short": ratio}
    store = SqlStore(f"sqlite:///{dbs[0]}", single_writer=False)
    t = time.perf_counter()
    verdict = verify_store(store)
    took = time.perf_counter() - t
    store.close()
    out["full_replay"] = {
        "db": str(dbs[0]),
        "ok": verdict.ok,
        "commands": verdict.commands,
        "events": verdict.events,
        "seconds": round(took, 2),
        "commands_per_s": round(verdict.commands / took),
        "events_per_s": round(verdict.events / took),
    }
    print(json.dumps(out["full_replay"]), flush=True)
    return out


LIVE_PROFILE = {
    "horizon_days": 30,
    "prices": {"model": "gbm", "assets": {"ETH": {"vol": 0.8, "jumps": {"per_year": 2, "mean": -0.15, "std": 0.1}}}},
    "positions": [{"market": "troves", "count": 200, "collateral": "ETH", "debt_total": 5000000}],
}


def _live_child(url: str) -> None:
    from backstop.api.jobs import live_source
    from backstop.api.service import Service
    from backstop.sim.api import simulate_summary
    from backstop.store import SqlStore
    from backstop.store.jobs import ProfileRecord

    service = Service(SqlStore(url))
    if service.store.get_risk_profile() is None:
        service.store.put_risk_profile(ProfileRecord(json.dumps(LIVE_PROFILE), int(time.time()), "bench"))
    times = []
    for _ in range(5):
        t = time.perf_counter()
        start, _state_hash = live_source(service)
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    summary = simulate_summary(start, paths=1000, seed=1)
    sim_s = time.perf_counter() - t
    print(
        json.dumps(
            {
                "url": url,
                "commands": service.engine.commands_applied,
                "live_source_s": round(min(times), 4),
                "simulate_1000_paths_s": round(sim_s, 3),
                "p_bad_debt": summary["p_bad_debt"]["value"],
            }
        )
    )
    service.store.close()


def run_live(dbs: list[Path]) -> dict[str, Any]:
    results = []
    for db in dbs:
        child = subprocess.run(
            [sys.executable, __file__, "live-child", "--db", str(db)], capture_output=True, text=True, check=True
        )
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    ratio = round(results[-1]["live_source_s"] / results[0]["live_source_s"], 2)
    return {"live": results, "live_source_ratio_long_over_short": ratio}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["rss", "startup", "startup-child", "live", "live-child"])
    parser.add_argument("--db", action="append", default=[])
    parser.add_argument("--marks", default="1000000,2000000")
    parser.add_argument("--batch", type=int, default=BATCH, help="commands per group commit")
    args = parser.parse_args()
    if args.what == "rss":
        result = run_rss(Path(args.db[0]), [int(m) for m in args.marks.split(",")], args.batch)
    elif args.what == "live-child":
        _live_child(f"sqlite:///{args.db[0]}")
        return
    elif args.what == "live":
        result = run_live([Path(d) for d in args.db])
    elif args.what == "startup-child":
        _startup_child(f"sqlite:///{args.db[0]}")
        return
    else:
        result = run_startup([Path(d) for d in args.db])
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
