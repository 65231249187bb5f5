"""Phase B of a chunk: run the world's events through the backstop, every registered layer kind.

Paths are independent, so events are ordered only within a path: the r-th event of every path
is processed in round r, all paths at once. Each round accrues what runs with time (staking
rewards, guarantor premiums from their payer, lapse if it cannot pay), completes withdrawals of
stakers who ran, settles liquidations (stability pool first, then the sale), then runs each loss
event through its market's waterfall. Each layer's rule is its kind's `vector.py`
(`domain/layers/<kind>/vector.py`), the twin of its exact rule; this module only orders events,
hands each layer its turn and keeps the per-path results.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ..domain.layers.base_vector import EPS, Absorb
from ..domain.layers.share_vault_vector import VaultVector
from .cover import ClaimPlan, PendingClaims, pay_claims, policy_columns
from .jit import enabled as jit_enabled
from .liquidation import PathLiquidations, phase_b_liquidations, settle
from .model import SimModel
from .positions import Book
from .stakers import withdrawal_schedule
from .world import KIND_END, KIND_INCIDENT, KIND_LIQUIDATION, KIND_WITHDRAW, World

SETTLE_BLOCK = 16384


@dataclass
class Outcome:
    """Per-path results of one chunk (whole tokens of the loss asset unless said otherwise; with
    several debt assets, loss units are quote units at the debt assets' fixed prices)."""

    loss: np.ndarray
    bad_debt: np.ndarray
    incident_loss: np.ndarray
    liquidated_debt: np.ndarray
    liquidations: np.ndarray
    """Number of liquidation settlements (book × step)."""
    fees: np.ndarray
    alloc: np.ndarray
    """(paths, layers) what each layer paid towards loss events."""
    exhausted: np.ndarray
    """(paths, layers) the layer could not pay all that reached it at least once."""
    absorbed: np.ndarray
    """(paths, layers) debt absorbed by stability pools."""
    pool_loss: np.ndarray
    """(paths, layers) stability pools: debt burned − value of the collateral received."""
    staker_apr: np.ndarray
    """(paths, layers) share-price return of a staker who stayed, annualised (NaN if not a pool)."""
    premiums: np.ndarray
    """(paths, layers) premiums a guarantor received."""
    minted: np.ndarray
    """(paths, layers) governance tokens a mint layer sold."""
    escaped: np.ndarray
    """(paths, layers) assets withdrawn by stakers who ran."""
    market_loss: np.ndarray
    """(paths, markets) each market's loss (bad debt and incidents), whole tokens of its own debt asset."""
    market_bad_debt: np.ndarray
    """(paths, markets) each market's bad debt, in its own debt asset."""
    market_incident_loss: np.ndarray
    """(paths, markets) each market's incident loss, in its own debt asset."""
    claims: np.ndarray
    """(paths, policies) what each policy in force at the start was paid (its pool's asset,
    columns in `cover.policy_columns` order)."""
    claims_short: np.ndarray
    """(paths, policies) a claim of the policy was cut by its pool's balance."""

    @classmethod
    def empty(cls, n: int, nl: int, n_markets: int, n_policies: int) -> Outcome:
        """Zeros (NaN for the APR) for `n` paths, `nl` layers, `n_markets` per-market columns (0
        with one debt asset) and `n_policies` cover policies (phase B, NumPy or compiled)."""
        return cls(
            loss=np.zeros(n),
            bad_debt=np.zeros(n),
            incident_loss=np.zeros(n),
            liquidated_debt=np.zeros(n),
            liquidations=np.zeros(n, dtype=np.int64),
            fees=np.zeros(n),
            alloc=np.zeros((n, nl)),
            exhausted=np.zeros((n, nl), dtype=bool),
            absorbed=np.zeros((n, nl)),
            pool_loss=np.zeros((n, nl)),
            staker_apr=np.full((n, nl), np.nan),
            premiums=np.zeros((n, nl)),
            minted=np.zeros((n, nl)),
            escaped=np.zeros((n, nl)),
            market_loss=np.zeros((n, n_markets)),
            market_bad_debt=np.zeros((n, n_markets)),
            market_incident_loss=np.zeros((n, n_markets)),
            claims=np.zeros((n, n_policies)),
            claims_short=np.zeros((n, n_policies), dtype=bool),
        )


class _State:
    """Per-path state, in the order `perm` (path perm[i] at index i), so that the paths still
    having events in round r are the prefix [0, n_r) and a round works on slices. `states[j]`
    is layer j's own state (its kind's `start`)."""

    def __init__(self, model: SimModel, world: World, perm: np.ndarray) -> None:
        n, nl = world.n_paths, len(model.layers)
        nm_own = len(model.markets) if model.several_debt_assets else 0  # per-market figures: only then
        n_pol = len(policy_columns(model))
        self.states: list[Any] = [layer.start(n, world.defaulted[perm, j]) for j, layer in enumerate(model.layers)]
        self.out = Outcome.empty(n, nl, nm_own, n_pol)

    def pools(self, model: SimModel) -> dict[int, np.ndarray]:
        """The deposits of every layer that absorbs liquidations first (stability pools)."""
        return {j: self.states[j].dep for j, layer in enumerate(model.layers) if layer.absorbs_liquidations}


def _withdrawal_events(model: SimModel, world: World) -> tuple[np.ndarray, ...]:
    """Completed withdrawals of running stakers: (path, step, pool layer, fraction of start shares)."""
    z = np.zeros(0, dtype=np.int64)
    if model.run is None:
        return z, z, z, np.zeros(0)
    runners = np.nonzero(world.run_start >= 0)[0]
    paths, steps, refs, amounts = [z], [z], [z], [np.zeros(0)]
    for j, layer in enumerate(model.layers):
        if not layer.share_price:
            continue
        assert isinstance(layer, VaultVector)
        for offset, q in withdrawal_schedule(model.run, layer.withdraw_delay_steps, model.n_steps):
            s = world.run_start[runners] + offset
            ok = s <= model.n_steps
            paths.append(runners[ok])
            steps.append(s[ok])
            refs.append(np.full(int(ok.sum()), j, dtype=np.int64))
            amounts.append(np.full(int(ok.sum()), q))
    return tuple(np.concatenate(x) for x in (paths, steps, refs, amounts))


def _event_order(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], n_steps: int) -> np.ndarray:
    """`np.lexsort((ref, kind, step, path))` of the concatenated (path, step, kind, ref) parts, as one
    stable sort of a combined key (the world's events come in a few sorted runs, which a stable sort
    merges quickly)."""
    n_ref = max((int(ref.max(initial=0)) for _, _, _, ref in parts), default=0) + 1
    key = np.concatenate(
        [((path * (n_steps + 1) + step) * (KIND_END + 1) + kind) * n_ref + ref for path, step, kind, ref in parts]
    )
    order: np.ndarray = np.argsort(key, kind="stable")
    return order


