"""Crash test (issue 7 §1): the real `backstop serve` is SIGKILLed at random moments under a
mixed load from several client threads, restarted on the same database, and must have lost
nothing and applied nothing twice.

Clients retry each command with the same Idempotency-Key until they get a definitive answer
(2xx or 4xx), as a real client would. At the end: every acknowledged command is in the store
exactly once, the store rebuilds to the live state hash, and every invariant holds.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from backstop.api.cli import FALLBACK, load_demo
from backstop.api.keys import new_key
from backstop.api.service import Service
from backstop.domain.invariants import check
from backstop.store import SqlStore

from .server import ServerProcess

SOAK = os.environ.get("BACKSTOP_SOAK") == "1"
KILLS = 12 if SOAK else 4
CLIENTS = 4
RUN_SECONDS_BETWEEN_KILLS = (0.3, 1.2)


def _command(rng: random.Random, client: int, i: int) -> tuple[str, dict[str, Any]]:
    account = f"c{client}-{rng.randrange(3)}"
    k = rng.randrange(6)
    if k == 0:
        return "/v1/deposit", {"layer": "sp", "account": account, "amount": str(rng.randint(1, 50))}
    if k == 1:
        return "/v1/withdraw", {"layer": "sp", "account": account, "amount": str(rng.randint(1, 20))}
    if k == 2:
        return "/v1/open", {"market": "troves", "account": account, "collateral": {"ETH": "1"}, "debt": "20"}
    if k == 3:
        return "/v1/repay", {"market": "troves", "account": account, "amount": str(rng.randint(1, 5))}
    if k == 4:
        return "/v1/add_collateral", {"market": "troves", "account": account, "collateral": {"ETH": "0.1"}}
    return "/v1/deposit", {"layer": "fund", "account": account, "amount": "1"}


class Client(threading.Thread):
    def __init__(self, n: int, url: str, token: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.n, self.url, self.token, self.stop_event = n, url, token, stop
        self.acked: dict[str, int] = {}  # idempotency key -> final status
        self.retries = 0

    def run(self) -> None:
        rng = random.Random(self.n)
        http = httpx.Client(timeout=5)
        i = 0
        while not self.stop_event.is_set():
            path, body = _command(rng, self.n, i)
            key = f"client{self.n}-{i}"
            while True:  # retry the same key until the answer is definitive
                try:
                    r = http.post(
                        self.url + path,
                        json=body,
                        headers={"Authorization": f"Bearer {self.token}", "Idempotency-Key": key},
                    )
                    if r.status_code == 429:  # not an answer: wait as told, then retry the same key
                        self.retries += 1
                        time.sleep(min(1.0, float(r.headers.get("Retry-After", "0.05"))))
                        continue
                    if r.status_code < 500:
                        self.acked[key] = r.status_code
                        break
                except httpx.HTTPError:
                    pass
                self.retries += 1
                time.sleep(0.05)
            i += 1


@pytest.mark.slow  # a server process killed and restarted under load
@pytest.mark.parametrize(
    ("backend", "depth"),
    [("sqlite", 1), ("postgresql", 1), ("postgresql", 2)],
    ids=["sqlite", "postgresql", "pg-pipelined"],
)
def test_sigkill_loses_nothing_and_applies_nothing_twice(
    backend: str, depth: int, tmp_path: Path, request: Any
) -> None:
    """With `--pipeline-depth 2` a kill may land while one group commits and the next is applied
    on top of it: neither may be acknowledged unless durable, nor applied twice after the restart."""
    url = f"sqlite:///{tmp_path / 'crash.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    store = SqlStore(url)
    service = Service(store)
    setup = load_demo(service, FALLBACK)
    token, record = new_key("admin", None)
    store.add_key(record)
    store.close()

    server = ServerProcess(url, tmp_path / "server.log", args=("--pipeline-depth", str(depth)))
    server.start()
    stop = threading.Event()
    clients = [Client(n, server.url, token, stop) for n in range(CLIENTS)]
    for c in clients:
        c.start()
    rng = random.Random(7)
    kills = 0
    for _ in range(KILLS):
        time.sleep(rng.uniform(*RUN_SECONDS_BETWEEN_KILLS))
        server.kill()
        kills += 1
        time.sleep(0.1)
        server.start()
    time.sleep(0.5)
    stop.set()
    for c in clients:
        c.join(timeout=30)
    live_hash = httpx.get(f"{server.url}/v1/state", headers={"Authorization": f"Bearer {token}"}, timeout=30).json()[
        "state_hash"
    ]
    server.stop()

    store = SqlStore(url)
    rebuilt = Service(store)  # replays and verifies every derived event and the balance projection
    acked = {k: s for c in clients for k, s in c.acked.items()}
    ok = {k for k, s in acked.items() if s == 200}
    stored_keys: dict[str, int] = {}
    for k in acked:
        rec = store.get_idempotency(record.key_id, k)
        assert rec is not None, f"acknowledged command {k} ({acked[k]}) is not in the store"
        assert rec.status == acked[k]
        stored_keys[k] = rec.status
    commands = [e for e in store.load_events() if e.kind == "command"]
    assert len(commands) == setup + len(ok), "a command was lost or applied twice"
    assert rebuilt.state_hash() == live_hash
    assert check(rebuilt.engine.state) == []
    store.close()
    assert kills == KILLS and len(ok) > 10
    print(
        json.dumps(
            {
                "backend": backend,
                "acknowledged": len(acked),
                "applied": len(ok),
                "refused_4xx": len(acked) - len(ok),
                "kills_survived": kills,
                "client_retries": sum(c.retries for c in clients),
                "lost": 0,
                "applied_twice": 0,
            }
        )
    )
