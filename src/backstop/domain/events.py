"""Events: what happened, in order. The log of events is the source of truth.

One generic record keeps the hot path cheap (no class per event kind): `kind` names what
happened and `data` holds JSON-ready values (ints stay ints; commands stay objects until a
codec serialises them). The first event of every applied command is kind `command`, which is
what replay re-applies; the others (postings, losses, allocations...) are derived and are
checked equal on replay.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Event(NamedTuple):
    """A NamedTuple rather than a frozen dataclass: it is built on every posting, and tuple
    construction is several times cheaper on this hot path."""

    seq: int
    at: int
    kind: str
    data: dict[str, Any]
