"""Redistribution in the risk lab: Liquity v1's redistribution (`exact.py`), path by path.

Why phase B finds these liquidations itself. Redistribution moves the liquidated trove's
remaining debt and collateral onto the other troves, which moves their liquidation prices while
the path runs; phase A's triggers come from fixed liquidation prices, so for a book in a market
with this layer phase A only keeps the price path, and `liquidate_paths` finds every liquidation
here, against the stability pool's deposits of the path.

The closed form that makes it exact. Liquity's stakes are proportional to a trove's entire
collateral: a stake is coll × totalStakesSnapshot / totalCollateralSnapshot, and the snapshot
ratio is exactly the ratio of stakes to entire collateral of the troves it was taken over, which
redistribution multiplies by one common factor (liquity/dev at
5174ecd0da4842157aba989499200d690b7e374f, `TroveManager.sol`: `_computeNewStake`,
`_updateSystemSnapshots_excludeCollRemainder`). So with every trove's debt d and collateral c at
the start of the path, after redistributions adding up to A of debt and B of collateral per unit
of starting collateral (the running sums L_LUSDDebt, L_ETH times the common stake ratio),

    entire debt  = d + A·c,    entire collateral = (1 + B)·c,
    debt / coll  = (d/c + A) / (1 + B),
    liquidation price = (d/c + A) / (1 + B) · p_debt / lt.

The map d/c ↦ (d/c + A)/(1 + B) is increasing, so the order of the troves by collateral ratio
never changes: the troves liquidated by any time are a prefix of the book sorted by d/c (what the
book already is), and a bucket of troves stays an exact aggregate (every quantity is linear in
(d, c)). One liquidation of (debt D, collateral C) with the pool offsetting `absorbed` leaves
D_r = D − absorbed and C_r = (1 − g)·C − collateral to the pool (g: the keeper's collateral gas
compensation), spread over the troves after it, whose starting collateral is c_rest:
A += D_r / c_rest, B += C_r / c_rest. With no trove after it the rest is sold as in Normal Mode
(`sim/liquidation.py`, `_settle_seize_all`) and any bad debt runs down the waterfall.

Order of events, as the engine's one-trove `liquidate` commands: at each step the settlements
due are made first, one bucket at a time, each redistributing before the next is looked at; then
every bucket the oracle now shows below its (moved) liquidation price is triggered, again one at
a time, so a redistribution that pushes the next trove under water liquidates it in the same step
(a cascade). A trigger settles `keeper_delay_steps` later (capped at the horizon) at the market
price of that step; while the oracle is down it shows its last price.

What remains approximate: a bucket holding several troves is liquidated as one (the bucket
width, `liquidation.buckets`; with one trove per bucket the rule is the engine's, tested in
tests/sim/test_kind_equivalence.py), and float64 against the engine's integers (~1e-12).

In the report the layer's `absorbed_mean` is the debt moved onto other troves, and its
`pool_loss_mean` (what it bears) is that debt less the value of the collateral moved with it at
the settlement price: the other troves' loss.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from ...errors import InvalidConfig
from ..base_vector import VectorLayer

if TYPE_CHECKING:
    from ....sim.model import LayerCompiler
    from ....sim.positions import Book
    from ....sim.waterfall import Outcome


@dataclass(frozen=True)
class Vector(VectorLayer):
    market: str = ""

    @classmethod
    def compile(cls, c: LayerCompiler, layer: Any) -> Self:
        field = f"layers.{layer.id}"
        mid = layer.market
        market = c.state.markets[mid] if mid is not None else None
        first = c.state.layers[market.config.waterfall[0]] if market is not None else None
        if market is None or first is None or not first.first_in_waterfall:  # Liquity's stability pool
            raise InvalidConfig(
                field,
                f"{field}: the risk lab simulates redistribution right after a stability pool (Liquity), "
                "in the waterfall of a cdp market",
            )
        shared = sorted(m for m, other in c.state.markets.items() if m != mid and first.id in other.config.waterfall)
        if shared:
            raise InvalidConfig(
                field,
                f"{field}: the risk lab simulates redistribution only when its stability pool {first.id} serves "
                f"no other market (it is also in {', '.join(shared)})",
            )
        return cls(layer.id, layer.kind, market=mid)

    def borne(self, outcome: Outcome, j: int) -> np.ndarray:
        out: np.ndarray = outcome.pool_loss[:, j]
        return out

    def summary(self, outcome: Outcome, j: int, horizon_years: float, paid_mean: float) -> dict[str, float]:
        return {
            "absorbed_mean": float(outcome.absorbed[:, j].mean()),
            "pool_loss_mean": float(outcome.pool_loss[:, j].mean()),
        }


@dataclass(frozen=True)
class PathLiquidations:
    """Every liquidation of one book, one bucket each, ordered by path, then step, then sequence."""

    path: np.ndarray
    step: np.ndarray
    """Settlement step (0: at the start)."""
    bucket: np.ndarray
    debt: np.ndarray
    """Entire debt liquidated (redistributions taken included), loss-asset units."""
    absorbed: np.ndarray
    collateral_to_pool: np.ndarray
    bad_debt: np.ndarray
    fee: np.ndarray
    impact: np.ndarray
    redistributed_debt: np.ndarray
    redistributed_collateral: np.ndarray
    price: np.ndarray
    """Market price of the collateral at settlement."""
    debt_per_coll: np.ndarray
    """(paths,) A at the horizon: debt redistributed per unit of starting collateral."""
    coll_per_coll: np.ndarray
    """(paths,) B at the horizon: collateral redistributed per unit of starting collateral."""
    settled: np.ndarray
    """(paths,) buckets liquidated by the horizon (a prefix of the book)."""
    deposits: np.ndarray
    """(paths,) the stability pool's deposits at the horizon."""

    def troves(self, book: Book, p: int) -> tuple[np.ndarray, np.ndarray]:
        """(entire debt, entire collateral) of every bucket still open on path p at the horizon."""
        k = int(self.settled[p])
        d = np.diff(book.cum_debt)[k:]
        c = np.diff(book.cum_coll)[k:]
        return d + self.debt_per_coll[p] * c, (1.0 + self.coll_per_coll[p]) * c


