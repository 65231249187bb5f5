"""Insurance fund in the risk lab: the exact rule (`exact.py`) on all paths at once.

It pays in the loss asset up to its per-event cap, then (with `swap`) sells its other holdings
at the price less the haircut, in asset order; liquidation fees add to its loss-asset balance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from ...money import BPS
from ..base_vector import Absorb, VectorLayer, pay_in_kind, pay_in_kind_one

if TYPE_CHECKING:
    from ....sim.model import LayerCompiler, SimModel


@dataclass
class BalanceState:
    bal: np.ndarray
    """(paths, assets) holdings."""


@dataclass(frozen=True)
class BalanceVector(VectorLayer):
    cap: float = math.inf
    """Per-event cap in loss-asset units."""
    swap: bool = False
    haircut: float = 0.0
    balances: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Holdings per asset at the start."""

    size_meaning: ClassVar[str | None] = "balance of the layer's asset"

    @classmethod
    def compile(cls, c: LayerCompiler, layer: Any) -> Self:
        cap_raw = layer.event_cap
        return cls(
            layer.id,
            layer.kind,
            asset=c.asset_of(layer),
            cap=math.inf if cap_raw is None else c.units(c.loss_asset_name, cap_raw),
            swap=layer.swaps,
            haircut=layer.haircut_bps / BPS,
            balances=c.holdings(layer),
        )

    def size_of(self) -> float:
        return float(self.balances[self.asset])

    def with_size(self, size: float) -> Self:
        bal = self.balances.copy()
        bal[self.asset] = size
        return replace(self, balances=bal)

    def start(self, n: int, defaulted: np.ndarray) -> BalanceState:
        return BalanceState(np.repeat(self.balances[None, :], n, axis=0))

    def credits_fees(self, la: int) -> bool:
        return True

    def credit(self, s: BalanceState, m: int, amount: np.ndarray, la: int) -> None:
        s.bal[:m, la] += amount

    def absorb(self, s: BalanceState, a: Absorb) -> np.ndarray:
        p, la, bal = a.p, a.la, s.bal
        budget = np.minimum(a.remaining, self.cap)
        units, paid = pay_in_kind(bal[p, la], a.loss_price, a.loss_price, 0.0, budget, True)
        bal[p, la] -= units
        if self.swap:
            for k in range(len(a.model.assets)):
                if k == la or not np.any(bal[p, k] > 0):
                    continue
                units, cov = pay_in_kind(bal[p, k], a.prices[:, k], a.loss_price, self.haircut, budget - paid, False)
                bal[p, k] -= units
                paid = paid + cov
        return paid

    def scalar_params(self, model: SimModel) -> np.ndarray | None:
        return np.array([self.cap, 1.0 if self.swap else 0.0, self.haircut])

    def scalar_state(self, model: SimModel) -> np.ndarray:
        return np.array(self.balances, dtype=float)


@dataclass(frozen=True)
class Vector(BalanceVector):
    """The insurance fund: `BalanceVector` with its own cap, swap flag and haircut."""


# -- per-path scalar rule (compiled phase B): `BalanceVector` on one path -------------------------
# state st[so + k]: holdings of asset k; params par[po:]: cap, swap (0/1), haircut.


def balance_credit(st: np.ndarray, so: int, la: int, amount: float) -> None:
    st[so + la] += amount


def balance_absorb(
    st: np.ndarray, so: int, par: np.ndarray, po: int, prices: np.ndarray, la: int, remaining: float
) -> float:
    cap = par[po]
    budget = remaining if remaining < cap else cap
    loss_price = prices[la]
    units, paid = pay_in_kind_one(st[so + la], loss_price, loss_price, 0.0, budget, True)
    st[so + la] -= units
    if par[po + 1] != 0.0:
        for k in range(len(prices)):
            if k == la or not st[so + k] > 0:
                continue
            units, cov = pay_in_kind_one(st[so + k], prices[k], loss_price, par[po + 2], budget - paid, False)
            st[so + k] -= units
            paid = paid + cov
    return paid
