"""Share vault in the risk lab (the staking and cover pools' common rule, twin of
`share_vault.py`): slashed up to `max_slash` of its assets per event and never below
`min_remaining`, a slash lowers the share price (queued shares included); rewards accrue with
time, stakers who run take their shares out after the withdrawal delay, and a staker who stayed
has an APR from the share price."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from ..money import BPS
from .base_vector import EPS, Absorb, VectorLayer, pay_in_kind, pay_in_kind_one

if TYPE_CHECKING:
    from ...sim.model import LayerCompiler, SimModel
    from ...sim.waterfall import Outcome


@dataclass
class VaultState:
    assets: np.ndarray
    shares: np.ndarray


@dataclass(frozen=True)
class VaultVector(VectorLayer):
    haircut: float = 0.0
    assets0: float = 0.0
    shares0: float = 0.0
    """Shares are counted in units of the start's assets (share price 1 at the start)."""
    max_slash: float = 1.0
    min_remaining: float = 0.0
    reward_apr: float = 0.0
    """Emissions per year as a fraction of the start assets."""
    withdraw_delay_steps: int = 0

    share_price: ClassVar[bool] = True
    size_meaning: ClassVar[str | None] = "pool assets (share price kept)"

    @classmethod
    def compile(cls, c: LayerCompiler, layer: Any) -> Self:
        cfg = layer.config
        a0 = c.units(cfg.asset, layer.total_assets(c.state))
        delay_s = cfg.queue_seconds if cfg.mode == "queue" else cfg.cooldown_seconds
        return cls(
            layer.id,
            layer.kind,
            asset=c.asset_of(layer),
            haircut=cfg.haircut_bps / BPS,
            assets0=a0,
            shares0=a0,
            max_slash=cfg.max_slash_bps / BPS,
            min_remaining=c.units(cfg.asset, layer.min_remaining()),
            reward_apr=c.reward_apr(layer.id),
            withdraw_delay_steps=math.ceil(delay_s / c.step_seconds),
        )

    def size_of(self) -> float:
        return self.assets0

    def with_size(self, size: float) -> Self:
        return replace(self, assets0=size, shares0=size)

    def bounded_size(self, model: SimModel) -> bool:
        return self.max_slash > 0 and self.asset == model.loss_asset

    def size_ceiling(self, model: SimModel, need: float) -> float:
        if not self.bounded_size(model):
            return math.inf
        return 2.0 * (need / self.max_slash + self.min_remaining) + 1.0

    def summary(self, outcome: Outcome, j: int, horizon_years: float, paid_mean: float) -> dict[str, float]:
        return {"escaped_mean": float(outcome.escaped[:, j].mean())}

    def start(self, n: int, defaulted: np.ndarray) -> VaultState:
        return VaultState(np.full(n, self.assets0, dtype=float), np.full(n, self.shares0, dtype=float))

    def accrues(self) -> bool:
        return self.reward_apr > 0

    def accrue(self, s: VaultState, states: list[Any], m: int, dt_years: np.ndarray, out: Outcome, j: int) -> None:
        s.assets[:m] += self.reward_apr * self.assets0 * dt_years

    def credits_fees(self, la: int) -> bool:
        return self.asset == la

    def credit(self, s: VaultState, m: int, amount: np.ndarray, la: int) -> None:
        s.assets[:m] += amount

    def withdraw(self, s: VaultState, q: np.ndarray, fraction: np.ndarray, out: Outcome, j: int) -> None:
        shares_out = fraction * self.shares0
        a, sh = s.assets, s.shares
        paid = np.where(sh[q] > 0, shares_out * a[q] / np.where(sh[q] > 0, sh[q], 1.0), 0.0)
        a[q] -= paid
        sh[q] -= shares_out
        out.escaped[q, j] += paid

    def finish(self, s: VaultState, out: Outcome, j: int, horizon_years: float) -> None:
        if self.assets0 <= 0:
            return
        left = s.shares > EPS * self.shares0
        share_price = s.assets / np.where(left, s.shares, 1.0)
        start_rate = self.assets0 / self.shares0
        out.staker_apr[:, j] = np.where(left, (share_price / start_rate - 1.0) / horizon_years, np.nan)

    def absorb(self, s: VaultState, a: Absorb) -> np.ndarray:
        pool, p = s.assets, a.p
        have = pool[p]
        cap = np.maximum(0.0, np.minimum(have * self.max_slash, have - self.min_remaining))
        units, paid = pay_in_kind(
            cap, a.prices[:, self.asset], a.loss_price, self.haircut, a.remaining, self.asset == a.la
        )
        pool[p] = have - units
        return paid

    def scalar_params(self, model: SimModel) -> np.ndarray | None:
        return np.array(
            [self.max_slash, self.min_remaining, self.haircut, self.reward_apr, self.assets0, self.shares0, 0.0]
        )

    def scalar_state(self, model: SimModel) -> np.ndarray:
        return np.array([self.assets0, self.shares0])


# -- per-path scalar rule (compiled phase B): the share vault on one path -------------------------
# state st[so:]: assets, shares; params par[po:]: max_slash, min_remaining, haircut, reward_apr,
# assets0, shares0, separate rewards (0/1: the emissions are outside the pool).


def vault_accrue(st: np.ndarray, so: int, par: np.ndarray, po: int, dt_years: float) -> None:
    st[so] += par[po + 3] * par[po + 4] * dt_years


def vault_credit(st: np.ndarray, so: int, amount: float) -> None:
    st[so] += amount


def vault_withdraw(st: np.ndarray, so: int, par: np.ndarray, po: int, fraction: float) -> float:
    """Returns what the stakers who ran took out (escaped)."""
    shares_out = fraction * par[po + 5]
    sh = st[so + 1]
    paid = shares_out * st[so] / sh if sh > 0 else 0.0
    st[so] -= paid
    st[so + 1] -= shares_out
    return paid


def vault_absorb(
    st: np.ndarray, so: int, par: np.ndarray, po: int, prices: np.ndarray, la: int, asset: int, remaining: float
) -> float:
    have = st[so]
    slash = have * par[po]
    floor = have - par[po + 1]
    cap = slash if slash < floor else floor
    cap = cap if cap > 0.0 else 0.0
    units, paid = pay_in_kind_one(cap, prices[asset], prices[la], par[po + 2], remaining, asset == la)
    st[so] = have - units
    return paid


def vault_apr(st: np.ndarray, so: int, par: np.ndarray, po: int, horizon_years: float) -> float:
    """A staker who stayed: the share price's return, annualised (NaN when no shares are left)."""
    assets0, shares0 = par[po + 4], par[po + 5]
    apr = math.nan
    if assets0 <= 0:
        return apr
    shares = st[so + 1]
    if shares > EPS * shares0:
        apr = (st[so] / shares / (assets0 / shares0) - 1.0) / horizon_years
    if par[po + 6] != 0.0:
        apr += par[po + 3]
    return apr
