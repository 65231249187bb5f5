"""Price one cover by the risk lab (issue 14 item 5, docs/service.md `POST /v1/quotes`).

The cover a buyer asks for is added, as a policy starting now, to the pool's policies in force
on the simulated state (after them in claim order: a new policy has the highest id), and the
paths are run with the claim rule of `cover_pool/vector.py`. Its premium is the expected payout
of that policy over its period times (1 + the pool's `quote_loading_bps`), with the 95% interval
of the Monte Carlo mean carried through the same factor. The horizon is the cover's period.
The state the quote is priced on is the scenario's (for the service: a copy of the live state at
a state hash, a `StartState`, so a quote never replays the history); its reference values (the
pool's assets, the market's TVL) are read from the same state, so the engine can later check the
state has not moved beyond the quote's tolerance.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..domain.commands import INCIDENT_CAUSES
from ..domain.context import Ctx
from ..domain.cover import market_tvl
from ..domain.errors import CoverError, InvalidAmount, UnknownEntity
from ..domain.layers.cover_pool.exact import CoverPool
from ..domain.layers.cover_pool.vector import PolicyVector, owner_share
from ..domain.layers.cover_pool.vector import Vector as CoverVector
from ..domain.money import BPS
from ..scenario.loader import Scenario
from ..scenario.runner import run as run_scenario
from . import api, metrics
from .config import parse_simulation
from .cover import policy_columns
from .model import StartState, _Compiler

QUOTE_POLICY = "pol-quote"
"""The quoted cover's id in the model: sorts after every `pol-N` (claims are filed in id order)."""


@dataclass(frozen=True)
class CoverQuote:
    premium: int
    premium_low: int
    premium_high: int
    expected_payout: int
    """Base units of the pool's asset (premium rounded up, the low bound down)."""
    expected_payout_se: float
    """Whole tokens."""
    loading_bps: int
    tolerance_bps: int
    pool_assets: int
    market_tvl: int
    """Base units when quoted: the pool's assets (its asset), the market's TVL (its debt asset)."""
    asset: str
    decimals: int


def quote_cover(
    scenario: Scenario | StartState,
    pool: str,
    market: str,
    account: str,
    amount: int,
    period_days: int,
    causes: tuple[str, ...],
    paths: int,
    seed: int,
) -> CoverQuote:
    """The premium of `amount` (base units) of cover from `pool` on `market` for `account`."""
    api.check_paths(paths)
    api.check_seed(seed)
    simulation: Any
    if isinstance(scenario, StartState):
        state, simulation = scenario.state, dict(scenario.simulation)
    else:
        state, simulation = run_scenario(scenario).engine.state, scenario.spec.simulation
    layer = state.layers.get(pool)
    if not isinstance(layer, CoverPool):
        raise UnknownEntity("pool", f"pool: {pool!r} is not a cover pool")
    if market not in state.markets:
        raise UnknownEntity("market", f"market: unknown market {market!r}")
    if not causes or any(c not in INCIDENT_CAUSES for c in causes):
        raise CoverError("causes", f"causes: each must be one of {', '.join(INCIDENT_CAUSES)}; got {list(causes)}")
    if amount <= 0:
        raise InvalidAmount("amount", f"amount: must be positive, got {amount}")
    if period_days <= 0:
        raise InvalidAmount("period_days", f"period_days: must be positive, got {period_days}")
    ctx = Ctx(state, state.now, 0)  # read-only: nothing is applied
    capacity, active = layer.capacity(ctx), layer.active_cover(ctx)
    if active + amount > capacity:
        raise CoverError(
            "amount",
            f"amount: {pool} can sell {ctx.tokens(layer.asset, max(0, capacity - active))} more cover, "
            f"asked {ctx.tokens(layer.asset, amount)}",
        )
    spec = parse_simulation(simulation).model_copy(update={"horizon_days": period_days})
    model = _Compiler(scenario.name, spec, state, seed, None).compile()
    j = model.layer_index(pool, "pool")
    vec = model.layers[j]
    assert isinstance(vec, CoverVector)
    decimals = int(state.assets[layer.asset])
    start = int(state.now)
    asked = PolicyVector(
        id=QUOTE_POLICY,
        owner=account,
        market=market,
        causes=tuple(causes),
        left=amount / 10**decimals,
        start=start,
        end=start + period_days * 86_400,
        share=owner_share(state, market, account),
        premium_earned=0.0,
    )
    layers = list(model.layers)
    layers[j] = dataclasses.replace(vec, policies=(*vec.policies, asked))
    model = dataclasses.replace(model, layers=tuple(layers))
    col = next(i for i, (jj, _, pol) in enumerate(policy_columns(model)) if jj == j and pol.id == QUOTE_POLICY)
    res = api.simulate(model, paths=paths, seed=seed, keep_paths=0)
    payout = metrics.mean(res.outcome.claims[:, col])
    se = 0.0 if math.isnan(payout.se) else payout.se
    loading = layer.config.quote_loading_bps
    factor = 1.0 + loading / BPS
    scale = float(10**decimals)

    def up(x: float) -> int:
        return max(0, math.ceil(x * scale))

    return CoverQuote(
        premium=up(payout.value * factor),
        premium_low=max(0, math.floor((payout.value - metrics.Z95 * se) * factor * scale)),
        premium_high=up((payout.value + metrics.Z95 * se) * factor),
        expected_payout=up(payout.value),
        expected_payout_se=se,
        loading_bps=loading,
        tolerance_bps=layer.config.quote_tolerance_bps,
        pool_assets=layer.total_assets(state),
        market_tvl=market_tvl(ctx, market),
        asset=layer.asset,
        decimals=decimals,
    )


def as_dict(q: CoverQuote) -> dict[str, Any]:
    return dataclasses.asdict(q)
