"""Phase B compiled path by path (issue 15): the twin of `waterfall.run_backstop`, same numbers bit for bit.

The NumPy phase B runs the r-th event of every path in round r, ~120 rounds of small whole-array
operations per layer. Here one compiled kernel walks each path's events in order (accrue,
withdrawals, fees, then the loss down its market's waterfall), calling each layer kind's per-path
scalar rule, defined beside its NumPy rule in `domain/layers/<kind>/vector.py` (one kind, one
place); the kernel dispatches on a kind code with a static `if` chain (Numba cannot call through
Python objects) and is compiled from one generated module (`jit.generated_kernel`), so a change to
any kind's rule makes a new cache entry.

Why the numbers are the same: every rule is elementwise per path, so a path's state sees the same
float operations in the same order whether the paths advance together (rounds) or one at a time;
the per-path sums that the NumPy path makes with `bincount` in path order (fees, bad debt, what a
stability pool absorbed) are made here in the same event order, starting from 0.0. What does not
depend on the layers' state stays in NumPy and is shared with the NumPy path: the order of events
(`waterfall._event_order`'s stable sort, its key built by `_event_key_kernel`), the withdrawal
schedule and every liquidation's settlement (`liquidation.settle`, called on the same blocks with
the same deposits, which a small kernel follows path by path first; a Liquity book's sale by its
compiled twin).

Which worlds run here is decided when the model is planned (`plan`): every layer's exact type must
be one this module knows and accept its scalar rule (`scalar_params` not None: e.g. a staking pool
with a deficit offset, a guarantor with a limit bank, a mint with debt auctions, a cover pool or a
redistribution layer say no), and the outcome and event kinds must be the ones it fills.
Otherwise `run_backstop` runs the NumPy phase B, so a new kind or option works there first.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ..domain.layers.base_vector import EPS, pay_in_kind_one
from ..domain.layers.guarantor import vector as guarantor
from ..domain.layers.guarantor.vector import guarantor_absorb, guarantor_accrue, guarantor_begin
from ..domain.layers.insurance_fund import vector as insurance_fund
from ..domain.layers.insurance_fund.vector import balance_absorb, balance_credit
from ..domain.layers.mint import vector as mint
from ..domain.layers.mint.vector import mint_absorb
from ..domain.layers.share_vault_vector import vault_absorb, vault_accrue, vault_apr, vault_credit, vault_withdraw
from ..domain.layers.socialize import vector as socialize
from ..domain.layers.socialize.vector import socialize_absorb
from ..domain.layers.stability_pool import vector as stability_pool
from ..domain.layers.staking_pool import vector as staking_pool
from ..domain.layers.treasury import vector as treasury
from ..domain.money import SECONDS_PER_YEAR
from .cover import policy_columns
from .jit import generated_kernel, kernel
from .liquidation import Settlement, settle
from .model import SimModel
from .waterfall import SETTLE_BLOCK, Outcome, _withdrawal_events
from .world import KIND_END, KIND_INCIDENT, KIND_LIQUIDATION, KIND_WITHDRAW, World

POOL, BALANCE, VAULT, GUARANTOR, MINT, SOCIALIZE = range(1, 7)
"""Kind codes of the driver's dispatch."""

CODES: dict[type, int] = {
    stability_pool.Vector: POOL,
    insurance_fund.Vector: BALANCE,
    treasury.Vector: BALANCE,
    staking_pool.Vector: VAULT,
    guarantor.Vector: GUARANTOR,
    mint.Vector: MINT,
    socialize.Vector: SOCIALIZE,
}
"""The exact layer types with a scalar rule (a subclass, e.g. the cover pool's vault, is not one)."""

OUTCOME_FIELDS = (
    "loss",
    "bad_debt",
    "incident_loss",
    "liquidated_debt",
    "liquidations",
    "fees",
    "alloc",
    "exhausted",
    "absorbed",
    "pool_loss",
    "staker_apr",
    "premiums",
    "minted",
    "escaped",
    "market_loss",
    "market_bad_debt",
    "market_incident_loss",
    "claims",
    "claims_short",
)
"""What the driver fills (the per-market and per-policy columns stay empty: a model with several
debt assets or with cover policies runs the NumPy phase B): a model whose `Outcome` has more runs the NumPy phase B."""

