"""Redistribution in the risk lab: Liquity v1's redistribution (`exact.py`) in closed form.

Why phase B finds these liquidations itself. Redistribution moves the liquidated trove's
remaining debt and collateral onto the other troves, which moves their liquidation prices while
the path runs; phase A's triggers come from fixed liquidation prices, so for a book in a market
with this layer phase A only keeps the price path, and phase B (`sim/liquidation.py`,
`liquidate_paths`) finds every liquidation against the stability pool's deposits of the path,
with this module's closed form.

The closed form that makes it exact. Liquity's stakes are proportional to a trove's entire
collateral: a stake is coll × totalStakesSnapshot / totalCollateralSnapshot, and the snapshot
ratio is exactly the ratio of stakes to entire collateral of the troves it was taken over, which
redistribution multiplies by one common factor (liquity/dev at
5174ecd0da4842157aba989499200d690b7e374f, `TroveManager.sol`: `_computeNewStake`,
`_updateSystemSnapshots_excludeCollRemainder`). So with every trove's debt d and collateral c at
the start of the path, after redistributions adding up to A of debt and B of collateral per unit
of starting collateral (the running sums L_LUSDDebt, L_ETH times the common stake ratio),

    entire debt  = d + A·c,    entire collateral = (1 + B)·c,
    debt / coll  = (d/c + A) / (1 + B)                      (`trove_ratio`),
    liquidation price = (d/c + A) / (1 + B) · p_debt / lt.

The map d/c ↦ (d/c + A)/(1 + B) is increasing, so the order of the troves by collateral ratio
never changes: the troves liquidated by any time are a prefix of the book sorted by d/c (what the
book already is), and a bucket of troves stays an exact aggregate (every quantity is linear in
(d, c)). One liquidation leaving debt D_r and collateral C_r after the keeper's and the pool's
shares spreads them over the troves after it, whose starting collateral is c_rest:
A += D_r / c_rest, B += C_r / c_rest (`redistribute`). With no trove after it the rest is sold
and any bad debt runs down the waterfall.

What remains approximate: a bucket holding several troves is liquidated as one (the bucket
width, `liquidation.buckets`; with one trove per bucket the rule is the engine's, tested in
tests/sim/test_kind_equivalence.py), and float64 against the engine's integers (~1e-12).

In the report the layer's `absorbed_mean` is the debt moved onto other troves, and its
`pool_loss_mean` (what it bears) is that debt less the value of the collateral moved with it at
the settlement price: the other troves' loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from ...errors import InvalidConfig
from ..base_vector import AbsorbingLayer

if TYPE_CHECKING:
    from ....sim.model import LayerCompiler


@dataclass(frozen=True)
class Vector(AbsorbingLayer):
    market: str = ""

    @classmethod
    def compile(cls, c: LayerCompiler, layer: Any) -> Self:
        field = f"layers.{layer.id}"
        mid = layer.market
        market = c.state.markets[mid] if mid is not None else None
        first = c.state.layers[market.config.waterfall[0]] if market is not None else None
        if market is None or first is None or not first.first_in_waterfall:  # Liquity's stability pool
            raise InvalidConfig(
                field,
                f"{field}: the risk lab simulates redistribution right after a stability pool (Liquity), "
                "in the waterfall of a cdp market",
            )
        shared = sorted(m for m, other in c.state.markets.items() if m != mid and first.id in other.config.waterfall)
        if shared:
            raise InvalidConfig(
                field,
                f"{field}: the risk lab simulates redistribution only when its stability pool {first.id} serves "
                f"no other market (it is also in {', '.join(shared)})",
            )
        return cls(layer.id, layer.kind, market=mid)


def trove_ratio(ratio0: np.ndarray, debt_per_coll: np.ndarray, coll_per_coll: np.ndarray) -> np.ndarray:
    """Entire debt per entire collateral token of troves that started at `ratio0`, after
    redistributions of `debt_per_coll` (A) and `coll_per_coll` (B) per unit of starting collateral:
    (d/c + A) / (1 + B). Increasing in d/c, so the troves' order never changes."""
    with np.errstate(invalid="ignore"):
        out: np.ndarray = (ratio0 + debt_per_coll) / (1.0 + coll_per_coll)
    return out


def redistribute(
    debt_per_coll: np.ndarray,
    coll_per_coll: np.ndarray,
    rows: np.ndarray,
    debt: np.ndarray,
    coll: np.ndarray,
    coll_after: np.ndarray,
) -> None:
    """`_redistributeDebtAndColl` in closed form: `debt` and `coll` of the liquidated bucket on
    path rows[i] go to the buckets after it, whose starting collateral is `coll_after`, pro rata
    (their stakes are proportional to it): A += debt / coll_after, B += coll / coll_after, in place."""
    debt_per_coll[rows] += debt / coll_after
    coll_per_coll[rows] += coll / coll_after
