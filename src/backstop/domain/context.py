"""The working context of one command: state, undo journal, the events it emits, its time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import UnknownEntity
from .events import Event
from .journal import Journal
from .ledger import WORLD

if TYPE_CHECKING:
    from .state import State


_tuple_new = tuple.__new__
"""`tuple.__new__(Event, fields)` skips the NamedTuple's generated `__new__` wrapper: events are
built on every posting, and this is the engine's hottest allocation."""


class Ctx:
    __slots__ = ("at", "events", "j", "seq0", "since", "state")

    def __init__(self, state: State, at: int, seq0: int) -> None:
        self.state = state
        self.j = Journal()
        self.events: list[Event] = []
        self.at = at
        self.seq0 = seq0
        self.since = state.now
        """The engine's time before this command (what `advance` accrues from)."""

    def tokens(self, asset: str, units: int) -> str:
        """`units` of `asset` as whole tokens with the symbol, for error messages people read
        (`24312000 USDC`, not `24312000000000`)."""
        from .money import format_units

        decimals = self.state.assets.get(asset)
        return f"{units} base units of {asset}" if decimals is None else f"{format_units(units, decimals)} {asset}"

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        events = self.events
        events.append(_tuple_new(Event, (self.seq0 + len(events), self.at, kind, data)))

    def transfer(self, credit: str, debit: str, asset: str, amount: int, field: str = "amount") -> None:
        """Post a movement to the ledger and log it; zero amounts are a no-op."""
        if amount == 0:
            return
        self.state.ledger.transfer(self.j, credit, debit, asset, amount, field)
        events = self.events
        events.append(
            _tuple_new(
                Event,
                (
                    self.seq0 + len(events),
                    self.at,
                    "posting",
                    {"debit": debit, "credit": credit, "asset": asset, "amount": amount},
                ),
            )
        )

    def pull(self, wallet: str, debit: str, asset: str, amount: int, field: str = "amount") -> None:
        """Move `amount` from a person's wallet, bringing any shortfall in from the outside world.

        Scenarios and API users deposit money that arrives from outside the modelled system; the
        funding is an explicit posting from `external:world` so conservation still holds.
        """
        have = self.state.ledger.balance(wallet, asset)
        if have <= 0:
            # Nothing in the wallet: the money comes straight from outside, on the wallet's behalf.
            self.transfer(WORLD, debit, asset, amount, field)
            return
        if have < amount:
            self.transfer(WORLD, wallet, asset, amount - have, field)
        self.transfer(wallet, debit, asset, amount, field)

    def price(self, asset: str, field: str = "asset") -> int:
        p = self.state.prices.get(asset)
        if p is None:
            raise UnknownEntity(field, f"{field}: no price set for asset {asset!r}")
        return p

    def decimals(self, asset: str, field: str = "asset") -> int:
        a = self.state.assets.get(asset)
        if a is None:
            raise UnknownEntity(field, f"{field}: unknown asset {asset!r}")
        return a
