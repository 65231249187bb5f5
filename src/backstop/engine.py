"""The engine: applies commands to the domain state, all-or-nothing, and keeps the event log.

`apply` validates and mutates through an undo journal; on any error it rolls back, so a
failed command leaves `state_hash()` unchanged and logs nothing. The log holds every event;
`replay` rebuilds a fresh engine from the `command` events and checks that it derives the very
same events (deterministic replay, design §8).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from .domain.apply import apply_command
from .domain.context import Ctx
from .domain.events import Event
from .domain.invariants import assert_ok
from .domain.journal import Journal
from .domain.state import State


class ReplayMismatch(AssertionError):
    pass


class Engine:
    def __init__(self, check_invariants: bool = False) -> None:
        self.state = State()
        self.log: list[Event] = []
        self.check_invariants = check_invariants
        self.commands_applied = 0

    def apply(self, command: Any) -> list[Event]:
        """Apply one command: all of it, or (on any error) none of it."""
        return self.apply_pending(command)[0]

    def apply_pending(self, command: Any) -> tuple[list[Event], Journal]:
        """Apply one command and hand back its undo journal as well, so a caller that must make
        the change durable elsewhere first (the service's group commit) can `undo` it if that
        fails. A refused command is rolled back here and raises."""
        ctx = Ctx(self.state, command.at, len(self.log))
        try:
            apply_command(ctx, command)
            if self.check_invariants:
                assert_ok(self.state)
        except BaseException:
            ctx.j.rollback()
            raise
        self.log.extend(ctx.events)
        self.commands_applied += 1
        return ctx.events, ctx.j

    def undo(self, applied: list[tuple[list[Event], Journal]]) -> None:
        """Take back commands applied with `apply_pending`, newest first."""
        for events, journal in reversed(applied):
            journal.rollback()
            del self.log[len(self.log) - len(events) :]
            self.commands_applied -= 1

    def state_hash(self) -> str:
        blob = json.dumps(self.state.hash_state(), sort_keys=True, separators=(",", ":"), default=_default)
        return hashlib.sha256(blob.encode()).hexdigest()

    def commands(self) -> list[Any]:
        return [e.data["command"] for e in self.log if e.kind == "command"]

    @classmethod
    def replay(cls, events: Iterable[Event], check_invariants: bool = False) -> Engine:
        """Rebuild from a log; every derived event must match the logged one exactly."""
        events = list(events)
        engine = cls(check_invariants=check_invariants)
        for e in events:
            if e.kind == "command":
                engine.apply(e.data["command"])
        if engine.log != events:
            for i, (a, b) in enumerate(zip(engine.log, events, strict=False)):
                if a != b:
                    raise ReplayMismatch(f"event {i} differs on replay: {a} != {b}")
            raise ReplayMismatch(f"replay produced {len(engine.log)} events, the log has {len(events)}")
        return engine


def _default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "__dataclass_fields__"):
        from .domain.codec import command_to_dict

        return command_to_dict(value)
    raise TypeError(f"cannot hash {type(value).__name__}")