def liquidate_paths(
    book: Book,
    log_prices: np.ndarray,
    down: np.ndarray | None,
    log_p0: float,
    deposits: np.ndarray,
    delay_steps: int,
) -> PathLiquidations:
    """Every liquidation of `book` on every path (see the module's docstring), all paths at once,
    step by step. `log_prices`: (steps, paths) market log price of the collateral after each step;
    `down`: (steps, paths) where the oracle is down, or None; `deposits`: (paths,) the stability
    pool's deposits at the start (zeros: no pool)."""
    n_steps, n = log_prices.shape
    nb = book.n_buckets
    ratio = -book.neg_ratio  # starting debt per collateral token, highest first (inf: no collateral)
    cd, cc = book.cum_debt, book.cum_coll
    scale = book.debt_price / book.lt
    keep = 1.0 - book.gas_collateral
    a = np.zeros(n)
    b = np.zeros(n)
    dep = np.array(deposits, dtype=float, copy=True)
    k_set = np.zeros(n, dtype=np.int64)
    k_trig = np.zeros(n, dtype=np.int64)
    due = np.zeros((n, max(nb, 1)), dtype=np.int64)
    parts: list[tuple[np.ndarray, ...]] = []
    p0 = float(np.exp(log_p0))
    price = np.full(n, p0)
    oracle = price.copy()
    for t in range(n_steps + 1):
        if t > 0:
            price = np.exp(log_prices[t - 1])
            oracle = price.copy() if down is None else np.where(down[t - 1], oracle, price)
        while True:
            rows = np.flatnonzero(k_set < k_trig)
            if len(rows):
                rows = rows[due[rows, k_set[rows]] <= t]
            if len(rows):  # settle the next committed bucket of each of these paths
                parts.append(_settle(book, rows, k_set[rows], t, price[rows], a, b, dep, cd, cc, keep))
                k_set[rows] += 1
                continue
            rows = np.flatnonzero(k_trig < nb)
            if len(rows):
                k = k_trig[rows]
                with np.errstate(invalid="ignore"):
                    threshold = (ratio[k] + a[rows]) / (1.0 + b[rows]) * scale
                rows = rows[oracle[rows] < threshold]
            if not len(rows):
                break
            due[rows, k_trig[rows]] = min(t + delay_steps, n_steps)
            k_trig[rows] += 1
    names = [f.name for f in fields(PathLiquidations)][:12]  # the per-event ones, in `_settle`'s order
    if parts:
        cols = [np.concatenate([part[i] for part in parts]) for i in range(len(names))]
        order = np.argsort(cols[0], kind="stable")  # path order; within a path, the order they happened
        cols = [col[order] for col in cols]
    else:
        cols = [np.zeros(0, dtype=np.int64)] * 3 + [np.zeros(0)] * (len(names) - 3)
    return PathLiquidations(
        **dict(zip(names, cols, strict=True)), debt_per_coll=a, coll_per_coll=b, settled=k_set, deposits=dep
    )