WORLD_FIELDS = (
    "n_paths",
    "ev_path",
    "ev_step",
    "ev_kind",
    "ev_ref",
    "ev_k_before",
    "ev_k_after",
    "ev_amount",
    "ev_prices",
    "run_start",
    "defaulted",
    "end_prices",
    "sample_prices",
    "held_log_prices",
    "held_down",
)
SETTLEMENT_FIELDS = ("debt", "absorbed", "collateral_to_pool", "bad_debt", "fee", "impact")
"""What the driver reads of a world and of a settlement: phase A or a settlement rule that gives
phase B more to act on (a new kind of event, a redistribution) runs the NumPy phase B until the
driver reads it too."""


@dataclass(frozen=True)
class Plan:
    """A model laid out for the driver: per layer its kind code, asset, parameter and state offsets."""

    code: np.ndarray
    asset: np.ndarray
    poff: np.ndarray
    soff: np.ndarray
    terminal: np.ndarray
    payer_slot: np.ndarray
    """A guarantor's premium payer: index in the path's state of the payer's balance (-1: none)."""
    params: np.ndarray
    state0: np.ndarray
    accruers: np.ndarray
    credits: np.ndarray
    dep0: np.ndarray
    """Each layer's deposits at the start (stability pools; 0 otherwise)."""
    wf: np.ndarray
    wf_len: np.ndarray
    m_sp: np.ndarray
    m_fee: np.ndarray
    b_market: np.ndarray
    b_asset: np.ndarray
    b_sp: np.ndarray
    b_debt_price: np.ndarray
    b_off: np.ndarray
    """(books + 1,) where each book's `cum_debt` starts in `cum_debt` (all books', one after the other)."""
    cum_debt: np.ndarray
    i_market: np.ndarray


def _i64(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.int64).reshape(-1)


def plan(model: SimModel) -> Plan | None:
    """The model laid out for the compiled driver, or None when it must run the NumPy phase B."""
    if tuple(f.name for f in fields(Outcome)) != OUTCOME_FIELDS:
        return None
    if tuple(f.name for f in fields(World)) != WORLD_FIELDS:
        return None
    if tuple(f.name for f in fields(Settlement)) != SETTLEMENT_FIELDS:
        return None
    if (KIND_WITHDRAW, KIND_LIQUIDATION, KIND_INCIDENT, KIND_END) != (0, 1, 2, 3):
        return None
    if model.several_debt_assets or policy_columns(model):
        return None  # per-market figures in several debt assets, cover claims: the NumPy rounds
    if any(book.found_in_phase_b for book in model.books):
        return None  # Liquity books liquidated path by path against the pool (liquidation.phase_b_liquidations)
    la = model.loss_asset
    codes, params, states, poff, soff = [], [], [], [], []
    p_at = s_at = 0
    for layer in model.layers:
        code = CODES.get(type(layer))
        par = layer.scalar_params(model) if code is not None else None
        if code is None or par is None:
            return None
        st = layer.scalar_state(model)
        codes.append(code)
        poff.append(p_at)
        soff.append(s_at)
        params.append(np.asarray(par, dtype=float))
        states.append(np.asarray(st, dtype=float))
        p_at += len(par)
        s_at += len(st)
    payer_slot = [-1] * len(model.layers)
    accruers = [j for j, layer in enumerate(model.layers) if layer.accrues()]
    for j in accruers:
        if codes[j] == GUARANTOR:
            payer = getattr(model.layers[j], "payer", -1)
            if payer < 0 or codes[payer] != BALANCE:
                return None
            payer_slot[j] = soff[payer] + model.layers[j].asset
        elif codes[j] != VAULT:
            return None
    fee_layers = sorted({mk.fee_layer for mk in model.markets if mk.fee_layer >= 0})
    credits = [j for j in fee_layers if model.layers[j].credits_fees(la)]
    if any(codes[j] not in (BALANCE, VAULT) for j in credits):
        return None
    if any(layer.share_price and codes[j] != VAULT for j, layer in enumerate(model.layers)):
        return None  # withdrawals
    dep0 = np.zeros(len(model.layers))
    for j, layer in enumerate(model.layers):
        if codes[j] == POOL:
            dep0[j] = float(layer.start(1, np.zeros(1, dtype=bool)).dep[0])
    width = max((len(mk.waterfall) for mk in model.markets), default=0)
    wf = np.full((len(model.markets), max(width, 1)), -1, dtype=np.int64)
    for i, mk in enumerate(model.markets):
        wf[i, : len(mk.waterfall)] = mk.waterfall
    return Plan(
        code=_i64(codes),
        asset=_i64([layer.asset for layer in model.layers]),
        poff=_i64(poff),
        soff=_i64(soff),
        terminal=np.array([layer.terminal for layer in model.layers], dtype=bool),
        payer_slot=_i64(payer_slot),
        params=np.concatenate([np.zeros(0), *params]),
        state0=np.concatenate([np.zeros(0), *states]),
        accruers=_i64(accruers),
        credits=_i64(credits),
        dep0=dep0,
        wf=wf,
        wf_len=_i64([len(mk.waterfall) for mk in model.markets]),
        m_sp=_i64([mk.stability_pool for mk in model.markets]),
        m_fee=_i64([mk.fee_layer for mk in model.markets]),
        b_market=_i64([b.market_index for b in model.books]),
        b_asset=_i64([b.asset_index for b in model.books]),
        b_sp=_i64([model.markets[b.market_index].stability_pool for b in model.books]),
        b_debt_price=np.array([b.debt_price for b in model.books], dtype=float),
        b_off=np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(_i64([len(b.cum_debt) for b in model.books]))]),
        cum_debt=np.concatenate([np.zeros(0), *(np.asarray(b.cum_debt, dtype=float) for b in model.books)]),
        i_market=_i64([inc.market for inc in model.incidents]),
    )


