"""The double-entry ledger (docs/engine.md, "The ledger").

A posting moves `amount > 0` of one asset from `credit` to `debit`. Balances are the sum of
postings, so per asset the sum over all accounts is zero by construction; only `external:*`
accounts (the world, DEX counterparties, the issuer of a minted asset, an attacker) may go
negative. Balances live in one flat dict keyed by (account, asset) for speed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InsufficientFunds, InvalidAmount
from .journal import Journal

WORLD = "external:world"
DEX = "external:dex"
ISSUER = "external:issuer"
ATTACKER = "external:attacker"


@dataclass(frozen=True, slots=True)
class Posting:
    debit: str
    credit: str
    asset: str
    amount: int


def is_external(account: str) -> bool:
    return account.startswith("external:")


def user(account: str) -> str:
    """Ledger account of a person's wallet."""
    return account if ":" in account else f"user:{account}"


class Ledger:
    __slots__ = ("balances",)

    def __init__(self) -> None:
        self.balances: dict[tuple[str, str], int] = {}

    def balance(self, account: str, asset: str) -> int:
        return self.balances.get((account, asset), 0)

    def transfer(self, j: Journal, credit: str, debit: str, asset: str, amount: int, field: str = "amount") -> None:
        """Move `amount` of `asset` from `credit` to `debit`, refusing to overdraw a non-external account."""
        if amount <= 0:
            raise InvalidAmount(field, f"{field}: posting amount must be positive, got {amount}")
        balances = self.balances
        ck = (credit, asset)
        cb = balances.get(ck, 0)
        if cb < amount and not credit.startswith("external:"):
            raise InsufficientFunds(field, f"{field}: {credit} holds {cb} base units of {asset}, needs {amount}")
        dk = (debit, asset)
        balances[ck] = cb - amount
        balances[dk] = balances.get(dk, 0) + amount
        j.moved(balances, ck, dk, amount)

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (_, asset), amount in self.balances.items():
            out[asset] = out.get(asset, 0) + amount
        return out
