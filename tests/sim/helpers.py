"""Shared scenarios of the risk-lab tests, and a driver that replays one simulated path through
the exact engine: each vectorized rule is checked by driving the exact engine with the same
path and comparing (docs/risk-lab.md)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from backstop.domain import commands as c
from backstop.domain.layers.staking_pool import auction
from backstop.scenario.loader import Scenario
from backstop.scenario.runner import run as run_scenario
from backstop.sim.api import SimulationResult
from backstop.sim.model import SimModel
from backstop.sim.stakers import withdrawal_schedule
from backstop.sim.world import KIND_INCIDENT, KIND_LIQUIDATION, World

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CDP = EXAMPLES / "risk_lab_cdp.yaml"


def assert_same_results(a: SimulationResult, b: SimulationResult) -> None:
    """Two runs are the same bit for bit: summary, every outcome array (NaNs included) and the
    kept sample paths (determinism across executors, drawing ahead or not)."""
    assert a.summary() == b.summary()
    for f in fields(a.outcome):
        x, y = getattr(a.outcome, f.name), getattr(b.outcome, f.name)
        assert x.tobytes() == y.tobytes(), f.name
    assert a.sample_prices is not None and b.sample_prices is not None
    assert a.sample_prices.tobytes() == b.sample_prices.tobytes()
    if a.sample_liquidations is not None or b.sample_liquidations is not None:
        assert a.sample_liquidations is not None and b.sample_liquidations is not None
        assert a.sample_liquidations.tobytes() == b.sample_liquidations.tobytes()


HEALTHS = (1.08, 1.12, 1.18, 1.25, 1.33, 1.45, 1.6, 1.8, 2.1, 2.6)


def equivalence_spec(depth_value: int = 20_000_000) -> dict[str, Any]:
    """A lending market with ten borrowers against ETH and every layer kind that pays a loss:
    stability pool (absorbs first), insurance fund (per-event cap, receives liquidation fees and
    pays the guarantor's premium), staking pool (30% max slash), guarantor (2M xs 500k, 500k
    collateral, may default), treasury (per-event cap), socialize. Exploits hit the supply."""
    steps: list[dict[str, Any]] = [
        {"at": 0, "do": "supply", "market": "lend", "account": "lp", "amount": 100_000_000},
        {"at": 0, "do": "deposit", "layer": "sp", "account": "alice", "amount": 1_500_000},
        {"at": 0, "do": "deposit", "layer": "fund", "account": "dao", "amount": 2_000_000},
        {"at": 0, "do": "deposit", "layer": "dao", "account": "dao", "amount": 1_000_000},
        {"at": 0, "do": "stake", "layer": "stake", "account": "s1", "amount": 3_000_000},
    ]
    for i, h in enumerate(HEALTHS):
        debt = 1_000_000 + 250_000 * i
        coll = round(h * debt / (2000 * 0.85), 6)
        steps.append(
            {"at": 0, "do": "open", "market": "lend", "account": f"b{i}", "collateral": {"ETH": coll}, "debt": debt}
        )
    return {
        "name": "equivalence",
        "assets": {"USD": {"decimals": 18}, "ETH": {"decimals": 18}},
        "prices": {"USD": 1, "ETH": 2000},
        "layers": {
            "sp": {"kind": "stability_pool", "asset": "USD"},
            "fund": {"kind": "insurance_fund", "asset": "USD", "max_payout_per_event": 1_000_000},
            "stake": {"kind": "staking_pool", "asset": "USD", "cooldown_seconds": 864000, "max_slash_bps": 3000},
            "g1": {
                "kind": "guarantor",
                "asset": "USD",
                "guarantor": "re",
                "attachment": 500_000,
                "limit": 2_000_000,
                "premium_bps_per_year": 200,
                "payer": "fund",
                "collateral": 500_000,
            },
            "dao": {"kind": "treasury", "asset": "USD", "cap": 400_000},
            "rest": {"kind": "socialize"},
        },
        "markets": {
            "lend": {
                "kind": "lending",
                "debt_asset": "USD",
                "liquidation_fee_bps": 1000,
                "fee_layer": "fund",
                "collateral": {
                    "ETH": {
                        "ltv_bps": 8000,
                        "liquidation_threshold_bps": 8500,
                        "liquidation_bonus_bps": 500,
                        "depth_value": depth_value,
                        "impact_k_bps": 2000,
                    }
                },
                "waterfall": ["sp", "fund", "stake", "g1", "dao", "rest"],
            }
        },
        "steps": steps,
        "simulation": {
            "horizon_days": 120,
            "chunk_paths": 400,
            "prices": {"assets": {"ETH": {"vol": 1.2, "jumps": {"per_year": 4, "mean": -0.15, "std": 0.1}}}},
            "incidents": [
                {
                    "market": "lend",
                    "per_year": 4,
                    "severity": {"median_fraction": 0.02, "sigma": 1.0, "max_fraction": 0.1},
                }
            ],
            "guarantor_default_probability": {"g1": 0.3},
        },
    }


def with_simulation(spec: dict[str, Any], **updates: Any) -> dict[str, Any]:
    out = copy.deepcopy(spec)
    out["simulation"].update(updates)
    return out


@dataclass
class Drive:
    alloc: dict[str, float]
    """What each layer paid over the path, whole tokens of the loss asset."""
    bad_debt: float
    absorbed: float
    """Debt the stability pool absorbed."""
    liquidations: int
    incidents: int
    escaped: dict[str, float] = field(default_factory=dict)
    """Base units each pool paid the running staker."""
    minted: dict[str, int] = field(default_factory=dict)
    """Base units of governance token each layer minted."""
    engine: Any = None


def bucket_accounts(model: SimModel, scenario: Scenario) -> list[list[str]]:
    """For each book, the account behind each bucket (every position is its own bucket when a book
    has no more positions than `liquidation.buckets`), in the sim's order: D/C highest first."""
    state = run_scenario(scenario).engine.state
    out: list[list[str]] = []
    for book in model.books:
        m = state.markets[book.market]
        rows = []
        for acct in sorted(m.positions):
            pos = m.positions[acct]
            debt = m.debt_of(pos) / 10 ** state.assets[m.debt_asset]
            coll = pos.collateral.get(book.collateral, 0) / 10 ** state.assets[book.collateral]
            if debt > 0 and coll > 0:
                rows.append((debt / coll, acct, debt))
        order = sorted(range(len(rows)), key=lambda i: -rows[i][0])
        assert book.n_buckets == len(order), "each position must be its own bucket"
        np.testing.assert_allclose(np.cumsum([rows[i][2] for i in order]), book.cum_debt[1:], rtol=1e-12)
        out.append([rows[i][1] for i in order])
    return out