def run_backstop(model: SimModel, world: World, cache: dict[int, Any] | None = None) -> Outcome:
    """Phase B. Events are processed in rounds, the r-th event of every path in round r; with paths
    ordered by their number of events (most first), round r is the prefix of paths with more than r
    events, and its events are contiguous (round-major order), so a round works on slices.

    What does not depend on the layers' running state is computed for all events at once: the
    stability pool's deposits (they change only by absorption), hence every liquidation's
    settlement, fee and bad debt, and the per-path sums of those (`bincount` adds in event order,
    so each sum is the same sequence of float additions as round by round). The rounds then only
    accrue rewards and premiums, credit fees, complete withdrawals and run loss events down the
    waterfall.

    With the compiled kernels (`jit.enabled()`) and a model the compiled driver covers, phase B runs
    path by path instead (`phase_b.py`), with the same numbers; `cache` (kept by the caller across
    runs on the same worlds, as sizing does) lets it prepare each world once."""
    if jit_enabled():
        from . import phase_b

        pl = phase_b.plan(model)
        if pl is not None:
            return phase_b.run(model, world, pl, cache)
    world, found = phase_b_liquidations(model, world)
    n, T = world.n_paths, model.n_steps
    wp, ws, wr, wa = _withdrawal_events(model, world)
    n_world, n_wd = len(world.ev_path), len(wp)
    # Events in path order (path, step, kind, ref): "ps" order. `order[i]` is the i-th event's index in
    # the concatenation world, withdrawals, ends; for the world's own events, its index in the world.
    order = _event_order(
        [
            (world.ev_path, world.ev_step, world.ev_kind, world.ev_ref),
            (wp, ws, np.full(n_wd, KIND_WITHDRAW), wr),
            (np.arange(n), np.full(n, T), np.full(n, KIND_END), np.zeros(n, dtype=np.int64)),
        ],
        T,
    )
    path = np.concatenate([world.ev_path, wp, np.arange(n)])[order]
    step = np.concatenate([world.ev_step, ws, np.full(n, T)])[order]
    n_ev = len(order)
    ps_of = np.empty(n_ev, dtype=np.int64)
    ps_of[order] = np.arange(n_ev)
    counts = np.bincount(path, minlength=n)
    first = np.cumsum(counts) - counts
    rank = np.arange(n_ev) - np.repeat(first, counts)
    prev = np.empty_like(step)
    prev[1:] = step[:-1]
    prev[first[counts > 0]] = 0
    dt = (step - prev) * model.dt_years  # time since the path's previous event (accrual)

    # paths by number of events, most first; round r is the prefix of those with more than r events
    perm = np.argsort(-counts, kind="stable")
    pos = np.empty(n, dtype=np.int64)
    pos[perm] = np.arange(n)
    sorted_counts = counts[perm]
    n_rounds = int(sorted_counts[0]) if n else 0
    n_active = np.searchsorted(-sorted_counts, -np.arange(n_rounds), side="left")
    round_off = np.concatenate([[0], np.cumsum(n_active)])
    q = pos[path]  # each event's path, as its index in the state arrays
    rm = round_off[rank] + q  # each event's index in round-major order
    del path, prev, rank, first

    st = _State(model, world, perm)
    out = st.out
    loss = np.zeros(n_ev)
    market = np.full(n_ev, -1, dtype=np.int64)
    # fees by (fee layer, debt asset): a layer credits each market's fees in that market's debt asset
    fees = {fa: np.zeros(n_ev) for fa in {(mk.fee_layer, mk.debt_asset) for mk in model.markets if mk.fee_layer >= 0}}
    _settle_all(model, world, st, ps_of, q, rm, n_active, round_off, loss, market, fees, found)

    inc_w = np.nonzero(world.ev_kind == KIND_INCIDENT)[0]
    cover = out.claims.shape[1] > 0
    plan = ClaimPlan.of(model) if cover else None
    cause_ref = np.full(n_ev if cover else 0, -1, dtype=np.int64)
    if len(inc_w):
        by_ps = np.argsort(ps_of[inc_w], kind="stable")  # path order: the order of the additions
        inc_w = inc_w[by_ps]
        inc, amount = ps_of[inc_w], world.ev_amount[inc_w]
        loss[inc] = amount
        market[inc] = np.array([model.incidents[i].market for i in world.ev_ref[inc_w]], dtype=np.int64)
        if cover:
            cause_ref[inc] = world.ev_ref[inc_w]
        value = _values(model, market[inc])
        out.incident_loss += np.bincount(q[inc], weights=amount if value is None else amount * value, minlength=n)
        _by_market(out.market_incident_loss, q[inc], amount, market[inc])
    hit = np.nonzero(loss > 0)[0]
    value = _values(model, market[hit])
    out.loss += np.bincount(q[hit], weights=loss[hit] if value is None else loss[hit] * value, minlength=n)
    _by_market(out.market_loss, q[hit], loss[hit], market[hit])
    # loss events and withdrawals in round order, with each round's range
    ps_of_rm = np.empty(n_ev, dtype=np.int64)
    ps_of_rm[rm] = np.arange(n_ev)
    in_rm = np.zeros(n_ev, dtype=bool)
    in_rm[rm[hit]] = True
    hit_rm = np.nonzero(in_rm)[0]
    hit, hit_off = ps_of_rm[hit_rm], np.searchsorted(hit_rm, round_off)
    wd_ps = ps_of[n_world : n_world + n_wd]
    by_rm = np.argsort(rm[wd_ps], kind="stable")
    wd_q, wd_ref, wd_amount = q[wd_ps][by_rm], wr[by_rm], wa[by_rm]
    wd_off = np.searchsorted(rm[wd_ps][by_rm], round_off)
    dt_rm = dt[ps_of_rm]
    pending = PendingClaims(model, plan, n) if plan is not None and plan.delayed else None
    if pending is not None:  # claims paid after a vote: each round's times, prices and ends
        step_rm, src_rm = step[ps_of_rm], order[ps_of_rm]
    del ps_of_rm, in_rm
    del dt, rm

    accruers = [(j, layer, st.states[j]) for j, layer in enumerate(model.layers) if layer.accrues()]
    credits = [(model.layers[j], st.states[j], f, a) for (j, a), f in fees.items() if model.layers[j].credits_fees(a)]
    for r in range(n_rounds):
        m, o = int(n_active[r]), int(round_off[r])
        d = dt_rm[o : o + m]
        for j, layer, s in accruers:
            layer.accrue(s, st.states, m, d, out, j)
        if wd_off[r + 1] > wd_off[r]:
            rows = slice(wd_off[r], wd_off[r + 1])
            _withdraw(model, st, wd_q[rows], wd_ref[rows], wd_amount[rows])
        if pending is not None:
            src = src_rm[o : o + m]
            is_world = src < n_world
            ev_prices = np.full((m, len(model.assets)), np.nan)
            ev_prices[is_world] = world.ev_prices[src[is_world]]
            pending.settle(model, st.states, out, m, step_rm[o : o + m], ev_prices, src >= n_world + n_wd)
        for layer, s, f, a in credits:
            layer.credit(s, m, f[o : o + m], a)
        if hit_off[r + 1] == hit_off[r]:
            continue
        e = hit[hit_off[r] : hit_off[r + 1]]
        for mi in np.unique(market[e]):
            ee = e[market[e] == mi]
            mk, pe = model.markets[mi], q[ee]
            prices = world.ev_prices[order[ee]]
            # the layers pay in the market's debt asset; with several, what they paid is booked in loss units
            before = out.alloc[pe] if mk.unit_value != 1.0 else None
            socialized = _waterfall(model, st, mk.waterfall, pe, step[ee], loss[ee], prices, mk.debt_asset)
            if before is not None:
                out.alloc[pe] = before + (out.alloc[pe] - before) * mk.unit_value
            if plan is not None:
                pay_claims(
                    model, plan, st.states, out, pe, step[ee], cause_ref[ee], socialized, prices, mk.debt_asset, pending
                )

    for j, layer in enumerate(model.layers):
        layer.finish(st.states[j], out, j, model.horizon_years)
    return Outcome(**{f.name: getattr(out, f.name)[pos] for f in fields(Outcome)})


