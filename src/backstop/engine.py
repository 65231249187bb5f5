"""The engine: applies commands to the domain state, all-or-nothing, and numbers the events.

`apply` validates and mutates through an undo journal; on any error it rolls back, so a
failed command leaves `state_hash()` unchanged and logs nothing. A scenario run keeps its
events in `log` (`keep_log=True`, the default: one run is small); the service passes
`keep_log=False` and keeps only the state and the next event number, because its history lives
in the store (docs/service.md, "History and snapshots"). `replay` rebuilds an engine from the
`command` events of any iterable, streamed (the store hands it pages), and checks as it goes
that it derives the very same events (deterministic replay, docs/engine.md). It is the one
replay path: tests replay an in-memory log, `backstop replay` a `run --json` file, and the
service its stored log, from empty or from a snapshot.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, TypeVar, cast

from .domain.apply import apply_command
from .domain.commands import Command
from .domain.context import Ctx
from .domain.events import Event
from .domain.invariants import assert_ok
from .domain.journal import Journal
from .domain.state import State

L = TypeVar("L")


class ReplayMismatch(AssertionError):
    pass


class LogFormat(Protocol[L]):
    """How a log to replay is written: the command a logged event carries (None when it is a
    derived event), and how an event the replay derives is written, to compare with the log."""

    def command(self, logged: L, /) -> Command | None: ...

    def encode(self, event: Event, /) -> L: ...

    def same(self, rebuilt: L, logged: L, /) -> bool:
        """Whether a derived event reproduces the logged one (by default: equal as written)."""
        ...


class InMemoryLog:
    """The engine's own log: `Event`s whose `command` events hold the command object."""

    @staticmethod
    def command(event: Event) -> Command | None:
        return cast(Command, event.data["command"]) if event.kind == "command" else None

    @staticmethod
    def encode(event: Event) -> Event:
        return event

    @staticmethod
    def same(rebuilt: Event, logged: Event) -> bool:
        return rebuilt == logged


class Engine:
    def __init__(self, check_invariants: bool = False, *, keep_log: bool = True) -> None:
        self.state = State()
        self.log: list[Event] = []
        """Every event applied, when `keep_log`; empty otherwise (the store holds them)."""
        self.keep_log = keep_log
        self.check_invariants = check_invariants
        self.commands_applied = 0
        self.next_seq = 0
        """The seq the next event gets: the number of events applied so far."""

    def apply(self, command: Command) -> list[Event]:
        """Apply one command: all of it, or (on any error) none of it."""
        return self.apply_pending(command)[0]

    def apply_pending(self, command: Command) -> tuple[list[Event], Journal]:
        """Apply one command and hand back its undo journal as well, so a caller that must make
        the change durable elsewhere first (the service's group commit) can `undo` it if that
        fails. A refused command is rolled back here and raises."""
        ctx = Ctx(self.state, command.at, self.next_seq)
        try:
            apply_command(ctx, command)
            if self.check_invariants:
                assert_ok(self.state)
        except BaseException:
            ctx.j.rollback()
            raise
        if self.keep_log:
            self.log.extend(ctx.events)
        self.next_seq += len(ctx.events)
        self.commands_applied += 1
        return ctx.events, ctx.j

    def undo(self, applied: list[tuple[list[Event], Journal]]) -> None:
        """Take back commands applied with `apply_pending`, newest first."""
        for events, journal in reversed(applied):
            journal.rollback()
            if self.keep_log:
                del self.log[len(self.log) - len(events) :]
            self.next_seq -= len(events)
            self.commands_applied -= 1

    def state_hash(self) -> str:
        blob = json.dumps(self.state.hash_state(), sort_keys=True, separators=(",", ":"), default=_default)
        return hashlib.sha256(blob.encode()).hexdigest()

    def commands(self) -> list[Command]:
        return [cast(Command, e.data["command"]) for e in self.log if e.kind == "command"]

    @classmethod
    def replay(
        cls,
        log: Iterable[L],
        check_invariants: bool = False,
        *,
        fmt: LogFormat[L] | None = None,
        checkpoints: Mapping[int, str] | None = None,
        base: Engine | None = None,
        keep_log: bool = True,
    ) -> Engine:
        """Rebuild from a log; every derived event must match the logged one exactly.

        The log is read once, in order, and never held whole: each logged event is compared with
        the one the replay derived as soon as both exist, so a store can stream its rows.
        `fmt` reads a log kept in another form (the store's rows, a `run --json` file); by
        default the log is the engine's own `Event`s. `base` is an engine restored from a
        snapshot: the log then holds only the events after it. `checkpoints` maps the seq of a
        command's last event to the state hash recorded there; the rebuilt state must have that
        hash. A command the engine refuses raises its `BackstopError`; any difference raises
        `ReplayMismatch`.
        """
        reader = fmt if fmt is not None else cast(LogFormat[L], InMemoryLog())
        engine = base if base is not None else cls(check_invariants=check_invariants, keep_log=keep_log)
        derived: deque[L] = deque()
        seen = engine.next_seq
        for entry in log:
            command = reader.command(entry)
            if command is not None:
                if derived:
                    raise ReplayMismatch(f"event {seen} differs on replay: {derived[0]} != {entry}")
                events = engine.apply(command)
                derived.extend(reader.encode(e) for e in events)
                last = engine.next_seq - 1
                if checkpoints and last in checkpoints and engine.state_hash() != checkpoints[last]:
                    raise ReplayMismatch(f"state hash at checkpoint {last} differs after replay")
            if not derived:
                raise ReplayMismatch(f"replay produced {seen} events, the log has more")
            rebuilt = derived.popleft()
            if rebuilt != entry and not reader.same(rebuilt, entry):
                raise ReplayMismatch(f"event {seen} differs on replay: {rebuilt} != {entry}")
            seen += 1
        if derived:
            raise ReplayMismatch(f"replay produced {seen + len(derived)} events, the log has {seen}")
        return engine


def _default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "__dataclass_fields__"):
        from .domain.codec import command_to_dict

        return command_to_dict(value)
    raise TypeError(f"cannot hash {type(value).__name__}")
