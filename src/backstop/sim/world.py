"""Phase A of a chunk: the world the backstop faces, independent of the backstop's size.

Prices, oracle outages, liquidation triggers, incidents, the stakers' run and guarantor defaults
are drawn here, all paths at once. The result is a compact list of events per path (which bucket
range settles at which step and price, which incident hits when) that phase B (`waterfall.py`)
runs through the layers. Nothing in phase A depends on a layer's size, except the stability
pool's absorption, which is applied in phase B; so sizing re-runs only phase B on the same
world, with common random numbers by construction.

Streams: a chunk's SeedSequence is `SeedSequence(seed).spawn(n_chunks)[i]`; each component
draws from its own child of it, so adding, say, oracle outages to a scenario leaves its price
paths unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..domain.layers.guarantor.vector import Vector as GuarantorVector
from .buffers import work_buffer
from .incidents import draw_incidents
from .jit import enabled as jit_enabled
from .jit import generated_kernel, kernel
from .liquidation import NewMinima, Triggers, minima_path, new_minima_tm, triggers, triggers_path
from .model import SimModel
from .outages import outage_cells, outage_mask_pm
from .prices import draw_log_prices_pm, log_prices_path, simulate_log_prices_tm
from .stakers import run_start_pm, run_start_tm

DIFFUSION, JUMPS, SHOCK, OUTAGES, INCIDENTS, DEFAULTS = range(6)

KIND_WITHDRAW, KIND_LIQUIDATION, KIND_INCIDENT, KIND_END = range(4)


def component_rng(seed: int, chunk: int, component: int) -> np.random.Generator:
    """Child `component` of the chunk's sequence (what `.spawn()` would hand out), as a PCG64 generator."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(chunk, component))))


@dataclass
class World:
    n_paths: int
    ev_path: np.ndarray
    ev_step: np.ndarray
    ev_kind: np.ndarray
    ev_ref: np.ndarray
    """Book index (liquidation) or incident spec index (incident)."""
    ev_k_before: np.ndarray
    ev_k_after: np.ndarray
    ev_amount: np.ndarray
    """Incident loss in loss-asset units."""
    ev_prices: np.ndarray
    """(events, assets) market prices at the event's (settlement) step."""
    run_start: np.ndarray
    """(paths,) step the stakers' run starts, -1 if none."""
    defaulted: np.ndarray
    """(paths, layers) guarantor defaults drawn for this path."""
    end_prices: np.ndarray
    """(paths, assets) prices at the horizon."""
    sample_prices: np.ndarray | None = None
    """(simulated assets, kept paths, steps + 1) price paths kept for plots and tests."""
    held_log_prices: np.ndarray | None = None
    """(simulated assets, steps, paths) log prices, kept when a book's liquidations are found in
    phase B (`Book.found_in_phase_b`); None otherwise."""
    held_down: np.ndarray | None = None
    """(steps, paths) where the oracle is down, with `held_log_prices` (None: never down)."""


def _prices_at(
    model: SimModel, log_prices: np.ndarray, paths: np.ndarray, steps: np.ndarray, path_major: bool = False
) -> np.ndarray:
    """(events, assets) prices at (path, step); `log_prices` is time-major (rows, steps, paths), or
    path-major (rows, paths, steps) with `path_major`."""
    rows = model.price_rows
    if path_major and log_prices.shape[2] > 0:
        return _prices_at_pm(model, log_prices, paths, steps)
    at_start = np.nonzero(steps <= 0)[0]
    if path_major:
        flat = paths * log_prices.shape[2] + (steps - 1)
    else:
        flat = (steps - 1) * log_prices.shape[2] + paths
    flat[at_start] = 0
    columns = []
    for a in range(len(model.assets)):
        r = int(rows[a])
        if r < 0:
            columns.append(np.full(len(paths), model.prices0[a]))
            continue
        if log_prices.shape[2 if path_major else 1] == 0:  # no steps: every event is at the start
            lp = np.full(len(paths), model.prices.log_p0[r])
        else:
            lp = np.take(log_prices[r].reshape(-1), flat)
            lp[at_start] = model.prices.log_p0[r]
        columns.append(np.exp(lp, out=lp))
    # one pass writing the rows, rather than one strided pass per column
    out: np.ndarray = np.stack(columns, axis=1) if columns else np.empty((len(paths), 0))
    return out


