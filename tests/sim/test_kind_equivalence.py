"""Every registered layer kind: its vectorized rule (`<kind>/vector.py`) against its exact rule
(`<kind>/exact.py`), on small random worlds.

For each kind, hypothesis draws a scenario that puts the kind in a lending market's waterfall
(its size, caps, asset, haircut, withdrawal mode, rewards, run, default probability...), the
risk lab simulates a few hundred paths of it, and for a sample of paths with a loss the same
prices, liquidations, incidents, guarantor defaults, staker withdrawals and reward emissions are
replayed through `Engine.apply`. What each layer paid (and a pool's escaped withdrawals, a mint
layer's dilution) must agree. `CASES` is checked against the registry, so a kind registered
without a case here fails the suite.

Tolerance, and why: there is no price impact (depth 0), so the only differences are the
engine's integer rounding (18-decimal base units, every division rounded in the pool's favour,
reward and withdrawal amounts rounded to base units) against float64: ~1e-12 relative. We allow
1e-9 of the path's loss plus 1e-9 tokens per layer. Paths whose liquidations settle several
positions in one step are left out: there the simulator prices the range together (a documented
simplification, docs/risk-lab.md). The cover pool's case checks its slash, rewards and
withdrawals; its policies and claims have their own case at the end
(`test_cover_claims_and_pool_balance_match_the_exact_engine`).

Redistribution and Recovery Mode (Liquity): phase B finds those liquidations path by path, one
bucket (here one trove) each, and `compare` replays exactly those; besides what each layer paid
it checks the debt and collateral the pool took, the debt moved onto other troves and every
trove's entire debt and collateral at the horizon (`_compare_troves`: 1e-9 relative, the engine's
running sums rounding each trove's share within a base unit). Each has a control: a broken rule
must fail the comparison.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backstop.domain import commands as c
from backstop.domain.layers.registry import KINDS
from backstop.domain.layers.staking_pool.vector import settle_seconds
from backstop.scenario.loader import load_scenario
from backstop.scenario.runner import run as run_scenario
from backstop.sim.liquidation import phase_b_liquidations
from backstop.sim.model import SimModel, compile_model
from backstop.sim.waterfall import run_backstop
from backstop.sim.world import simulate_world

from .helpers import Drive, bucket_accounts, drive_engine, equivalence_spec, single_bucket_paths

N_PATHS = 300
SAMPLE = 6
DAY = 86_400
STEP_DAYS = 1

Case = Callable[[st.DrawFn], dict[str, Any]]


def _world(layers: dict[str, Any], waterfall: list[str], steps: list[dict[str, Any]], **sim: Any) -> dict[str, Any]:
    """The equivalence market (ten borrowers against ETH, exploits on the supply) with these layers,
    ending in `end` (socialize unless the case names another terminal kind)."""
    spec = equivalence_spec(0)
    spec["assets"]["GOV"] = {"decimals": 18}
    spec["prices"]["GOV"] = 50
    spec["layers"] = {**layers, "rest": {"kind": sim.pop("end", "socialize")}}
    market = spec["markets"]["lend"]
    market["waterfall"] = [*waterfall, "rest"]
    market.pop("fee_layer")
    market.update(sim.pop("market", {}))
    fee_layer = sim.pop("fee_layer", None)
    if sim.pop("fees_to", None):
        market["fee_layer"] = fee_layer
    else:
        market["liquidation_fee_bps"] = 0
    spec["steps"] = [s for s in spec["steps"] if s["do"] in ("supply", "open")] + steps
    spec["simulation"]["horizon_days"] = 90
    spec["simulation"]["chunk_paths"] = N_PATHS
    spec["simulation"]["incidents"][0]["per_year"] = 8
    if market["kind"] == "cdp":  # a cdp mints its debt: no supply, and exploits hit no cash it holds
        spec["steps"] = [s for s in spec["steps"] if s["do"] != "supply"]
        spec["simulation"]["incidents"] = []
    spec["simulation"].pop("guarantor_default_probability")
    spec["simulation"].update(sim)
    return spec


def _size(draw: st.DrawFn, lo: int = 200_000, hi: int = 4_000_000) -> int:
    return draw(st.integers(lo // 1000, hi // 1000)) * 1000


def _fund(draw: st.DrawFn, kind: str, cap_key: str) -> dict[str, Any]:
    """A fund or treasury in the loss asset, or in ETH that it sells at a haircut."""
    in_eth = draw(st.booleans())
    size = _size(draw)
    layer: dict[str, Any] = {"kind": kind, "asset": "ETH" if in_eth else "USD"}
    if draw(st.booleans()):
        layer[cap_key] = _size(draw, 100_000, 2_000_000)
    layer["haircut_bps"] = draw(st.integers(0, 2000)) if in_eth else 0
    if in_eth and kind == "insurance_fund":
        layer["swap"] = True
    deposit = round(size / 2000, 6) if in_eth else size
    return {
        "layers": {"x": layer},
        "waterfall": ["x"],
        "steps": [{"at": 0, "do": "deposit", "layer": "x", "account": "dao", "amount": deposit}],
        "sim": {"fees_to": not in_eth, "fee_layer": "x"},
    }


def _vault(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """A share vault in USD or in ETH (sold at a haircut), instant, cooldown or queue withdrawals,
    with emissions and a run of its stakers."""
    in_eth = draw(st.booleans())
    mode = draw(st.sampled_from(["instant", "cooldown", "queue"]))
    delay_days = draw(st.integers(1, 20))
    layer: dict[str, Any] = {
        "kind": kind,
        "asset": "ETH" if in_eth else "USD",
        "max_slash_bps": draw(st.integers(500, 10_000)),
        "haircut_bps": draw(st.integers(0, 1500)) if in_eth else 0,
    }
    if mode == "cooldown":
        layer.update(cooldown_seconds=delay_days * DAY, unstake_window_seconds=400 * DAY)
    elif mode == "queue":
        layer.update(mode="queue", queue_seconds=delay_days * DAY)
    size = _size(draw)
    if draw(st.booleans()):
        layer["min_remaining_assets"] = round(size * draw(st.floats(0.05, 0.5)) / (2000 if in_eth else 1), 6)
    stake = round(size / 2000, 6) if in_eth else size
    sim: dict[str, Any] = {
        "stakers": {
            "reward_apr": draw(st.sampled_from([0.0, 0.05, 0.3])),
            "run": {"drawdown_trigger": draw(st.floats(0.05, 0.4)), "fraction": draw(st.floats(0.1, 1.0))},
        }
    }
    return {
        "layers": {"fund": {"kind": "insurance_fund", "asset": "USD", "max_payout_per_event": 100_000}, "x": layer},
        "waterfall": ["fund", "x"],
        "steps": [
            {"at": 0, "do": "deposit", "layer": "fund", "account": "dao", "amount": 300_000},
            {"at": 0, "do": "stake", "layer": "x", "account": "s1", "amount": stake},
        ],
        "sim": sim,
    }


STAKING_VARIANTS = ("plain", "v1.5", "umbrella", "blend", "blend-admin")


def _staking_pool(draw: st.DrawFn, variant: str | None = None) -> dict[str, Any]:
    """A share vault (as `_vault`), plain or with one protocol's options: Aave v1.5's post-slash
    period, Umbrella's deficit offset, liquidation fee to a treasury and separate rewards, or
    Blend's bad-debt auction with its write-off threshold (and an admin-set pool status)."""
    case = _vault(draw, "staking_pool")
    x = case["layers"]["x"]
    stake = case["steps"][1]["amount"]
    variant = variant or draw(st.sampled_from(STAKING_VARIANTS))
    if variant == "v1.5":
        x["post_slash_lock"] = True
    elif variant == "umbrella":
        x["deficit_offset"] = draw(st.sampled_from([0, round(stake * 0.05, 6), round(stake * 0.3, 6)]))
        x["liquidation_fee_bps"] = draw(st.sampled_from([0, 100, 500, 1000]))
        x["liquidation_fee_to"] = "dao"
        if draw(st.booleans()):
            x["rewards"] = "separate"
        case["layers"] = {"dao": {"kind": "treasury", "asset": x["asset"], "cap": 50_000}, **case["layers"]}
        case["waterfall"].append("dao")
    elif variant in ("blend", "blend-admin"):
        x["auction_premium_bps"] = draw(st.sampled_from([1000, 2000, 3000, 4000]))
        x["backstop_threshold"] = round(stake * draw(st.sampled_from([0.5, 1.0, 4.0, 12.0])), 6)
    if variant == "blend-admin":
        # Blend's admin-set status: it freezes new borrows and supply only, which the risk lab's
        # static books never make, so the vectorized rule is the plain Blend backstop's; the
        # engine replays the status changes the stakers' run sets off (an admin active pool lost
        # at 50% queued) and must pay the same.
        x.update(admin_status="active", freeze_borrow_queued_bps=3000, freeze_supply_queued_bps=6000)
    return case


