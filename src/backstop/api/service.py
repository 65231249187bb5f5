"""The service core: one engine, one store, two locks; every command applied exactly once.

A command joins a queue and its request waits for its answer; a writer thread takes a group of
queued commands under the write lock, applies each to the in-memory engine (all-or-nothing per
command, its idempotency record looked up first, all of the group's in one query) and takes the
group back out of the engine; a committer thread writes the group's events, each chained to the
one before by its hash, the balance rows they touched and the idempotency records in one
database transaction, and only once that commit returned applies the group again, for good, and
answers it. If the commit fails there is nothing to undo: memory never runs ahead of the disk.
With `pipeline_depth` 2 the next group is applied (on top of the one committing) while a commit
is in flight; a failed commit then fails the groups applied on top of it too.

Why two locks: the state lock (`lock`) guards the engine's state and is what reads take; it is
held only while commands are applied in memory (microseconds each), never across the database
commit, so a read waits for at most one group's in-memory work and always sees committed state
(the group is out of the engine while its commit is in flight). The write lock (`write_lock`)
serialises the groups and everything that needs the state to stand still without stopping
readers: the checkpoint's state hash and the snapshot are computed under it alone, since no
thread changes the state without it (reads only read). A checkpoint hashes the whole state, so
checkpoints are spaced to keep that hashing within `checkpoint_budget` of the time.

The engine keeps no history (`keep_log=False`): the events live in the store, `/v1/events`
pages them from there, and memory is the state plus one page. Every `snapshot_every` commands
or `snapshot_seconds` seconds the state is written as a snapshot. On start the newest snapshot
that passes its checks is restored and `Engine.replay` streams only the tail of the log after
it (a snapshot that fails a check is skipped with a warning, down to the full log): every
derived event must come out byte-identical, every tail row must extend the hash chain, and the
last checkpoint's state hash and the balance projection must match (docs/service.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..domain.codec import command_from_dict
from ..domain.commands import Command
from ..domain.errors import BackstopError
from ..domain.events import Event
from ..domain.journal import Journal
from ..engine import Engine, ReplayMismatch
from ..scenario.report import event_json
from ..store import cow
from ..store import snapshot as snapshots
from ..store.base import GENESIS, IdempotencyRecord, KeyRecord, Store, StoredEvent, StoredLog, encode_event, event_hash
from ..store.sql import StoreError
from .errors import Conflict, InternalError, error_body, status_of

T = TypeVar("T")
Answer = tuple[int, dict[str, Any]]
"""An HTTP status and its JSON body."""

log = logging.getLogger("backstop.service")

_REUSED = Conflict("idempotency-key", "idempotency-key: this key was already used with a different request")


class RebuildMismatch(RuntimeError):
    """The stored log does not rebuild to the same events or state: refuse to serve."""


def body_hash(path: str, body: Any) -> str:
    blob = json.dumps([path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class _Pending:
    """One request waiting in the queue; `result` is its answer, final once `done` is set (when
    its group is on disk, or its failure is known)."""

    key: KeyRecord
    idem_key: str
    digest: str
    build: Callable[[Engine], Command]
    result: Answer | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def idem(self) -> tuple[str, str]:
        return (self.key.key_id, self.idem_key)


@dataclass
class _Group:
    """One group commit in the making: what it applied to the engine and what it must write."""

    applied: list[tuple[list[Event], Journal]] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    """The commands applied, in order, to apply again once the group is on disk."""
    events: list[Event] = field(default_factory=list)
    rows: list[StoredEvent] = field(default_factory=list)
    touched: dict[tuple[str, str], int] = field(default_factory=dict)
    """The balance rows the group's postings touched, with their amounts after the group."""
    records: list[IdempotencyRecord] = field(default_factory=list)
    new_keys: dict[tuple[str, str], _Pending] = field(default_factory=dict)
    duplicates: list[tuple[_Pending, _Pending]] = field(default_factory=list)
    """(request, the earlier request of the same key, in this group or one still in flight)."""
    waiting: list[_Pending] = field(default_factory=list)
    """The members answered only once the group is durable (all but retries of stored keys)."""
    failed: bool = False
    """Set when an earlier group's commit failed: this one is answered 503 and never written."""


