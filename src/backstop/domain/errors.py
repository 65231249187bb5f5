"""Typed errors. Each names the field at fault so the CLI and API can point at it.

An error raised by `Engine.apply` always means: nothing changed.
"""

from __future__ import annotations


class BackstopError(Exception):
    """Base of every domain error: a message for people and the field it is about."""

    http_status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    @property
    def type(self) -> str:
        return type(self).__name__


class InvalidAmount(BackstopError):
    """Zero, negative or over-precise amounts, and malformed numbers."""

    http_status = 422


class InvalidConfig(BackstopError):
    """A market, layer or asset definition that cannot work (e.g. a guarantor without a limit)."""

    http_status = 422


class UnknownEntity(BackstopError):
    """An asset, layer, market, account, policy, claim or incident that does not exist."""

    http_status = 404


class DuplicateEntity(BackstopError):
    """Creating something whose id is already taken."""

    http_status = 409


class TimeWentBackwards(BackstopError):
    """A command whose `at` is earlier than the engine's current time."""

    http_status = 409


class InsufficientFunds(BackstopError):
    """Withdrawing, repaying or paying more than is owned."""

    http_status = 409


class WithdrawNotAllowed(BackstopError):
    """Withdrawing without a request, before the cooldown/queue ends or after the window."""

    http_status = 409


class Undercollateralized(BackstopError):
    """Opening or borrowing below the minimum collateral ratio or LTV."""

    http_status = 409


class PositionHealthy(BackstopError):
    """Liquidating a position whose health is at least 1."""

    http_status = 409


class MarketFrozen(BackstopError):
    """New borrows or supply refused while too much backstop stake is queued to leave."""

    http_status = 409


class CoverError(BackstopError):
    """Buying cover beyond capacity, or a policy that does not respond (cause, market, period)."""

    http_status = 409


class ClaimError(BackstopError):
    """A claim that cannot be filed or assessed (double payout, self-assessment, not owner)."""

    http_status = 409


class NotPermitted(BackstopError):
    """The acting account may not do this (a per-object rule)."""

    http_status = 403


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
