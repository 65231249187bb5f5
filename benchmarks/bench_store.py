"""Store benchmark (issue 13, item 6): what one group commit costs the store, without HTTP.

Run: `.venv/bin/python benchmarks/bench_store.py [--groups 300] [--backend postgresql|sqlite]`.

Each group is what 32 concurrent deposits make: the idempotency lookup of 32 keys
(`idempotency_many`), then `append` of 64 chained events, 8 balance rows and 32 idempotency
records, durable before it returns. Timed around both calls, on a fresh database (PostgreSQL:
a database created for the run at 127.0.0.1:5432 and dropped after). The HTTP benchmark
(bench_service.py) measures the whole path; this one isolates the database's share of it, so
two versions of the store can be compared under a machine load that makes the HTTP figures
noisy. The machine's load average is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid

PG_ADMIN = "host=127.0.0.1 user=postgres dbname=test"


def run(url: str, groups: int) -> list[float]:
    from backstop.store import SqlStore
    from backstop.store.base import GENESIS, IdempotencyRecord, StoredEvent

    store = SqlStore(url)
    seq, prev, times = 0, GENESIS, []
    try:
        for g in range(groups):
            keys = [("bench", f"{g}-{i}") for i in range(32)]
            rows = []
            for _ in range(64):
                row = StoredEvent(seq, 0, "posting", f'{{"n": {seq}}}').chained(prev)
                prev, seq = row.hash, seq + 1
                rows.append(row)
            idems = [IdempotencyRecord("bench", f"{g}-{i}", "h", 200, "{}") for i in range(32)]
            balances = {(f"user:a{i}", "LUSD"): g * 10**30 + i for i in range(8)}  # beyond 64 bits
            t0 = time.perf_counter()
            store.idempotency_many(keys)
            store.append(rows, balances, idems)
            times.append(time.perf_counter() - t0)
    finally:
        store.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, default=300)
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()}")
    if args.backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            times = run(f"sqlite:///{tmp}/s.db", args.groups)
    else:
        import psycopg

        name = f"bk_store_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            times = run(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", args.groups)
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    times.sort()
    print(
        f"{args.backend}: {args.groups} groups of 32 commands / 64 events: p50 {1e3 * statistics.median(times):.2f} ms "
        f"p90 {1e3 * times[int(0.9 * len(times))]:.2f} ms mean {1e3 * statistics.mean(times):.2f} ms "
        f"({32 / statistics.mean(times):.0f} commands/s of store time)"
    )


if __name__ == "__main__":
    main()
