"""Small builders shared by the per-rule domain tests: one engine, invariants on, whole tokens."""

from __future__ import annotations

from typing import Any

from backstop.domain import commands as c
from backstop.domain.invariants import check
from backstop.domain.layers.registry import make_config
from backstop.engine import Engine

E18 = 10**18
E6 = 10**6
DAY = 86_400
YEAR = 365 * DAY


def engine(*cmds: Any) -> Engine:
    """An engine that checks every invariant of `invariants.check` (docs/architecture.md) after each command."""
    e = Engine(check_invariants=True)
    for cmd in cmds:
        e.apply(cmd)
    return e


def assets(e: Engine, at: int = 0, **prices: int) -> None:
    """`assets(e, USDC=1, ETH=2000)`: add each asset (USDC 6 decimals, the rest 18) at a whole-dollar price."""
    for sym, price in prices.items():
        e.apply(c.AddAsset(at, sym, 6 if sym == "USDC" else 18))
        e.apply(c.SetPrice(at, sym, price * E18))


def lending(
    e: Engine,
    waterfall: tuple[str, ...],
    market: str = "lend",
    debt: str = "USDC",
    collateral: tuple[c.CollateralConfig, ...] | None = None,
    **kw: Any,
) -> None:
    e.apply(
        c.AddMarket(
            0,
            market,
            c.MarketConfig(
                kind="lending",
                debt_asset=debt,
                collateral=collateral or (c.CollateralConfig("ETH"),),
                waterfall=waterfall,
                **kw,
            ),
        )
    )


def layer(e: Engine, layer_id: str, kind: str, **kw: Any) -> None:
    e.apply(c.AddLayer(0, layer_id, make_config(kind=kind, **kw)))  # type: ignore[arg-type]


def bal(e: Engine, account: str, asset: str) -> int:
    return e.state.ledger.balance(account if ":" in account else f"user:{account}", asset)


def layer_bal(e: Engine, layer_id: str, asset: str) -> int:
    return e.state.ledger.balance(f"layer:{layer_id}:assets", asset)


def last_loss(e: Engine) -> Any:
    return e.state.losses[-1]


def ok(e: Engine) -> None:
    problems = check(e.state)
    assert not problems, problems
