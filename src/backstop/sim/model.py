"""Compile a scenario into the risk lab's model: the state its steps leave, plus `simulation:`.

The scenario's steps run through the exact engine first (docs/risk-lab.md: the simulation starts from
the state the scenario's steps leave), so layer balances, staked shares, stability-pool deposits
and positions are the engine's own. The model is then plain floats and NumPy arrays in whole
tokens, picklable, so it can be shipped once to every worker.

A `StartState` skips the steps: the live book (`api/jobs.live_source`) is simulated from a copy
of the service's state, never by replaying the history that made it, so a live job's or a
quote's cost follows the state's size, not the log's length.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..domain.errors import InvalidConfig
from ..domain.layers.base_vector import VectorLayer
from ..domain.layers.registry import kind_of_layer
from ..domain.money import BPS, WAD
from ..scenario.loader import Scenario, load_scenario
from ..scenario.runner import run as run_scenario
from .config import SimulationSpec, parse_simulation
from .positions import Book, RawPositions, bucket, generate, read_csv
from .prices import PriceModel, compile_prices

POSITIONS_STREAM = 0x5051_7053
"""Entropy word that separates the position generator's stream from the chunks' streams."""

LOSS_NUMERAIRE = "USD"
"""The unit of aggregate losses when markets use several debt assets: scenario prices are quote
units per whole token (docs/scenario-format.md: USD), so a debt asset's amount times its fixed
price is its value in this unit."""


@dataclass(frozen=True)
class StartState:
    """A state to simulate from as it stands, with its `simulation:` section: no steps to run.

    Why: compiling a scenario replays its steps through the engine. For the live book those steps
    would be the service's whole command log (millions of commands after a year); a copy of the
    state (`api/jobs.live_source`, O(state)) gives the same model."""

    name: str
    simulation: Mapping[str, Any]
    state: Any
    """An engine `State` that nothing else mutates (a copy)."""


@dataclass(frozen=True)
class MarketSim:
    id: str
    kind: str
    waterfall: tuple[int, ...]
    fee_layer: int
    """Layer that receives liquidation fees (-1: none)."""
    stability_pool: int
    """The stability pool that absorbs liquidations first (-1: none)."""
    tvl: float
    """Whole tokens of the market's debt asset."""
    debt_asset: int = -1
    """Index of the market's debt asset: its losses, bad debt and fees are in it."""
    unit_value: float = 1.0
    """Loss units per whole token of the debt asset: 1.0 when every market has this debt asset
    (the loss unit is the asset itself), else its fixed price (the loss unit is the quote unit)."""


@dataclass(frozen=True)
class IncidentSim:
    market: int
    per_horizon: float
    """Expected incidents over the horizon."""
    dist: str
    median_fraction: float
    sigma: float
    min_fraction: float
    alpha: float
    max_fraction: float
    cause: str
    tvl: float


@dataclass(frozen=True)
class RunSim:
    price_row: int
    log_trigger: float
    """Run when log(price / running peak) ≤ this."""
    fraction: float
    queued_trigger: float | None


