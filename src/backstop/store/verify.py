"""`backstop verify`: prove a store's log, snapshots and projection from empty.

The log is streamed once, from seq 0: every row must have the next seq (a gap is a deleted
row), extend the hash chain (an altered row, or one moved from elsewhere, breaks it there) and
replay to byte-identical events; the state hash recorded at every checkpoint and snapshot must
be the replayed one there. Then every snapshot must decode, pass its own checks and sit on the
log's chain, and the balance projection must equal the replayed ledger. The first problem found
is named by table and seq (docs/reliability.md, "backstop verify").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from ..domain.errors import BackstopError
from ..engine import Engine, ReplayMismatch
from . import snapshot as snapshots
from .base import GENESIS, Store, StoredEvent, StoredLog, event_hash


@dataclass(frozen=True)
class Verdict:
    events: int
    commands: int
    snapshots: int
    head_hash: str
    state_hash: str
    problem: str | None
    """The first bad row, named by table and seq; None when all is well."""

    @property
    def ok(self) -> bool:
        return self.problem is None


class _BadRow(Exception):
    pass


@dataclass
class _Cursor:
    """How far the stream got: the next seq expected and the last good row's chain hash."""

    next: int = 0
    prev: str = GENESIS


def verify_store(store: Store) -> Verdict:
    metas = {m.seq: m for m in store.snapshots()}
    checkpoints = store.checkpoints()
    heads: dict[int, str] = {}
    cursor = _Cursor()

    def rows() -> Iterator[StoredEvent]:
        for row in store.iter_events():
            seq = cursor.next
            if row.seq != seq:
                raise _BadRow(f"events row seq {seq}: missing (the next row has seq {row.seq}): deleted")
            if event_hash(cursor.prev, row) != row.hash:
                raise _BadRow(
                    f"events row seq {row.seq}: its hash does not extend the chain (altered, or moved from elsewhere)"
                )
            cursor.prev = row.hash
            cursor.next = seq + 1
            if row.seq in metas:
                heads[row.seq] = row.hash
            yield row

    checks = {**checkpoints, **{seq: m.state_hash for seq, m in metas.items()}}
    engine = Engine(keep_log=False)

    def verdict(problem: str | None) -> Verdict:
        return Verdict(cursor.next, engine.commands_applied, len(metas), cursor.prev, engine.state_hash(), problem)

    try:
        Engine.replay(rows(), fmt=StoredLog(), checkpoints=checks, base=engine)
    except _BadRow as exc:
        return verdict(str(exc))
    except ReplayMismatch as exc:
        found = re.search(r"checkpoint (\d+)", str(exc))
        if found:
            seq = int(found.group(1))
            table = "snapshots" if seq in metas else "checkpoints"
            return verdict(f"{table} row seq {seq}: the recorded state hash is not the replayed state's")
        found = re.search(r"event (\d+)", str(exc))
        seq = int(found.group(1)) if found else cursor.next - 1
        return verdict(f"events row seq {seq}: does not replay ({exc})")
    except BackstopError as exc:
        return verdict(f"events row seq {cursor.next - 1}: the engine refuses its command ({exc})")
    for seq in sorted(metas):
        meta = metas[seq]
        if seq >= cursor.next:
            return verdict(f"snapshots row seq {seq}: beyond the last event (events were deleted from the end)")
        if heads.get(seq) != meta.head_hash:
            return verdict(f"snapshots row seq {seq}: its head hash is not the log's hash at that seq")
        snap = store.load_snapshot(seq)
        try:
            if snap is None:
                raise snapshots.SnapshotError(f"snapshot at seq {seq}: vanished")
            snapshots.restore(snap)
        except snapshots.SnapshotError as exc:
            return verdict(f"snapshots row seq {seq}: {exc}")
    for seq in checkpoints:
        if seq >= cursor.next:
            return verdict(f"checkpoints row seq {seq}: beyond the last event (events were deleted from the end)")
    live = {k: v for k, v in engine.state.ledger.balances.items() if v}
    projected = {k: v for k, v in store.balances().items() if v}
    if live != projected:
        first = sorted(set(live.items()) ^ set(projected.items()))[0]
        return verdict(f"balances row {first[0][0]}/{first[0][1]}: differs from the replayed ledger")
    return verdict(None)