class Service:
    def __init__(
        self,
        store: Store,
        checkpoint_every: int = 500,
        max_batch: int = 64,
        *,
        snapshot_every: int = 10_000,
        snapshot_seconds: float = 300.0,
        snapshots_kept: int = 3,
        checkpoint_budget: float = 0.05,
        offload: bool = False,
        offload_above_seconds: float = 0.02,
        pipeline_depth: int = 1,
    ) -> None:
        self.store = store
        self.engine = Engine(keep_log=False)
        self.lock = threading.RLock()
        """The state lock: reads, and a group's in-memory apply; never held across a commit."""
        self.write_lock = threading.RLock()
        """One group (or checkpoint, or snapshot) at a time; the state changes only under it."""
        self.checkpoint_every = checkpoint_every
        self.checkpoint_budget = checkpoint_budget
        """The share of wall time checkpoints' state hashing may take: after a hash that took h
        seconds the next checkpoint waits at least h / budget seconds (and `checkpoint_every`
        commands). 0 (or less) hashes every `checkpoint_every` commands, whatever it costs."""
        self._next_checkpoint_at = 0.0
        self.offload = offload and cow.fork_available()
        """Compute the periodic checkpoints' hashes and snapshots in a forked child, on a
        copy-on-write view of the state (`store/cow.py`; `backstop serve` turns it on): the
        write lock is held for the fork only, and no long C call holds this process's GIL."""
        self.offload_above_seconds = offload_above_seconds
        """Fork only while hashing the state takes at least this long (the last checkpoint's,
        in process or the child's round trip): a small state is hashed faster than a fork is made."""
        self._whole_state_seconds = float("inf")
        """How long the last checkpoint's hash took; unknown at first, so the first one forks
        (a state loaded in bulk may already be large) and the next ones follow its measure."""
        self._background: threading.Thread | None = None
        self.max_batch = max_batch
        self.snapshot_every = snapshot_every
        """Commands between two snapshots; 0 turns snapshots off."""
        self.snapshot_seconds = snapshot_seconds
        self.snapshots_kept = max(1, snapshots_kept)
        self.warnings: list[str] = []
        """What start-up skipped (a snapshot that failed a check), for the operator."""
        self.head: tuple[int, str] = (-1, GENESIS)
        """The last stored event's seq and chain hash."""
        self.tail_replayed = 0
        self.pipeline_depth = max(1, pipeline_depth)
        """Groups between being applied and being answered at once. 1 (the default) applies the
        next group once the one before is answered. 2 applies the next group while one commits
        (its database round trip holds no lock and no GIL), on top of it: that pays where the
        round trip is long and the interpreter would idle meanwhile (a remote database); on a
        2-core machine with the database local the interpreter is the bottleneck, and smaller
        groups plus applying each twice more cost more than the overlap gives
        (docs/benchmarks.md, "PostgreSQL at the line")."""
        self._queue: list[_Pending] = []
        self._cv = threading.Condition(threading.Lock())
        """Guards the request queue, the commit queue and the two threads' lifecycles."""
        self._commits: deque[_Group] = deque()
        """Groups applied and encoded, in order, waiting for the committer thread."""
        self._in_flight = 0
        """Groups handed to the committer and not yet answered (at most `pipeline_depth`)."""
        self._outstanding: list[_Group] = []
        """The same groups, oldest first (under the write lock): the next group is applied on top
        of them, chains from the last one's hash, and defers to their idempotency keys."""
        self._writer: threading.Thread | None = None
        self._committer: threading.Thread | None = None
        self.rebuild()
        self._checkpointed = self.engine.commands_applied // checkpoint_every
        self._snap_commands = self.engine.commands_applied
        self._snap_time = time.monotonic()
        if snapshot_every and self.tail_replayed >= snapshot_every:
            self.snapshot()  # a long tail was replayed: spare the next start the same work

    def rebuild(self) -> None:
        """Replace the engine by one restored from the newest good snapshot and the log's tail,
        or raise RebuildMismatch."""
        base, prev = self._restore_snapshot()
        start = base.commands_applied if base is not None else 0
        checkpoint = self.store.last_checkpoint()
        floor = base.next_seq - 1 if base is not None else -1
        checks = dict([checkpoint]) if checkpoint and checkpoint[0] > floor else None
        chain = _Chain(prev)
        try:
            engine = Engine.replay(
                chain.check(self.store.iter_events(after=floor)),
                fmt=StoredLog(),
                checkpoints=checks,
                base=base,
                keep_log=False,
            )
        except ReplayMismatch as exc:
            raise RebuildMismatch(f"the stored log does not replay: {exc}") from exc
        live = {k: v for k, v in engine.state.ledger.balances.items() if v}
        projected = {k: v for k, v in self.store.balances().items() if v}
        if live != projected:
            raise RebuildMismatch("the balance projection differs from the replayed ledger")
        self.engine = engine
        self.head = (engine.next_seq - 1, chain.prev)
        self.tail_replayed = engine.commands_applied - start

    def _restore_snapshot(self) -> tuple[Engine | None, str]:
        """The newest snapshot that passes every check, as an engine, and its chain hash."""
        for meta in self.store.snapshots():
            row = self.store.event_at(meta.seq)
            snap = self.store.load_snapshot(meta.seq)
            try:
                if row is None or row.hash != meta.head_hash:
                    raise snapshots.SnapshotError(f"snapshot at seq {meta.seq}: does not match the log's hash there")
                if snap is None:
                    raise snapshots.SnapshotError(f"snapshot at seq {meta.seq}: vanished")
                return snapshots.restore(snap), meta.head_hash
            except snapshots.SnapshotError as exc:
                self.warnings.append(f"{exc}; trying an older one")
                log.warning("%s; trying an older one", exc)
        return None, GENESIS

    def snapshot(self) -> None:
        """Write the state as a snapshot now (the caller holds the write lock or is the
        constructor: the state stands still, and reads go on meanwhile).
        A failure is logged, not raised: the commands are durable in the log regardless."""
        self._snap_commands = self.engine.commands_applied
        self._snap_time = time.monotonic()
        if self.engine.next_seq == 0:
            return
        try:
            self.store.save_snapshot(snapshots.take(self.engine, self.head[1]))
            self.store.prune_snapshots(self.snapshots_kept)
        except Exception as exc:  # the log is the truth; a missing snapshot only costs replay time
            log.warning("snapshot at seq %d not written: %s", self.engine.next_seq - 1, exc)

    def _maybe_snapshot(self) -> None:
        if not self.snapshot_every:
            return
        since = self.engine.commands_applied - self._snap_commands
        if since >= self.snapshot_every or (since and time.monotonic() - self._snap_time >= self.snapshot_seconds):
            if not self._fork_now():
                self.snapshot()
            elif not self._busy():
                self._snapshot_forked()

    # -- checkpoints and snapshots computed in a forked child ----------------------------------
    def _fork_now(self) -> bool:
        return self.offload and self._whole_state_seconds >= self.offload_above_seconds

    def _busy(self) -> bool:
        return self._background is not None and self._background.is_alive()

    def settle(self, timeout: float | None = None) -> None:
        """Wait for the groups in flight to be finished, then for the checkpoint or snapshot
        being computed in the background, if any."""
        with self._cv:
            self._cv.wait_for(lambda: not self._queue and not self._in_flight, timeout)
        if self._background is not None:
            self._background.join(timeout)

    def _in_background(self, name: str, finish: Callable[[], None]) -> None:
        def run() -> None:
            try:
                finish()
            except Exception as exc:  # the log is the truth; a missing checkpoint or snapshot costs nothing else
                log.warning("%s not written: %s", name, exc)

        self._background = threading.Thread(target=run, name=f"backstop-{name}", daemon=True)
        self._background.start()

    def _snapshot_forked(self) -> None:
        """Under the write lock: fork; the child encodes the state as it is now, and a thread
        of this process writes it to the store once the child is done."""
        self._snap_commands = self.engine.commands_applied
        self._snap_time = time.monotonic()
        seq, commands, head = self.engine.next_seq - 1, self.engine.commands_applied, self.head[1]
        engine = self.engine
        child = cow.Forked(lambda: snapshots.encode_bytes(engine))

        def finish() -> None:
            data = child.result()
            if data is None:
                raise RuntimeError(f"the child computing the snapshot at seq {seq} failed")
            self.store.save_snapshot(snapshots.assemble(seq, commands, head, *snapshots.decode_bytes(data)))
            self.store.prune_snapshots(self.snapshots_kept)

        self._in_background("snapshot", finish)

    def health(self) -> dict[str, Any]:
        with self.lock:
            seq, head = self.head
            return {"ok": True, "commands": self.engine.commands_applied, "events": seq + 1, "head_hash": head}

    def events_page(self, after: int, limit: int) -> dict[str, Any]:
        """Up to `limit` stored events after seq `after`, read from the store (not under the
        write lock); `next_after` is where the next page starts, None on the last page."""
        last = self.head[0]
        after = max(-1, min(after, last))  # any integer is a valid cursor; the database's are 64-bit
        rows = [r for r in self.store.events_page(after, limit) if r.seq <= last]
        items = [event_json(_decode(r)) for r in rows]
        nxt = rows[-1].seq if rows and rows[-1].seq < last else None
        return {"events": items, "next_after": nxt, "total": last + 1}

    def state_hash(self) -> str:
        with self.lock:
            return self.engine.state_hash()

    def read(self, fn: Callable[[Engine], T]) -> T:
        with self.lock:
            return fn(self.engine)

    def execute(self, key: KeyRecord, idem_key: str, digest: str, build: Callable[[Engine], Command]) -> Answer:
        """Apply one command built from the live engine (so amounts use its assets' decimals).

        Group commit: the request joins a queue and waits on its own event for its answer (not
        on a lock: a waiter that had to take the write lock just to learn it was answered would
        queue behind the next group's commit, which shrank groups to ~2 commands at 32 clients).
        A writer thread takes the queue as a group, applies it, encodes its rows and takes it back
        out of the engine, writes it in one database transaction (one fsync for the group), then
        applies it for good and answers its members. With `pipeline_depth` 2 a committer thread
        writes and answers the groups, in order, while the writer applies the next group on top
        of the one committing. If a commit fails,
        nothing of that group or of any later one is in the engine, and every request in them
        gets a 503: an answer is never sent for anything that is not on disk.
        """
        item = _Pending(key, idem_key, digest, build)
        with self._cv:
            self._queue.append(item)
            if self._writer is None:
                self._writer = _thread("backstop-writer", self._write_loop)
            self._cv.notify_all()
        item.done.wait()
        assert item.result is not None
        return item.result

    # -- the pipeline's two threads ----------------------------------------------------------
    IDLE_SECONDS = 2.0
    """A pipeline thread with nothing to do for this long ends; the next request starts it again."""

    def _write_loop(self) -> None:
        """Take a group from the queue, apply and encode it, then commit it (depth 1) or hand it
        to the committer; at most `pipeline_depth` groups between this and their answer."""
        while True:
            with self._cv:
                while not self._queue or self._in_flight >= self.pipeline_depth:
                    if not self._cv.wait(self.IDLE_SECONDS) and not self._queue:
                        self._writer = None
                        return
            try:
                group = None
                with self.write_lock:
                    with self._cv:  # taken and counted at once, so `settle` never sees it in between
                        batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                        self._in_flight += 1
                    try:
                        group = self._prepare(batch) if batch else None
                    finally:
                        with self._cv:
                            if group is None:  # answered already (or nothing to do): not in flight
                                self._in_flight -= 1
                            elif self.pipeline_depth > 1:
                                self._commits.append(group)
                                if self._committer is None:
                                    self._committer = _thread("backstop-committer", self._commit_loop)
                            self._cv.notify_all()
                if group is not None and self.pipeline_depth == 1:
                    self._commit_one(group)  # in this thread: no hand-over to wait for
            except BaseException:
                with self._cv:
                    self._writer = None  # the next request starts another
                raise

    def _commit_loop(self) -> None:
        """Write the groups in the order they were applied, each once the one before is on disk,
        and answer them."""
        while True:
            with self._cv:
                while not self._commits:
                    if not self._cv.wait(self.IDLE_SECONDS) and not self._commits:
                        self._committer = None
                        return
                group = self._commits.popleft()
            try:
                self._commit_one(group)
            except BaseException:
                with self._cv:
                    self._committer = None  # the next group handed over starts another
                raise

    def _commit_one(self, group: _Group) -> None:
        """Commit one group (unless an earlier failure cancelled it) and answer it."""
        try:
            self._finish(group, group.failed or not group.records or self._commit(group))
        finally:
            with self._cv:
                self._in_flight -= 1
                self._cv.notify_all()

    # -- one group ---------------------------------------------------------------------------
    def _run_batch(self, batch: list[_Pending]) -> None:
        """One group in the calling thread, start to end (for a caller that drives the service
        alone, e.g. benchmarks/bench_history.py; no group may be in flight)."""
        with self.write_lock:
            assert not self._outstanding, "a group is in flight"
            group = self._prepare(batch)
            if group is not None:
                self._finish(group, group.failed or not group.records or self._commit(group))

    def _prepare(self, batch: list[_Pending]) -> _Group | None:
        """Under the write lock: apply the group on top of the groups still in flight to find its
        events and answers, encode its rows, and take it all back out of the engine, so reads
        keep seeing committed state only. The group, if any member waits for its commit."""
        group = _Group()
        try:
            seen = self.store.idempotency_many(list({item.idem for item in batch}))
        except Exception as exc:  # the database is unreachable: nothing was applied
            _answer_all(batch, _store_failure(exc))
            return None
        in_flight = {k: first for g in self._outstanding for k, first in g.new_keys.items()}
        with self.lock:
            base: list[tuple[list[Event], Journal]] = []
            try:
                for g in self._outstanding:
                    for command, (events, _) in zip(g.commands, g.applied, strict=True):
                        again = self.engine.apply_pending(command)
                        base.append(again)
                        if again[0] != events:
                            raise ReplayMismatch("a group in flight applied differently the second time")
                for item in batch:
                    self._admit(item, group, seen, in_flight)
                if group.applied:
                    self._encode(group)
            except Exception as exc:  # cannot happen for a deterministic engine: refuse the group
                log.error("a group could not be prepared: %r", exc)
                failure = InternalError("command", f"command: internal error ({exc!r})")
                unanswered = [item for item in batch if not item.done.is_set()]
                _answer_all(unanswered, (status_of(failure), error_body(failure)))
                group.waiting = []
            finally:
                self.engine.undo(group.applied)  # out again until the commit returned
                self.engine.undo(base)
        if not group.waiting:
            return None
        self._outstanding.append(group)
        return group

    def _finish(self, group: _Group, ok: bool) -> None:
        """Once the group's commit returned: apply it for good and answer its members; if it
        failed, answer them and every later group in flight with the failure (they were applied
        on top of it), so the engine holds exactly what the store holds."""
        with self.write_lock:
            if group.failed:  # answered when the group before it failed
                return
            assert self._outstanding and self._outstanding[0] is group
            self._outstanding.pop(0)
            if not ok:
                failure = StoreError("db", "db: an earlier group's commit failed; not applied")
                for later in self._outstanding:
                    later.failed = True
                    _answer_all(later.waiting, (status_of(failure), error_body(failure)))
                self._outstanding.clear()
                for item in group.waiting:
                    item.done.set()
                return
            rebuilt = False
            if group.applied:
                with self.lock:
                    try:
                        rebuilt = self._apply_again(group)
                    except Exception:  # the rebuild itself failed: the group is durable, the engine is not trusted
                        log.exception("a committed group could not be applied again")
                        rebuilt = True
            for item, first in group.duplicates:
                assert first.result is not None
                item.result = first.result if item.digest == first.digest else (409, error_body(_REUSED))
            if rebuilt:  # the engine now comes from the store: nothing in flight was applied on it
                failure = StoreError("db", "db: the engine was rebuilt from the store; not applied")
                for later in self._outstanding:
                    later.failed = True
                    _answer_all(later.waiting, (status_of(failure), error_body(failure)))
                self._outstanding.clear()
            if group.applied:  # before the answers, as a caller that saw its 200 may expect the checkpoint
                try:
                    self._maybe_checkpoint()
                    self._maybe_snapshot()
                except Exception as exc:  # the log is the truth; a missing checkpoint costs nothing else
                    log.warning("checkpoint not written: %s", exc)
            for item in group.waiting:
                item.done.set()

    def _maybe_checkpoint(self) -> None:
        """Record the state hash every `checkpoint_every` commands, spaced by the budget; under
        the write lock only (or in a forked child), so reads go on while it hashes."""
        due = self.engine.commands_applied // self.checkpoint_every
        if due == self._checkpointed or time.monotonic() < self._next_checkpoint_at or self._busy():
            return
        self._checkpointed = due
        seq, t0 = self.engine.next_seq - 1, time.monotonic()
        if not self._fork_now():
            state_hash = self.engine.state_hash()
            self._whole_state_seconds = time.monotonic() - t0  # the hash alone, not the write
            self.store.checkpoint(seq, state_hash)
            self._space_checkpoints(t0)
            return
        engine = self.engine
        child = cow.Forked(lambda: engine.state_hash().encode())

        def finish() -> None:
            data = child.result()
            if data is None:
                raise RuntimeError(f"the child hashing the state at seq {seq} failed")
            self._whole_state_seconds = time.monotonic() - t0  # the child's round trip
            self.store.checkpoint(seq, data.decode())
            self._space_checkpoints(t0)

        self._in_background("checkpoint", finish)

    def _space_checkpoints(self, t0: float) -> None:
        took = time.monotonic() - t0
        if self.checkpoint_budget > 0:
            self._next_checkpoint_at = t0 + took + took / self.checkpoint_budget

    def _admit(
        self,
        item: _Pending,
        group: _Group,
        stored: dict[tuple[str, str], IdempotencyRecord],
        in_flight: dict[tuple[str, str], _Pending],
    ) -> None:
        """Answer a retry from its stored record, or apply the command to the engine."""
        first = group.new_keys.get(item.idem) or in_flight.get(item.idem)
        if first is not None:  # the same key again before its first use is on disk: answered like a retry
            group.duplicates.append((item, first))
            group.waiting.append(item)
            return
        seen = stored.get(item.idem)
        if seen is not None:  # a retry of a stored request: its answer is already durable
            if seen.body_hash != item.digest:
                item.result = (409, error_body(_REUSED))
            else:
                item.result = (seen.status, json.loads(seen.response))
            item.done.set()
            return
        group.new_keys[item.idem] = item
        group.waiting.append(item)
        self._apply(item, group)

    def _apply(self, item: _Pending, group: _Group) -> None:
        engine = self.engine
        try:
            command = item.build(engine)
            events, journal = engine.apply_pending(command)
        except BackstopError as exc:
            status = status_of(exc)
            item.result = (status, error_body(exc))
            if status < 500:
                group.records.append(IdempotencyRecord(*item.idem, item.digest, status, json.dumps(item.result[1])))
            return
        except Exception as exc:  # a bug in one command must not strand the rest of the group
            item.result = (500, error_body(InternalError("command", f"command: internal error ({exc!r})")))
            return
        group.applied.append((events, journal))
        group.commands.append(command)
        group.events.extend(events)
        body = {"seq": events[0].seq, "events": [event_json(e) for e in events]}
        item.result = (200, body)
        group.records.append(IdempotencyRecord(*item.idem, item.digest, 200, json.dumps(body)))

    def _encode(self, group: _Group) -> None:
        """The group's rows, chained from the last row before it (on disk or in flight), and the
        balances it leaves (read while the group is still in the engine)."""
        balances = self.engine.state.ledger.balances
        for e in group.events:
            if e.kind == "posting":
                for acct in (e.data["credit"], e.data["debit"]):
                    group.touched[(acct, e.data["asset"])] = 0
        group.touched = {k: balances.get(k, 0) for k in group.touched}
        prev = next((g.rows[-1].hash for g in reversed(self._outstanding) if g.rows), self.head[1])
        for e in group.events:
            row = encode_event(e).chained(prev)
            group.rows.append(row)
            prev = row.hash

    def _commit(self, group: _Group) -> bool:
        """Write the group in one transaction (no lock held; the group is not in the engine
        meanwhile). If that fails, nothing of it is on disk or in memory: give every member the
        failure as its answer and return False."""
        try:
            self.store.append(group.rows, group.touched, group.records)
        except BaseException as exc:
            failure = _store_failure(exc)
            for item in group.waiting:
                item.result = failure
            if not isinstance(exc, Exception):
                self._finish(group, False)
                raise
            return False
        return True

    def _apply_again(self, group: _Group) -> bool:
        """Apply the committed group for good (under the state lock). The engine is where it was
        when the group was first applied, so it derives the same events; if it ever did not, the
        stored log is the truth and the engine is rebuilt from it (then True)."""
        derived: list[Event] = []
        try:
            for command in group.commands:
                derived.extend(self.engine.apply(command))
        except Exception as exc:  # cannot happen for a deterministic engine; the log wins if it does
            derived = [Event(-1, 0, f"refused: {exc!r}", {})]
        if group.rows:
            self.head = (group.rows[-1].seq, group.rows[-1].hash)
        if derived != group.events:
            log.error("a committed group applied differently the second time; rebuilding from the store")
            self.rebuild()
            return True
        return False


def _thread(name: str, target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def _store_failure(exc: BaseException) -> Answer:
    failure = exc if isinstance(exc, BackstopError) else StoreError("store", f"store: {exc}")
    return (status_of(failure), error_body(failure))


def _answer_all(items: list[_Pending], answer: Answer) -> None:
    for item in items:
        item.result = answer
        item.done.set()


class _Chain:
    """Checks, as rows stream past, that each extends the hash chain; remembers the last hash."""

    def __init__(self, prev: str) -> None:
        self.prev = prev

    def check(self, rows: Iterable[StoredEvent]) -> Iterator[StoredEvent]:
        for row in rows:
            if event_hash(self.prev, row) != row.hash:
                raise ReplayMismatch(f"event {row.seq}: its hash does not extend the chain (altered or out of order)")
            self.prev = row.hash
            yield row


def _decode(row: StoredEvent) -> Event:
    """A stored row as the engine's `Event` (its command decoded), for `event_json`."""
    data = json.loads(row.data)
    if row.kind == "command":
        data["command"] = command_from_dict(data["command"])
    return Event(row.seq, row.at, row.kind, data)