def path_events(world: World, p: int) -> np.ndarray:
    """Path p's world events in the order phase B processes them: by step, kind, then reference."""
    idx = np.nonzero(world.ev_path == p)[0]
    out: np.ndarray = idx[np.lexsort((world.ev_ref[idx], world.ev_kind[idx], world.ev_step[idx]))]
    return out


def single_bucket_paths(world: World) -> np.ndarray:
    """Paths on which every liquidation settlement is one bucket, i.e. one engine `liquidate`."""
    liq = world.ev_kind == KIND_LIQUIDATION
    ok = np.ones(world.n_paths, dtype=bool)
    ok[np.unique(world.ev_path[liq & (world.ev_k_after - world.ev_k_before > 1)])] = False
    out: np.ndarray = np.nonzero(ok)[0]
    return out


def _runs(model: SimModel, world: World, p: int) -> list[tuple[int, int, int, float]]:
    """The stakers' run on path p as (request step, completion step, pool layer, fraction of the
    start's shares), the withdrawals `waterfall._withdrawal_events` completes (one wave each:
    the equivalence cases leave `queued_trigger` unset, so an account has one request)."""
    start = int(world.run_start[p])
    if model.run is None or start < 0:
        return []
    out = []
    for j, layer in enumerate(model.layers):
        if not layer.share_price:
            continue
        delay = layer.withdraw_delay_steps  # type: ignore[attr-defined]
        for offset, q in withdrawal_schedule(model.run, delay, model.n_steps):
            if start + offset <= model.n_steps:
                out.append((start + offset - delay, start + offset, j, q))
    return out


def keeper_fills(engine: Any, at: int) -> None:
    """Fill every open Blend bad-debt auction at once, at the first block where its lot is worth
    its bid (the competitive keeper the risk lab assumes, `staking_pool/auction.py`)."""
    for lid in sorted(engine.state.layers):
        layer = engine.state.layers[lid]
        if getattr(layer, "auction", None) is not None:
            block = auction.keeper_fill_block(layer, engine.state)
            engine.apply(c.FillAuction(at=at, layer=lid, account="keeper", block=block))


