"""Staking pool in the risk lab: the share vault's vectorized rule (`share_vault_vector.py`) with
the staking pool's options, twins of `exact.py` and `auction.py`:

- `post_slash_lock`: after a slash a path's pool takes nothing more until governance settles
  the slashing: `simulation.settle_slashing_after_days` ends the period that many days after the
  slash that opened it (the engine's `settle_slashing` then), else it lasts to the horizon. A pool
  already in its period at the start counts from the start (the scenario does not say when its
  settlement is due). New stakes and the period's cooldown-free withdrawals are not simulated
  (stakers' runs keep the cooldown), so the settlement matters here through the slashes it
  allows again;
- Umbrella: the deficit offset passes the first part of the cumulative loss on; beyond it the
  pool pays cover × (1 + fee), the fee to its treasury; `rewards: separate` leaves the pool's
  assets alone (the emissions are the stakers' own, outside the pool);
- Blend: a loss becomes the backstop's liability, filled at once by a competitive keeper at the
  first block where the lot is worth the bid (`auction.keeper_fill_block`); what the bid's fall
  leaves is written off to the market's end when the backstop is below its threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from ...money import BPS
from ..base_vector import EPS, Absorb, pay_in_kind
from ..share_vault_vector import VaultState, VaultVector
from . import auction

if TYPE_CHECKING:
    from ....sim.model import LayerCompiler, SimModel
    from ....sim.waterfall import Outcome

WRITE_OFF_RATIO = auction.THRESHOLD_NUM / auction.THRESHOLD_DEN
RAMP = float(auction.RAMP_BLOCKS)
DAY_SECONDS = 86_400


def settle_seconds(days: float) -> int:
    """`simulation.settle_slashing_after_days` in engine seconds (whole seconds, as engine time is)."""
    return round(days * DAY_SECONDS)


def settle_steps(c: LayerCompiler, layer_id: str) -> int:
    """Steps from the slash to the first event the settlement precedes (-1: not settled): an event
    at step t follows it when t × step ≥ slash step × step + the settlement's delay."""
    days = c.spec.settle_slashing_after_days.get(layer_id)
    if days is None:
        return -1
    return -(-settle_seconds(days) // c.step_seconds)


@dataclass
class PoolState(VaultState):
    locked: np.ndarray
    offset_left: np.ndarray
    """Deficit offset left, whole tokens of the pool's asset."""
    locked_at: np.ndarray
    """Step of the slash that opened the path's post-slashing period."""


@dataclass(frozen=True)
class Vector(VaultVector):
    post_slash_lock: bool = False
    locked0: bool = False
    settle_steps: int = -1
    """Steps after the slash from which the period is settled (-1: never, to the horizon)."""
    offset0: float = 0.0
    fee: float = 0.0
    fee_to: int = -1
    separate_rewards: bool = False
    auction_premium: float = -1.0
    """Blend's premium as a fraction (negative: not a Blend backstop)."""
    threshold: float = 0.0

    @classmethod
    def compile(cls, c: LayerCompiler, layer: Any) -> Self:
        base = super().compile(c, layer)
        cfg = layer.config
        offset = (cfg.deficit_offset or 0) - layer.offset_used
        return replace(
            base,
            post_slash_lock=cfg.post_slash_lock,
            locked0=layer.in_post_slashing_period,
            settle_steps=settle_steps(c, layer.id),
            offset0=c.units(cfg.asset, max(0, offset)),
            fee=(cfg.liquidation_fee_bps or 0) / BPS,
            fee_to=c.layer_ids.index(cfg.liquidation_fee_to) if cfg.liquidation_fee_to else -1,
            separate_rewards=cfg.rewards == "separate",
            auction_premium=-1.0 if cfg.auction_premium_bps is None else cfg.auction_premium_bps / BPS,
            threshold=c.units(cfg.asset, cfg.backstop_threshold or 0),
        )

    def start(self, n: int, defaulted: np.ndarray) -> PoolState:
        base = super().start(n, defaulted)
        return PoolState(
            base.assets, base.shares, np.full(n, self.locked0), np.full(n, self.offset0), np.zeros(n, dtype=np.int64)
        )

    def settles_slashing(self) -> bool:
        return self.post_slash_lock

    def accrues(self) -> bool:
        return not self.separate_rewards and super().accrues()

    def finish(self, s: VaultState, out: Outcome, j: int, horizon_years: float) -> None:
        super().finish(s, out, j, horizon_years)
        if self.separate_rewards:
            out.staker_apr[:, j] += self.reward_apr  # claimable emissions, outside the share price

    def scalar_params(self, model: SimModel) -> np.ndarray | None:
        """The share vault's scalar rule covers a plain pool (separate rewards included); the deficit
        offset, the post-slash lock, the fee and Blend's auction run the NumPy rule."""
        if self.offset0 > 0 or self.post_slash_lock or self.locked0 or self.fee > 0 or self.auction_premium >= 0:
            return None
        par = super().scalar_params(model)
        if par is not None:
            par[6] = 1.0 if self.separate_rewards else 0.0
        return par

    def absorb(self, s: VaultState, a: Absorb) -> np.ndarray:
        assert isinstance(s, PoolState)
        if self.auction_premium >= 0:
            return self._auction(s, a)
        pool, p = s.assets, a.p
        have = pool[p]
        rest = a.remaining
        if self.offset0 > 0:
            left = s.offset_left[p]
            if self.asset == a.la:
                passed = np.minimum(rest, left)
                used = passed
            else:
                pp = a.prices[:, self.asset]
                passed = np.minimum(rest, left * pp / a.loss_price)
                used = np.minimum(left, passed * a.loss_price / pp)
            s.offset_left[p] = left - used
            rest = rest - passed
        cap = np.maximum(0.0, np.minimum(have * self.max_slash, have - self.min_remaining))
        if self.post_slash_lock:
            if self.settle_steps >= 0:  # governance settled the slashing before this event
                s.locked[p] &= a.step - s.locked_at[p] < self.settle_steps
            cap = np.where(s.locked[p], 0.0, cap)
        cover_cap = cap / (1.0 + self.fee)
        units, paid = pay_in_kind(
            cover_cap, a.prices[:, self.asset], a.loss_price, self.haircut, rest, self.asset == a.la
        )
        fee_units = np.zeros(len(p))
        if self.fee > 0:
            capped = paid < rest - EPS * np.maximum(1.0, rest)
            fee_units = np.where(units > 0, np.where(capped, cap - units, units * self.fee), 0.0)
            a.states[self.fee_to].bal[p, self.asset] += fee_units
        pool[p] = have - units - fee_units
        if self.post_slash_lock:
            opened = ~s.locked[p] & (units + fee_units > 0)
            s.locked_at[p] = np.where(opened, a.step, s.locked_at[p])
            s.locked[p] |= opened
        return paid

    def _auction(self, s: PoolState, a: Absorb) -> np.ndarray:
        pool, p, t = s.assets, a.p, self.threshold
        have = pool[p]
        below = (have / t) ** 5 < WRITE_OFF_RATIO
        debt = np.where(below, 0.0, a.remaining)
        pp = a.prices[:, self.asset]
        need = debt * a.loss_price
        lot = np.minimum(have, need * (1.0 + self.auction_premium) / pp)
        lot_v = lot * pp
        with np.errstate(divide="ignore", invalid="ignore"):
            b1 = np.where(lot_v > 0, np.ceil(RAMP * need / np.where(lot_v > 0, lot_v, 1.0)), math.inf)
            ratio = np.where(need > 0, lot_v / np.where(need > 0, need, 1.0), 1.0)
        in_ramp = b1 <= RAMP
        b2 = np.minimum(2 * RAMP, RAMP + np.ceil(RAMP * (1.0 - ratio)))
        lot_mod = np.where(in_ramp, b1 / RAMP, 1.0)
        bid_mod = np.where(in_ramp, 1.0, 1.0 - (b2 - RAMP) / RAMP)
        covered = debt * bid_mod
        pool[p] = have - lot * lot_mod
        left = debt - covered
        after_below = (pool[p] / t) ** 5 < WRITE_OFF_RATIO
        defaulted = np.where((left > EPS * np.maximum(1.0, debt)) & after_below, left, 0.0)
        if np.any(defaulted > 0):
            end = next(mk.waterfall[-1] for mk in a.model.markets if a.j in mk.waterfall)
            a.out.alloc[p, a.j] -= defaulted
            a.out.alloc[p, end] += defaulted
        out: np.ndarray = debt
        return out
