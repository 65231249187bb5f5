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

from dataclasses import dataclass

import numpy as np

from ..domain.money import SECONDS_PER_YEAR
from .liquidation import settle
from .model import SimModel
from .stakers import withdrawal_schedule
from .world import KIND_END, KIND_INCIDENT, KIND_LIQUIDATION, KIND_WITHDRAW, World

EPS = 1e-9


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
    def __init__(self, model: SimModel, world: World) -> None:
        n, nl, na = world.n_paths, len(model.layers), len(model.assets)
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
        self.sp_coll = {j: np.zeros((n, na)) for j in self.sp_dep}
        guarantors = [j for j, layer in enumerate(model.layers) if layer.kind == "guarantor"]
        self.g_coll = {j: np.full(n, model.layers[j].collateral0, dtype=float) for j in guarantors}
        self.g_paid_year = {j: np.full(n, model.layers[j].paid_this_year0, dtype=float) for j in guarantors}
        self.g_year = {j: np.full(n, model.layers[j].year0, dtype=np.int64) for j in guarantors}
        self.g_lapsed = {j: np.full(n, model.layers[j].lapsed0) for j in guarantors}
        self.g_defaulted = {j: world.defaulted[:, j].copy() for j in guarantors}
        self.minted = {
            j: np.full(n, model.layers[j].minted0, dtype=float)
            for j, layer in enumerate(model.layers)
            if layer.kind == "mint"
        }
        self.last_step = np.zeros(n, dtype=np.int64)
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


def run_backstop(model: SimModel, world: World) -> Outcome:
    n = world.n_paths
    wp, ws, wr, wa = _withdrawal_events(model, world)
    n_world = len(world.ev_path)
    path = np.concatenate([world.ev_path, wp, np.arange(n)])
    step = np.concatenate([world.ev_step, ws, np.full(n, model.n_steps)])
    kind = np.concatenate([world.ev_kind, np.full(len(wp), KIND_WITHDRAW), np.full(n, KIND_END)])
    ref = np.concatenate([world.ev_ref, wr, np.zeros(n, dtype=np.int64)])
    amount = np.concatenate([world.ev_amount, wa, np.zeros(n)])
    src = np.concatenate([np.arange(n_world), np.full(len(wp) + n, -1)])
    order = np.lexsort((ref, kind, step, path))
    path, step, kind, ref, amount, src = (x[order] for x in (path, step, kind, ref, amount, src))
    counts = np.bincount(path, minlength=n)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    by_count = np.argsort(-counts, kind="stable")
    sorted_counts = counts[by_count]

    st = _State(model, world)
    la = model.loss_asset
    for r in range(int(sorted_counts[0]) if n else 0):
        n_active = int(np.searchsorted(-sorted_counts, -r, side="left"))
        active = by_count[:n_active]
        e = offsets[active] + r
        _round(model, world, st, active, step[e], kind[e], ref[e], amount[e], src[e], la)

    out = st.out
    for j, layer in enumerate(model.layers):
        if j in st.pool_assets and layer.assets0 > 0:
            shares = st.pool_shares[j]
            left = shares > EPS * layer.shares0
            rate = st.pool_assets[j] / np.where(left, shares, 1.0)
            start_rate = layer.assets0 / layer.shares0
            out.staker_apr[:, j] = np.where(left, (rate / start_rate - 1.0) / model.horizon_years, np.nan)
    return out


def _accrue(model: SimModel, st: _State, p: np.ndarray, step: np.ndarray) -> None:
    dt = (step - st.last_step[p]) * model.dt_years
    st.last_step[p] = step
    for j, assets in st.pool_assets.items():
        layer = model.layers[j]
        if layer.reward_apr > 0:
            assets[p] += layer.reward_apr * layer.assets0 * dt
    for j, lapsed in st.g_lapsed.items():
        layer = model.layers[j]
        if layer.premium_rate <= 0 or layer.payer < 0:
            continue
        due = layer.premium_rate * layer.limit * dt
        live = ~lapsed[p]
        payer_bal = st.bal[layer.payer]
        have = payer_bal[p, layer.asset]
        pay = np.where(live, np.minimum(due, have), 0.0)
        payer_bal[p, layer.asset] = have - pay
        st.out.premiums[p, j] += pay
        lapsed[p] = lapsed[p] | (live & (have < due - EPS * np.maximum(1.0, due)))


def _round(
    model: SimModel,
    world: World,
    st: _State,
    p: np.ndarray,
    step: np.ndarray,
    kind: np.ndarray,
    ref: np.ndarray,
    amount: np.ndarray,
    src: np.ndarray,
    la: int,
) -> None:
    out = st.out
    _accrue(model, st, p, step)
    loss = np.zeros(len(p))
    market = np.full(len(p), -1, dtype=np.int64)

    w = np.nonzero(kind == KIND_WITHDRAW)[0]
    if len(w):
        for j in np.unique(ref[w]):
            rows = w[ref[w] == j]
            pp = p[rows]
            shares_out = amount[rows] * model.layers[j].shares0
            a, s = st.pool_assets[j], st.pool_shares[j]
            paid = np.where(s[pp] > 0, shares_out * a[pp] / np.where(s[pp] > 0, s[pp], 1.0), 0.0)
            a[pp] -= paid
            s[pp] -= shares_out
            out.escaped[pp, j] += paid

    liq = np.nonzero(kind == KIND_LIQUIDATION)[0]
    if len(liq):
        for b in np.unique(ref[liq]):
            book = model.books[b]
            rows = liq[ref[liq] == b]
            pp = p[rows]
            e = src[rows]
            price = world.ev_prices[e, book.asset_index]
            mk = model.markets[book.market_index]
            sp = mk.stability_pool
            dep = st.sp_dep[sp][pp] if sp >= 0 else None
            res = settle(book, world.ev_k_before[e], world.ev_k_after[e], price, dep)
            if sp >= 0:
                assert dep is not None
                st.sp_dep[sp][pp] = dep - res.absorbed
                st.sp_coll[sp][pp, book.asset_index] += res.collateral_to_pool
                out.absorbed[pp, sp] += res.absorbed
                out.pool_loss[pp, sp] += res.absorbed - res.collateral_to_pool * price / book.debt_price
                out.exhausted[pp, sp] |= res.absorbed < res.debt * (1 - EPS)
            if mk.fee_layer >= 0:
                _credit(model, st, mk.fee_layer, pp, res.fee, la)
                out.fees[pp] += res.fee
            out.liquidated_debt[pp] += res.debt
            out.liquidations[pp] += 1
            out.bad_debt[pp] += res.bad_debt
            loss[rows] = res.bad_debt
            market[rows] = book.market_index

    inc = np.nonzero(kind == KIND_INCIDENT)[0]
    if len(inc):
        loss[inc] = amount[inc]
        market[inc] = [model.incidents[i].market for i in ref[inc]]
        out.incident_loss[p[inc]] += amount[inc]

    hit = np.nonzero(loss > 0)[0]
    if not len(hit):
        return
    out.loss[p[hit]] += loss[hit]
    for m in np.unique(market[hit]):
        rows = hit[market[hit] == m]
        _waterfall(
            model, st, model.markets[m].waterfall, p[rows], step[rows], loss[rows], world.ev_prices[src[rows]], la
        )


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
