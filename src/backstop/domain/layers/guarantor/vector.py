"""Guarantor in the risk lab: the exact rule (`exact.py`) on all paths at once.

It pays min(remaining, max(0, min(loss, attachment + limit) − attachment)) measured on the
event's whole loss, within the yearly `aggregate_limit`; collateral first, the rest only if it
has not defaulted (the world draws defaults); nothing once its cover has lapsed. Premiums accrue
with time from the payer's balance; a payer that cannot pay in full makes the cover lapse.
With `reinstatements`, the limit is a bank per contract year: each recovery uses it, and it is
reinstated by what was used up to N × limit a year, the payer paying `reinstatement_premium` ×
annual premium × reinstated / limit at the loss (a shortfall makes the cover lapse).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from ...money import BPS, SECONDS_PER_YEAR
from ..base_vector import EPS, Absorb, VectorLayer

if TYPE_CHECKING:
    from ....sim.model import LayerCompiler
    from ....sim.waterfall import Outcome


@dataclass
class GuarantorState:
    coll: np.ndarray
    paid_year: np.ndarray
    year: np.ndarray
    lapsed: np.ndarray
    defaulted: np.ndarray
    limit_left: np.ndarray
    reinstated: np.ndarray


@dataclass(frozen=True)
class Vector(VectorLayer):
    attachment: float = 0.0
    limit: float = 0.0
    aggregate_limit: float = math.inf
    premium_rate: float = 0.0
    """Premium per year as a fraction of the limit."""
    payer: int = -1
    collateral0: float = 0.0
    lapsed0: bool = False
    defaulted0: bool = False
    default_probability: float = 0.0
    created_at: int = 0
    year0: int = 0
    paid_this_year0: float = 0.0
    """When the layer was added, and its aggregate-limit year and use at the start."""
    reinstatements: float = math.inf
    """Times the limit is reinstated a year (inf: no limit bank)."""
    reinstatement_rate: float = 0.0
    """Reinstatement premium per unit of limit reinstated (premium rate × reinstatement bps)."""
    limit_left0: float = 0.0
    reinstated0: float = 0.0

    can_default: ClassVar[bool] = True
    size_meaning: ClassVar[str | None] = "limit"

    @classmethod
    def compile(cls, c: LayerCompiler, layer: Any) -> Self:
        cfg = layer.config
        a = cfg.asset
        return cls(
            layer.id,
            layer.kind,
            asset=c.asset_of(layer),
            attachment=c.units(a, cfg.attachment),
            limit=c.units(a, cfg.limit),
            aggregate_limit=math.inf if cfg.aggregate_limit is None else c.units(a, cfg.aggregate_limit),
            premium_rate=cfg.premium_bps_per_year / BPS,
            payer=c.layer_ids.index(cfg.payer) if cfg.payer is not None else -1,
            collateral0=c.units(a, c.state.ledger.balance(layer.account, a)),
            lapsed0=layer.lapsed,
            defaulted0=layer.defaulted,
            default_probability=c.default_probability(layer.id),
            created_at=layer.created_at,
            year0=layer.year,
            paid_this_year0=c.units(a, layer.paid_this_year),
            reinstatements=math.inf if cfg.reinstatements is None else float(cfg.reinstatements),
            reinstatement_rate=cfg.premium_bps_per_year * cfg.reinstatement_premium_bps / (BPS * BPS),
            limit_left0=c.units(a, layer.limit_left),
            reinstated0=c.units(a, layer.reinstated),
        )

    def size_of(self) -> float:
        return self.limit

    def with_size(self, size: float) -> Self:
        # A resized layer starts its limit bank full (the bank scales with the limit).
        return replace(self, limit=size, limit_left0=size, reinstated0=0.0)

    def premium_base(self) -> float:
        return self.limit

    def summary(self, outcome: Outcome, j: int, horizon_years: float, paid_mean: float) -> dict[str, float]:
        return {
            "expected_loss_per_year": paid_mean / horizon_years,
            "premiums_mean": float(outcome.premiums[:, j].mean()),
        }

    def start(self, n: int, defaulted: np.ndarray) -> GuarantorState:
        return GuarantorState(
            coll=np.full(n, self.collateral0, dtype=float),
            paid_year=np.full(n, self.paid_this_year0, dtype=float),
            year=np.full(n, self.year0, dtype=np.int64),
            lapsed=np.full(n, self.lapsed0),
            defaulted=defaulted,
            limit_left=np.full(n, self.limit_left0, dtype=float),
            reinstated=np.full(n, self.reinstated0, dtype=float),
        )

    def accrues(self) -> bool:
        return self.premium_rate > 0 and self.payer >= 0

    def accrue(self, s: GuarantorState, states: list[Any], m: int, dt_years: np.ndarray, out: Outcome, j: int) -> None:
        due = self.premium_rate * self.limit * dt_years
        lapsed = s.lapsed[:m]
        live = ~lapsed
        payer_bal = states[self.payer].bal
        have = payer_bal[:m, self.asset].copy()
        pay = np.where(live, np.minimum(due, have), 0.0)
        payer_bal[:m, self.asset] = have - pay
        out.premiums[:m, j] += pay
        lapsed |= live & (have < due - EPS * np.maximum(1.0, due))

    def absorb(self, s: GuarantorState, a: Absorb) -> np.ndarray:
        if self.asset != a.la:
            return np.zeros(len(a.p))
        p, model = a.p, a.model
        year = (model.start_at + a.step * model.step_seconds - self.created_at) // SECONDS_PER_YEAR
        new_year = year != s.year[p]
        paid_year = np.where(new_year, 0.0, s.paid_year[p])
        banked = math.isfinite(self.reinstatements)
        if banked:
            s.limit_left[p] = np.where(new_year, self.limit, s.limit_left[p])
            s.reinstated[p] = np.where(new_year, 0.0, s.reinstated[p])
        s.year[p] = year
        owed = np.maximum(0.0, np.minimum(a.loss, self.attachment + self.limit) - self.attachment)
        due = np.minimum(a.remaining, owed)
        due = np.minimum(due, np.maximum(0.0, self.aggregate_limit - paid_year))
        if banked:
            due = np.minimum(due, s.limit_left[p])
        due = np.where(s.lapsed[p], 0.0, due)
        coll = s.coll[p]
        from_coll = np.minimum(due, coll)
        from_wallet = np.where(s.defaulted[p], 0.0, due - from_coll)
        paid: np.ndarray = from_coll + from_wallet
        s.coll[p] = coll - from_coll
        s.paid_year[p] = paid_year + paid
        if banked:
            self._reinstate(s, a, paid)
        return paid

    def _reinstate(self, s: GuarantorState, a: Absorb, used: np.ndarray) -> None:
        """`exact.Guarantor._reinstate` on all events at once."""
        p = a.p
        back = np.maximum(0.0, np.minimum(used, self.reinstatements * self.limit - s.reinstated[p]))
        s.limit_left[p] = s.limit_left[p] - used + back
        s.reinstated[p] = s.reinstated[p] + back
        if self.reinstatement_rate <= 0 or self.payer < 0:
            return
        due = back * self.reinstatement_rate
        payer_bal = a.states[self.payer].bal
        have = payer_bal[p, self.asset]
        pay = np.minimum(due, have)
        payer_bal[p, self.asset] = have - pay
        a.out.premiums[p, a.j] += pay
        s.lapsed[p] |= (due > 0) & (have < due - EPS * np.maximum(1.0, due))