@dataclass
class Prepared:
    """What phase B needs of a world before the layers run, given the model's run rule, withdrawal
    delays and stability-pool deposits (`key`): the events in path order and every liquidation's
    settlement. Sizing a layer other than a stability pool changes none of it, so `backstop size`
    prepares each world once and runs only the driver for each candidate size."""

    key: tuple[Any, ...]
    starts: np.ndarray
    """(paths + 1,) each path's first event in path order."""
    e_kind: np.ndarray
    e_step: np.ndarray
    e_ref: np.ndarray
    e_src: np.ndarray
    e_amount: np.ndarray
    w_res: np.ndarray
    ev_prices: np.ndarray
    ev_amount: np.ndarray
    defaulted: np.ndarray


def _key(model: SimModel, pl: Plan) -> tuple[Any, ...]:
    delays = tuple(
        (j, getattr(layer, "withdraw_delay_steps", 0)) for j, layer in enumerate(model.layers) if layer.share_price
    )
    return (pl.dep0.tobytes(), delays, id(model.books), model.run, model.n_steps)


def run(model: SimModel, world: World, pl: Plan, cache: dict[int, Any] | None = None) -> Outcome:
    """Phase B of one chunk with the compiled driver (the caller checked `jit.enabled()`). With a
    `cache` (a dict the caller keeps for the life of its worlds, e.g. sizing's), the world's
    preparation is kept there and reused while the model's `key` stays the same."""
    key = _key(model, pl)
    prep = None
    if cache is not None:
        hit = cache.get(id(world))
        if hit is not None and hit[0] is world and hit[1].key == key:
            prep = hit[1]
    if prep is None:
        prep = prepare(model, world, pl, key)
        if cache is not None:
            cache[id(world)] = (world, prep)
    return drive(model, world.n_paths, pl, prep)


def event_order(world: World, wp: np.ndarray, ws: np.ndarray, wr: np.ndarray, n_steps: int) -> np.ndarray:
    """`waterfall._event_order` of (the world's events, the withdrawals (wp, ws, wr), one end per
    path): its key built in one pass by `_event_key_kernel` (no temporaries), then the same stable
    sort, so the same order."""
    i64 = np.int64
    n_world, n_wd = len(world.ev_path), len(wp)
    sort_key = np.empty(n_world + n_wd + world.n_paths, dtype=i64)
    ev_path, ev_step, ev_kind, ev_ref, wd_path, wd_step, wd_ref = (
        np.ascontiguousarray(x, dtype=i64)
        for x in (world.ev_path, world.ev_step, world.ev_kind, world.ev_ref, wp, ws, wr)
    )
    _event_key_kernel(ev_path, ev_step, ev_kind, ev_ref, wd_path, wd_step, wd_ref, n_steps, sort_key)
    order: np.ndarray = np.argsort(sort_key, kind="stable")
    return order


