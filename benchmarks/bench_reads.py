"""Read benchmark (issue 13, item 3): one account's read at 1,000 vs 100,000 accounts (goal:
ratio ≤ 2), a page of a layer's accounts, and the one-account read's p99 over HTTP while
durable writes run at 32 clients, side by side with the read it replaced (the whole state built
under the lock) in the same run.

Run: `.venv/bin/python benchmarks/bench_reads.py [--accounts 1000,100000] [--seconds 10]`.

Set-up: the liquity_stability_pool example through the service, then N stability-pool
depositors `d0..d{N-1}` applied to the engine directly (not over HTTP: it sets up 100,000
accounts in seconds; the reads do not touch the store). Part 1 times the read functions in
process (under the service lock, as a route runs them). Part 2 serves the app with uvicorn in a
child process and drives it with wrk (Debian package `wrk`): reads of random accounts on 4
connections alone, then the same reads while 32 connections POST durable deposits
(`benchmarks/wrk_post.lua`, as bench_service.py), then the old whole-state read under the same
writes. The machine's load average is printed: other sessions share its two cores.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WRK_GET = Path(__file__).with_name("wrk_get.lua")
WRK_POST = Path(__file__).with_name("wrk_post.lua")
E18 = 10**18


def build(n: int, db_url: str, checkpoint_every: int = 500, offload: bool = False) -> Any:
    """A service over `db_url` with the example loaded and `n` depositors in its stability pool;
    `checkpoint_every` as `Service` takes it (500, its default, writes a checkpoint with the
    state hash every 500 commands); `offload` as `backstop serve` sets it (checkpoints and
    snapshots computed in a forked child)."""
    from backstop.api.cli import FALLBACK, load_demo
    from backstop.api.service import Service
    from backstop.domain import commands as c
    from backstop.store import SqlStore

    service = Service(SqlStore(db_url), checkpoint_every=checkpoint_every, offload=offload)
    load_demo(service, FALLBACK)
    engine = service.engine
    at = engine.state.now
    for i in range(n):
        engine.apply(c.Deposit(at, "sp", f"d{i}", (10 + i % 1000) * E18))
    return service


def old_account(engine: Any, account: str) -> dict[str, Any]:
    """The one-account read as it was before issue 13: the whole state JSON, then one account."""
    from backstop.scenario.report import state_json

    full = state_json(engine)
    markets = full["markets"]
    return {
        "account": account,
        "wallet": full["ledger"].get(f"user:{account}", {}),
        "layers": {lid: v["accounts"][account] for lid, v in full["layers"].items() if account in v["accounts"]},
        "positions": {mid: m["positions"][account] for mid, m in markets.items() if account in m["positions"]},
        "supplies": {mid: m["suppliers"][account] for mid, m in markets.items() if account in m["suppliers"]},
        "policies": [p for p in full["policies"] if p["owner"] == account],
    }


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def in_process(n: int, reads: int) -> dict[str, float]:
    from backstop.api import readmodel as rm
    from backstop.runtime import tune_gc

    tune_gc()
    with tempfile.TemporaryDirectory() as tmp:
        service = build(n, f"sqlite:///{tmp}/r.db")
        rng = random.Random(1)
        service.read(lambda e: rm.account(e, "d0"))  # the first read builds the indexes
        service.read(lambda e: rm.layer_accounts(e, "sp", None, 100))
        gc.collect()
        one: list[float] = []
        for _ in range(reads):
            name = f"d{rng.randrange(n)}"
            t0 = time.perf_counter()
            service.read(lambda e, name=name: rm.account(e, name))
            one.append(time.perf_counter() - t0)
        page: list[float] = []
        for _ in range(reads // 10):
            cursor = rm.encode_cursor("layers/sp/accounts", f"d{rng.randrange(n)}")
            t0 = time.perf_counter()
            service.read(lambda e, cursor=cursor: rm.layer_accounts(e, "sp", cursor, 100))
            page.append(time.perf_counter() - t0)
        hashing: list[float] = []
        for _ in range(3):
            t0 = time.perf_counter()
            service.read(lambda e: e.state_hash())
            hashing.append(time.perf_counter() - t0)
        old: list[float] = []
        for _ in range(3):
            t0 = time.perf_counter()
            service.read(lambda e: old_account(e, "d0"))
            old.append(time.perf_counter() - t0)
        assert service.read(lambda e: rm.account(e, "d7")) == {
            **service.read(lambda e: old_account(e, "d7")),
            "claims": [],
        }
        service.store.close()
    return {
        "one_p50_us": 1e6 * statistics.median(one),
        "one_p99_us": 1e6 * _pct(one, 0.99),
        "page_p50_us": 1e6 * statistics.median(page),
        "page_p99_us": 1e6 * _pct(page, 0.99),
        "old_ms": 1e3 * statistics.median(old),
        "state_hash_ms": 1e3 * statistics.median(hashing),
    }


# -- over HTTP --------------------------------------------------------------------------------------
class GcPauses:
    """Full (generation 2) collections in the server and how long they stopped it."""

    def __init__(self) -> None:
        self.pauses_ms: list[float] = []
        self._t0 = 0.0
        gc.callbacks.append(self.callback)

    def callback(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.pauses_ms.append(1e3 * (time.perf_counter() - self._t0))

    def take(self) -> dict[str, float]:
        out, self.pauses_ms = self.pauses_ms, []
        return {"full_collections": len(out), "longest_ms": max(out, default=0.0)}


def serve(n: int, db_url: str, port: int, token_file: str, freeze: bool, checkpoint_every: int, offload: bool) -> None:
    """Child process: the app over a service with `n` depositors, plus the old read for comparison."""
    import uvicorn

    from backstop.api.app import create_app
    from backstop.api.keys import new_key
    from backstop.runtime import tune_gc

    tune_gc()
    service = build(n, db_url, checkpoint_every, offload)
    token, record = new_key("admin", None)
    service.store.add_key(record)
    app = create_app(service, rate_per_second=1e9, burst=10**9)

    @app.get("/bench/old/accounts/{account}", include_in_schema=False)
    def old(account: str) -> dict[str, Any]:
        return service.read(lambda e: old_account(e, account))

    pauses = GcPauses()

    @app.get("/bench/gc", include_in_schema=False)
    def gc_pauses() -> dict[str, float]:
        return pauses.take()

    gc.collect()
    if freeze:
        gc.freeze()  # the loaded state to the permanent generation, as bench_engine.py does
    Path(token_file).write_text(token)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False)


def wrk(url: str, script: Path, conns: int, seconds: float, env: dict[str, str]) -> dict[str, float]:
    cmd = ["wrk", "-t", "1" if conns < 8 else "2", "-c", str(conns), "-d", f"{seconds:g}s", "--timeout", "60s"]
    cmd += ["-s", str(script), url]
    out = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, **env}, timeout=seconds + 120, check=True
    ).stdout
    r = json.loads(next(x for x in out.splitlines() if x.startswith("WRK "))[4:])
    return {
        "per_second": r["requests"] / (r["duration_us"] / 1e6),
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "errors": r["non2xx"] + r["socket_errors"],
    }


def over_http(n: int, seconds: float, freeze: bool, checkpoint_every: int, offload: bool) -> None:
    import httpx

    sys.path.insert(0, str(ROOT))
    from tests.reliability.server import free_port

    port = free_port()
    token_file = tempfile.mktemp()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve",
                str(n),
                f"sqlite:///{tmp}/h.db",
                str(port),
                token_file,
                str(freeze),
                str(checkpoint_every),
                str(offload),
            ],
            cwd=ROOT,
        )
        try:
            for _ in range(6000):
                if Path(token_file).exists():
                    try:
                        if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                time.sleep(0.05)
            token = Path(token_file).read_text()
            url = f"http://127.0.0.1:{port}"
            reads = {"BENCH_TOKEN": token, "BENCH_PREFIX": "/v1/accounts/", "BENCH_ACCOUNTS": str(n)}
            writes = {
                "BENCH_TOKEN": token,
                "BENCH_TARGET": "/v1/deposit",
                "BENCH_BODY": json.dumps({"layer": "sp", "account": "a0", "amount": "1"}),
                "BENCH_RUN": uuid.uuid4().hex[:8],
            }
            gc_of = lambda: httpx.get(f"{url}/bench/gc", timeout=600).json()  # noqa: E731
            gc_of()
            alone = wrk(url, WRK_GET, 4, seconds, reads)
            print(_line(n, "new read alone", alone) + _gc(gc_of()))
            for label, env in (
                ("new read + 32 writers", reads),
                ("old read + 32 writers", {**reads, "BENCH_PREFIX": "/bench/old/accounts/"}),
            ):
                result: dict[str, dict[str, float]] = {}
                writer = threading.Thread(
                    target=lambda out=result: out.__setitem__("w", wrk(url, WRK_POST, 32, seconds, writes))
                )
                writer.start()
                time.sleep(0.5)
                got = wrk(url, WRK_GET, 4, seconds - 1, env)
                writer.join()
                w = result["w"]
                print(
                    _line(n, label, got)
                    + f" | writes {w['per_second']:6.0f}/s p50 {w['p50_ms']:6.1f} ms p99 {w['p99_ms']:7.1f} ms"
                    + f" (non-2xx {w['errors']:.0f})"
                    + _gc(gc_of())
                )
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _gc(g: dict[str, float]) -> str:
    return f" | server full GCs {g['full_collections']:.0f}, longest {g['longest_ms']:.0f} ms"


def _line(n: int, label: str, r: dict[str, float]) -> str:
    return (
        f"{n:>7,} accounts  {label:22} {r['per_second']:7.0f} reads/s p50 {r['p50_ms']:6.2f} ms "
        f"p99 {r['p99_ms']:7.2f} ms (non-2xx {r['errors']:.0f})"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(
            int(sys.argv[2]),
            sys.argv[3],
            int(sys.argv[4]),
            sys.argv[5],
            sys.argv[6] == "True",
            int(sys.argv[7]),
            sys.argv[8] == "True",
        )
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", default="1000,100000")
    parser.add_argument("--reads", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument(
        "--checkpoint-every",
        default="500,1000000000",
        help="the service's checkpoint interval(s) over HTTP: 500 is its default; a checkpoint hashes the whole "
        "state under the lock, so 1000000000 (none in the run) shows what that costs a read",
    )
    parser.add_argument(
        "--offload",
        choices=["no", "yes", "both"],
        default="yes",
        help="compute checkpoints and snapshots in a forked child, as `backstop serve` does (yes), in process "
        "under the write lock (no), or both, one after the other",
    )
    parser.add_argument(
        "--gc-freeze",
        choices=["no", "yes", "both"],
        default="no",
        help="move the loaded state to the permanent GC generation in the server (gc.freeze)",
    )
    args = parser.parse_args()
    sizes = [int(x) for x in args.accounts.split(",")]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {os.getloadavg()}")
    got = {n: in_process(n, args.reads) for n in sizes}
    for n, r in got.items():
        print(
            f"{n:>7,} accounts  one account p50 {r['one_p50_us']:7.1f} µs p99 {r['one_p99_us']:7.1f} µs | "
            f"page of 100 p50 {r['page_p50_us']:7.1f} µs p99 {r['page_p99_us']:7.1f} µs | "
            f"old whole-state read {r['old_ms']:8.1f} ms | state_hash {r['state_hash_ms']:8.1f} ms"
        )
    lo, hi = min(sizes), max(sizes)
    ratio = got[hi]["one_p50_us"] / got[lo]["one_p50_us"]
    print(f"one-account read, {hi:,} vs {lo:,} accounts: ratio {ratio:.2f} (goal <= 2)")
    print(f"page of 100, {hi:,} vs {lo:,} accounts: ratio {got[hi]['page_p50_us'] / got[lo]['page_p50_us']:.2f}")
    if args.skip_http:
        return
    if shutil.which("wrk") is None:
        print("wrk: not installed (apt-get install -y wrk); HTTP part skipped")
        return
    parser_checkpoints = [int(x) for x in args.checkpoint_every.split(",")]
    choices = {"no": [False], "yes": [True], "both": [False, True]}
    for freeze in choices[args.gc_freeze]:
        for offload in choices[args.offload]:
            for every in parser_checkpoints:
                print(
                    f"over HTTP (uvicorn, one worker, SQLite, gc.freeze {freeze}, checkpoint every {every:,} commands, "
                    f"offload {offload}), load average {os.getloadavg()}"
                )
                for n in sizes:
                    over_http(n, args.seconds, freeze, every, offload)


if __name__ == "__main__":
    main()
