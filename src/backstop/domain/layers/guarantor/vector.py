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
from ..insurance_fund.vector import BalanceVector

if TYPE_CHECKING:
    from ....sim.model import LayerCompiler, SimModel
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

    def scalar_params(self, model: SimModel) -> np.ndarray | None:
        """The scalar rule covers a guarantor without a limit bank (`reinstatements`), whose premium
        payer, if it has one that it pays, keeps balances (an insurance fund, a treasury)."""
        if math.isfinite(self.reinstatements):
            return None
        if self.accrues() and not isinstance(model.layers[self.payer], BalanceVector):
            return None
        return np.array(
            [
                self.attachment,
                self.limit,
                self.aggregate_limit,
                self.premium_rate,
                float(self.created_at),
                float(self.payer),
            ]
        )

    def scalar_state(self, model: SimModel) -> np.ndarray:
        """coll, paid this year, year, lapsed (0/1), defaulted (0/1: drawn per path, `guarantor_begin`)."""
        return np.array([self.collateral0, self.paid_this_year0, float(self.year0), 1.0 if self.lapsed0 else 0.0, 0.0])

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


# -- per-path scalar rule (compiled phase B): the guarantor on one path ---------------------------
# state st[so:]: collateral, paid this year, year, lapsed (0/1), defaulted (0/1); params par[po:]:
# attachment, limit, aggregate_limit, premium_rate, created_at, payer (layer index).


def guarantor_begin(st: np.ndarray, so: int, defaulted: bool) -> None:
    st[so + 4] = 1.0 if defaulted else 0.0


def guarantor_accrue(st: np.ndarray, so: int, par: np.ndarray, po: int, payer_slot: int, dt_years: float) -> float:
    """Pays the premium due from the payer's balance (`st[payer_slot]`); returns what was paid."""
    due = par[po + 3] * par[po + 1] * dt_years
    have = st[payer_slot]
    live = st[so + 3] == 0.0
    pay = 0.0
    if live:
        pay = due if due < have else have
    st[payer_slot] = have - pay
    if live and have < due - EPS * (due if due > 1.0 else 1.0):
        st[so + 3] = 1.0
    return pay


def guarantor_absorb(
    st: np.ndarray,
    so: int,
    par: np.ndarray,
    po: int,
    asset: int,
    la: int,
    loss: float,
    remaining: float,
    step: int,
    start_at: int,
    step_seconds: int,
) -> float:
    if asset != la:
        return 0.0
    year = (start_at + step * step_seconds - int(par[po + 4])) // SECONDS_PER_YEAR
    paid_year = 0.0 if year != st[so + 2] else st[so + 1]
    st[so + 2] = year
    attachment = par[po]
    top = attachment + par[po + 1]
    owed = (loss if loss < top else top) - attachment
    owed = owed if owed > 0.0 else 0.0
    due = remaining if remaining < owed else owed
    room = par[po + 2] - paid_year
    room = room if room > 0.0 else 0.0
    due = due if due < room else room
    if st[so + 3] != 0.0:
        due = 0.0
    coll = st[so]
    from_coll = due if due < coll else coll
    from_wallet = 0.0 if st[so + 4] != 0.0 else due - from_coll
    paid = from_coll + from_wallet
    st[so] = coll - from_coll
    st[so + 1] = paid_year + paid
    return paid
