"""State snapshots: the engine's state at a log position, so a restart replays only the tail.

Encoding: pickle (protocol 5) of the domain `State`, read back by `SafeUnpickler`, which
resolves only classes of `backstop.domain` and a short list of builtin containers: a tampered
blob cannot name `os.system` or any other callable, so decoding it cannot run code
(docs/decisions.md, "Snapshots are pickles read by a restricted unpickler"). Three checks guard a
snapshot before it is trusted: the SHA-256 of its blob (a torn or flipped byte), its state hash
once decoded (a blob that decodes to another state), and the chain hash of the event it covers
(a snapshot that belongs to another log).
"""

from __future__ import annotations

import builtins
import collections
import hashlib
import io
import pickle
import time
from typing import Any

from ..domain.state import State
from ..engine import Engine
from .base import Snapshot, SnapshotMeta

FORMAT = "pickle-5"
_BUILTINS = frozenset({"set", "frozenset", "dict", "list", "tuple", "int", "str", "bytes", "bool", "float", "complex"})
_COLLECTIONS = frozenset({"deque", "OrderedDict"})


class SnapshotError(ValueError):
    """A snapshot failed a check; the caller falls back to an older one or to the full log."""


class SafeUnpickler(pickle.Unpickler):
    """Resolves only backstop.domain classes and builtin containers; anything else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in _BUILTINS:
            return getattr(builtins, name)
        if module == "collections" and name in _COLLECTIONS:
            return getattr(collections, name)
        if module == "backstop.domain" or module.startswith("backstop.domain."):
            obj = super().find_class(module, name)
            if isinstance(obj, type):
                return obj
        raise pickle.UnpicklingError(f"snapshot names a forbidden global {module}.{name}")


def take(engine: Engine, head_hash: str) -> Snapshot:
    """The engine's state now, covering events up to `engine.next_seq - 1`."""
    return assemble(engine.next_seq - 1, engine.commands_applied, head_hash, *encode(engine))


def encode(engine: Engine) -> tuple[str, bytes]:
    """The state's hash and its blob: the part of a snapshot that reads the whole state (what
    the service computes in a forked child, `store/cow.py`)."""
    return engine.state_hash(), pickle.dumps(engine.state, protocol=5)


def decode_state(blob: bytes) -> State:
    """The `State` of an `encode` blob (the live desk's copy of the state, `api/jobs.live_source`)."""
    state = SafeUnpickler(io.BytesIO(blob)).load()
    if not isinstance(state, State):
        raise SnapshotError("a state blob that is not a State")
    return state


def encode_bytes(engine: Engine) -> bytes:
    """`encode` as one byte string (the 64 hex digits of the hash, then the blob), for a pipe."""
    state_hash, blob = encode(engine)
    return state_hash.encode() + blob


def decode_bytes(data: bytes) -> tuple[str, bytes]:
    return data[:64].decode(), data[64:]


def assemble(seq: int, commands: int, head_hash: str, state_hash: str, blob: bytes) -> Snapshot:
    meta = SnapshotMeta(
        seq=seq,
        commands=commands,
        state_hash=state_hash,
        head_hash=head_hash,
        digest=hashlib.sha256(blob).hexdigest(),
        fmt=FORMAT,
        created_at=int(time.time()),
    )
    return Snapshot(meta, blob)


def restore(snapshot: Snapshot, check_invariants: bool = False) -> Engine:
    """An engine at the snapshot's position (no log kept), or SnapshotError naming the check."""
    meta = snapshot.meta
    if meta.fmt != FORMAT:
        raise SnapshotError(f"snapshot at seq {meta.seq}: unknown format {meta.fmt!r}")
    if hashlib.sha256(snapshot.blob).hexdigest() != meta.digest:
        raise SnapshotError(f"snapshot at seq {meta.seq}: blob digest differs (torn or altered)")
    try:
        state = SafeUnpickler(io.BytesIO(snapshot.blob)).load()
    except Exception as exc:  # any decoding failure is a bad snapshot, never a crash
        raise SnapshotError(f"snapshot at seq {meta.seq}: cannot decode ({exc})") from exc
    if not isinstance(state, State):
        raise SnapshotError(f"snapshot at seq {meta.seq}: not a State")
    engine = Engine(check_invariants=check_invariants, keep_log=False)
    engine.state = state
    engine.next_seq = meta.seq + 1
    engine.commands_applied = meta.commands
    try:
        got = engine.state_hash()
    except Exception as exc:
        raise SnapshotError(f"snapshot at seq {meta.seq}: state does not hash ({exc})") from exc
    if got != meta.state_hash:
        raise SnapshotError(f"snapshot at seq {meta.seq}: state hash {got[:16]}… != recorded {meta.state_hash[:16]}…")
    return engine