@dataclass(frozen=True)
class SimModel:
    name: str
    assets: tuple[str, ...]
    decimals: tuple[int, ...]
    prices0: np.ndarray
    price_rows: np.ndarray
    """(n_assets,) row of each asset in the simulated price array, -1 when its price is fixed."""
    prices: PriceModel
    horizon_days: int
    steps_per_day: int
    n_steps: int
    step_seconds: int
    start_at: int
    """Engine time (seconds) the simulation starts at: the time of the scenario's last step."""
    chunk_paths: int
    loss_asset: int
    """Index of the debt asset every market shares, the loss unit; -1 when markets use several
    debt assets: aggregate amounts are then in quote units (`LOSS_NUMERAIRE`) at the debt assets'
    fixed prices, and each market's own figures in its debt asset (`MarketSim.unit_value`)."""
    layers: tuple[VectorLayer, ...]
    markets: tuple[MarketSim, ...]
    books: tuple[Book, ...]
    keeper_delay_steps: int
    outages_per_horizon: float
    outage_mean_steps: float
    incidents: tuple[IncidentSim, ...]
    run: RunSim | None
    seed: int
    spec: SimulationSpec

    @property
    def dt_years(self) -> float:
        return 1.0 / (365.0 * self.steps_per_day)

    @property
    def horizon_years(self) -> float:
        return self.horizon_days / 365.0

    @property
    def several_debt_assets(self) -> bool:
        return self.loss_asset < 0

    @property
    def loss_asset_name(self) -> str:
        """The unit of the aggregate amounts: the shared debt asset, or `LOSS_NUMERAIRE`."""
        return LOSS_NUMERAIRE if self.several_debt_assets else self.assets[self.loss_asset]

    @property
    def debt_assets(self) -> tuple[str, ...]:
        """The markets' debt assets, sorted."""
        return tuple(sorted({self.assets[m.debt_asset] for m in self.markets}))

    def layer_index(self, layer_id: str, field: str = "layer") -> int:
        for i, layer in enumerate(self.layers):
            if layer.id == layer_id:
                return i
        known = ", ".join(layer.id for layer in self.layers)
        raise InvalidConfig(field, f"{field}: unknown layer {layer_id!r} (layers: {known})")

    def with_size(self, layer_id: str, size: float) -> SimModel:
        """The same model with one layer resized (what `backstop size` bisects over)."""
        i = self.layer_index(layer_id)
        if size < 0 or not math.isfinite(size):
            raise InvalidConfig("size", f"size: must be a non-negative number, got {size}")
        layers = list(self.layers)
        layers[i] = layers[i].with_size(float(size))  # an int (0) would make phase B's arrays int64
        return dataclasses.replace(self, layers=tuple(layers))

    def size_of(self, layer_id: str) -> float:
        return self.layers[self.layer_index(layer_id)].size_of()


def compile_model(
    source: str | Path | Scenario | StartState,
    seed: int = 0,
    horizon_days: int | None = None,
    base_dir: Path | None = None,
    chunk_paths: int | None = None,
) -> SimModel:
    """Load (if needed) and run the scenario, then compile its `simulation:` section (a
    `StartState` is compiled as it stands)."""
    scenario: Scenario | None = None
    if isinstance(source, StartState):
        simulation: Any = dict(source.simulation)
    elif isinstance(source, Scenario):
        scenario = source
    else:
        path = Path(source)
        scenario = load_scenario(path)
        base_dir = base_dir or path.resolve().parent
    if scenario is not None:
        simulation = scenario.spec.simulation
    spec = parse_simulation(simulation)
    updates: dict[str, Any] = {}
    if horizon_days is not None:
        if horizon_days <= 0:
            raise InvalidConfig("horizon_days", f"horizon_days: must be positive, got {horizon_days}")
        updates["horizon_days"] = horizon_days
    if chunk_paths is not None:
        if chunk_paths <= 0:
            raise InvalidConfig("chunk_paths", f"chunk_paths: must be positive, got {chunk_paths}")
        updates["chunk_paths"] = chunk_paths
    if updates:
        spec = spec.model_copy(update=updates)
    if scenario is None:
        assert isinstance(source, StartState)
        return _Compiler(source.name, spec, source.state, seed, base_dir).compile()
    result = run_scenario(scenario)
    return _Compiler(scenario.name, spec, result.engine.state, seed, base_dir).compile()