def _deficit(draw: st.DrawFn) -> dict[str, Any]:
    """An insurance fund then the deficit end: what the fund does not pay is the market's deficit."""
    return {
        "layers": {"fund": {"kind": "insurance_fund", "asset": "USD", "max_payout_per_event": 100_000}},
        "waterfall": ["fund"],
        "steps": [
            {"at": 0, "do": "deposit", "layer": "fund", "account": "dao", "amount": _size(draw, 10_000, 500_000)}
        ],
        "sim": {"end": "deficit"},
    }


def _stability_pool(draw: st.DrawFn) -> dict[str, Any]:
    """The pool in a lending market, or in a Liquity-style cdp (the borrower keeps nothing, the
    keeper takes a share of the collateral first, a sale's surplus goes to the fee layer)."""
    market: dict[str, Any] = {}
    if draw(st.booleans()):
        market = {"kind": "cdp", "gas_compensation_collateral_bps": draw(st.sampled_from([0, 50, 300]))}
    return {
        "layers": {
            "x": {"kind": "stability_pool", "asset": "USD"},
            "fund": {"kind": "insurance_fund", "asset": "USD"},
        },
        "waterfall": ["x", "fund"],
        "steps": [
            {"at": 0, "do": "deposit", "layer": "x", "account": "alice", "amount": _size(draw, 100_000, 6_000_000)},
            {"at": 0, "do": "deposit", "layer": "fund", "account": "dao", "amount": _size(draw)},
        ],
        "sim": {"fees_to": draw(st.booleans()), "fee_layer": "fund", "market": market},
    }


def _guarantor(draw: st.DrawFn) -> dict[str, Any]:
    g: dict[str, Any] = {
        "kind": "guarantor",
        "asset": "USD",
        "guarantor": "re",
        "attachment": _size(draw, 0, 1_000_000),
        "limit": _size(draw, 100_000, 4_000_000),
        "collateral": _size(draw, 0, 1_000_000),
        "premium_bps_per_year": draw(st.sampled_from([0, 200, 5000])),
        "payer": "fund",
    }
    if draw(st.booleans()):
        g["aggregate_limit"] = _size(draw, 100_000, 3_000_000)
    reinstatements = draw(st.sampled_from([None, 0, 1, 2]))
    if reinstatements is not None:
        # A thin limit so a few events in 90 days use the bank up and reinstatements run out.
        g["limit"] = _size(draw, 100_000, 800_000)
        g["reinstatements"] = reinstatements
        g["reinstatement_premium_bps"] = draw(st.sampled_from([0, 10_000, 50_000]))
    return {
        "layers": {"fund": {"kind": "insurance_fund", "asset": "USD", "max_payout_per_event": 50_000}, "x": g},
        "waterfall": ["fund", "x"],
        "steps": [
            {"at": 0, "do": "deposit", "layer": "fund", "account": "dao", "amount": _size(draw, 10_000, 500_000)}
        ],
        "sim": {"guarantor_default_probability": {"x": draw(st.sampled_from([0.0, 0.5, 1.0]))}},
    }


def _mint(draw: st.DrawFn) -> dict[str, Any]:
    """Sold at the time of the loss, or in debt auctions: whole lots after a delay, the protocol's
    fund before the layer (when drawn) paying what it holds first."""
    layer: dict[str, Any] = {"kind": "mint", "asset": "GOV", "discount_bps": draw(st.integers(0, 5000))}
    if draw(st.booleans()):
        layer["cap"] = _size(draw, 1_000, 100_000)
    if not draw(st.booleans()):
        return {"layers": {"x": layer}, "waterfall": ["x"], "steps": [], "sim": {}}
    layer["lot"] = _size(draw, 10_000, 800_000)
    layer["auction_delay_seconds"] = draw(st.sampled_from([0, 1, 2, 7, 30])) * DAY
    if not draw(st.booleans()):
        return {"layers": {"x": layer}, "waterfall": ["x"], "steps": [], "sim": {}}
    return {
        "layers": {"fund": {"kind": "insurance_fund", "asset": "USD"}, "x": layer},
        "waterfall": ["fund", "x"],
        "steps": [{"at": 0, "do": "deposit", "layer": "fund", "account": "dao", "amount": _size(draw, 0, 1_000_000)}],
        "sim": {"fees_to": True, "fee_layer": "fund"},
    }