def _withdraw(model: SimModel, st: _State, q: np.ndarray, ref: np.ndarray, amount: np.ndarray) -> None:
    """Complete withdrawals: path (state index) `q` takes `amount` of the start's shares out of pool `ref`."""
    for j in np.unique(ref):
        rows = ref == j
        model.layers[j].withdraw(st.states[j], q[rows], amount[rows], st.out, int(j))


def _settle_all(
    model: SimModel,
    world: World,
    st: _State,
    ps_of: np.ndarray,
    q: np.ndarray,
    rm: np.ndarray,
    n_active: np.ndarray,
    round_off: np.ndarray,
    loss: np.ndarray,
    market: np.ndarray,
    fees: dict[tuple[int, int], np.ndarray],
    found: dict[int, tuple[int, PathLiquidations]],
) -> None:
    """Settle every liquidation, book by book in the world's order, and add up the per-path sums.
    `ps_of` maps a world event to its place in path order; `rm` maps that to round-major order;
    `loss`, `market` (path order) and `fees` (round-major) are filled in. The books in `found`
    (redistribution, Recovery Mode) were settled path by path already: their results are taken."""
    out, n, n_ev = st.out, world.n_paths, len(q)
    liq_w = np.nonzero(world.ev_kind == KIND_LIQUIDATION)[0]
    if not len(liq_w):
        return
    books_w = [liq_w[world.ev_ref[liq_w] == b] for b in range(len(model.books))]
    # A stability pool's deposits change only by absorption: dep <- dep - min(debt, dep), event by event,
    # all paths of a round at once.
    dep_w: dict[int, np.ndarray] = {}
    pools = st.pools(model)
    for sp, dep in pools.items():
        mine = [
            b
            for b, e in enumerate(books_w)
            if len(e) and model.markets[model.books[b].market_index].stability_pool == sp and b not in found
        ]
        if not mine:
            continue
        debt_rm = np.zeros(n_ev)
        for b in mine:
            e = books_w[b]
            cd = model.books[b].cum_debt
            debt_rm[rm[ps_of[e]]] = cd[world.ev_k_after[e]] - cd[world.ev_k_before[e]]
        at = np.empty(n_ev)
        for r in range(len(n_active)):
            m, o = int(n_active[r]), int(round_off[r])
            at[o : o + m] = dep[:m]
            dep[:m] -= np.minimum(debt_rm[o : o + m], dep[:m])
        for b in mine:
            dep_w[b] = at[rm[ps_of[books_w[b]]]]
    debt, absorbed, pool_loss, fee = np.zeros(n_ev), np.zeros(n_ev), np.zeros(n_ev), np.zeros(n_ev)
    short = np.zeros(n_ev, dtype=bool)
    with_fee = np.zeros(n_ev, dtype=bool)
    for b, e_book in enumerate(books_w):
        book = model.books[b]
        mk = model.markets[book.market_index]
        sp = mk.stability_pool
        if b in found:
            _take_redistribution_settlements(model, st, book, found[b][1], ps_of[e_book], q, debt, absorbed, pool_loss)
            ps = ps_of[e_book]
            found_b = found[b][1]
            short[ps] = found_b.absorbed < found_b.offered * (1 - EPS)
            if mk.fee_layer >= 0:
                fee[ps] = found_b.fee
                with_fee[ps] = True
                fees[(mk.fee_layer, mk.debt_asset)][rm[ps]] = found_b.fee
            loss[ps] = found_b.bad_debt
            market[ps] = book.market_index
            continue
        # in blocks, so that settle's temporaries stay small and in cache
        for i in range(0, len(e_book), SETTLE_BLOCK):
            e = e_book[i : i + SETTLE_BLOCK]
            ps = ps_of[e]
            price = world.ev_prices[e, book.asset_index]
            dep_block = dep_w[b][i : i + SETTLE_BLOCK] if sp >= 0 else None
            res = settle(book, world.ev_k_before[e], world.ev_k_after[e], price, dep_block)
            debt[ps] = res.debt
            if sp >= 0:
                absorbed[ps] = res.absorbed
                pool_loss[ps] = res.absorbed - res.collateral_to_pool * price / book.debt_price
                short[ps] = res.absorbed < res.debt * (1 - EPS)
            if mk.fee_layer >= 0:
                fee[ps] = res.fee
                with_fee[ps] = True
                fees[(mk.fee_layer, mk.debt_asset)][rm[ps]] = res.fee
            loss[ps] = res.bad_debt
            market[ps] = book.market_index
    # Per-path sums over all books at once, in path order: the additions the rounds would make.
    liq = np.nonzero(market >= 0)[0]
    pl = q[liq]
    value = _values(model, market)  # per event; None when amounts are already in loss units

    def v(x: np.ndarray, e: np.ndarray) -> np.ndarray:
        out: np.ndarray = x[e] if value is None else x[e] * value[e]
        return out

    book_markets = {model.books[b].market_index for b, e in enumerate(books_w) if len(e)}
    for sp in pools:
        sp_markets = {i for i, mk in enumerate(model.markets) if mk.stability_pool == sp}
        if book_markets <= sp_markets:  # every liquidation goes to this pool first
            e, pp = liq, pl
        else:
            in_sp = np.zeros(len(model.markets), dtype=bool)
            in_sp[list(sp_markets)] = True
            sel = in_sp[market[liq]]
            e, pp = liq[sel], pl[sel]
        out.absorbed[:, sp] = np.bincount(pp, weights=v(absorbed, e), minlength=n)
        out.pool_loss[:, sp] = np.bincount(pp, weights=v(pool_loss, e), minlength=n)
        out.exhausted[:, sp] |= np.bincount(pp[short[e]], minlength=n) > 0
    if all(model.markets[i].fee_layer >= 0 for i in book_markets):
        out.fees[:] = np.bincount(pl, weights=v(fee, liq), minlength=n)
    elif with_fee.any():
        out.fees[:] = np.bincount(q[with_fee], weights=v(fee, with_fee), minlength=n)
    out.liquidated_debt[:] = np.bincount(pl, weights=v(debt, liq), minlength=n)
    out.liquidations[:] = np.bincount(pl, minlength=n)
    out.bad_debt[:] = np.bincount(pl, weights=v(loss, liq), minlength=n)
    _by_market(out.market_bad_debt, pl, loss[liq], market[liq])


