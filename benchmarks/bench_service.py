"""Service benchmark (issue 6): durable commands/s and p50/p99 latency at 1, 8 and 32
concurrent clients on SQLite and PostgreSQL, side by side with a bare FastAPI echo endpoint
served by the same server process in the same run.

Run: `.venv/bin/python benchmarks/bench_service.py [--seconds 5] [--clients 1,8,32]`
(part of `make bench`). The server is `uvicorn` in a child process (one worker); clients are
threads in this process with keep-alive httpx connections. Each command is a stability-pool
deposit with its own Idempotency-Key: validated, applied, committed (WAL + synchronous=FULL on
SQLite; SERIALIZABLE on PostgreSQL) before the 200.
"""

from __future__ import annotations

import argparse
import json
import os
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

import httpx

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ROOT = Path(__file__).resolve().parents[1]


def serve(db_url: str, port: int, token_file: str) -> None:
    """Child process: the real app plus a bare echo route on the same server."""
    import uvicorn

    from backstop.api.app import create_app
    from backstop.api.cli import FALLBACK, load_demo
    from backstop.api.keys import new_key
    from backstop.api.service import Service
    from backstop.runtime import tune_gc
    from backstop.store import SqlStore

    tune_gc()
    service = Service(SqlStore(db_url), offload=True)  # as `backstop serve` runs it
    load_demo(service, FALLBACK)
    token, record = new_key("admin", None)
    service.store.add_key(record)
    app = create_app(service, rate_per_second=1e9, burst=10**9)

    @app.post("/echo", include_in_schema=False)
    def echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    Path(token_file).write_text(token)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False)


def _fresh_pg_db() -> str | None:
    try:
        import psycopg

        name = f"bk_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True, connect_timeout=3) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return name
    except Exception as exc:
        print(f"PostgreSQL: skipped ({type(exc).__name__}: {exc})")
        return None


def _drop_pg_db(name: str) -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def load(url: str, path: str, token: str, clients: int, seconds: float, body_fn: Any) -> dict[str, float]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            n = 0
            while time.monotonic() < stop:
                n += 1
                headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"{i}-{n}-{uuid.uuid4().hex[:6]}"}
                t0 = time.perf_counter()
                r = http.post(path, json=body_fn(i, n), headers=headers)
                latencies[i].append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    flat = sorted(x for lat in latencies for x in lat)
    return {
        "per_second": len(flat) / elapsed,
        "p50_ms": 1000 * statistics.median(flat),
        "p99_ms": 1000 * flat[min(len(flat) - 1, int(0.99 * len(flat)))],
        "errors": sum(errors),
    }


WRK_SCRIPT = Path(__file__).with_name("wrk_post.lua")


def load_wrk(url: str, path: str, token: str, clients: int, seconds: float, body: dict[str, Any]) -> dict[str, float]:
    """The same load from `wrk` (C, event-driven; Debian package `wrk`): `clients` keep-alive
    connections on 2 threads. Unlike Python client threads, it adds almost no latency of its
    own, so the percentiles are the server's."""
    env = {
        **os.environ,
        "BENCH_TOKEN": token,
        "BENCH_TARGET": path,
        "BENCH_BODY": json.dumps(body),
        "BENCH_RUN": uuid.uuid4().hex[:8],
    }
    threads = str(min(2, clients))
    cmd = ["wrk", "-t", threads, "-c", str(clients), "-d", f"{seconds:g}s", "--latency", "-s", str(WRK_SCRIPT), url]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    r = json.loads(line[4:])
    return {
        "per_second": r["requests"] / (r["duration_us"] / 1e6),
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "errors": r["non2xx"] + r["socket_errors"],
    }


def bench_backend(name: str, db_url: str, clients: list[int], seconds: float, driver: str = "threads") -> None:
    from tests.reliability.server import free_port

    port = free_port()
    token_file = tempfile.mktemp()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", db_url, str(port), token_file], cwd=ROOT)
    try:
        for _ in range(300):
            if Path(token_file).exists():
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        token = Path(token_file).read_text()
        url = f"http://127.0.0.1:{port}"
        for n in clients:
            if driver == "wrk":
                body = {"layer": "sp", "account": "a0", "amount": "1"}
                echo = load_wrk(url, "/echo", token, n, seconds, body)
                cmd = load_wrk(url, "/v1/deposit", token, n, seconds, body)
            else:
                echo = load(
                    url, "/echo", token, n, seconds, lambda i, k: {"layer": "sp", "account": f"a{i}", "amount": "1"}
                )
                cmd = load(
                    url,
                    "/v1/deposit",
                    token,
                    n,
                    seconds,
                    lambda i, k: {"layer": "sp", "account": f"a{i}", "amount": "1"},
                )
            print(
                f"{name:10} {driver:7} {n:>3} clients: durable deposits {cmd['per_second']:7.0f}/s "
                f"p50 {cmd['p50_ms']:6.1f} ms p99 {cmd['p99_ms']:6.1f} ms (errors {cmd['errors']:.0f}) | "
                f"echo {echo['per_second']:7.0f}/s p50 {echo['p50_ms']:5.1f} ms p99 {echo['p99_ms']:5.1f} ms | "
                f"ratio {cmd['per_second'] / echo['per_second']:.2f}"
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument(
        "--driver",
        default="both",
        choices=["both", "threads", "wrk"],
        help="load generator: Python client threads, wrk (if installed), or both side by side",
    )
    args = parser.parse_args()
    clients = [int(x) for x in args.clients.split(",")]
    drivers = ["threads", "wrk"] if args.driver == "both" else [args.driver]
    if "wrk" in drivers and shutil.which("wrk") is None:
        print("wrk: not installed (apt-get install wrk); using Python client threads only")
        drivers = [d for d in drivers if d != "wrk"] or ["threads"]
    sys.path.insert(0, str(ROOT))
    for driver in drivers:
        with tempfile.TemporaryDirectory() as tmp:
            bench_backend("sqlite", f"sqlite:///{tmp}/bench.db", clients, args.seconds, driver)
        pg = _fresh_pg_db()
        if pg is not None:
            try:
                bench_backend("postgresql", PG_URL.rsplit("/", 1)[0] + f"/{pg}", clients, args.seconds, driver)
            finally:
                _drop_pg_db(pg)


if __name__ == "__main__":
    main()