def prepare(model: SimModel, world: World, pl: Plan, key: tuple[Any, ...]) -> Prepared:
    n, T = world.n_paths, model.n_steps
    wp, ws, wr, wa = _withdrawal_events(model, world)
    n_world = len(world.ev_path)
    i64 = np.int64
    ev_kind, ev_step, ev_ref = (
        np.ascontiguousarray(x, dtype=i64) for x in (world.ev_kind, world.ev_step, world.ev_ref)
    )
    order = event_order(world, wp, ws, wr, T)
    n_ev = len(order)
    e_kind, e_step, e_ref, e_src = (np.empty(n_ev, dtype=i64) for _ in range(4))
    e_amount = np.empty(n_ev)
    _decode_kernel(
        order.astype(i64, copy=False),
        ev_kind,
        ev_step,
        ev_ref,
        ws.astype(i64, copy=False),
        wr.astype(i64, copy=False),
        np.ascontiguousarray(wa, dtype=float),
        T,
        e_kind,
        e_step,
        e_ref,
        e_src,
        e_amount,
    )
    counts = np.bincount(world.ev_path, minlength=n) + np.bincount(wp, minlength=n) + 1
    starts = np.zeros(n + 1, dtype=i64)
    np.cumsum(counts, out=starts[1:])

    # per world event (rows): debt, absorbed, collateral to the pool, bad debt, fee, the pool's loss
    w_res = np.zeros((6, n_world))
    k_before = np.ascontiguousarray(world.ev_k_before, dtype=i64)
    k_after = np.ascontiguousarray(world.ev_k_after, dtype=i64)
    ev_prices = np.ascontiguousarray(world.ev_prices, dtype=float)
    ranges = np.zeros((len(model.books), 3), dtype=i64)
    _book_ranges_kernel(ev_kind, ev_ref, ranges)
    if ranges[:, 2].any():
        books_w = _book_events(ev_kind, ev_ref, ranges)
        dep_at = np.zeros(n_world)
        if (pl.b_sp >= 0).any():
            _deposits_kernel(
                starts, e_kind, e_ref, e_src, k_before, k_after, pl.b_off, pl.cum_debt, pl.b_sp, pl.dep0, dep_at
            )
        # every settlement by the rule itself (`liquidation.settle`, compiled where it has a kernel),
        # on the deposits just followed, in the blocks `waterfall._settle_all` uses
        for b, e_book in enumerate(books_w):
            book = model.books[b]
            for i in range(0, _count(e_book), SETTLE_BLOCK):
                e = _block(e_book, i)
                price = ev_prices[e, book.asset_index]
                res = settle(book, k_before[e], k_after[e], price, dep_at[e] if pl.b_sp[b] >= 0 else None)
                w_res[0, e] = res.debt
                w_res[1, e] = res.absorbed
                w_res[2, e] = res.collateral_to_pool
                w_res[3, e] = res.bad_debt
                w_res[4, e] = res.fee
                if pl.b_sp[b] >= 0:
                    w_res[5, e] = res.absorbed - res.collateral_to_pool * price / book.debt_price

    return Prepared(
        key,
        starts,
        e_kind,
        e_step,
        e_ref,
        e_src,
        e_amount,
        w_res,
        ev_prices,
        np.ascontiguousarray(world.ev_amount, dtype=float),
        np.ascontiguousarray(world.defaulted, dtype=bool),
    )


def drive(model: SimModel, n: int, pl: Plan, pr: Prepared) -> Outcome:
    """Run the driver on a prepared world of `n` paths."""
    nl = len(model.layers)
    out = Outcome.empty(n, nl, 0, 0)  # the driver runs no model with per-market or per-policy columns
    phase_b_kernel(
        pr.starts,
        pr.e_kind,
        pr.e_step,
        pr.e_ref,
        pr.e_src,
        pr.e_amount,
        pr.w_res,
        pr.ev_prices,
        pr.ev_amount,
        pl.b_market,
        pl.b_asset,
        pl.b_debt_price,
        pl.m_sp,
        pl.m_fee,
        pl.wf,
        pl.wf_len,
        pl.i_market,
        pl.code,
        pl.asset,
        pl.poff,
        pl.soff,
        pl.terminal,
        pl.payer_slot,
        pl.params,
        pl.state0,
        pl.accruers,
        pl.credits,
        pr.defaulted,
        model.loss_asset,
        model.dt_years,
        model.horizon_years,
        int(model.start_at),
        int(model.step_seconds),
        out.loss,
        out.bad_debt,
        out.incident_loss,
        out.liquidated_debt,
        out.liquidations,
        out.fees,
        out.alloc,
        out.exhausted,
        out.absorbed,
        out.pool_loss,
        out.staker_apr,
        out.premiums,
        out.minted,
        out.escaped,
    )
    return out


