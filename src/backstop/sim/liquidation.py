"""Liquidation of bucketed books, vectorized over paths (docs/risk-lab.md; the engine's `liquidate`, docs/engine.md).

Triggers. A bucket is liquidated the first step the oracle price is below its liquidation
price. With buckets sorted by liquidation price, the buckets triggered by a step are a range
(k_before, k_after] of the book, found from the running minimum of the oracle price: only steps
that set a new minimum can trigger anything, so only those are searched.

Settlement (one call of the engine's `liquidate` per position, summed over the range):

* a stability pool first in the waterfall absorbs up to its deposits, pro rata over the range,
  and takes the same share of the collateral (Liquity offset);
* the rest is sold: a position is "under water" when its collateral at the oracle price, less
  the keeper's bonus, does not cover its debt (C·p/(1+b) < D); the engine then seizes all of its
  collateral and the debt left is bad debt, D − C·q with q = p·(1 − impact)/(p_debt·(1 + b));
  a position above water is closed (the engine leaves it with its residual debt·impact and the
  collateral not seized, which still covers it);
* impact = min(max_impact, k · value sold / depth) on the value sold in the step by the whole
  book, so liquidations that land together share the depth (a cascade). The engine prices one
  call at a time; with one position per book and step both agree exactly (tested);
* `liquidation_fee_bps` of the keeper's bonus goes to the fee layer, as in the engine.

`keeper_delay_steps` is the time between trigger and settlement: the liquidation is committed
when triggered (Maker's `bark` starts an auction that runs to its end) and settles at the market
price d steps later. With d = 0 it is the engine's atomic `liquidate`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..domain.layers.redistribution.vector import redistribute, trove_ratio
from .jit import enabled as jit_enabled
from .jit import kernel
from .positions import Book
from .search import searchsorted_left

if TYPE_CHECKING:
    from .model import SimModel
    from .world import World


@dataclass(frozen=True)
class NewMinima:
    """Entries (path, column) where the oracle's running minimum falls, and the minimum there."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray


TRANSPOSE_BLOCK = 64
"""Paths per block when a time-major array is transposed back (blocks stay in cache)."""