def drive_engine(
    model: SimModel,
    scenario: Scenario,
    world: World,
    p: int,
    accounts: list[list[str]],
    staker: str = "s1",
    after_incident: Callable[[Any, int], None] | None = None,
    before_events: Callable[[Any, int], None] | None = None,
) -> Drive:
    """Replay path p through `Engine.apply`: the guarantor defaults the world drew, then at each
    event step `SetPrice` (the simulated price), `Advance` (premiums), `Reward` (the emissions the
    simulator accrued since the path's previous event), the withdrawals of stakers who ran
    (`staker` holds the pool's shares; the request goes in `delay` steps before), and the step's
    `Liquidate` and `Incident` commands, in the simulator's order; `before_events(engine, at)` runs
    just before the step's world events."""
    engine = run_scenario(scenario).engine
    la = model.loss_asset_name
    scale = 10 ** model.decimals[model.loss_asset]
    for j, layer in enumerate(model.layers):
        if layer.can_default and world.defaulted[p, j] and not layer.defaulted0:  # type: ignore[attr-defined]
            engine.apply(c.GuarantorDefaults(at=model.start_at, layer=layer.id))
    runs = _runs(model, world, p)
    start_shares = {j: engine.state.layers[model.layers[j].id].shares.get(staker, 0) for _, _, j, _ in runs}
    world_events = path_events(world, p)
    steps = sorted({int(world.ev_step[e]) for e in world_events} | {done for _, done, _, _ in runs})
    requests = sorted({req for req, done, _, _ in runs if req < done})
    n_liq = n_inc = 0
    last_step = 0
    for step in sorted(set(steps) | set(requests)):
        at = model.start_at + step * model.step_seconds
        for req, done, j, q in runs:
            if req == step and req < done:
                shares = min(start_shares[j], round(q * start_shares[j]))  # float q × a big int may overshoot
                engine.apply(c.RequestWithdraw(at=at, layer=model.layers[j].id, account=staker, shares=shares))
        if step not in steps:
            continue
        for a, sym in enumerate(model.assets):
            if model.price_rows[a] >= 0:
                e0 = next((e for e in world_events if int(world.ev_step[e]) == step), None)
                if e0 is not None:
                    price_e18 = round(float(world.ev_prices[e0, a]) * 10**18)
                    engine.apply(c.SetPrice(at=at, asset=sym, price_e18=price_e18))
        engine.apply(c.Advance(at=at))
        dt = (step - last_step) * model.dt_years
        last_step = step
        for layer in model.layers:
            apr = getattr(layer, "reward_apr", 0.0)
            if apr > 0 and dt > 0:
                dec = model.decimals[layer.asset]
                amount = round(apr * layer.assets0 * dt * 10**dec)  # type: ignore[attr-defined]
                if amount > 0:
                    engine.apply(c.Reward(at=at, layer=layer.id, amount=amount, source="external:world"))
        for _, done, j, q in runs:
            if done == step:
                shares = min(start_shares[j], round(q * start_shares[j]))  # float q × a big int may overshoot
                pool = engine.state.layers[model.layers[j].id]
                if pool.assets_for_shares(shares, pool.total_assets(engine.state)) == 0:
                    continue  # a drained pool pays nothing, as in the simulator (the engine refuses it)
                engine.apply(c.Withdraw(at=at, layer=model.layers[j].id, account=staker, shares=shares, amount=None))
        if before_events is not None:  # governance steps due by now (settle_slashing, settle_claim)
            before_events(engine, at)
        for e in world_events:
            if int(world.ev_step[e]) != step:
                continue
            kind, ref = int(world.ev_kind[e]), int(world.ev_ref[e])
            if kind == KIND_LIQUIDATION:
                book = model.books[ref]
                for k in range(int(world.ev_k_before[e]), int(world.ev_k_after[e])):
                    engine.apply(c.Liquidate(at=at, market=book.market, account=accounts[ref][k]))
                    keeper_fills(engine, at)
                    n_liq += 1
            elif kind == KIND_INCIDENT:
                inc = model.incidents[ref]
                amount = round(float(world.ev_amount[e]) * scale)
                engine.apply(
                    c.Incident(at=at, market=model.markets[inc.market].id, asset=la, amount=amount, cause=inc.cause)
                )
                keeper_fills(engine, at)
                if after_incident is not None:  # claims on it (the cover case)
                    after_incident(engine, at)
                n_inc += 1
    alloc = {layer.id: 0.0 for layer in model.layers}
    bad = 0.0
    for loss in engine.state.losses:
        for lid, v in loss.allocation.items():
            alloc[lid] += v / scale
        if loss.cause == "bad_debt":
            bad += loss.amount / scale
    absorbed = 0.0
    escaped: dict[str, float] = {}
    for ev in engine.log:
        if ev.kind == "sp_offset":
            absorbed += int(ev.data.get("debt", 0)) / scale
        if ev.kind == "unstaked" and ev.data.get("account") == staker:
            escaped[ev.data["layer"]] = escaped.get(ev.data["layer"], 0.0) + int(ev.data["amount"])
    minted = {lid: getattr(layer, "minted", 0) for lid, layer in engine.state.layers.items()}
    return Drive(alloc, bad, absorbed, n_liq, n_inc, escaped, minted, engine)