@kernel
def _event_key_kernel(
    ev_path: np.ndarray,
    ev_step: np.ndarray,
    ev_kind: np.ndarray,
    ev_ref: np.ndarray,
    wd_path: np.ndarray,
    wd_step: np.ndarray,
    wd_ref: np.ndarray,
    n_steps: int,
    key: np.ndarray,
) -> None:
    """`waterfall._event_order`'s key of (the world's events, the withdrawals, one end per path),
    ((path·(T + 1) + step)·(KIND_END + 1) + kind)·n_ref + ref with n_ref = max(0, every ref) + 1,
    into `key`: the same int64 values, so `np.argsort(key, kind="stable")` is the same order."""
    n_ref = 0
    for r in ev_ref:
        n_ref = r if r > n_ref else n_ref
    for r in wd_ref:
        n_ref = r if r > n_ref else n_ref
    n_ref += 1
    kinds = KIND_END + 1
    n_world = len(ev_path)
    for i in range(n_world):
        key[i] = ((ev_path[i] * (n_steps + 1) + ev_step[i]) * kinds + ev_kind[i]) * n_ref + ev_ref[i]
    n_wd = len(wd_path)
    for j in range(n_wd):
        key[n_world + j] = ((wd_path[j] * (n_steps + 1) + wd_step[j]) * kinds + KIND_WITHDRAW) * n_ref + wd_ref[j]
    for p in range(len(key) - n_world - n_wd):
        key[n_world + n_wd + p] = ((p * (n_steps + 1) + n_steps) * kinds + KIND_END) * n_ref


@kernel
def _decode_kernel(
    order: np.ndarray,
    ev_kind: np.ndarray,
    ev_step: np.ndarray,
    ev_ref: np.ndarray,
    wd_step: np.ndarray,
    wd_ref: np.ndarray,
    wd_amount: np.ndarray,
    end_step: int,
    e_kind: np.ndarray,
    e_step: np.ndarray,
    e_ref: np.ndarray,
    e_src: np.ndarray,
    e_amount: np.ndarray,
) -> None:
    """The events in path order (`order` into the world's events, then the withdrawals, then each
    path's end): kind, step, ref, world index (-1: not a world event) and withdrawn fraction."""
    n_world, n_wd = len(ev_kind), len(wd_step)
    for i in range(len(order)):
        o = order[i]
        if o < n_world:
            e_kind[i], e_step[i], e_ref[i], e_src[i], e_amount[i] = ev_kind[o], ev_step[o], ev_ref[o], o, 0.0
        elif o < n_world + n_wd:
            k = o - n_world
            e_kind[i], e_step[i], e_ref[i], e_src[i], e_amount[i] = (
                KIND_WITHDRAW,
                wd_step[k],
                wd_ref[k],
                -1,
                wd_amount[k],
            )
        else:
            e_kind[i], e_step[i], e_ref[i], e_src[i], e_amount[i] = KIND_END, end_step, 0, -1, 0.0


def _book_events(ev_kind: np.ndarray, ev_ref: np.ndarray, ranges: np.ndarray) -> list[Any]:
    """Each book's liquidations (world indices): a slice when they are one run of the world's events,
    as phase A writes them (no gather, no scatter), else the indices."""
    liq_w: np.ndarray | None = None
    out: list[Any] = []
    for b, (first, last, count) in enumerate(ranges):
        if count == 0:
            out.append(slice(0, 0))
        elif last - first + 1 == count:
            out.append(slice(int(first), int(last) + 1))
        else:
            if liq_w is None:
                liq_w = np.nonzero(ev_kind == KIND_LIQUIDATION)[0]
            out.append(liq_w[ev_ref[liq_w] == b])
    return out