class LayerCompiler:
    """What a kind's `Vector.compile` may read: the engine's state, the model's assets, the
    `simulation:` section, and unit conversion to whole tokens."""

    def __init__(self, compiler: _Compiler, loss_assets: list[str], layer_ids: list[str], layer_id: str = "") -> None:
        self.state = compiler.state
        self.spec = compiler.spec
        self.assets = compiler.assets
        self._loss_assets = loss_assets
        self.several_debt_assets = compiler.several_debt_assets
        """The model's markets use several debt assets (the loss unit is then the quote unit)."""
        self._layer_id = layer_id
        self.layer_ids = layer_ids
        self.units = compiler.units
        self.asset_index = compiler.asset_index
        self.step_seconds = 86_400 // compiler.spec.steps_per_day

    @property
    def loss_asset_name(self) -> str:
        """The debt asset of the losses that reach this layer (what a per-event cap or a lot is
        counted in). A layer in the waterfalls of markets with different debt assets has none,
        and a kind that needs it is refused, naming the layer."""
        if len(self._loss_assets) != 1:
            f = f"layers.{self._layer_id}"
            raise InvalidConfig(
                f,
                f"{f}: serves markets in {', '.join(self._loss_assets)}; the risk lab needs this layer's amounts "
                "per loss (a per-event cap, a debt-auction lot) in one debt asset: give each debt asset its own layer",
            )
        return self._loss_assets[0]

    def asset_of(self, layer: Any) -> int:
        asset = layer.config.asset
        return self.asset_index.get(asset, -1) if asset else -1

    def holdings(self, layer: Any) -> np.ndarray:
        """Whole tokens of every model asset in the layer's account."""
        return np.array([self.units(a, self.state.ledger.balance(layer.account, a)) for a in self.assets])

    def reward_apr(self, layer_id: str) -> float:
        reward = self.spec.stakers.reward_apr
        return float(reward.get(layer_id, 0.0)) if isinstance(reward, dict) else float(reward)

    def default_probability(self, layer_id: str) -> float:
        return float(self.spec.guarantor_default_probability.get(layer_id, 0.0))