def _socialize(draw: st.DrawFn) -> dict[str, Any]:
    return {"layers": {}, "waterfall": [], "steps": [], "sim": {}}


def _redistribution(draw: st.DrawFn) -> dict[str, Any]:
    """Liquity v1: a stability pool (from empty to deep), then redistribution to the other troves,
    then an insurance fund for the last trove's bad debt; gas compensation in collateral and in the
    debt asset drawn. Phase B finds the liquidations path by path (redistribution moves the other
    troves' liquidation prices), so `compare` replays those; it also checks every open trove's
    entire debt and collateral at the horizon (`_compare_troves`)."""
    market = {
        "kind": "cdp",
        "gas_compensation_collateral_bps": draw(st.sampled_from([0, 50, 300])),
        "gas_compensation": draw(st.sampled_from([0, 200])),
    }
    return {
        "layers": {
            "sp": {"kind": "stability_pool", "asset": "USD"},
            "x": {"kind": "redistribution"},
            "fund": {"kind": "insurance_fund", "asset": "USD"},
        },
        "waterfall": ["sp", "x", "fund"],
        "steps": [
            {"at": 0, "do": "deposit", "layer": lid, "account": who, "amount": amount}
            for lid, who, amount in (
                ("sp", "alice", _size(draw, 0, 6_000_000)),
                ("fund", "dao", _size(draw, 0, 2_000_000)),
            )
            if amount > 0
        ],
        "sim": {"fees_to": draw(st.booleans()), "fee_layer": "fund", "market": market},
    }


CASES: dict[str, Case] = {
    "insurance_fund": lambda draw: _fund(draw, "insurance_fund", "max_payout_per_event"),
    "treasury": lambda draw: _fund(draw, "treasury", "cap"),
    "staking_pool": _staking_pool,
    "cover_pool": lambda draw: _vault(draw, "cover_pool"),
    "stability_pool": _stability_pool,
    "guarantor": _guarantor,
    "mint": _mint,
    "socialize": _socialize,
    "deficit": _deficit,
    "redistribution": _redistribution,
}


def test_every_registered_kind_has_an_equivalence_case() -> None:
    assert set(CASES) == set(KINDS), "register an equivalence case for every layer kind"