def new_minima_tm(
    log_prices: np.ndarray,
    down: tuple[np.ndarray, np.ndarray] | None,
    log_p0: float,
    work: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> NewMinima:
    """Every step where the oracle's running minimum (never above `log_p0`) falls, from time-major
    (steps, paths) log prices, with the oracle down on the cells `down` (steps, paths). A stale
    oracle shows a price it already showed, which cannot set a new minimum, so a down cell counts
    as +inf (tests/sim/reference_kernels.py has the plain path-major definition it must equal).
    Rows and columns are in path order (path, then step). `work`: scratch arrays of shapes (steps,
    paths) float, (steps, paths) bool and (paths, steps) bool."""
    n_steps, n_paths = log_prices.shape
    if work is None:
        work = (
            np.empty((n_steps, n_paths)),
            np.empty((n_steps, n_paths), dtype=bool),
            np.empty((n_paths, n_steps), dtype=bool),
        )
    running, mask, by_path = work
    np.copyto(running, log_prices)
    if down is not None:
        running[down] = np.inf
    np.minimum(running[0], log_p0, out=running[0])
    for t in range(1, n_steps):  # running minimum over time, all paths at once
        np.minimum(running[t - 1], running[t], out=running[t])
    np.less(running[0], log_p0, out=mask[0])
    np.less(running[1:], running[:-1], out=mask[1:])
    # The mask back to path-major (in cache-sized blocks) to list the new minima in path order.
    for i in range(0, n_paths, TRANSPOSE_BLOCK):
        by_path[i : i + TRANSPOSE_BLOCK] = mask[:, i : i + TRANSPOSE_BLOCK].T
    flat = np.flatnonzero(by_path)
    rows, cols = np.divmod(flat, n_steps)
    return NewMinima(rows, cols, np.take(running.reshape(-1), cols * n_paths + rows))


@dataclass(frozen=True)
class Triggers:
    path: np.ndarray
    step: np.ndarray
    """Step of the trigger (0 = already liquidatable at the start)."""
    k_before: np.ndarray
    k_after: np.ndarray


def triggers(book: Book, minima: NewMinima | None, log_p0: float, n_paths: int) -> Triggers:
    """Bucket ranges triggered per path and step; `minima` None means the price never moves."""
    k0 = int(np.searchsorted(book.neg_log_liq, -log_p0, side="left"))
    parts_p, parts_s, parts_b, parts_a = [], [], [], []
    if k0 > 0:
        parts_p.append(np.arange(n_paths))
        parts_s.append(np.zeros(n_paths, dtype=np.int64))
        parts_b.append(np.zeros(n_paths, dtype=np.int64))
        parts_a.append(np.full(n_paths, k0, dtype=np.int64))
    if minima is not None and len(minima.rows):
        k = searchsorted_left(book.neg_log_liq, -minima.values)
        before = np.empty_like(k)
        before[1:] = k[:-1]
        first = np.ones(len(k), dtype=bool)
        first[1:] = minima.rows[1:] != minima.rows[:-1]
        before[first] = k0
        sel = np.flatnonzero(k > before)
        parts_p.append(np.take(minima.rows, sel))
        parts_s.append(np.take(minima.cols, sel) + 1)
        parts_b.append(np.take(before, sel))
        parts_a.append(np.take(k, sel))
    if not parts_p:
        z = np.zeros(0, dtype=np.int64)
        return Triggers(z, z, z, z)
    return Triggers(*(np.concatenate(x).astype(np.int64, copy=False) for x in (parts_p, parts_s, parts_b, parts_a)))


def minima_path(
    log_prices: np.ndarray,
    p: int,
    down: np.ndarray,
    has_down: bool,
    log_p0: float,
    rows: np.ndarray,
    cols: np.ndarray,
    values: np.ndarray,
    count: int,
) -> int:
    """Path p of (paths, steps) log prices: the oracle's running minimum (a down cell counts as
    +inf, min with log p0 on the first step) and every step where it falls, written from `count`
    on; returns the new count (compiled: a part of `world._phase_a_kernel`; `new_minima_tm` gives the same entries)."""
    n_steps = log_prices.shape[1]
    prev = log_p0
    for t in range(n_steps):
        v = log_prices[p, t]
        if has_down and down[p, t]:
            v = np.inf
        r = v if v < prev else prev
        if r < prev:
            rows[count] = p
            cols[count] = t
            values[count] = r
            count += 1
        prev = r
    return count


def triggers_path(
    rows: np.ndarray,
    cols: np.ndarray,
    values: np.ndarray,
    start: int,
    end: int,
    neg_log_liq: np.ndarray,
    k0: int,
    out: np.ndarray,
    count: int,
) -> int:
    """One path's new minima (entries start..end, in step order): the buckets each reaches
    (`searchsorted` left of −value: the count of buckets whose −log L is below it); a range is
    triggered when it reaches further than the path's previous minimum (or k0), written to `out`
    (path, step + 1, k before, k after) from `count` on; returns the new count. The keys rise along
    a path, so after the first look-up (a binary search) the answer is found by walking on from the
    previous one (compiled: a part of `world._phase_a_kernel`; `triggers` gives the same ranges)."""
    n_buckets = len(neg_log_liq)
    before = k0
    k = k0
    for i in range(start, end):
        key = -values[i]
        if i == start:
            k = np.searchsorted(neg_log_liq, key)
        else:
            while k < n_buckets and neg_log_liq[k] < key:
                k += 1
        if k > before:
            out[0, count] = rows[i]
            out[1, count] = cols[i] + 1
            out[2, count] = before
            out[3, count] = k
            count += 1
        before = k
    return count


@dataclass(frozen=True)
class Settlement:
    debt: np.ndarray
    """Debt liquidated (absorbed by the stability pool or repaid by the sale, or bad)."""
    absorbed: np.ndarray
    """Debt absorbed by the stability pool."""
    collateral_to_pool: np.ndarray
    """Collateral tokens the stability pool receives."""
    bad_debt: np.ndarray
    fee: np.ndarray
    """Liquidation fee to the fee layer, loss-asset units."""
    impact: np.ndarray


def pool_share(debt: np.ndarray, pool_deposits: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(debt the stability pool absorbs, that share of the range) — min(debt, deposits), pro rata."""
    if pool_deposits is None:
        return np.zeros_like(debt), np.zeros_like(debt)
    absorbed = np.minimum(debt, pool_deposits)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(debt > 0, absorbed / debt, 0.0)
    return absorbed, frac


def settle(
    book: Book, k_before: np.ndarray, k_after: np.ndarray, price: np.ndarray, pool_deposits: np.ndarray | None
) -> Settlement:
    """Settle bucket ranges at `price` (collateral, quote units); the pool absorbs first if given."""
    if book.seize_all:
        if jit_enabled():
            return settle_seize_all_compiled(book, k_before, k_after, price, pool_deposits)
        return _settle_seize_all(book, k_before, k_after, price, pool_deposits)
    if jit_enabled():
        return settle_compiled(book, k_before, k_after, price, pool_deposits)
    cd, cc = book.cum_debt, book.cum_coll
    cd_before, cd_after, cc_before = cd[k_before], cd[k_after], cc[k_before]
    debt = cd_after - cd_before
    coll = cc[k_after] - cc_before
    absorbed, frac = pool_share(debt, pool_deposits)
    sold = 1.0 - frac
    pd, bonus = book.debt_price, book.bonus
    q_whole = price / (pd * (1.0 + bonus))
    m = searchsorted_left(book.neg_ratio, -q_whole)
    m = np.clip(m, k_before, k_after)
    cd_m = cd[m]
    debt_under = cd_m - cd_before
    coll_under = cc[m] - cc_before
    debt_above = cd_after - cd_m
    value_sold = sold * (price * coll_under + (1.0 + bonus) * pd * debt_above)
    if book.depth_value > 0:
        impact = np.minimum(book.max_impact, book.impact_k * value_sold / book.depth_value)
    else:
        impact = np.zeros_like(value_sold)
    q = price * (1.0 - impact) / (pd * (1.0 + bonus))
    bad = sold * np.maximum(0.0, debt_under - q * coll_under)
    proceeds = value_sold * (1.0 - impact) / pd
    fee = book.fee * proceeds * bonus / (1.0 + bonus)
    return Settlement(debt, absorbed, frac * coll, bad, fee, impact)


def _settle_seize_all(
    book: Book, k_before: np.ndarray, k_after: np.ndarray, price: np.ndarray, pool_deposits: np.ndarray | None
) -> Settlement:
    """Liquity v1 Normal Mode (the engine's `liquidate` on a cdp behind a stability pool): the
    keeper takes `gas_collateral` of the collateral, the pool offsets min(debt, deposits) and
    takes that share of the rest, and all the collateral left is sold. A position whose sale
    (after impact, less the keeper's bonus) does not cover its debt leaves D − P/(1+b) of bad
    debt; one that does pays the keeper b·D and the fee layer the excess P − (1+b)·D. Impact is
    on the value of the whole range sold, so unlike the default rule it does not depend on which
    positions are under water."""
    cd, cc = book.cum_debt, book.cum_coll
    cd_before, cc_before = cd[k_before], cc[k_before]
    debt = cd[k_after] - cd_before
    keep = 1.0 - book.gas_collateral
    coll = (cc[k_after] - cc_before) * keep
    absorbed, frac = pool_share(debt, pool_deposits)
    sold = 1.0 - frac
    pd, bonus = book.debt_price, book.bonus
    value_sold = sold * price * coll
    if book.depth_value > 0:
        impact = np.minimum(book.max_impact, book.impact_k * value_sold / book.depth_value)
    else:
        impact = np.zeros_like(value_sold)
    q = keep * price * (1.0 - impact) / (pd * (1.0 + bonus))  # debt repaid per collateral token (before gas)
    m = np.clip(searchsorted_left(book.neg_ratio, -q), k_before, k_after)
    debt_under, coll_under = cd[m] - cd_before, (cc[m] - cc_before) * keep
    debt_above, coll_above = cd[k_after] - cd[m], (cc[k_after] - cc[m]) * keep
    net = price * (1.0 - impact) / pd  # proceeds per token sold, loss-asset units
    bad = sold * np.maximum(0.0, debt_under - coll_under * net / (1.0 + bonus))
    keeper_cut = sold * (coll_under * net + (1.0 + bonus) * debt_above) * bonus / (1.0 + bonus)
    excess = sold * np.maximum(0.0, coll_above * net - (1.0 + bonus) * debt_above)
    fee = book.fee * keeper_cut + excess
    return Settlement(debt, absorbed, frac * coll, bad, fee, impact)


def settle_compiled(
    book: Book, k_before: np.ndarray, k_after: np.ndarray, price: np.ndarray, pool_deposits: np.ndarray | None
) -> Settlement:
    """`settle` by a kernel, event by event: the same float operations in the same order."""
    return _run_settle_kernel(_settle_kernel, (), book, k_before, k_after, price, pool_deposits)


def _run_settle_kernel(
    run: Any,
    extra: tuple[float, ...],
    book: Book,
    k_before: np.ndarray,
    k_after: np.ndarray,
    price: np.ndarray,
    pool_deposits: np.ndarray | None,
) -> Settlement:
    """Call a settlement kernel with the book's tables and the events as contiguous arrays, the
    rule's `extra` parameters after the bonus; the kernel writes the six Settlement rows."""
    out = np.empty((6, len(k_before)))
    has_pool = pool_deposits is not None
    run(
        np.ascontiguousarray(book.cum_debt, dtype=np.float64),
        np.ascontiguousarray(book.cum_coll, dtype=np.float64),
        np.ascontiguousarray(book.neg_ratio, dtype=np.float64),
        np.ascontiguousarray(k_before, dtype=np.int64),
        np.ascontiguousarray(k_after, dtype=np.int64),
        np.ascontiguousarray(price, dtype=np.float64),
        np.ascontiguousarray(pool_deposits, dtype=np.float64) if has_pool else np.zeros(0),
        has_pool,
        float(book.debt_price),
        float(book.bonus),
        *extra,
        float(book.depth_value),
        float(book.impact_k),
        float(book.max_impact),
        float(book.fee),
        out,
    )
    return Settlement(out[0], out[1], out[2], out[3], out[4], out[5])


@kernel
def _settle_kernel(
    cd: np.ndarray,
    cc: np.ndarray,
    neg_ratio: np.ndarray,
    k_before: np.ndarray,
    k_after: np.ndarray,
    price: np.ndarray,
    deposits: np.ndarray,
    has_pool: bool,
    pd: float,
    bonus: float,
    depth_value: float,
    impact_k: float,
    max_impact: float,
    fee_share: float,
    out: np.ndarray,
) -> None:
    """Rows of `out`: debt, absorbed, collateral to the pool, bad debt, fee, impact (see `settle`)."""
    one_plus_bonus = 1.0 + bonus
    pd_bonus = pd * one_plus_bonus  # `pd * (1.0 + bonus)` in settle
    bonus_pd = one_plus_bonus * pd  # `(1.0 + bonus) * pd` in settle
    for i in range(len(k_before)):
        kb = k_before[i]
        ka = k_after[i]
        p = price[i]
        cd_before = cd[kb]
        cd_after = cd[ka]
        cc_before = cc[kb]
        debt = cd_after - cd_before
        coll = cc[ka] - cc_before
        absorbed = 0.0
        frac = 0.0
        if has_pool:
            dep = deposits[i]
            absorbed = debt if debt < dep else dep  # np.minimum(debt, dep)
            frac = absorbed / debt if debt > 0 else 0.0
        sold = 1.0 - frac
        q_whole = p / pd_bonus
        # clip(searchsorted(neg_ratio, key), kb, ka) is kb + the count of neg_ratio[kb:ka] below the key
        # (the table is sorted); ranges are mostly a few buckets, so walk them, and bisect long ones
        key = -q_whole
        if ka - kb > 16:
            m = kb + np.searchsorted(neg_ratio[kb:ka], key)
        else:
            m = kb
            while m < ka and neg_ratio[m] < key:
                m += 1
        cd_m = cd[m]
        debt_under = cd_m - cd_before
        coll_under = cc[m] - cc_before
        debt_above = cd_after - cd_m
        value_sold = sold * (p * coll_under + bonus_pd * debt_above)
        impact = 0.0
        if depth_value > 0:
            x = impact_k * value_sold / depth_value
            impact = max_impact if max_impact <= x else x  # np.minimum(max_impact, x)
        q = p * (1.0 - impact) / pd_bonus
        short = debt_under - q * coll_under
        bad = sold * (short if short > 0.0 else 0.0)
        proceeds = value_sold * (1.0 - impact) / pd
        out[0, i] = debt
        out[1, i] = absorbed
        out[2, i] = frac * coll
        out[3, i] = bad
        out[4, i] = fee_share * proceeds * bonus / one_plus_bonus
        out[5, i] = impact


def settle_seize_all_compiled(
    book: Book, k_before: np.ndarray, k_after: np.ndarray, price: np.ndarray, pool_deposits: np.ndarray | None
) -> Settlement:
    """`_settle_seize_all` by a kernel, event by event: the same float operations in the same order
    (the compiled phase B settles a Liquity book's events with it; the NumPy path keeps the passes)."""
    extra = (float(book.gas_collateral),)
    return _run_settle_kernel(_settle_seize_all_kernel, extra, book, k_before, k_after, price, pool_deposits)


@kernel
def _settle_seize_all_kernel(
    cd: np.ndarray,
    cc: np.ndarray,
    neg_ratio: np.ndarray,
    k_before: np.ndarray,
    k_after: np.ndarray,
    price: np.ndarray,
    deposits: np.ndarray,
    has_pool: bool,
    pd: float,
    bonus: float,
    gas_collateral: float,
    depth_value: float,
    impact_k: float,
    max_impact: float,
    fee_share: float,
    out: np.ndarray,
) -> None:
    """Rows of `out`: debt, absorbed, collateral to the pool, bad debt, fee, impact (see
    `_settle_seize_all`; each line below names the NumPy expression it repeats)."""
    keep = 1.0 - gas_collateral
    one_plus_bonus = 1.0 + bonus
    pd_bonus = pd * one_plus_bonus  # `pd * (1.0 + bonus)`
    for i in range(len(k_before)):
        kb = k_before[i]
        ka = k_after[i]
        p = price[i]
        cd_before = cd[kb]
        cc_before = cc[kb]
        cd_after = cd[ka]
        cc_after = cc[ka]
        debt = cd_after - cd_before
        coll = (cc_after - cc_before) * keep
        absorbed = 0.0
        frac = 0.0
        if has_pool:
            dep = deposits[i]
            absorbed = debt if debt < dep else dep  # np.minimum(debt, dep)
            frac = absorbed / debt if debt > 0 else 0.0
        sold = 1.0 - frac
        value_sold = sold * p * coll
        impact = 0.0
        if depth_value > 0:
            x = impact_k * value_sold / depth_value
            impact = max_impact if max_impact <= x else x  # np.minimum(max_impact, x)
        q = keep * p * (1.0 - impact) / pd_bonus
        # clip(searchsorted(neg_ratio, -q), kb, ka) is kb + the count of neg_ratio[kb:ka] below the key
        # (the table is sorted; a NaN key sorts after everything); walk short ranges, bisect long ones
        key = -q
        if key != key:
            m = ka
        elif ka - kb > 16:
            m = kb + np.searchsorted(neg_ratio[kb:ka], key)
        else:
            m = kb
            while m < ka and neg_ratio[m] < key:
                m += 1
        cd_m = cd[m]
        cc_m = cc[m]
        debt_under = cd_m - cd_before
        coll_under = (cc_m - cc_before) * keep
        debt_above = cd_after - cd_m
        coll_above = (cc_after - cc_m) * keep
        net = p * (1.0 - impact) / pd
        short = debt_under - coll_under * net / one_plus_bonus
        bad = sold * (0.0 if short <= 0.0 else short)  # np.maximum(0.0, short) (NaN stays NaN)
        keeper_cut = sold * (coll_under * net + one_plus_bonus * debt_above) * bonus / one_plus_bonus
        over = coll_above * net - one_plus_bonus * debt_above
        excess = sold * (0.0 if over <= 0.0 else over)
        out[0, i] = debt
        out[1, i] = absorbed
        out[2, i] = frac * coll
        out[3, i] = bad
        out[4, i] = fee_share * keeper_cut + excess
        out[5, i] = impact


@dataclass(frozen=True)
class PathLiquidations:
    """Every liquidation of one book found in phase B (`liquidate_paths`), one bucket each,
    ordered by path, then step, then the order they happened in."""

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
    surplus: np.ndarray
    """Collateral a capped Recovery Mode liquidation left the borrower to claim."""
    offered: np.ndarray
    """Debt offered to the stability pool (0 when Recovery Mode skips the pool, ICR <= 100%)."""
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


_PER_EVENT = 14
"""The first fields of `PathLiquidations`, one value per liquidation, in `_settle_bucket`'s order."""


def liquidate_paths(
    book: Book,
    log_prices: np.ndarray,
    down: np.ndarray | None,
    log_p0: float,
    deposits: np.ndarray,
    delay_steps: int,
) -> PathLiquidations:
    """Every liquidation of a Liquity book (`Book.found_in_phase_b`) on every path, all paths at
    once, step by step (docs/risk-lab.md, "Redistribution" and "Recovery Mode").

    `log_prices`: (steps, paths) market log price of the collateral after each step; `down`:
    (steps, paths) where the oracle is down (it shows its last price), or None; `deposits`:
    (paths,) the stability pool's deposits at the start (zeros: no pool).

    The troves liquidated by any time are a prefix of the book (sorted by debt per collateral
    token): redistribution keeps their order (`redistribution.vector.trove_ratio`), and Recovery
    Mode takes troves in that order too (Liquity's `liquidateTroves` stops at the first it cannot
    liquidate). At each step the settlements due are made first, one bucket at a time, each
    redistributing before the next is looked at; then the next bucket of each path is triggered
    if the oracle shows it liquidatable (below its moved liquidation price; in Recovery Mode also
    ICR < MCR, or ICR < TCR with the pool able to offset its whole debt), one at a time, until
    none is. A trigger settles `delay_steps` later (capped at the horizon) at that step's market
    price, with the mode and plan of that moment (the engine's one-trove `liquidate`)."""
    n_steps, n = log_prices.shape
    nb = book.n_buckets
    a = np.zeros(n)
    b = np.zeros(n)
    dep = np.array(deposits, dtype=float, copy=True)
    k_set = np.zeros(n, dtype=np.int64)
    k_trig = np.zeros(n, dtype=np.int64)
    # Step each committed bucket settles at (with no delay, the step it was triggered: not stored).
    due = np.zeros((n, max(nb, 1)) if delay_steps > 0 else (0, 0), dtype=np.int32)
    parts: list[tuple[np.ndarray, ...]] = []
    price = np.full(n, float(np.exp(log_p0)))
    oracle = price.copy()
    for t in range(n_steps + 1):
        if t > 0:
            price = np.exp(log_prices[t - 1])
            oracle = price.copy() if down is None else np.where(down[t - 1], oracle, price)
        # Every path is looked at once per step; within the step only those whose state just
        # changed (a settlement) or that were just triggered are looked at again.
        settle = _due(np.flatnonzero(k_set < k_trig), k_set, k_trig, due, t)
        check = np.flatnonzero(k_trig < nb)
        check_all = True  # `check` is still every path with a bucket left
        while True:
            if len(settle):  # settle the next committed bucket of each of these paths
                parts.append(_settle_bucket(book, settle, k_set[settle], t, price[settle], a, b, dep, k_set))
                k_set[settle] += 1
                changed = settle
                settle = _due(changed, k_set, k_trig, due, t)
                if not check_all:
                    check = np.union1d(check, changed[k_trig[changed] < nb])
                continue
            if len(check):
                check = check[_liquidatable(book, check, k_trig[check], oracle[check], a, b, dep, k_set)]
            if not len(check):
                break
            if delay_steps > 0:
                due[check, k_trig[check]] = min(t + delay_steps, n_steps)
            k_trig[check] += 1
            settle = _due(check, k_set, k_trig, due, t)
            check = check[k_trig[check] < nb]
            check_all = False
    names = [f.name for f in dataclasses.fields(PathLiquidations)][:_PER_EVENT]
    if parts:
        cols = [np.concatenate([part[i] for part in parts]) for i in range(_PER_EVENT)]
        order = np.argsort(cols[0], kind="stable")  # path order; within a path, the order they happened
        cols = [col[order] for col in cols]
    else:
        cols = [np.zeros(0, dtype=np.int64)] * 3 + [np.zeros(0)] * (_PER_EVENT - 3)
    return PathLiquidations(
        **dict(zip(names, cols, strict=True)), debt_per_coll=a, coll_per_coll=b, settled=k_set, deposits=dep
    )


def _due(rows: np.ndarray, k_set: np.ndarray, k_trig: np.ndarray, due: np.ndarray, t: int) -> np.ndarray:
    """The paths among `rows` whose next committed bucket settles at step t (with no delay,
    every committed bucket settles at once)."""
    rows = rows[k_set[rows] < k_trig[rows]]
    if len(due) and len(rows):
        rows = rows[due[rows, k_set[rows]] <= t]
    return rows


def _entire(book: Book, k: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(entire debt, entire collateral) of bucket k[i] on the paths of a, b (already taken by rows)."""
    c0 = book.cum_coll[k + 1] - book.cum_coll[k]
    return (book.cum_debt[k + 1] - book.cum_debt[k]) + a * c0, (1.0 + b) * c0


def _system(
    book: Book, rows: np.ndarray, price: np.ndarray, a: np.ndarray, b: np.ndarray, k_set: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(in Recovery Mode, TCR) of the troves not yet liquidated on paths `rows`, at `price`:
    Liquity's `_checkRecoveryMode`, TCR < CCR (a market without debt is not in it)."""
    rest_c = book.cum_coll[-1] - book.cum_coll[k_set[rows]]
    rest_d = (book.cum_debt[-1] - book.cum_debt[k_set[rows]]) + a[rows] * rest_c
    coll_value = (1.0 + b[rows]) * rest_c * price
    debt_value = rest_d * book.debt_price
    with np.errstate(invalid="ignore", divide="ignore"):
        tcr = np.where(debt_value > 0, coll_value / np.where(debt_value > 0, debt_value, 1.0), np.inf)
    return (debt_value > 0) & (coll_value < debt_value * book.recovery_ccr), tcr


def _liquidatable(
    book: Book,
    rows: np.ndarray,
    k: np.ndarray,
    oracle: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    dep: np.ndarray,
    k_set: np.ndarray,
) -> np.ndarray:
    """Whether bucket k[i] of path rows[i] may be liquidated at the oracle price."""
    rho = trove_ratio(-book.neg_ratio[k], a[rows], b[rows])
    out: np.ndarray = oracle < rho * book.debt_price / book.lt  # health below 1 (Normal Mode)
    if book.recovery_ccr > 0:
        recovery, tcr = _system(book, rows, oracle, a, b, k_set)
        with np.errstate(invalid="ignore", divide="ignore"):
            icr = oracle / (rho * book.debt_price)
        debt, _ = _entire(book, k, a[rows], b[rows])
        out |= recovery & ((icr < book.min_collateral_ratio) | ((icr < tcr) & (debt <= dep[rows])))
    return out


def _settle_bucket(
    book: Book,
    rows: np.ndarray,
    k: np.ndarray,
    t: int,
    price: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    dep: np.ndarray,
    k_set: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Liquidate bucket k[i] on path rows[i] at `price`: the engine's `liquidate` of a Liquity
    trove (`domain/markets/liquidation.py`). In Normal Mode the keeper's collateral, the pool's
    offset, then redistribution to the buckets after it (updating a, b in place) or, with no
    redistribution layer or no bucket after it, the sale (`_settle_seize_all` on one bucket). In
    Recovery Mode a trove with ICR <= 100% skips the pool, and one with MCR <= ICR < TCR whose
    whole debt the pool can take is closed against the pool at MCR × its debt in collateral, the
    rest left to its borrower (`_getCappedOffsetVals`)."""
    debt, held = _entire(book, k, a[rows], b[rows])
    skip_pool = np.zeros(len(rows), dtype=bool)
    capped = np.zeros(len(rows), dtype=bool)
    if book.recovery_ccr > 0:
        recovery, tcr = _system(book, rows, price, a, b, k_set)
        coll_value, debt_value = held * price, debt * book.debt_price
        skip_pool = recovery & (coll_value <= debt_value)
        capped = (
            recovery
            & (coll_value >= debt_value * book.min_collateral_ratio)
            & (coll_value < debt_value * tcr)
            & (debt <= dep[rows])
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        to_offset = np.where(capped, np.minimum(held, debt * book.debt_price * book.min_collateral_ratio / price), held)
    surplus = held - to_offset
    coll = to_offset * (1.0 - book.gas_collateral)  # after the keeper's collateral gas compensation
    absorbed = np.where(skip_pool, 0.0, np.minimum(debt, dep[rows]))
    dep[rows] -= absorbed
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(debt > 0, absorbed / debt, 0.0)
    to_pool = np.where(capped, coll, frac * coll)
    rest_debt = debt - absorbed
    rest_coll = coll - to_pool
    moved = (rest_debt > 0) & (k + 1 < book.n_buckets) & (book.redistribution_layer >= 0)
    r_debt = np.where(moved, rest_debt, 0.0)
    r_coll = np.where(moved, rest_coll, 0.0)
    if moved.any():
        m = np.flatnonzero(moved)
        redistribute(a, b, rows[m], r_debt[m], r_coll[m], book.cum_coll[-1] - book.cum_coll[k[m] + 1])
    # Not redistributed: the rest is sold as `_settle_seize_all` sells one bucket.
    sold = np.where((rest_debt > 0) & ~moved, 1.0 - frac, 0.0)
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
    offered = np.where(skip_pool, 0.0, debt)
    out = (rows, step, k.copy(), debt, absorbed, to_pool, bad, fee, impact, r_debt, r_coll, price.copy())
    return (*out, surplus, offered)


def phase_b_liquidations(model: SimModel, world: World) -> tuple[World, dict[int, tuple[int, PathLiquidations]]]:
    """Phase B's own liquidations of the books whose triggers depend on the path
    (`Book.found_in_phase_b`: a market with a `redistribution` layer, or with Recovery Mode),
    which phase A left out, found by `liquidate_paths` against the stability pool's deposits and
    added to the world as one-bucket events. Returns the world with them and, per such book,
    (index of its first event, the settlements)."""
    from .world import KIND_LIQUIDATION

    found: dict[int, tuple[int, PathLiquidations]] = {}
    books = [b for b, book in enumerate(model.books) if book.found_in_phase_b]
    if not books:
        return world, found
    n, T = world.n_paths, model.n_steps
    parts: list[tuple[np.ndarray, ...]] = []
    offset = len(world.ev_path)
    for b in books:
        book = model.books[b]
        sp = model.markets[book.market_index].stability_pool
        deposits = np.full(n, model.layers[sp].size_of() if sp >= 0 else 0.0)
        log_p0 = float(np.log(model.prices0[book.asset_index]))
        if book.price_row >= 0 and world.held_log_prices is not None:
            log_prices = world.held_log_prices[book.price_row]
        else:
            log_prices = np.full((T, n), log_p0)
        res = liquidate_paths(book, log_prices, world.held_down, log_p0, deposits, model.keeper_delay_steps)
        found[b] = (offset, res)
        offset += len(res.path)
        m = len(res.path)
        prices = np.empty((m, len(model.assets)))
        for a in range(len(model.assets)):
            r = int(model.price_rows[a])
            if r < 0 or world.held_log_prices is None:
                prices[:, a] = model.prices0[a]
            else:
                at = np.maximum(res.step - 1, 0)
                lp = world.held_log_prices[r][at, res.path]
                prices[:, a] = np.where(res.step > 0, np.exp(lp), model.prices0[a])
        parts.append(
            (res.path, res.step, np.full(m, KIND_LIQUIDATION), np.full(m, b), res.bucket, res.bucket + 1, prices)
        )
    fields = ("ev_path", "ev_step", "ev_kind", "ev_ref", "ev_k_before", "ev_k_after", "ev_prices")
    cat = {f: np.concatenate([getattr(world, f)] + [p[i] for p in parts]) for i, f in enumerate(fields)}
    cat["ev_amount"] = np.concatenate([world.ev_amount, np.zeros(offset - len(world.ev_path))])
    extended: World = dataclasses.replace(world, **cat)  # type: ignore[arg-type]
    return extended, found


def with_phase_b_sample(model: SimModel, world: World, keep: int) -> World:
    """The world's first `keep` paths with their phase-B liquidations added (the report marks the
    liquidations of its sample paths). Paths are independent, so these are the very liquidations
    phase B found on them; the world itself when no book is liquidated in phase B."""
    if not any(book.found_in_phase_b for book in model.books):
        return world
    k = min(keep, world.n_paths)
    sel = world.ev_path < k
    events = ("ev_path", "ev_step", "ev_kind", "ev_ref", "ev_k_before", "ev_k_after", "ev_amount", "ev_prices")
    held, down = world.held_log_prices, world.held_down
    first: World = dataclasses.replace(
        world,
        n_paths=k,
        **{f: getattr(world, f)[sel] for f in events},
        run_start=world.run_start[:k],
        defaulted=world.defaulted[:k],
        end_prices=world.end_prices[:k],
        held_log_prices=None if held is None else held[:, :, :k],
        held_down=None if down is None else down[:, :k],
    )
    return phase_b_liquidations(model, first)[0]