def _settle(
    book: Book,
    rows: np.ndarray,
    k: np.ndarray,
    t: int,
    price: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    dep: np.ndarray,
    cd: np.ndarray,
    cc: np.ndarray,
    keep: float,
) -> tuple[np.ndarray, ...]:
    """Liquidate bucket k[i] on path rows[i] at `price` (the engine's `liquidate` of a Liquity
    trove in Normal Mode): the keeper's collateral, the pool's offset, then redistribution to the
    buckets after it (updating a, b in place), or with none after it the sale."""
    c0 = cc[k + 1] - cc[k]
    debt = (cd[k + 1] - cd[k]) + a[rows] * c0
    coll = (1.0 + b[rows]) * c0 * keep  # after the keeper's collateral gas compensation
    absorbed = np.minimum(debt, dep[rows])
    dep[rows] -= absorbed
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(debt > 0, absorbed / debt, 0.0)
    to_pool = frac * coll
    rest_debt = debt - absorbed
    rest_coll = coll - to_pool
    c_rest = cc[-1] - cc[k + 1]
    moved = (rest_debt > 0) & (k + 1 < book.n_buckets)
    r_debt = np.where(moved, rest_debt, 0.0)
    r_coll = np.where(moved, rest_coll, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        a[rows] += np.where(moved, r_debt / np.where(moved, c_rest, 1.0), 0.0)
        b[rows] += np.where(moved, r_coll / np.where(moved, c_rest, 1.0), 0.0)
    # No trove after it: the rest is sold as `_settle_seize_all` sells one bucket.
    sale = (rest_debt > 0) & ~moved
    sold = np.where(sale, 1.0 - frac, 0.0)
    pd, bonus = book.debt_price, book.bonus
    value_sold = sold * price * coll
    if book.depth_value > 0:
        impact = np.minimum(book.max_impact, book.impact_k * value_sold / book.depth_value)
    else:
        impact = np.zeros_like(value_sold)
    net = price * (1.0 - impact) / pd
    cover = coll * net / (1.0 + bonus)
    under = debt > cover
    bad = np.where(under, sold * np.maximum(0.0, debt - cover), 0.0)
    keeper_cut = sold * np.where(under, coll * net, (1.0 + bonus) * debt) * bonus / (1.0 + bonus)
    excess = np.where(under, 0.0, sold * np.maximum(0.0, coll * net - (1.0 + bonus) * debt))
    fee = book.fee * keeper_cut + excess
    step = np.full(len(rows), t, dtype=np.int64)
    return rows, step, k.copy(), debt, absorbed, to_pool, bad, fee, impact, r_debt, r_coll, price.copy()