class _Compiler:
    def __init__(self, name: str, spec: SimulationSpec, state: Any, seed: int, base_dir: Path | None) -> None:
        self.name = name
        self.spec = spec
        self.state = state
        self.seed = seed
        self.base_dir = base_dir
        self.assets = tuple(sorted(state.assets))
        self.asset_index = {a: i for i, a in enumerate(self.assets)}
        self.decimals = tuple(state.assets[a] for a in self.assets)
        self.debt_assets = sorted({m.debt_asset for m in state.markets.values()})
        self.several_debt_assets = len(self.debt_assets) > 1

    def units(self, asset: str, amount: int) -> float:
        return float(amount / 10 ** int(self.state.assets[asset]))

    def compile(self) -> SimModel:
        spec, state = self.spec, self.state
        n_steps = spec.horizon_days * spec.steps_per_day
        missing = [a for a in self.assets if a not in state.prices]
        if missing:
            raise InvalidConfig("prices", f"prices: the simulation needs a start price for {', '.join(missing)}")
        prices0 = np.array([state.prices[a] / WAD for a in self.assets])
        price_model = compile_prices(
            spec.prices,
            {a: float(p) for a, p in zip(self.assets, prices0, strict=True)},
            spec.steps_per_day,
            self.base_dir,
            n_steps,
        )
        rows = np.full(len(self.assets), -1, dtype=np.int64)
        for r, a in enumerate(price_model.assets):
            rows[self.asset_index[a]] = r
        if not state.markets:
            raise InvalidConfig("markets", "markets: the simulation needs at least one market")
        for debt in self.debt_assets:
            if rows[self.asset_index[debt]] >= 0:
                field = f"simulation.prices.assets.{debt}"
                raise InvalidConfig(field, f"{field}: the loss (debt) asset's price is held fixed; do not simulate it")
        loss_asset = -1 if self.several_debt_assets else self.asset_index[self.debt_assets[0]]
        layers = self.layers()
        layer_ids = [layer.id for layer in layers]
        markets = self.markets(layers, layer_ids, prices0)
        books = self.books(markets, rows, prices0)
        step_seconds = 86_400 // spec.steps_per_day
        run = self.run_rule(books, rows, price_model)
        incidents = self.incidents(markets)
        return SimModel(
            name=self.name,
            assets=self.assets,
            decimals=self.decimals,
            prices0=prices0,
            price_rows=rows,
            prices=price_model,
            horizon_days=spec.horizon_days,
            steps_per_day=spec.steps_per_day,
            n_steps=n_steps,
            step_seconds=step_seconds,
            start_at=state.now,
            chunk_paths=spec.chunk_paths,
            loss_asset=loss_asset,
            layers=tuple(layers),
            markets=tuple(markets),
            books=tuple(books),
            keeper_delay_steps=spec.liquidation.keeper_delay_steps,
            outages_per_horizon=spec.oracle_outages.per_year * spec.horizon_days / 365.0,
            outage_mean_steps=spec.oracle_outages.mean_steps,
            incidents=tuple(incidents),
            run=run,
            seed=self.seed,
            spec=spec,
        )

    # -- layers ---------------------------------------------------------------------------------
    def layers(self) -> list[VectorLayer]:
        """Each layer compiled by its kind's vectorized rule (`<kind>/vector.py`), told the debt
        asset of the losses that reach it (a layer in no waterfall: every debt asset's)."""
        state, spec = self.state, self.spec
        ids = sorted(state.layers)
        out = [
            kind_of_layer(state.layers[lid])
            .vector()
            .compile(LayerCompiler(self, self.loss_assets_of(lid), ids, lid), state.layers[lid])
            for lid in ids
        ]
        reward = spec.stakers.reward_apr
        if isinstance(reward, dict):
            for lid in reward:
                if lid not in ids or not out[ids.index(lid)].share_price:
                    f = f"simulation.stakers.reward_apr.{lid}"
                    raise InvalidConfig(f, f"{f}: not a staking pool of the scenario")
        for lid in spec.settle_slashing_after_days:
            f = f"simulation.settle_slashing_after_days.{lid}"
            if lid not in ids or not out[ids.index(lid)].settles_slashing():
                raise InvalidConfig(f, f"{f}: not a staking pool with post_slash_lock in the scenario")
        for lid, p in spec.guarantor_default_probability.items():
            f = f"simulation.guarantor_default_probability.{lid}"
            if lid not in ids or not out[ids.index(lid)].can_default:
                raise InvalidConfig(f, f"{f}: not a guarantor layer of the scenario")
            if not 0.0 <= p <= 1.0:
                raise InvalidConfig(f, f"{f}: a probability must be in [0, 1], got {p}")
        return out

    def loss_assets_of(self, layer_id: str) -> list[str]:
        """The debt assets of the markets whose waterfall holds the layer or that pay it fees."""
        state = self.state
        account = state.layers[layer_id].account
        mine = sorted(
            {
                m.debt_asset
                for m in state.markets.values()
                if layer_id in m.config.waterfall or state.fee_layer_account(m) == account
            }
        )
        return mine or self.debt_assets

    # -- markets --------------------------------------------------------------------------------
    def markets(self, layers: list[VectorLayer], layer_ids: list[str], prices0: np.ndarray) -> list[MarketSim]:
        state = self.state
        out: list[MarketSim] = []
        for mid in sorted(state.markets):
            m = state.markets[mid]
            if m.config.recovery_ccr_bps:
                self.check_recovery_mode(mid)
            wf = tuple(layer_ids.index(lid) for lid in m.config.waterfall)
            fee_account = state.fee_layer_account(m)
            fee_layer = next((i for i, lid in enumerate(layer_ids) if state.layers[lid].account == fee_account), -1)
            sp = wf[0] if layers[wf[0]].absorbs_liquidations else -1
            dec = state.assets[m.debt_asset]
            if m.kind == "lending" and m.supply_assets > 0:
                tvl = m.supply_assets / 10**dec
            else:
                tvl = m.total_debt() / 10**dec
            debt = self.asset_index[m.debt_asset]
            value = float(prices0[debt]) if self.several_debt_assets else 1.0
            out.append(MarketSim(mid, m.kind, wf, fee_layer, sp, tvl, debt, value))
        return out

    # -- books ----------------------------------------------------------------------------------
    def books(self, markets: list[MarketSim], rows: np.ndarray, prices0: np.ndarray) -> list[Book]:
        state, spec = self.state, self.spec
        market_ids = [m.id for m in markets]
        raw: dict[tuple[str, str], list[RawPositions]] = {}
        for mid in market_ids:
            m = state.markets[mid]
            dec = state.assets[m.debt_asset]
            redistribution = self.redistribution_layer(mid)
            for acct in sorted(m.positions):
                pos = m.positions[acct]
                if redistribution >= 0:  # a trove with the redistributions it has not yet taken
                    pos = self.entire_trove(mid, acct, pos)
                debt = m.debt_of(pos)
                if debt == 0:
                    continue
                held = [(a, v) for a, v in sorted(pos.collateral.items()) if v > 0]
                if len(held) > 1:
                    raise InvalidConfig(
                        f"markets.{mid}",
                        f"markets.{mid}: position {acct} has {len(held)} collateral assets; the risk lab "
                        "simulates single-collateral positions",
                    )
                a, v = held[0] if held else (next(iter(m.coll)), 0)
                raw.setdefault((mid, a), []).append(
                    RawPositions(mid, a, np.array([debt / 10**dec]), np.array([self.units(a, v)]))
                )
        gen_rng = np.random.default_rng(np.random.SeedSequence([self.seed, POSITIONS_STREAM]))
        for i, ps in enumerate(spec.positions):
            field = f"simulation.positions.{i}"
            if ps.market not in state.markets:
                raise InvalidConfig(f"{field}.market", f"{field}.market: unknown market {ps.market!r}")
            m = state.markets[ps.market]
            if ps.csv is not None:
                for r in read_csv(ps, i, self.base_dir):
                    if r.collateral not in m.coll:
                        raise InvalidConfig(
                            f"{field}.csv", f"{field}.csv: {r.collateral} is not a collateral of {ps.market}"
                        )
                    raw.setdefault((ps.market, r.collateral), []).append(r)
                continue
            if ps.collateral not in m.coll:
                raise InvalidConfig(
                    f"{field}.collateral", f"{field}.collateral: {ps.collateral!r} is not a collateral of {ps.market}"
                )
            assert ps.collateral is not None
            cc = m.coll[ps.collateral]
            p = float(prices0[self.asset_index[ps.collateral]])
            pd = float(prices0[self.asset_index[m.debt_asset]])
            raw.setdefault((ps.market, ps.collateral), []).append(
                generate(ps, i, p, pd, cc.liquidation_threshold_bps / BPS, gen_rng)
            )
        books: list[Book] = []
        for (mid, asset), parts in sorted(raw.items()):
            m = state.markets[mid]
            cc = m.coll[asset]
            d_b, c_b, n = bucket(parts, spec.liquidation.buckets)
            if n == 0:
                continue
            lt = cc.liquidation_threshold_bps / BPS
            pd = float(prices0[self.asset_index[m.debt_asset]])
            with np.errstate(divide="ignore"):
                ratio = np.where(c_b > 0, d_b / np.where(c_b > 0, c_b, 1.0), np.inf)
                liq = ratio * pd / lt
                neg_log = -np.log(liq)
            books.append(
                Book(
                    market=mid,
                    market_index=market_ids.index(mid),
                    collateral=asset,
                    asset_index=self.asset_index[asset],
                    price_row=int(rows[self.asset_index[asset]]),
                    lt=lt,
                    bonus=cc.liquidation_bonus_bps / BPS,
                    depth_value=float(cc.depth_value),
                    impact_k=cc.impact_k_bps / BPS,
                    max_impact=cc.max_impact_bps / BPS,
                    fee=m.config.liquidation_fee_bps / BPS,
                    debt_price=pd,
                    neg_log_liq=neg_log,
                    neg_ratio=-ratio,
                    cum_debt=np.concatenate([[0.0], np.cumsum(d_b)]),
                    cum_coll=np.concatenate([[0.0], np.cumsum(c_b)]),
                    n_positions=n,
                    seize_all=m.kind == "cdp" and markets[market_ids.index(mid)].stability_pool >= 0,
                    gas_collateral=m.config.gas_compensation_collateral_bps / BPS,
                    redistribution_layer=self.redistribution_layer(mid),
                    min_collateral_ratio=m.config.min_collateral_ratio_bps / BPS,
                    recovery_ccr=m.config.recovery_ccr_bps / BPS,
                )
            )
        return books

    def check_recovery_mode(self, market_id: str) -> None:
        """The risk lab mirrors Liquity's Recovery Mode behind a stability pool that serves only
        this market (phase B owns the pool's deposits of the path, `liquidation.liquidate_paths`)."""
        f = f"markets.{market_id}.recovery_ccr_bps"
        state = self.state
        first = state.layers[state.markets[market_id].config.waterfall[0]]
        if not first.first_in_waterfall:
            raise InvalidConfig(f, f"{f}: the risk lab simulates Recovery Mode behind a stability pool (Liquity)")
        shared = sorted(mid for mid, m in state.markets.items() if mid != market_id and first.id in m.config.waterfall)
        if shared:
            raise InvalidConfig(
                f,
                f"{f}: the risk lab simulates Recovery Mode only when the stability pool {first.id} serves no "
                f"other market (it is also in {', '.join(shared)})",
            )

    def redistribution_layer(self, market_id: str) -> int:
        """Column of the market's `redistribution` layer in the model (layers sorted by id), or -1."""
        ids = sorted(self.state.layers)
        found = [lid for lid in self.state.markets[market_id].config.waterfall if self.state.layers[lid].redistributes]
        return ids.index(found[0]) if found else -1

    def entire_trove(self, market_id: str, account: str, pos: Any) -> Any:
        """Liquity's `getEntireDebtAndColl`: the trove with its pending redistribution rewards."""
        m = self.state.markets[market_id]
        layer = next(self.state.layers[x] for x in m.config.waterfall if self.state.layers[x].redistributes)
        extra_coll, extra_scaled = layer.pending(account)
        if not extra_coll and not extra_scaled:
            return pos
        coll = dict(pos.collateral)
        asset = m.only_collateral()
        coll[asset] = coll.get(asset, 0) + extra_coll
        return dataclasses.replace(pos, collateral=coll, scaled_debt=pos.scaled_debt + extra_scaled)

    def run_rule(self, books: list[Book], rows: np.ndarray, prices: PriceModel) -> RunSim | None:
        rule = self.spec.stakers.run
        if rule is None:
            return None
        if rule.asset is not None:
            if rule.asset not in self.asset_index or rows[self.asset_index[rule.asset]] < 0:
                f = "simulation.stakers.run.asset"
                raise InvalidConfig(f, f"{f}: {rule.asset!r} is not a simulated asset")
            row = int(rows[self.asset_index[rule.asset]])
        else:
            candidates = [b.price_row for b in books if b.price_row >= 0]
            row = candidates[0] if candidates else (0 if prices.assets else -1)
        if row < 0:
            f = "simulation.stakers.run"
            raise InvalidConfig(f, f"{f}: a run needs a simulated asset to watch")
        return RunSim(row, math.log(1.0 - rule.drawdown_trigger), rule.fraction, rule.queued_trigger)

    def incidents(self, markets: list[MarketSim]) -> list[IncidentSim]:
        out: list[IncidentSim] = []
        ids = [m.id for m in markets]
        for i, inc in enumerate(self.spec.incidents):
            if inc.market not in ids:
                f = f"simulation.incidents.{i}.market"
                raise InvalidConfig(f, f"{f}: unknown market {inc.market!r}")
            k = ids.index(inc.market)
            s = inc.severity
            out.append(
                IncidentSim(
                    market=k,
                    per_horizon=inc.per_year * self.spec.horizon_days / 365.0,
                    dist=s.dist,
                    median_fraction=s.median_fraction,
                    sigma=s.sigma,
                    min_fraction=s.min_fraction,
                    alpha=s.alpha,
                    max_fraction=s.max_fraction,
                    cause=inc.cause,
                    tvl=inc.tvl if inc.tvl is not None else markets[k].tvl,
                )
            )
        return out
