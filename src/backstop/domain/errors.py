"""Typed errors. Each names the field at fault so the CLI and API can point at it.

An error raised by `Engine.apply` always means: nothing changed. The errors know nothing of
their transports: the CLI exits 2 on any of them, the API maps each class to an HTTP status
(`backstop.api.errors.STATUS`).
"""

from __future__ import annotations


class BackstopError(Exception):
    """Base of every domain error: a message for people and the field it is about."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    @property
    def type(self) -> str:
        """The name people and clients see: `error (InvalidAmount): ...`, the API's `error.type`."""
        return type(self).__name__


class InvalidAmount(BackstopError):
    """Zero, negative or over-precise amounts, and malformed numbers."""


class InvalidConfig(BackstopError):
    """A market, layer or asset definition that cannot work (e.g. a guarantor without a limit)."""


class UnknownEntity(BackstopError):
    """An asset, layer, market, account, policy, claim or incident that does not exist."""


class DuplicateEntity(BackstopError):
    """Creating something whose id is already taken."""


class TimeWentBackwards(BackstopError):
    """A command whose `at` is earlier than the engine's current time."""


class InsufficientFunds(BackstopError):
    """Withdrawing, repaying or paying more than is owned."""


class WithdrawNotAllowed(BackstopError):
    """Withdrawing without a request, before the cooldown/queue ends or after the window."""


class Undercollateralized(BackstopError):
    """Opening or borrowing below the minimum collateral ratio or LTV."""


class PositionHealthy(BackstopError):
    """Liquidating a position whose health is at least 1."""


class MarketFrozen(BackstopError):
    """New borrows or supply refused while too much backstop stake is queued to leave."""


class CoverError(BackstopError):
    """Buying cover beyond capacity, or a policy that does not respond (cause, market, period)."""


class ClaimError(BackstopError):
    """A claim that cannot be filed or assessed (double payout, self-assessment, not owner)."""


class NotPermitted(BackstopError):
    """The acting account may not do this (a per-object rule)."""


ERROR_TYPES: dict[str, type[BackstopError]] = {
    cls.__name__: cls
    for cls in (
        BackstopError,
        InvalidAmount,
        InvalidConfig,
        UnknownEntity,
        DuplicateEntity,
        TimeWentBackwards,
        InsufficientFunds,
        WithdrawNotAllowed,
        Undercollateralized,
        PositionHealthy,
        MarketFrozen,
        CoverError,
        ClaimError,
        NotPermitted,
    )
}