def _values(model: SimModel, market: np.ndarray) -> np.ndarray | None:
    """Loss units per whole token of each event's debt asset (`market`: each event's market, -1:
    none), or None when every market shares the loss asset (amounts need no conversion)."""
    if not model.several_debt_assets:
        return None
    per_market = np.array([mk.unit_value for mk in model.markets] + [0.0])
    out: np.ndarray = per_market[market]
    return out


def _by_market(into: np.ndarray, paths: np.ndarray, amount: np.ndarray, market: np.ndarray) -> None:
    """Add each event's `amount` (its market's debt asset) to its path's column of its market (with
    one debt asset the aggregates are already in it: `into` has no columns and nothing is kept)."""
    if into.shape[1] == 0:
        return
    for mi in np.unique(market):
        sel = market == mi
        into[:, mi] += np.bincount(paths[sel], weights=amount[sel], minlength=into.shape[0])


def _take_redistribution_settlements(
    model: SimModel,
    st: _State,
    book: Book,
    res: PathLiquidations,
    ps: np.ndarray,
    q: np.ndarray,
    debt: np.ndarray,
    absorbed: np.ndarray,
    pool_loss: np.ndarray,
) -> None:
    """The settlements of a book found in phase B (`liquidation.phase_b_liquidations`) into the
    per-event arrays; the pool's deposits and the redistribution layer's columns per path."""
    n = st.out.loss.shape[0]
    debt[ps] = res.debt
    absorbed[ps] = res.absorbed
    pool_loss[ps] = res.absorbed - res.collateral_to_pool * res.price / book.debt_price
    sp = model.markets[book.market_index].stability_pool
    qp = q[ps]
    if sp >= 0:
        st.states[sp].dep -= np.bincount(qp, weights=res.absorbed, minlength=n)
    j = book.redistribution_layer
    if j < 0:
        return
    st.out.absorbed[:, j] += np.bincount(qp, weights=res.redistributed_debt, minlength=n)
    moved_value = res.redistributed_collateral * res.price / book.debt_price
    st.out.pool_loss[:, j] += np.bincount(qp, weights=res.redistributed_debt - moved_value, minlength=n)


