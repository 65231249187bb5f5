"""An undo journal: the mechanism that makes `Engine.apply` all-or-nothing.

Every mutation of domain state goes through `set`/`put`/`pop`, which remember the old
value. If any check fails part-way through a command (a deep `InsufficientFunds` in the
middle of a waterfall, say), `rollback` restores every touched object in reverse order, so
the state hash after a failed command equals the one before. This is cheaper than copying
the state (which would make an O(1) stability-pool liquidation O(depositors)) and safer than
trusting every handler to validate everything before its first write.
"""

from __future__ import annotations

from typing import Any

_MISSING = object()


class Journal:
    __slots__ = ("_undo",)

    def __init__(self) -> None:
        self._undo: list[tuple[int, Any, Any, Any]] = []

    def set(self, obj: Any, name: str, value: Any) -> None:
        self._undo.append((0, obj, name, getattr(obj, name)))
        setattr(obj, name, value)

    def put(self, mapping: dict[Any, Any], key: Any, value: Any) -> None:
        self._undo.append((1, mapping, key, mapping.get(key, _MISSING)))
        mapping[key] = value

    def pop(self, mapping: dict[Any, Any], key: Any) -> Any:
        old = mapping.get(key, _MISSING)
        if old is not _MISSING:
            self._undo.append((1, mapping, key, old))
            del mapping[key]
            return old
        return None

    def append(self, items: list[Any], value: Any) -> None:
        self._undo.append((2, items, None, None))
        items.append(value)

    def moved(self, balances: dict[Any, Any], credit_key: Any, debit_key: Any, amount: int) -> None:
        """Record a ledger movement; undone by moving the amount back (one entry, not two)."""
        self._undo.append((3, balances, (credit_key, debit_key), amount))

    def rollback(self) -> None:
        undo = self._undo
        while undo:
            kind, target, key, old = undo.pop()
            if kind == 0:
                setattr(target, key, old)
            elif kind == 1:
                if old is _MISSING:
                    target.pop(key, None)
                else:
                    target[key] = old
            elif kind == 3:
                credit_key, debit_key = key
                target[credit_key] = target.get(credit_key, 0) + old
                target[debit_key] = target.get(debit_key, 0) - old
            else:
                target.pop()

    def __len__(self) -> int:
        return len(self._undo)