@st.composite
def worlds(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    case = CASES[kind](draw)
    sim = dict(case["sim"])
    vol = draw(st.sampled_from([0.8, 1.2, 1.6]))
    spec = _world(case["layers"], case["waterfall"], case["steps"], **sim)
    spec["simulation"]["prices"]["assets"]["ETH"]["vol"] = vol
    return spec


def compare(
    spec: dict[str, Any],
    seed: int = 7,
    before_events: Callable[[Any, int], None] | None = None,
    n_sample: int = SAMPLE,
) -> dict[str, int]:
    """Simulate, replay the sampled paths through the engine, compare; count what the sample
    exercised (paths, paths where the kind's layer paid, escaped by a run, minted, slashed again
    after a `settle_slashing`). `before_events` adds governance steps to the replay."""
    scenario = load_scenario(copy.deepcopy(spec))
    model = compile_model(scenario, seed=seed)
    world = simulate_world(model, 0, N_PATHS)
    out = run_backstop(model, world)
    accounts = bucket_accounts(model, scenario)
    # Books in a market with redistribution are liquidated in phase B: replay those liquidations,
    # on the paths that had any (most have no loss: the other troves take what the pool cannot).
    world, found = phase_b_liquidations(model, world)
    ok = single_bucket_paths(world)
    sample = ok[out.loss[ok] > 0][:n_sample]
    if found:  # half with a loss (the last trove sold), half where the other troves took it all
        sample = np.concatenate([sample[: SAMPLE // 2], ok[(out.liquidations[ok] > 0) & (out.loss[ok] == 0)]])
        sample = sample[:SAMPLE]
        if model.books[0].recovery_ccr > 0:  # and a path where Recovery Mode closed a trove at the cap
            capped = [p for _, res in found.values() for p in np.unique(res.path[res.surplus > 0])]
            sample = np.unique(np.concatenate([sample, capped[:2]])).astype(np.int64)
    cols = {layer.id: j for j, layer in enumerate(model.layers)}
    x = cols.get("x", cols["rest"])
    prior = len(run_scenario(scenario).engine.state.losses)  # losses of the scenario's own steps
    seen = {"paths": len(sample), "paid": 0, "escaped": 0, "minted": 0, "auctions": 0, "healed": 0}
    seen |= {"cascades": 0, "sold": 0, "capped": 0, "slashed_after_settle": 0}
    for p in sample:
        seen["paid"] += int(out.alloc[p, x] > 0 or out.absorbed[p, x] > 0)
        seen["escaped"] += int(out.escaped[p, x] > 0)
        seen["minted"] += int(out.minted[p, x] > 0)
        d = drive_engine(model, scenario, world, int(p), accounts, before_events=before_events)
        d = _to_horizon(d, model, prior)
        settled = [i for i, ev in enumerate(d.engine.log) if ev.kind == "slashing_settled"]
        seen["slashed_after_settle"] += int(
            bool(settled) and any(ev.kind == "slashed" for ev in d.engine.log[settled[0] :])
        )
        tol = 1e-9 * out.loss[p] + 1e-9
        flop = d.engine.state.layers.get("x")
        seen["auctions"] += int(getattr(flop, "auctions", 0) > 0)
        seen["healed"] += int(getattr(flop, "healed", 0) > 0)
        for lid, j in cols.items():
            assert abs(d.alloc[lid] - out.alloc[p, j]) <= tol, (int(p), lid, d.alloc[lid], out.alloc[p, j])
            layer = model.layers[j]
            if layer.asset >= 0:
                unit = 10 ** model.decimals[layer.asset]
                got = d.escaped.get(lid, 0) / unit
                assert abs(got - out.escaped[p, j]) <= 1e-9 * max(1.0, got) + 1e-9, (int(p), lid, got)
                assert abs(d.minted.get(lid, 0) / unit - out.minted[p, j]) <= 1e-9 * max(1.0, out.minted[p, j])
        assert abs(d.bad_debt - out.bad_debt[p]) <= tol
        if found:
            _compare_troves(model, d, out, found, accounts, int(p))
            steps = [res.step[res.path == p] for _, res in found.values()]
            seen["cascades"] += int(any(len(s) > len(np.unique(s)) for s in steps))
            seen["sold"] += int(out.loss[p] > 0)
            seen["capped"] += int(any(ev.kind == "collateral_surplus" for ev in d.engine.log))
    return seen


def _compare_troves(
    model: SimModel, d: Drive, out: Any, found: dict[int, Any], accounts: list[list[str]], p: int
) -> None:
    """Redistribution: the debt the pool offset and the debt moved to other troves on path p, and
    every trove's entire debt and collateral at the horizon (pending rewards included, as
    Liquity's `getEntireDebtAndColl`), engine against risk lab. Tolerance: 1e-9 relative (plus
    1e-9 tokens): the engine's per-unit-staked sums round down with error feedback, so each
    trove's share is within a base unit of the exact one; float64 is ~1e-12 relative."""
    engine = d.engine
    scale = 10 ** model.decimals[model.loss_asset]
    moved = sum(int(ev.data["debt"]) for ev in engine.log if ev.kind == "redistributed") / scale
    for b, (_, res) in found.items():
        book = model.books[b]
        j, sp = book.redistribution_layer, model.markets[book.market_index].stability_pool
        if j >= 0:
            assert abs(moved - out.absorbed[p, j]) <= 1e-9 * max(1.0, moved) + 1e-9, (p, moved, out.absorbed[p, j])
        assert abs(d.absorbed - out.absorbed[p, sp]) <= 1e-9 * max(1.0, d.absorbed) + 1e-9, (p, d.absorbed)
        gained = (
            sum(int(ev.data["collateral"].get(book.collateral, 0)) for ev in engine.log if ev.kind == "sp_offset")
            / 10 ** model.decimals[book.asset_index]
        )
        want = float(res.collateral_to_pool[res.path == p].sum())
        assert abs(gained - want) <= 1e-9 * max(1.0, want) + 1e-9, (p, gained, want)
        m = engine.state.markets[book.market]
        layer = engine.state.layers[model.layers[j].id] if j >= 0 else None
        coll_unit = 10 ** model.decimals[book.asset_index]
        debt, coll = res.troves(book, p)
        k = int(res.settled[p])
        for i, acct in enumerate(accounts[b]):
            pos = m.positions[acct]
            extra_coll, extra_scaled = layer.pending(acct) if layer is not None else (0, 0)
            got_debt = m.debt_of_scaled(pos.scaled_debt + extra_scaled) / scale
            got_coll = (pos.collateral.get(book.collateral, 0) + extra_coll) / coll_unit
            if i < k:  # liquidated on the path: the engine left it nothing
                assert got_debt == 0 and got_coll == 0, (p, acct, got_debt, got_coll)
                continue
            for got, want in ((got_debt, debt[i - k]), (got_coll, coll[i - k])):
                assert abs(got - want) <= 1e-9 * max(1.0, want) + 1e-9, (p, acct, got, want)


def _to_horizon(d: Drive, model: SimModel, prior: int = 0) -> Drive:
    """The risk lab brings every path up to the horizon (its last round accrues), so the engine
    advances to it too: a mint layer's debt released by then is auctioned; then what each layer
    paid and minted is read again (over the path's losses: the `prior` ones are the scenario's)."""
    engine = d.engine
    engine.apply(c.Advance(at=max(engine.state.now, model.start_at + model.n_steps * model.step_seconds)))
    scale = 10 ** model.decimals[model.loss_asset]
    d.alloc = {layer.id: 0.0 for layer in model.layers}
    for loss in engine.state.losses[prior:]:
        for lid, v in loss.allocation.items():
            d.alloc[lid] += v / scale
    d.minted = {lid: getattr(layer, "minted", 0) for lid, layer in engine.state.layers.items()}
    return d


@pytest.mark.parametrize("kind", sorted(CASES))
def test_the_vectorized_rule_matches_the_exact_one(kind: str) -> None:
    seen: dict[str, int] = {}

    @settings(max_examples=5, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(worlds(kind))
    def check(spec: dict[str, Any]) -> None:
        for k, v in compare(spec).items():
            seen[k] = seen.get(k, 0) + v

    check()
    # The sample exercised the kind: its layer paid (or absorbed) on some path; a pool's stakers
    # ran with a withdrawal completed; a mint layer minted.
    assert seen["paths"] > 0 and seen["paid"] > 0, (kind, seen)
    if KINDS[kind].vector().share_price:
        assert seen["escaped"] > 0, (kind, seen)
    if kind == "mint":
        # ...and held debt auctions, with the fund before it healing released debt first
        assert seen["minted"] > 0 and seen["auctions"] > 0 and seen["healed"] > 0, (kind, seen)
    if kind == "redistribution":
        # ...a redistribution liquidated the next trove in the same step, and a last trove was sold
        assert seen["cascades"] > 0 and seen["sold"] > 0, (kind, seen)


@pytest.mark.parametrize("variant", STAKING_VARIANTS[1:])
def test_each_staking_pool_option_matches(variant: str) -> None:
    """Each protocol's staking-pool options on their own (the `staking_pool` case draws one of
    them per world; here every one is exercised)."""
    seen: dict[str, int] = {}

    @st.composite
    def world(draw: st.DrawFn) -> dict[str, Any]:
        case = _staking_pool(draw, variant)
        return _world(case["layers"], case["waterfall"], case["steps"], **case["sim"])

    @settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(world())
    def check(spec: dict[str, Any]) -> None:
        for k, v in compare(spec).items():
            seen[k] = seen.get(k, 0) + v

    check()
    assert seen["paths"] > 0 and seen["paid"] > 0, (variant, seen)


def _rule_changed_on_engine_side(spec: dict[str, Any], changed: dict[str, Any]) -> float:
    """Largest difference in what layer x paid, simulating `spec` but replaying `changed`."""
    scenario, other = load_scenario(copy.deepcopy(spec)), load_scenario(changed)
    model = compile_model(scenario, seed=7)
    world = simulate_world(model, 0, N_PATHS)
    out = run_backstop(model, world)
    accounts = bucket_accounts(model, other)
    ok = single_bucket_paths(world)
    sample = ok[out.loss[ok] > 0][:SAMPLE]
    j = [layer.id for layer in model.layers].index("x")
    return max(abs(drive_engine(model, other, world, int(p), accounts).alloc["x"] - out.alloc[p, j]) for p in sample)


def test_a_broken_post_slash_period_is_caught() -> None:
    """Control: an engine whose pool has no post-slash period, against a risk lab whose pool has
    one, differs (the second loss of a path is slashed in one and not the other)."""
    spec = _world(
        {"x": {"kind": "staking_pool", "asset": "USD", "max_slash_bps": 3000, "post_slash_lock": True}},
        ["x"],
        [{"at": 0, "do": "stake", "layer": "x", "account": "s1", "amount": 3_000_000}],
    )
    compare(spec)
    broken = copy.deepcopy(spec)
    broken["layers"]["x"]["post_slash_lock"] = False
    assert _rule_changed_on_engine_side(spec, broken) > 1.0


def _settle_after(layer: str, days: float) -> Callable[[Any, int], None]:
    """Governance in the replay: `settle_slashing` at the first step at least `days` after the slash
    that opened the pool's post-slashing period (what `simulation.settle_slashing_after_days` says)."""
    delay = settle_seconds(days)

    def settle(engine: Any, at: int) -> None:
        if not engine.state.layers[layer].in_post_slashing_period:
            return
        opened = None
        for ev in reversed(engine.log):
            if ev.kind == "slashing_settled" and ev.data.get("layer") == layer:
                break
            if ev.kind == "slashed" and ev.data.get("layer") == layer:
                opened = ev.at
        if opened is not None and at >= opened + delay:
            engine.apply(c.SettleSlashing(at=at, layer=layer))

    return settle


def _settling_world(days: float, slashed_at_start: bool = False) -> dict[str, Any]:
    """An Aave v1.5 pool (30% a slash) before the socialized end, exploits 16 a year over 90 days,
    governance settling each slashing `days` after it. `slashed_at_start`: the scenario's last step
    slashes the pool, so the simulation starts in its post-slashing period (counted from the
    start, which is here the slash's time)."""
    steps: list[dict[str, Any]] = [{"at": 0, "do": "stake", "layer": "x", "account": "s1", "amount": 3_000_000}]
    if slashed_at_start:
        steps.append(
            {"at": 0, "do": "incident", "market": "lend", "asset": "USD", "amount": 100_000, "cause": "exploit"}
        )
    spec = _world(
        {"x": {"kind": "staking_pool", "asset": "USD", "max_slash_bps": 3000, "post_slash_lock": True}},
        ["x"],
        steps,
        settle_slashing_after_days={"x": days},
    )
    spec["simulation"]["incidents"][0]["per_year"] = 16
    return spec


@pytest.mark.parametrize(("days", "slashed_at_start"), [(9, False), (2.5, False), (9, True)])
def test_a_settled_post_slash_period_matches(days: float, slashed_at_start: bool) -> None:
    """`simulation.settle_slashing_after_days` (staking_pool/vector.py) against the engine with a
    `settle_slashing` step that many days after each slash: the pool is slashed again after the
    settlement on some sampled paths, and what every layer paid agrees."""
    spec = _settling_world(days, slashed_at_start)
    seen = compare(spec, before_events=_settle_after("x", days), n_sample=12)
    assert seen["paid"] > 0 and seen["slashed_after_settle"] > 0, seen


def test_a_broken_settlement_is_caught() -> None:
    """Control: the same world replayed with no settlement (the period to the horizon, the old
    rule) or a settlement a day late disagrees with the simulation that settles."""
    spec = _settling_world(9)
    for broken in (None, _settle_after("x", 10)):
        with pytest.raises(AssertionError):
            compare(spec, before_events=broken, n_sample=12)


def test_a_broken_liquidation_fee_is_caught() -> None:
    """Control: the Umbrella fee dropped on the engine side only shows up (the pool pays less fee,
    so it has more to cover the next loss)."""
    layers = {
        "dao": {"kind": "treasury", "asset": "USD", "cap": 1},
        "x": {
            "kind": "staking_pool",
            "asset": "USD",
            "max_slash_bps": 5000,
            "liquidation_fee_bps": 5000,
            "liquidation_fee_to": "dao",
        },
    }
    spec = _world(layers, ["x", "dao"], [{"at": 0, "do": "stake", "layer": "x", "account": "s1", "amount": 1_000_000}])
    compare(spec)
    broken = copy.deepcopy(spec)
    broken["layers"]["x"]["liquidation_fee_bps"] = 0
    assert _rule_changed_on_engine_side(spec, broken) > 1.0


def test_a_broken_rule_is_caught() -> None:
    """The comparison is not vacuous: the engine's rule changed (a staking pool's slash cap
    halved on the engine side only) shows up as a difference."""
    spec = _world(
        {"x": {"kind": "staking_pool", "asset": "USD", "max_slash_bps": 4000}},
        ["x"],
        [{"at": 0, "do": "stake", "layer": "x", "account": "s1", "amount": 3_000_000}],
    )
    compare(spec)
    broken = copy.deepcopy(spec)
    broken["layers"]["x"]["max_slash_bps"] = 2000
    assert _rule_changed_on_engine_side(spec, broken) > 1.0


def test_a_broken_flop_rule_is_caught() -> None:
    """Debt auctions too: the engine's lot halved on the engine side only changes what is
    minted (whole lots: a different remainder waits), and the comparison sees it."""
    layers = {
        "fund": {"kind": "insurance_fund", "asset": "USD"},
        "x": {"kind": "mint", "asset": "GOV", "discount_bps": 1000, "lot": 700_000, "auction_delay_seconds": 2 * DAY},
    }
    steps = [{"at": 0, "do": "deposit", "layer": "fund", "account": "dao", "amount": 100_000}]
    spec = _world(layers, ["fund", "x"], steps, fees_to=True, fee_layer="fund")
    assert compare(spec)["auctions"] > 0
    broken = copy.deepcopy(spec)
    broken["layers"]["x"]["lot"] = 350_000
    scenario, changed = load_scenario(copy.deepcopy(spec)), load_scenario(broken)
    model = compile_model(scenario, seed=7)
    world = simulate_world(model, 0, N_PATHS)
    out = run_backstop(model, world)
    accounts = bucket_accounts(model, changed)
    ok = single_bucket_paths(world)
    sample = ok[out.loss[ok] > 0][:SAMPLE]
    j = [layer.id for layer in model.layers].index("x")
    unit = 10 ** model.decimals[model.layers[j].asset]
    diffs = [
        abs(
            _to_horizon(drive_engine(model, changed, world, int(p), accounts), model).minted["x"] / unit
            - out.minted[p, j]
        )
        for p in sample
    ]
    assert max(diffs) > 1.0


def _reinstating_world(reinstatements: int) -> dict[str, Any]:
    """A thin guarantor (300k xs 0, 1 reinstatement at 100% a.p. of a 50%/year premium) that
    every exploit uses, so the bank empties, is reinstated and runs out within 90 days."""
    g = {
        "kind": "guarantor",
        "asset": "USD",
        "guarantor": "re",
        "attachment": 0,
        "limit": 300_000,
        "premium_bps_per_year": 5000,
        "payer": "fund",
        "collateral": 100_000,
        "reinstatements": reinstatements,
        "reinstatement_premium_bps": 10_000,
    }
    return _world(
        {"fund": {"kind": "insurance_fund", "asset": "USD", "max_payout_per_event": 10_000}, "x": g},
        ["fund", "x"],
        [{"at": 0, "do": "deposit", "layer": "fund", "account": "dao", "amount": 400_000}],
    )


def _alloc_diffs(spec: dict[str, Any], engine_spec: dict[str, Any]) -> tuple[list[float], list[float]]:
    """(what x paid, engine − vector) on the sampled paths, the engine replaying `engine_spec`."""
    scenario = load_scenario(copy.deepcopy(spec))
    model = compile_model(scenario, seed=7)
    world = simulate_world(model, 0, N_PATHS)
    out = run_backstop(model, world)
    accounts = bucket_accounts(model, load_scenario(copy.deepcopy(engine_spec)))
    ok = single_bucket_paths(world)
    sample = ok[out.loss[ok] > 0][:SAMPLE]
    j = [layer.id for layer in model.layers].index("x")
    changed = load_scenario(copy.deepcopy(engine_spec))
    paid, diffs = [], []
    for p in sample:
        d = drive_engine(model, changed, world, int(p), accounts)
        paid.append(float(out.alloc[p, j]))
        diffs.append(d.alloc["x"] - float(out.alloc[p, j]))
    return paid, diffs


def test_reinstatements_match_and_a_broken_bank_is_caught() -> None:
    """Reinstatements on both sides: the limit bank and its premiums (paid by the fund, which
    pays the next loss first) agree path by path; an engine that reinstates once less does not."""
    spec = _reinstating_world(1)
    spec["simulation"]["incidents"][0]["per_year"] = 40
    compare(spec)
    paid, diffs = _alloc_diffs(spec, spec)
    # The bank was used beyond one limit on some path (a reinstatement happened).
    assert max(paid) > 300_000 + 1.0, paid
    assert max(abs(d) for d in diffs) < 1e-3
    broken = copy.deepcopy(spec)
    broken["layers"]["x"]["reinstatements"] = 0
    _, diffs = _alloc_diffs(spec, broken)
    assert max(abs(d) for d in diffs) > 1.0


# -- cover policies and claims (cover_pool/vector.py against domain/cover.py) ---------------------


def _cover_world(pool_in_eth: bool, in_waterfall: bool, voted: bool = False) -> dict[str, Any]:
    """A small fund before the socialized end, so exploits reach the suppliers; a cover pool (in USD,
    or in ETH so claims convert at the event's price; in the waterfall or beside it) that sold
    policies: ivy (a supplier) for exploits over 60 days and twice over the horizon (two policies on
    one loss: paid once), lp for bugs only (never hit: the world's incidents are exploits).
    `voted`: an assessor stakes into the pool's assessment stake, so its claims are decided by a
    stake-weighted vote (Nexus: 3-day vote, 1-day payout cooldown) and paid 4 days after filing."""
    pool: dict[str, Any] = {
        "kind": "cover_pool",
        "asset": "ETH" if pool_in_eth else "USD",
        "premium_bps_per_year": 300,
        "staker_reward_bps": 5000,
        "capacity_ratio_bps": 40_000,
        "max_slash_bps": 3000,
    }
    capital = 500 if pool_in_eth else 1_000_000
    amount = 400 if pool_in_eth else 800_000

    def cover(account: str, causes: list[str], days: int) -> dict[str, Any]:
        return {
            "at": 0,
            "do": "buy_cover",
            "pool": "x",
            "account": account,
            "market": "lend",
            "causes": causes,
            "amount": amount,
            "period_days": days,
        }

    steps = [
        {"at": 0, "do": "deposit", "layer": "fund", "account": "dao", "amount": 200_000},
        {"at": 0, "do": "deposit", "layer": "x", "account": "stakers", "amount": capital},
        {"at": 0, "do": "supply", "market": "lend", "account": "ivy", "amount": 25_000_000},
        cover("ivy", ["exploit"], 60),
        cover("ivy", ["exploit", "oracle"], 365),
        cover("lp", ["bug"], 365),
    ]
    if voted:
        steps.append({"at": 0, "do": "assessor_stake", "pool": "x", "account": "assessor", "amount": capital / 100})
    return _world(
        {"fund": {"kind": "insurance_fund", "asset": "USD", "max_payout_per_event": 100_000}, "x": pool},
        ["fund", "x"] if in_waterfall else ["fund"],
        steps,
    )


def _claim_all(engine: Any, at: int) -> None:
    """The risk lab's assumption: each policy that covers the incident files a claim for its owner's
    recorded loss at once, in policy-id order, and a single assessor approves it."""
    state = engine.state
    iid = f"inc-{len(state.incidents)}"
    inc = state.incidents[iid]
    loss = next(x for x in state.losses if x.id == inc["loss"])
    for pid in sorted(state.policies, key=lambda x: (len(x), x)):
        pol = state.policies[pid]
        lost = loss.by_account.get(pol.owner, 0)
        if pol.market != inc["market"] or inc["cause"] not in pol.causes or lost == 0:
            continue
        if not pol.start <= inc["at"] <= pol.end:
            continue
        engine.apply(c.FileClaim(at=at, policy=pid, incident=iid, loss=lost))
        cid = f"clm-{len(state.claims)}"
        engine.apply(c.AssessClaim(at=at, claim=cid, assessor="assessor", approve=True))


def _settle_due(engine: Any, at: int) -> None:
    """Governance in the replay of a vote-decided pool: `settle_claim` on every voted claim whose
    poll and payout cooldown ended by `at`, by due time then claim id (`cover.settle_claim`)."""
    state = engine.state
    cooldown = {lid: getattr(layer.config, "payout_cooldown_seconds", 0) for lid, layer in state.layers.items()}
    due = []
    for cid, claim in state.claims.items():
        if claim.status != "pending" or claim.poll_end is None:
            continue
        ready = claim.poll_end + cooldown[state.policies[claim.policy].pool]
        if ready <= at:
            due.append((ready, int(cid.split("-")[1]), cid))
    for ready, _, cid in sorted(due):
        engine.apply(c.SettleClaim(at=max(engine.state.now, ready if at < 0 else at), claim=cid))


def _settle_the_rest(engine: Any) -> None:
    """At the horizon: the claims still waiting are settled when due (the risk lab pays them from
    the pool as it stands at the horizon: nothing happens in between)."""
    state = engine.state
    for claim in sorted(state.claims.values(), key=lambda x: (x.poll_end or 0, int(x.id.split("-")[1]))):
        if claim.status == "pending" and claim.poll_end is not None:
            ready = claim.poll_end + state.layers[state.policies[claim.policy].pool].config.payout_cooldown_seconds
            engine.apply(c.SettleClaim(at=max(engine.state.now, ready), claim=claim.id))


def _compare_cover(spec: dict[str, Any]) -> dict[str, int]:
    """Simulate, replay the sampled paths with their claims through the engine, compare each
    policy's payout and the pool's balance at the horizon; count what the sample exercised (a
    claim paid after a loss that came between its filing and its payout: `overlap`)."""
    from backstop.sim.cover import policy_columns

    scenario = load_scenario(copy.deepcopy(spec))
    model = compile_model(scenario, seed=11)
    world = simulate_world(model, 0, N_PATHS)
    out = run_backstop(model, world)
    cols = policy_columns(model)
    assert [pol.id for _, _, pol in cols] == ["pol-1", "pol-2", "pol-3"]
    x = next(j for j, layer in enumerate(model.layers) if layer.id == "x")
    layer = model.layers[x]
    assert layer.assets0 > 0
    accounts = bucket_accounts(model, scenario)
    ok = single_bucket_paths(world)
    paid_paths = ok[out.claims[ok].sum(axis=1) > 0]
    # half the sample where two policies paid on one path, half where one did
    two = (out.claims[paid_paths] > 0).sum(axis=1) > 1
    paid_paths = [*paid_paths[two][: SAMPLE // 2], *paid_paths[~two][: SAMPLE - SAMPLE // 2]]
    quiet = ok[(out.incident_loss[ok] > 0) & (out.claims[ok].sum(axis=1) == 0)]
    unit = 10 ** model.decimals[layer.asset]
    seen = {"paths": 0, "both": 0, "short": 0, "overlap": 0}
    for p in [*paid_paths, *quiet[:2]]:
        d = drive_engine(model, scenario, world, int(p), accounts, after_incident=_claim_all, before_events=_settle_due)
        engine = d.engine
        engine.apply(c.Advance(at=max(engine.state.now, model.start_at + model.n_steps * model.step_seconds)))
        _settle_the_rest(engine)
        losses = [x.at for x in engine.state.losses]
        paid_at = {ev.data["claim"]: ev.at for ev in engine.log if ev.kind == "claim_paid"}
        seen["overlap"] += int(
            any(
                any(cl.filed_at < t < paid_at[cid] for t in losses)
                for cid, cl in engine.state.claims.items()
                if cid in paid_at
            )
        )
        for col, (_, _, pol) in enumerate(cols):
            got = engine.state.policies[pol.id].paid / unit
            want = float(out.claims[p, col])
            assert abs(got - want) <= 1e-9 * max(1.0, got) + 1e-9, (int(p), pol.id, got, want)
        balance = engine.state.layers["x"].total_assets(engine.state) / unit
        vector_balance = layer.assets0 * (1.0 + out.staker_apr[p, x] * model.horizon_years)
        assert abs(balance - vector_balance) <= 1e-9 * max(1.0, balance), (int(p), balance, vector_balance)
        seen["paths"] += 1
        seen["both"] += int(out.claims[p, 0] > 0 and out.claims[p, 1] > 0)
        seen["short"] += int(out.claims_short[p].any())
    assert out.claims[:, 2].max() == 0.0  # lp's bug cover is never hit by exploits
    return seen


@pytest.mark.parametrize(("pool_in_eth", "in_waterfall"), [(False, False), (False, True), (True, True)])
def test_cover_claims_and_pool_balance_match_the_exact_engine(pool_in_eth: bool, in_waterfall: bool) -> None:
    """Each sampled path is replayed through `Engine.apply` with a claim filed and approved on every
    covered incident (`_claim_all`); what each policy was paid and the pool's balance at the horizon
    must agree with the vectorized rule. Tolerance as for the layers (module docstring): integer
    rounding in the pool's favour against float64, ~1e-12 relative; we allow 1e-9 of the amount
    plus 1e-9 tokens. The pool's end balance is read from its share price: it has no rewards and no
    run here, so its shares do not move and balance = start assets × (1 + APR × horizon)."""
    seen = _compare_cover(_cover_world(pool_in_eth, in_waterfall))
    # the sample paid both of ivy's policies on one path (one loss, made good once), and, when the
    # pool is also slashed in the waterfall, cut a claim by the pool's balance
    assert seen["paths"] >= SAMPLE and seen["both"] > 0, seen
    if in_waterfall:
        assert seen["short"] > 0, seen


@pytest.mark.parametrize(("pool_in_eth", "in_waterfall"), [(False, True), (True, True), (False, False)])
def test_voted_claims_paid_after_the_vote_match_the_exact_engine(pool_in_eth: bool, in_waterfall: bool) -> None:
    """A pool with assessment stake: each claim is filed and voted on at its incident and settled
    (`settle_claim`) 3 + 1 days later, before the path's first event from then on (or at the
    horizon); the risk lab pays it then, from the pool's balance then. The sample holds paths where
    another loss came between a claim's filing and its payout, and paths where a claim was cut."""
    spec = _cover_world(pool_in_eth, in_waterfall, voted=True)
    spec["simulation"]["incidents"][0]["per_year"] = 20
    seen = _compare_cover(spec)
    assert seen["paths"] >= SAMPLE and seen["both"] > 0 and seen["overlap"] > 0, seen


def test_a_claim_paid_at_once_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Control: the risk lab's old rule (a voted claim paid at its incident) disagrees with the
    engine that settles the vote 4 days later."""
    from backstop.sim import cover

    spec = _cover_world(False, True, voted=True)
    spec["simulation"]["incidents"][0]["per_year"] = 20
    monkeypatch.setattr(cover.ClaimPlan, "delayed", property(lambda self: False))  # nothing waits
    with pytest.raises(AssertionError, match="pol-"):
        _compare_cover(spec)


def test_a_broken_claim_rule_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A vectorized rule that forgets what ivy's other policy already paid (pays one loss twice)
    must fail the comparison."""
    from backstop.domain.layers.cover_pool import vector

    real = vector.Vector.claim

    def twice(self: Any, s: Any, k: int, q: Any, at: Any, proven: Any, *rest: Any) -> Any:
        pol = self.policies[k]
        return real(self, s, k, q, at, proven + s.paid[q, k - 1] if k and pol.owner == "ivy" else proven, *rest)

    monkeypatch.setattr(vector.Vector, "claim", twice)
    with pytest.raises(AssertionError):
        _compare_cover(_cover_world(False, False))


def _redistribution_world() -> dict[str, Any]:
    """A Liquity market: a 1M pool for ~21M of troves, 3% of the collateral to the keeper."""
    steps = [{"at": 0, "do": "deposit", "layer": "sp", "account": "alice", "amount": 1_000_000}]
    layers = {"sp": {"kind": "stability_pool", "asset": "USD"}, "x": {"kind": "redistribution"}}
    market = {"kind": "cdp", "gas_compensation_collateral_bps": 300, "gas_compensation": 200}
    return _world(layers, ["sp", "x"], steps, market=market)


def test_a_broken_redistribution_rule_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Control: a risk-lab rule that gives the other troves 3% too much of the collateral it
    redistributes disagrees with the engine on the troves it moves."""
    from backstop.sim import liquidation

    spec = _redistribution_world()
    assert compare(spec)["cascades"] > 0
    rule = liquidation.redistribute

    def broken(a: Any, b: Any, rows: Any, debt: Any, coll: Any, coll_after: Any) -> None:
        rule(a, b, rows, debt, coll * 1.03, coll_after)

    monkeypatch.setattr(liquidation, "redistribute", broken)
    with pytest.raises(AssertionError):
        compare(spec)


@st.composite
def recovery_worlds(draw: st.DrawFn) -> dict[str, Any]:
    """Liquity with Recovery Mode (MCR 110%, CCR 150%): the `redistribution` case, or the pool then
    the fund without redistribution (the rest of a trove is then sold), with a deeper pool. The
    troves start at collateral ratios 155% to 200% (a book of close ratios, so that Recovery Mode
    finds troves between the MCR and the TCR) and open healthiest first (a trove that would bring
    the total collateral ratio below the CCR is refused)."""
    case = _redistribution(draw)
    if draw(st.booleans()):
        case["layers"].pop("x")
        case["waterfall"].remove("x")
    case["sim"]["market"].update(min_collateral_ratio_bps=11000, recovery_ccr_bps=15000)
    case["steps"] = [s for s in case["steps"] if s["layer"] != "sp"]
    case["steps"].append(
        {"at": 0, "do": "deposit", "layer": "sp", "account": "alice", "amount": _size(draw, 2_000_000, 8_000_000)}
    )
    spec = _world(case["layers"], case["waterfall"], case["steps"], **case["sim"])
    spec["markets"]["lend"]["collateral"]["ETH"]["liquidation_threshold_bps"] = 9091
    return _close_ratios(spec)


def _close_ratios(spec: dict[str, Any]) -> dict[str, Any]:
    """The equivalence book's troves re-opened at collateral ratios 200% down to 155%, in that order."""
    opens = [s for s in spec["steps"] if s["do"] == "open"][::-1]
    for i, s in enumerate(opens):
        s["collateral"] = {"ETH": round((2.0 - 0.05 * i) * s["debt"] / 2000, 6)}
    spec["steps"] = [s for s in spec["steps"] if s["do"] != "open"] + opens
    return spec


def test_recovery_mode_matches_the_exact_one() -> None:
    """Recovery Mode (`domain/markets/liquidation.py`, `_liquidateRecoveryMode`): troves above the
    MCR closed against the pool at 110% of their debt while the TCR is below 150%, the surplus left
    to the borrower; what each layer paid, the pool's debt and collateral, and every trove agree."""
    seen: dict[str, int] = {}

    @settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(recovery_worlds())
    def check(spec: dict[str, Any]) -> None:
        for k, v in compare(spec).items():
            seen[k] = seen.get(k, 0) + v

    check()
    assert seen["paths"] > 0 and seen["capped"] > 0 and seen["sold"] > 0, seen


def test_a_broken_recovery_cap_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Control: a risk-lab rule whose pool keeps the capped trove's whole collateral (no surplus
    to claim) disagrees with the engine on the collateral the pool received."""
    from backstop.sim import liquidation

    spec = _redistribution_world()
    spec["markets"]["lend"].update(min_collateral_ratio_bps=11000, recovery_ccr_bps=15000)
    spec["markets"]["lend"]["collateral"]["ETH"]["liquidation_threshold_bps"] = 9091
    for step in spec["steps"]:
        if step["do"] == "deposit":
            step["amount"] = 6_000_000  # a pool deep enough to take whole troves
    spec = _close_ratios(spec)
    assert compare(spec)["capped"] > 0
    settle = liquidation._settle_bucket

    def broken(book: Any, *args: Any) -> tuple[Any, ...]:
        out = list(settle(book, *args))
        surplus = out[12]
        out[5] = out[5] + surplus * (1.0 - book.gas_collateral)  # the pool takes the surplus too
        return tuple(out)

    monkeypatch.setattr(liquidation, "_settle_bucket", broken)
    with pytest.raises(AssertionError):
        compare(spec)