def _waterfall(
    model: SimModel,
    st: _State,
    waterfall: tuple[int, ...],
    p: np.ndarray,
    step: np.ndarray,
    loss: np.ndarray,
    prices: np.ndarray,
    la: int,
) -> np.ndarray:
    """Run the events down the waterfall; return each event's socialized part (what a terminal
    layer that cuts the investors paid: what a cover policy's proven loss is a share of)."""
    out = st.out
    a = Absorb(model, p, step, loss, prices, prices[:, la], loss.copy(), la, out, -1, st.states)
    socialized = np.zeros(len(p))
    idx = np.arange(len(p))
    for j in waterfall:
        layer = model.layers[j]
        a.j = j
        paid = layer.absorb(st.states[j], a)
        remaining = a.remaining
        out.alloc[a.p, j] += paid
        if layer.terminal and not layer.records_deficit:
            socialized[idx] += paid
        if not layer.terminal:
            out.exhausted[a.p, j] |= paid < remaining - EPS * np.maximum(1.0, remaining)
        remaining = remaining - paid
        # A layer asked for nothing does nothing (a guarantor's year is brought up to date on its next
        # call), so the next layers see only the events with something left.
        left = remaining > 0
        a.remaining = remaining
        if not left.all():
            if not left.any():
                break
            a.p, a.step, a.loss, a.prices = a.p[left], a.step[left], a.loss[left], a.prices[left]
            idx = idx[left]
            a.remaining = remaining[left]
            a.loss_price = a.prices[:, la]
    return socialized
