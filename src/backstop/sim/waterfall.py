"""Phase B of a chunk: run the world's events through the backstop, every layer kind of the engine.

Paths are independent, so events are ordered only within a path: the r-th event of every path
is processed in round r, all paths at once. Each round accrues what runs with time (staking
rewards, guarantor premiums from their payer, lapse if it cannot pay), completes withdrawals of
stakers who ran, settles liquidations (stability pool first, then the sale), then runs each loss
event through its market's waterfall with the engine's rules:

* insurance_fund / treasury: pays in the loss asset up to `max_payout_per_event` / `cap`, then
  (swap) sells other holdings at the price less `haircut_bps`;
* staking_pool / cover_pool: slashed up to `max_slash_bps` of its assets per event and never
  below `min_remaining_assets`; a slash lowers the share price, queued shares included;
* stability_pool: pays nothing for a loss event (it acts at liquidation);
* guarantor: min(remaining, max(0, min(loss, attachment + limit) − attachment)) measured on the
  event's whole loss, within the yearly `aggregate_limit`; collateral first, the rest only if it
  has not defaulted; nothing once its cover has lapsed;
* mint: sells governance tokens at price × (1 − discount) up to `cap` tokens;
* socialize: the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ..domain.money import SECONDS_PER_YEAR
from .liquidation import settle
from .model import SimModel
from .stakers import withdrawal_schedule
from .world import KIND_END, KIND_INCIDENT, KIND_LIQUIDATION, KIND_WITHDRAW, World

EPS = 1e-9
SETTLE_BLOCK = 16384


@dataclass
class Outcome:
    """Per-path results of one chunk (whole tokens of the loss asset unless said otherwise)."""

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


class _State:
    """Per-path state, in the order `perm` (path perm[i] at index i), so that the paths still
    having events in round r are the prefix [0, n_r) and a round works on slices."""

    def __init__(self, model: SimModel, world: World, perm: np.ndarray) -> None:
        n, nl = world.n_paths, len(model.layers)
        self.bal = {
            j: np.repeat(layer.balances[None, :], n, axis=0)
            for j, layer in enumerate(model.layers)
            if layer.kind in ("insurance_fund", "treasury")
        }
        self.pool_assets = {
            j: np.full(n, layer.assets0, dtype=float)
            for j, layer in enumerate(model.layers)
            if layer.kind in ("staking_pool", "cover_pool")
        }
        self.pool_shares = {
            j: np.full(n, layer.shares0, dtype=float) for j in self.pool_assets for layer in [model.layers[j]]
        }
        self.sp_dep = {
            j: np.full(n, layer.deposits0, dtype=float)
            for j, layer in enumerate(model.layers)
            if layer.kind == "stability_pool"
        }
        guarantors = [j for j, layer in enumerate(model.layers) if layer.kind == "guarantor"]
        self.g_coll = {j: np.full(n, model.layers[j].collateral0, dtype=float) for j in guarantors}
        self.g_paid_year = {j: np.full(n, model.layers[j].paid_this_year0, dtype=float) for j in guarantors}
        self.g_year = {j: np.full(n, model.layers[j].year0, dtype=np.int64) for j in guarantors}
        self.g_lapsed = {j: np.full(n, model.layers[j].lapsed0) for j in guarantors}
        self.g_defaulted = {j: world.defaulted[perm, j] for j in guarantors}
        self.minted = {
            j: np.full(n, model.layers[j].minted0, dtype=float)
            for j, layer in enumerate(model.layers)
            if layer.kind == "mint"
        }
        self.out = Outcome(
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
        )


def _withdrawal_events(model: SimModel, world: World) -> tuple[np.ndarray, ...]:
    """Completed withdrawals of running stakers: (path, step, pool layer, fraction of start shares)."""
    z = np.zeros(0, dtype=np.int64)
    if model.run is None:
        return z, z, z, np.zeros(0)
    runners = np.nonzero(world.run_start >= 0)[0]
    paths, steps, refs, amounts = [z], [z], [z], [np.zeros(0)]
    for j, layer in enumerate(model.layers):
        if layer.kind not in ("staking_pool", "cover_pool"):
            continue
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


def run_backstop(model: SimModel, world: World) -> Outcome:
    """Phase B. Events are processed in rounds, the r-th event of every path in round r; with paths
    ordered by their number of events (most first), round r is the prefix of paths with more than r
    events, and its events are contiguous (round-major order), so a round works on slices.

    What does not depend on the layers' running state is computed for all events at once: the
    stability pool's deposits (they change only by absorption), hence every liquidation's
    settlement, fee and bad debt, and the per-path sums of those (`bincount` adds in event order,
    so each sum is the same sequence of float additions as round by round). The rounds then only
    accrue rewards and premiums, credit fees, complete withdrawals and run loss events down the
    waterfall."""
    n, T, la = world.n_paths, model.n_steps, model.loss_asset
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
    fees = {j: np.zeros(n_ev) for j in {mk.fee_layer for mk in model.markets if mk.fee_layer >= 0}}
    _settle_all(model, world, st, ps_of, q, rm, n_active, round_off, loss, market, fees)

    inc_w = np.nonzero(world.ev_kind == KIND_INCIDENT)[0]
    if len(inc_w):
        by_ps = np.argsort(ps_of[inc_w], kind="stable")  # path order: the order of the additions
        inc_w = inc_w[by_ps]
        inc, amount = ps_of[inc_w], world.ev_amount[inc_w]
        loss[inc] = amount
        market[inc] = np.array([model.incidents[i].market for i in world.ev_ref[inc_w]], dtype=np.int64)
        out.incident_loss += np.bincount(q[inc], weights=amount, minlength=n)
    hit = np.nonzero(loss > 0)[0]
    out.loss += np.bincount(q[hit], weights=loss[hit], minlength=n)
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
    del ps_of_rm, in_rm
    del dt, rm

    rewards = [
        (st.pool_assets[j], model.layers[j].reward_apr * model.layers[j].assets0)
        for j in st.pool_assets
        if model.layers[j].reward_apr > 0
    ]
    premiums = [
        (j, model.layers[j]) for j in st.g_lapsed if model.layers[j].premium_rate > 0 and model.layers[j].payer >= 0
    ]
    credits = [(j, f) for j, f in fees.items() if j in st.bal or (j in st.pool_assets and model.layers[j].asset == la)]
    for r in range(n_rounds):
        m, o = int(n_active[r]), int(round_off[r])
        d = dt_rm[o : o + m]
        for assets, rate in rewards:
            assets[:m] += rate * d
        for j, layer in premiums:
            due = layer.premium_rate * layer.limit * d
            lapsed = st.g_lapsed[j][:m]
            live = ~lapsed
            payer_bal = st.bal[layer.payer]
            have = payer_bal[:m, layer.asset].copy()
            pay = np.where(live, np.minimum(due, have), 0.0)
            payer_bal[:m, layer.asset] = have - pay
            out.premiums[:m, j] += pay
            lapsed |= live & (have < due - EPS * np.maximum(1.0, due))
        if wd_off[r + 1] > wd_off[r]:
            rows = slice(wd_off[r], wd_off[r + 1])
            _withdraw(model, st, wd_q[rows], wd_ref[rows], wd_amount[rows])
        for j, f in credits:
            if j in st.bal:
                st.bal[j][:m, la] += f[o : o + m]
            else:
                st.pool_assets[j][:m] += f[o : o + m]
        if hit_off[r + 1] == hit_off[r]:
            continue
        e = hit[hit_off[r] : hit_off[r + 1]]
        for mi in np.unique(market[e]):
            ee = e[market[e] == mi]
            wf = model.markets[mi].waterfall
            _waterfall(model, st, wf, q[ee], step[ee], loss[ee], world.ev_prices[order[ee]], la)

    for j, layer in enumerate(model.layers):
        if j in st.pool_assets and layer.assets0 > 0:
            shares = st.pool_shares[j]
            left = shares > EPS * layer.shares0
            share_price = st.pool_assets[j] / np.where(left, shares, 1.0)
            start_rate = layer.assets0 / layer.shares0
            out.staker_apr[:, j] = np.where(left, (share_price / start_rate - 1.0) / model.horizon_years, np.nan)
    return Outcome(**{f.name: getattr(out, f.name)[pos] for f in fields(Outcome)})


def _withdraw(model: SimModel, st: _State, q: np.ndarray, ref: np.ndarray, amount: np.ndarray) -> None:
    """Complete withdrawals: path (state index) `q` takes `amount` of the start's shares out of pool `ref`."""
    for j in np.unique(ref):
        rows = ref == j
        pp = q[rows]
        shares_out = amount[rows] * model.layers[j].shares0
        a, s = st.pool_assets[j], st.pool_shares[j]
        paid = np.where(s[pp] > 0, shares_out * a[pp] / np.where(s[pp] > 0, s[pp], 1.0), 0.0)
        a[pp] -= paid
        s[pp] -= shares_out
        st.out.escaped[pp, j] += paid


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
    fees: dict[int, np.ndarray],
) -> None:
    """Settle every liquidation, book by book in the world's order, and add up the per-path sums.
    `ps_of` maps a world event to its place in path order; `rm` maps that to round-major order;
    `loss`, `market` (path order) and `fees` (round-major) are filled in."""
    out, n, n_ev = st.out, world.n_paths, len(q)
    liq_w = np.nonzero(world.ev_kind == KIND_LIQUIDATION)[0]
    if not len(liq_w):
        return
    books_w = [liq_w[world.ev_ref[liq_w] == b] for b in range(len(model.books))]
    # A stability pool's deposits change only by absorption: dep <- dep - min(debt, dep), event by event,
    # all paths of a round at once.
    dep_w: dict[int, np.ndarray] = {}
    for sp, dep in st.sp_dep.items():
        mine = [
            b
            for b, e in enumerate(books_w)
            if len(e) and model.markets[model.books[b].market_index].stability_pool == sp
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
                fees[mk.fee_layer][rm[ps]] = res.fee
            loss[ps] = res.bad_debt
            market[ps] = book.market_index
    # Per-path sums over all books at once, in path order: the additions the rounds would make.
    liq = np.nonzero(market >= 0)[0]
    pl = q[liq]
    book_markets = {model.books[b].market_index for b, e in enumerate(books_w) if len(e)}
    for sp in st.sp_dep:
        sp_markets = {i for i, mk in enumerate(model.markets) if mk.stability_pool == sp}
        if book_markets <= sp_markets:  # every liquidation goes to this pool first
            e, pp = liq, pl
        else:
            in_sp = np.zeros(len(model.markets), dtype=bool)
            in_sp[list(sp_markets)] = True
            sel = in_sp[market[liq]]
            e, pp = liq[sel], pl[sel]
        out.absorbed[:, sp] = np.bincount(pp, weights=absorbed[e], minlength=n)
        out.pool_loss[:, sp] = np.bincount(pp, weights=pool_loss[e], minlength=n)
        out.exhausted[:, sp] |= np.bincount(pp[short[e]], minlength=n) > 0
    if all(model.markets[i].fee_layer >= 0 for i in book_markets):
        out.fees[:] = np.bincount(pl, weights=fee[liq], minlength=n)
    elif with_fee.any():
        out.fees[:] = np.bincount(q[with_fee], weights=fee[with_fee], minlength=n)
    out.liquidated_debt[:] = np.bincount(pl, weights=debt[liq], minlength=n)
    out.liquidations[:] = np.bincount(pl, minlength=n)
    out.bad_debt[:] = np.bincount(pl, weights=loss[liq], minlength=n)


def _credit(model: SimModel, st: _State, j: int, p: np.ndarray, amount: np.ndarray, la: int) -> None:
    if j in st.bal:
        st.bal[j][p, la] += amount
    elif j in st.pool_assets and model.layers[j].asset == la:
        st.pool_assets[j][p] += amount


def _pay_in_kind(
    have: np.ndarray, pay_price: np.ndarray, loss_price: np.ndarray, haircut: float, remaining: np.ndarray, same: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(units paid, loss covered), the engine's `pay_in_kind` in floats."""
    if same:
        units = np.minimum(have, remaining)
        return units, units
    eff = pay_price * (1.0 - haircut)
    with np.errstate(divide="ignore", invalid="ignore"):
        needed = np.where(eff > 0, remaining * loss_price / np.where(eff > 0, eff, 1.0), 0.0)
    units = np.where(eff > 0, np.minimum(have, needed), 0.0)
    covered = np.where(units >= needed, remaining, np.minimum(remaining, units * eff / loss_price))
    return units, covered


def _waterfall(
    model: SimModel,
    st: _State,
    waterfall: tuple[int, ...],
    p: np.ndarray,
    step: np.ndarray,
    loss: np.ndarray,
    prices: np.ndarray,
    la: int,
) -> None:
    out = st.out
    remaining = loss.copy()
    loss_price = prices[:, la]
    for j in waterfall:
        layer = model.layers[j]
        kind = layer.kind
        if kind == "socialize":
            paid = remaining
        elif kind in ("insurance_fund", "treasury"):
            bal = st.bal[j]
            budget = np.minimum(remaining, layer.cap)
            units, paid = _pay_in_kind(bal[p, la], loss_price, loss_price, 0.0, budget, True)
            bal[p, la] -= units
            if layer.swap:
                for a in range(len(model.assets)):
                    if a == la or not np.any(bal[p, a] > 0):
                        continue
                    units, cov = _pay_in_kind(bal[p, a], prices[:, a], loss_price, layer.haircut, budget - paid, False)
                    bal[p, a] -= units
                    paid = paid + cov
        elif kind in ("staking_pool", "cover_pool"):
            pool = st.pool_assets[j]
            have = pool[p]
            cap = np.maximum(0.0, np.minimum(have * layer.max_slash, have - layer.min_remaining))
            units, paid = _pay_in_kind(
                cap, prices[:, layer.asset], loss_price, layer.haircut, remaining, layer.asset == la
            )
            pool[p] = have - units
        elif kind == "guarantor":
            paid = _guarantor(model, st, j, p, step, loss, remaining) if layer.asset == la else np.zeros(len(p))
        elif kind == "mint":
            minted = st.minted[j]
            room = np.maximum(0.0, layer.mint_cap - minted[p])
            units, paid = _pay_in_kind(room, prices[:, layer.asset], loss_price, layer.discount, remaining, False)
            minted[p] += units
            out.minted[p, j] += units
        else:
            paid = np.zeros(len(p))
        out.alloc[p, j] += paid
        if kind != "socialize":
            out.exhausted[p, j] |= paid < remaining - EPS * np.maximum(1.0, remaining)
        remaining = remaining - paid
        # A layer asked for nothing does nothing (a guarantor's year is brought up to date on its next
        # call), so the next layers see only the events with something left.
        left = remaining > 0
        if not left.all():
            if not left.any():
                break
            p, step, loss, prices, remaining = p[left], step[left], loss[left], prices[left], remaining[left]
            loss_price = prices[:, la]


def _guarantor(
    model: SimModel, st: _State, j: int, p: np.ndarray, step: np.ndarray, loss: np.ndarray, remaining: np.ndarray
) -> np.ndarray:
    layer = model.layers[j]
    year = (model.start_at + step * model.step_seconds - layer.created_at) // SECONDS_PER_YEAR
    paid_year = np.where(year != st.g_year[j][p], 0.0, st.g_paid_year[j][p])
    st.g_year[j][p] = year
    owed = np.maximum(0.0, np.minimum(loss, layer.attachment + layer.limit) - layer.attachment)
    due = np.minimum(remaining, owed)
    due = np.minimum(due, np.maximum(0.0, layer.aggregate_limit - paid_year))
    due = np.where(st.g_lapsed[j][p], 0.0, due)
    coll = st.g_coll[j][p]
    from_coll = np.minimum(due, coll)
    from_wallet = np.where(st.g_defaulted[j][p], 0.0, due - from_coll)
    paid = from_coll + from_wallet
    st.g_coll[j][p] = coll - from_coll
    st.g_paid_year[j][p] = paid_year + paid
    out: np.ndarray = paid
    return out