def _block(e: Any, i: int) -> Any:
    """Events i .. i + SETTLE_BLOCK of a book's liquidations (a slice or indices)."""
    if isinstance(e, slice):
        return slice(e.start + i, min(e.start + i + SETTLE_BLOCK, e.stop))
    return e[i : i + SETTLE_BLOCK]


def _count(e: Any) -> int:
    return int(e.stop - e.start) if isinstance(e, slice) else len(e)


@kernel
def _book_ranges_kernel(ev_kind: np.ndarray, ev_ref: np.ndarray, ranges: np.ndarray) -> None:
    """Per book: (first, last, count) of its liquidations among the world's events."""
    for w in range(len(ev_kind)):
        if ev_kind[w] == KIND_LIQUIDATION:
            b = ev_ref[w]
            if ranges[b, 2] == 0:
                ranges[b, 0] = w
            ranges[b, 1] = w
            ranges[b, 2] += 1


@kernel
def _deposits_kernel(
    starts: np.ndarray,
    e_kind: np.ndarray,
    e_ref: np.ndarray,
    e_src: np.ndarray,
    k_before: np.ndarray,
    k_after: np.ndarray,
    b_off: np.ndarray,
    cum_debt: np.ndarray,
    b_sp: np.ndarray,
    dep0: np.ndarray,
    at: np.ndarray,
) -> None:
    """A stability pool's deposits before each liquidation it absorbs (`at`, by world event): they
    change only by absorption, dep <- dep - min(debt, dep), event by event along each path (what
    `waterfall._settle_all` does round by round)."""
    dep = np.empty(len(dep0))
    for p in range(len(starts) - 1):
        for j in range(len(dep0)):  # (an explicit loop: slice assignment costs seconds of compiling)
            dep[j] = dep0[j]
        for e in range(starts[p], starts[p + 1]):
            if e_kind[e] != KIND_LIQUIDATION:
                continue
            b = e_ref[e]
            sp = b_sp[b]
            if sp < 0:
                continue
            w = e_src[e]
            d = dep[sp]
            at[w] = d
            x = cum_debt[b_off[b] + k_after[w]] - cum_debt[b_off[b] + k_before[w]]  # the book's cd[ka] - cd[kb]
            dep[sp] = d - (x if x < d else d)


_PARTS = (
    pay_in_kind_one,
    balance_credit,
    balance_absorb,
    vault_accrue,
    vault_credit,
    vault_withdraw,
    vault_absorb,
    vault_apr,
    guarantor_begin,
    guarantor_accrue,
    guarantor_absorb,
    mint_absorb,
    socialize_absorb,
)
_CONSTANTS = {
    "EPS": EPS,
    "SECONDS_PER_YEAR": SECONDS_PER_YEAR,
    "KIND_WITHDRAW": KIND_WITHDRAW,
    "KIND_LIQUIDATION": KIND_LIQUIDATION,
    "KIND_INCIDENT": KIND_INCIDENT,
    "POOL": POOL,
    "BALANCE": BALANCE,
    "VAULT": VAULT,
    "GUARANTOR": GUARANTOR,
    "MINT": MINT,
    "SOCIALIZE": SOCIALIZE,
}