def _prices_at_pm(model: SimModel, log_prices: np.ndarray, paths: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """`_prices_at` of path-major log prices: the gather compiled, into one contiguous row per simulated
    asset, then `np.exp` over those rows (the same exp per element as on the time-major path)."""
    n_rows = log_prices.shape[0]
    lp = np.empty((n_rows, len(paths)))
    _gather_log_prices(log_prices, paths, steps, np.ascontiguousarray(model.prices.log_p0, dtype=np.float64), lp)
    np.exp(lp, out=lp)
    out = np.empty((len(paths), len(model.assets)))
    for a in range(len(model.assets)):
        r = int(model.price_rows[a])
        out[:, a] = model.prices0[a] if r < 0 else lp[r]
    return out


@kernel
def _gather_log_prices(
    log_prices: np.ndarray, paths: np.ndarray, steps: np.ndarray, log_p0: np.ndarray, out: np.ndarray
) -> None:
    """out[r, e] = log price of row r on path paths[e] at the end of step steps[e] (log p0 at step 0)."""
    for r in range(out.shape[0]):
        for e in range(len(paths)):
            s = steps[e]
            out[r, e] = log_p0[r] if s <= 0 else log_prices[r, paths[e], s - 1]


def _end_prices(model: SimModel, log_prices: np.ndarray, path_major: bool = False) -> np.ndarray:
    """(paths, assets) prices at the horizon."""
    n = log_prices.shape[1 if path_major else 2]
    out = np.empty((n, len(model.assets)))
    for a in range(len(model.assets)):
        r = int(model.price_rows[a])
        if r < 0:
            out[:, a] = model.prices0[a]
        else:  # exp of a contiguous row, as on the time-major path (a strided exp may take another loop)
            last = np.ascontiguousarray(log_prices[r, :, -1]) if path_major else log_prices[r, -1]
            out[:, a] = np.exp(last)
    return out


_RANGES_PER_PATH = 24
"""First capacity of the fused pass's range buffers, per path and book (grown when short)."""

_fused_capacity: dict[tuple[int, int], int] = {}
"""The capacity the range buffers grew to, by (paths, steps), so later chunks start there."""


def _fused_phase_a(
    model: SimModel, x: np.ndarray, price_args: tuple[np.ndarray, ...], down: np.ndarray | None
) -> dict[int, tuple[Triggers, np.ndarray]]:
    """Log prices into x (A, paths, steps) from the normals drawn there, and, while each path is in
    cache, its new minima and every book's triggered ranges with the log prices of their settlement
    step (`_phase_a_kernel`). Returns, per book index found here, its `Triggers` (those of
    `triggers`: the ranges already triggered at the start first, then the path-ordered ones) and
    the (rows, ranges) log prices of the path-ordered ones."""
    a_count, n_paths, n_steps = x.shape
    books = [b for b, book in enumerate(model.books) if not book.found_in_phase_b and book.price_row >= 0]
    rows = sorted({model.books[b].price_row for b in books})
    book_min = np.array([rows.index(model.books[b].price_row) for b in books], dtype=np.int64)
    tables = [np.ascontiguousarray(model.books[b].neg_log_liq, dtype=np.float64) for b in books]
    liq_off = np.zeros(len(books) + 1, dtype=np.int64)
    liq_off[1:] = np.cumsum([len(t) for t in tables])
    liq = np.concatenate(tables) if tables else np.zeros(0)
    k0s = np.array(
        [
            int(np.searchsorted(tables[i], -float(np.log(model.prices0[model.books[b].asset_index])), side="left"))
            for i, b in enumerate(books)
        ],
        dtype=np.int64,
    )
    counts = np.zeros(len(books), dtype=np.int64)
    args = (
        np.zeros((0, 0), dtype=np.bool_) if down is None else down,
        down is not None,
        np.array(rows, dtype=np.int64),
        book_min,
        liq,
        liq_off,
        k0s,
        int(model.keeper_delay_steps),
    )
    scratch = (
        np.empty(n_steps, dtype=np.int64),
        np.empty(n_steps, dtype=np.int64),
        np.empty(n_steps),
        np.empty((4, n_steps), dtype=np.int64),
    )
    # The ranges go into buffers kept from chunk to chunk; when one could overflow on the next path
    # (a book triggers at most once per path and step) the kernel stops there, the buffers grow, and
    # it goes on from that path.
    cap = max(_fused_capacity.get((n_paths, n_steps), 0), n_paths * _RANGES_PER_PATH + n_steps)
    done = 0
    fused_kernel: Any = _phase_a_kernel  # its arguments are spread from tuples
    while True:
        ev = work_buffer("phase_a_ranges", (len(books), 4, cap), np.int64)
        ev_lp = work_buffer("phase_a_range_prices", (len(books), a_count, cap))
        done = int(fused_kernel(x, *price_args, *args, ev, ev_lp, counts, *scratch, done))
        if done == n_paths:
            break
        k = int(counts.max())
        kept = ev[:, :, :k].copy(), ev_lp[:, :, :k].copy()
        cap *= 2
        _fused_capacity[(n_paths, n_steps)] = cap
        work_buffer("phase_a_ranges", (len(books), 4, cap), np.int64)[:, :, :k] = kept[0]
        work_buffer("phase_a_range_prices", (len(books), a_count, cap))[:, :, :k] = kept[1]
    out: dict[int, tuple[Triggers, np.ndarray]] = {}
    for i, b in enumerate(books):
        c = int(counts[i])
        parts = [ev[i, f, :c] for f in range(4)]
        k0 = int(k0s[i])
        if k0 > 0:
            head = (
                np.arange(n_paths),
                np.zeros(n_paths, dtype=np.int64),
                np.zeros(n_paths, dtype=np.int64),
                np.full(n_paths, k0, dtype=np.int64),
            )
            parts = [np.concatenate([h, y]) for h, y in zip(head, parts, strict=True)]
        trig = Triggers(*(np.ascontiguousarray(y, dtype=np.int64) for y in parts))
        out[b] = (trig, ev_lp[i, :, :c].copy())
    return out


@generated_kernel((log_prices_path, minima_path, triggers_path), {})
def _phase_a_kernel(
    x: np.ndarray,
    chol: np.ndarray,
    drift: np.ndarray,
    log_p0: np.ndarray,
    jump_ptr: np.ndarray,
    jump_steps: np.ndarray,
    jump_sizes: np.ndarray,
    shock: np.ndarray,
    shock_on: np.ndarray,
    starts: np.ndarray,
    down: np.ndarray,
    has_down: bool,
    min_rows: np.ndarray,
    book_min: np.ndarray,
    liq: np.ndarray,
    liq_off: np.ndarray,
    k0s: np.ndarray,
    delay: int,
    ev: np.ndarray,
    ev_lp: np.ndarray,
    counts: np.ndarray,
    m_rows: np.ndarray,
    m_cols: np.ndarray,
    m_vals: np.ndarray,
    trig: np.ndarray,
    p_start: int,
) -> int:
    """From path `p_start` on, per path: its log prices (`log_prices_path`), then for each price
    row a book watches its new minima (`minima_path`), then for each book on that row the ranges
    they trigger (`triggers_path`), appended to the book's (path, step + 1, k before, k after) in
    `ev`, with the log prices of every row at the settlement step min(step + 1 + delay, steps) in
    `ev_lp` (log p0 at step 0), as `_gather_log_prices` reads them. The same parts, in the same
    order per path, as the NumPy passes' definitions: the same numbers bit for bit, the path still
    in cache. Returns the path where it stopped: `n_paths`, or one whose ranges might not fit in
    `ev` (the caller grows it and calls again from there)."""
    a_count = x.shape[0]
    n_paths: int = x.shape[1]
    n_steps = x.shape[2]
    cap = ev.shape[2]
    for p in range(p_start, n_paths):
        for b in range(len(book_min)):
            if counts[b] + n_steps > cap:
                return p
        log_prices_path(x, p, chol, drift, log_p0, jump_ptr, jump_steps, jump_sizes, shock, shock_on, starts)
        for i in range(len(min_rows)):
            r = min_rows[i]
            n = minima_path(x[r], p, down, has_down, log_p0[r], m_rows, m_cols, m_vals, 0)
            if n == 0:
                continue
            for b in range(len(book_min)):
                if book_min[b] != i:
                    continue
                c = triggers_path(m_rows, m_cols, m_vals, 0, n, liq[liq_off[b] : liq_off[b + 1]], k0s[b], trig, 0)
                base = counts[b]
                for e in range(c):
                    for f in range(4):
                        ev[b, f, base + e] = trig[f, e]
                    s = trig[1, e] + delay
                    if s > n_steps:
                        s = n_steps
                    for q in range(a_count):
                        ev_lp[b, q, base + e] = log_p0[q] if s <= 0 else x[q, p, s - 1]
                counts[b] = base + c
    return n_paths


def _prices_at_fused(
    model: SimModel,
    log_prices: np.ndarray,
    paths: np.ndarray,
    steps: np.ndarray,
    gathered: list[tuple[int, np.ndarray]],
) -> np.ndarray:
    """`_prices_at_pm`, with the log prices of the events in `gathered` (first event, (rows, n)
    log prices) already read by the fused pass; the other events' are read here."""
    n_rows = log_prices.shape[0]
    lp = np.empty((n_rows, len(paths)))
    rest = np.ones(len(paths), dtype=bool)
    for first, block in gathered:
        n = block.shape[1]
        lp[:, first : first + n] = block
        rest[first : first + n] = False
    idx = np.flatnonzero(rest)
    if len(idx):
        part = np.empty((n_rows, len(idx)))
        _gather_log_prices(
            log_prices,
            np.ascontiguousarray(paths[idx]),
            np.ascontiguousarray(steps[idx]),
            np.ascontiguousarray(model.prices.log_p0, dtype=np.float64),
            part,
        )
        lp[:, idx] = part
    np.exp(lp, out=lp)
    out = np.empty((len(paths), len(model.assets)))
    for a in range(len(model.assets)):
        r = int(model.price_rows[a])
        out[:, a] = model.prices0[a] if r < 0 else lp[r]
    return out


class DrawnAhead(NamedTuple):
    """A chunk's draws made ahead by another thread (`draw_normals_ahead`), for `simulate_world`."""

    normals: np.ndarray
    """(assets, paths, steps) diffusion normals, overwritten by the log prices."""
    prices: tuple[np.ndarray, ...]
    """The other arguments of the log prices (`prices.draw_log_prices_pm`: jumps, shock starts)."""
    down: np.ndarray | None
    """(paths, steps) where the oracle is down (`outages.outage_mask_pm`), None: never."""


def draw_normals_ahead(model: SimModel, chunk: int, n_paths: int, slot: int) -> DrawnAhead | None:
    """The chunk's random draws up to its compiled pass, each from its own stream, into the calling
    thread's work buffers `slot`, for `simulate_world(..., normals=)`; None on the NumPy path (it
    draws time-major, as it goes). The diffusion normals (`prices.draw_normals_pm`) are most of a
    chunk's random numbers; the jumps, shock starts (`prices.draw_log_prices_pm`) and outages
    (`outages.outage_mask_pm`, ~3–4 ms a cdp chunk) come along because the thread that draws ahead
    (`executors.PrefetchingExecutor`) has time to spare while the one that runs the chunks does not.
    The same draws from the same streams as `simulate_world` makes itself: the same world."""
    if not jit_enabled():
        return None
    # not populated: the draw faults the pages in as it writes them, without the GIL (`buffers._anonymous`)
    x = work_buffer(f"normals_ahead_{slot}", (len(model.prices.assets), n_paths, model.n_steps), populate=False)
    rngs = (
        component_rng(model.seed, chunk, DIFFUSION),
        component_rng(model.seed, chunk, JUMPS),
        component_rng(model.seed, chunk, SHOCK),
    )
    a_count, n_steps = x.shape[0], x.shape[2]
    # with no asset, path or step, nothing moves and `simulate_world` does not use the prices' draws
    prices = draw_log_prices_pm(model.prices, x, *rngs) if a_count and n_paths and n_steps else ()
    down = _outages_pm(model, chunk, n_paths, work_buffer(f"mask_ahead_{slot}", (n_paths, model.n_steps), bool))
    return DrawnAhead(x, prices, down)


def _outages_pm(model: SimModel, chunk: int, n_paths: int, out: np.ndarray) -> np.ndarray | None:
    """The chunk's oracle outages as a (paths, steps) mask in `out`, from their own stream (one rule
    for `simulate_world` and `draw_normals_ahead`)."""
    return outage_mask_pm(
        n_paths,
        model.n_steps,
        model.outages_per_horizon,
        model.outage_mean_steps,
        component_rng(model.seed, chunk, OUTAGES),
        out,
    )


def simulate_world(
    model: SimModel,
    chunk: int,
    n_paths: int,
    keep_paths: int = 0,
    normals: np.ndarray | DrawnAhead | None = None,
) -> World:
    """Phase A of one chunk: by the compiled kernels (path-major) when `jit.enabled()`, else by NumPy's
    whole-row passes (time-major); the two give the same World bit for bit. `normals`: the chunk's
    diffusion normals already drawn, or all its draws made ahead (`draw_normals_ahead`); compiled
    path only; the normals are overwritten here by the log prices."""
    seed, T = model.seed, model.n_steps
    pm = jit_enabled()
    a_count = len(model.prices.assets)
    rngs = (component_rng(seed, chunk, DIFFUSION), component_rng(seed, chunk, JUMPS), component_rng(seed, chunk, SHOCK))
    fused: dict[int, tuple[Triggers, np.ndarray]] = {}
    ahead: DrawnAhead | None
    given: np.ndarray | None
    if isinstance(normals, DrawnAhead):
        ahead, given = normals, normals.normals
    else:
        ahead, given = None, normals
    if given is not None and (not pm or given.shape != (a_count, n_paths, T)):
        raise ValueError(f"normals: (assets, paths, steps) {(a_count, n_paths, T)} on the compiled path only")
    if pm:  # (rows, paths, steps): path-major, one path at a time in compiled code
        logp = work_buffer("log_prices_pm", (a_count, n_paths, T)) if given is None else given
        if ahead is not None:
            down_pm = ahead.down
        else:
            down_pm = _outages_pm(model, chunk, n_paths, work_buffer("mask_pm", (n_paths, T), bool))
        if a_count and n_paths and T:  # prices, minima, triggers and their prices in one pass per path
            if ahead is not None:
                prices = ahead.prices
            else:
                prices = draw_log_prices_pm(model.prices, logp, *rngs, normals_drawn=given is not None)
            fused = _fused_phase_a(model, logp, prices, down_pm)
        # else no prices move (no asset simulated, no step or no path): a book's only ranges are those
        # already triggered at the start
    else:  # (rows, steps, paths): time-major, so scans over time are row operations over all paths
        logp = simulate_log_prices_tm(
            model.prices, n_paths, T, *rngs, out=work_buffer("log_prices", (a_count, T, n_paths))
        )
        work = (
            work_buffer("time_major", (T, n_paths)),
            work_buffer("mask", (T, n_paths), bool),
            work_buffer("mask_by_path", (n_paths, T), bool),
        )
        down = outage_cells(
            n_paths, T, model.outages_per_horizon, model.outage_mean_steps, component_rng(seed, chunk, OUTAGES)
        )

    found: list[tuple[int, Triggers]] = []  # (book, its ranges), in book order
    minima: dict[int, NewMinima] = {}
    gathered: list[tuple[int, np.ndarray]] = []  # (first event, their log prices) found by the fused pass
    n_ev = 0
    for b, book in enumerate(model.books):
        if book.found_in_phase_b:
            continue  # found in phase B, path by path (`liquidation.phase_b_liquidations`)
        row = book.price_row
        if b in fused:
            trig, lp_found = fused[b]
            gathered.append((n_ev + len(trig.path) - lp_found.shape[1], lp_found))
        else:
            if row >= 0 and row not in minima and not pm:
                minima[row] = new_minima_tm(logp[row], down, float(model.prices.log_p0[row]), work)
            trig = triggers(book, minima.get(row), float(np.log(model.prices0[book.asset_index])), n_paths)
        found.append((b, trig))
        n_ev += len(trig.path)
    del minima
    inc = draw_incidents(model.incidents, n_paths, T, component_rng(seed, chunk, INCIDENTS))
    # The events, book by book then the incidents, written straight into their arrays.
    n_ev += len(inc.path)
    ev_path, ev_step, ev_kind, ev_ref, ev_kb, ev_ka = (np.empty(n_ev, dtype=np.int64) for _ in range(6))
    ev_amount = np.empty(n_ev)
    o = 0
    for b, trig in found:
        e = slice(o, o + len(trig.path))
        ev_path[e] = trig.path
        np.add(trig.step, model.keeper_delay_steps, out=ev_step[e])
        np.minimum(ev_step[e], T, out=ev_step[e])  # settled `keeper_delay_steps` later, by the horizon
        ev_kind[e] = KIND_LIQUIDATION
        ev_ref[e] = b
        ev_kb[e] = trig.k_before
        ev_ka[e] = trig.k_after
        ev_amount[e] = 0.0
        o = e.stop
    e = slice(o, n_ev)
    ev_path[e] = inc.path
    ev_step[e] = inc.step
    ev_kind[e] = KIND_INCIDENT
    ev_ref[e] = inc.ref
    ev_kb[e] = 0
    ev_ka[e] = 0
    ev_amount[e] = inc.amount

    if fused:
        ev_prices = _prices_at_fused(model, logp, ev_path, ev_step, gathered)
    else:
        ev_prices = _prices_at(model, logp, ev_path, ev_step, pm)
    if model.run is not None:
        r = model.run.price_row
        lp0_run = float(model.prices.log_p0[r])
        if pm:
            starts = run_start_pm(logp[r], lp0_run, model.run.log_trigger)
        else:
            starts = run_start_tm(logp[r], lp0_run, model.run.log_trigger, work[0])
    else:
        starts = np.full(n_paths, -1, dtype=np.int64)
    rng_def = component_rng(seed, chunk, DEFAULTS)
    defaulted = np.zeros((n_paths, len(model.layers)), dtype=bool)
    for j, layer in enumerate(model.layers):
        if layer.can_default:
            assert isinstance(layer, GuarantorVector)
            draw = rng_def.random(n_paths)
            defaulted[:, j] = layer.defaulted0 | (draw < layer.default_probability)
    end_prices = (
        _prices_at(model, logp, np.arange(n_paths), np.full(n_paths, T), pm) if T == 0 else _end_prices(model, logp, pm)
    )
    sample = None
    if keep_paths > 0 and len(model.prices.assets):
        k = min(keep_paths, n_paths)
        sample = np.empty((len(model.prices.assets), k, T + 1))
        sample[:, :, 0] = model.prices.log_p0[:, None]
        sample[:, :, 1:] = logp[:, :k, :] if pm else logp[:, :, :k].transpose(0, 2, 1)
        np.exp(sample, out=sample)
    held, held_down = _held_prices(model, logp, down_pm if pm else down, pm)
    return World(
        n_paths=n_paths,
        ev_path=ev_path,
        ev_step=ev_step,
        ev_kind=ev_kind,
        ev_ref=ev_ref,
        ev_k_before=ev_kb,
        ev_k_after=ev_ka,
        ev_amount=ev_amount,
        ev_prices=ev_prices,
        run_start=starts,
        defaulted=defaulted,
        end_prices=end_prices,
        sample_prices=sample,
        held_log_prices=held,
        held_down=held_down,
    )


def _held_prices(model: SimModel, logp: np.ndarray, down: Any, pm: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Copies of the log prices and the oracle's outages, time-major, for phase B when a book's
    liquidations are found there (`Book.found_in_phase_b`); (None, None) otherwise."""
    if not any(book.found_in_phase_b for book in model.books):
        return None, None
    n_paths = logp.shape[1 if pm else 2]
    held = np.ascontiguousarray(logp.transpose(0, 2, 1)) if pm else logp.copy()
    if down is None:
        return held, None
    if pm:
        return held, np.ascontiguousarray(down.T)
    mask = np.zeros((model.n_steps, n_paths), dtype=bool)
    mask[down] = True
    return held, mask