@generated_kernel(_PARTS, _CONSTANTS)
def phase_b_kernel(
    starts: np.ndarray,
    e_kind: np.ndarray,
    e_step: np.ndarray,
    e_ref: np.ndarray,
    e_src: np.ndarray,
    e_amount: np.ndarray,
    w_res: np.ndarray,
    ev_prices: np.ndarray,
    ev_amount: np.ndarray,
    b_market: np.ndarray,
    b_asset: np.ndarray,
    b_debt_price: np.ndarray,
    m_sp: np.ndarray,
    m_fee: np.ndarray,
    wf: np.ndarray,
    wf_len: np.ndarray,
    i_market: np.ndarray,
    code: np.ndarray,
    lasset: np.ndarray,
    poff: np.ndarray,
    soff: np.ndarray,
    terminal: np.ndarray,
    payer_slot: np.ndarray,
    params: np.ndarray,
    state0: np.ndarray,
    accruers: np.ndarray,
    credits: np.ndarray,
    defaulted: np.ndarray,
    la: int,
    dt_years: float,
    horizon_years: float,
    start_at: int,
    step_seconds: int,
    loss: np.ndarray,
    bad_debt: np.ndarray,
    incident_loss: np.ndarray,
    liquidated_debt: np.ndarray,
    liquidations: np.ndarray,
    fees: np.ndarray,
    alloc: np.ndarray,
    exhausted: np.ndarray,
    absorbed: np.ndarray,
    pool_loss: np.ndarray,
    staker_apr: np.ndarray,
    premiums: np.ndarray,
    minted: np.ndarray,
    escaped: np.ndarray,
) -> None:
    """Each path's events in order: accrue (layers in order), a withdrawal, the liquidation's
    per-path sums and fee credit (every fee layer is credited on every event, 0.0 when the event
    pays it nothing, as the rounds do), then the loss down the market's waterfall; at the end, the
    stakers' APR."""
    nl = len(code)
    st = np.empty(len(state0))
    for p in range(len(starts) - 1):
        for k in range(len(state0)):
            st[k] = state0[k]
        for j in range(nl):
            if code[j] == GUARANTOR:
                guarantor_begin(st, soff[j], defaulted[p, j])
        prev = 0
        for e in range(starts[p], starts[p + 1]):
            step = e_step[e]
            kind = e_kind[e]
            w = e_src[e]
            dt = (step - prev) * dt_years
            prev = step
            for i in range(len(accruers)):
                j = accruers[i]
                if code[j] == VAULT:
                    vault_accrue(st, soff[j], params, poff[j], dt)
                elif code[j] == GUARANTOR:
                    premiums[p, j] += guarantor_accrue(st, soff[j], params, poff[j], payer_slot[j], dt)
            if kind == KIND_WITHDRAW:
                j = e_ref[e]
                escaped[p, j] += vault_withdraw(st, soff[j], params, poff[j], e_amount[e])
            fee = 0.0
            fee_layer = -1
            lossv = 0.0
            mk = -1
            if kind == KIND_LIQUIDATION:
                b = e_ref[e]
                mk = b_market[b]
                debt = w_res[0, w]
                lossv = w_res[3, w]
                liquidated_debt[p] += debt
                liquidations[p] += 1
                bad_debt[p] += lossv
                sp = m_sp[mk]
                if sp >= 0:
                    a = w_res[1, w]
                    absorbed[p, sp] += a
                    pool_loss[p, sp] += w_res[5, w]
                    if a < debt * (1 - EPS):
                        exhausted[p, sp] = True
                if m_fee[mk] >= 0:
                    fee = w_res[4, w]
                    fee_layer = m_fee[mk]
                    fees[p] += fee
            elif kind == KIND_INCIDENT:
                mk = i_market[e_ref[e]]
                lossv = ev_amount[w]
                incident_loss[p] += lossv
            for i in range(len(credits)):
                j = credits[i]
                amount = fee if j == fee_layer else 0.0
                if code[j] == BALANCE:
                    balance_credit(st, soff[j], la, amount)
                elif code[j] == VAULT:
                    vault_credit(st, soff[j], amount)
            if not lossv > 0:
                continue
            loss[p] += lossv
            rem = lossv
            prices = ev_prices[w]
            for i in range(wf_len[mk]):
                j = wf[mk, i]
                c = code[j]
                paid = 0.0
                if c == BALANCE:
                    paid = balance_absorb(st, soff[j], params, poff[j], prices, la, rem)
                elif c == VAULT:
                    paid = vault_absorb(st, soff[j], params, poff[j], prices, la, lasset[j], rem)
                elif c == GUARANTOR:
                    paid = guarantor_absorb(
                        st, soff[j], params, poff[j], lasset[j], la, lossv, rem, step, start_at, step_seconds
                    )
                elif c == MINT:
                    paid, units = mint_absorb(st, soff[j], params, poff[j], prices, la, lasset[j], rem)
                    minted[p, j] += units
                elif c == SOCIALIZE:
                    paid = socialize_absorb(rem)
                alloc[p, j] += paid
                if not terminal[j] and paid < rem - EPS * (rem if rem > 1.0 else 1.0):
                    exhausted[p, j] = True
                rem = rem - paid
                if not rem > 0:
                    break
        for j in range(nl):
            if code[j] == VAULT:
                staker_apr[p, j] = vault_apr(st, soff[j], params, poff[j], horizon_years)
