"""Mint layer in the risk lab: sells governance tokens at the price less the discount, up to the
cap in tokens over the horizon; the tokens sold are the holders' dilution (see `exact.py`).

With `lot` (debt auctions), the twin of the exact rule: the remainder that reaches the layer is
queued with its step; at each later event of the path (the exact engine's `advance`), debt older
than the delay is released, the protocol's fund before the layer pays what it holds of the loss
asset (re-attributed to it), and whole lots are covered with tokens at the price less the
discount. The risk lab runs the auctions at the start prices: the token and the loss asset must
have no price model (checked when the model is compiled)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from ...errors import InvalidConfig
from ...money import BPS
from ..base_vector import Absorb, VectorLayer, pay_in_kind, pay_in_kind_one

if TYPE_CHECKING:
    from ....sim.model import LayerCompiler, SimModel
    from ....sim.waterfall import Outcome

LOT_EPS = 1e-9
"""Relative slack when counting whole lots in floats: debt of exactly k lots in the engine may
be k lots less a rounding error here."""


@dataclass
class MintState:
    minted: np.ndarray
    step: np.ndarray | None = None
    """Each path's step (debt auctions only): advanced by `accrue`."""
    era: np.ndarray | None = None
    """(paths, slots) step at which each queued debt arrived (-1: free slot)."""
    debt: np.ndarray | None = None
    """(paths, slots) queued debt still owed, loss-asset units."""


@dataclass(frozen=True)
class Vector(VectorLayer):
    mint_cap: float = math.inf
    minted0: float = 0.0
    discount: float = 0.0
    lot: float = 0.0
    """Loss-asset units per debt auction (0: no auctions, sell at the time of the loss)."""
    delay_steps: int = 0
    step_years: float = 0.0
    tokens_per_lot: float = 0.0
    buffer: int = -1
    """Column of the protocol's fund before the layer, which heals released debt (-1: none)."""
    loss_index: int = -1
    """Index of the loss asset (the fund heals from its holdings of it)."""
    owed0: float = 0.0
    """Debt the engine's layer had taken on before the simulation starts (released at once)."""

    size_meaning: ClassVar[str | None] = "cap in governance tokens"

    @classmethod
    def compile(cls, c: LayerCompiler, layer: Any) -> Self:
        cfg = layer.config
        cap = cfg.cap
        base = cls(
            layer.id,
            layer.kind,
            asset=c.asset_of(layer),
            mint_cap=math.inf if cap is None else c.units(layer.token, cap),
            minted0=c.units(layer.token, layer.minted),
            discount=cfg.discount_bps / BPS,
        )
        if cfg.lot is None:
            return base
        if c.several_debt_assets:  # a release heals the fund in the debt asset: one loss unit only
            raise InvalidConfig(
                "lot", "lot: the risk lab runs debt auctions only when all markets share one debt asset"
            )
        modelled = set(c.spec.prices.assets)
        for sym in (layer.token, c.loss_asset_name):
            if sym in modelled:
                raise InvalidConfig(
                    "lot", f"lot: the risk lab holds debt auctions at fixed prices; {sym} has a price model"
                )
        befores = set()
        for market in c.state.markets.values():
            wf = market.config.waterfall
            if layer.id in wf:
                at = wf.index(layer.id)
                before = c.state.layers[wf[at - 1]] if at > 0 else None
                befores.add(before.id if before is not None and before.protocol_owned else None)
        if len(befores) > 1:
            raise InvalidConfig("lot", f"lot: {layer.id} follows different funds in different markets")
        before_id = next(iter(befores), None)
        eff = c.state.prices[layer.token] / 1e18 * (1.0 - base.discount)
        loss_price = c.state.prices[c.loss_asset_name] / 1e18
        step_years = c.step_seconds / (365.0 * 86_400)
        return replace(
            base,
            lot=float(cfg.lot),
            delay_steps=-(-cfg.auction_delay_seconds // c.step_seconds),
            step_years=step_years,
            tokens_per_lot=cfg.lot * loss_price / eff if eff > 0 else math.inf,
            buffer=c.layer_ids.index(before_id) if before_id is not None else -1,
            loss_index=c.asset_index[c.loss_asset_name],
            owed0=sum(c.units(d.asset, d.amount) for d in layer.debts),
        )

    def size_of(self) -> float:
        return self.mint_cap

    def with_size(self, size: float) -> Self:
        return replace(self, mint_cap=size)

    def premium_base(self) -> float:
        return 0.0

    def _fixed_eff_price(self, model: SimModel) -> float:
        """Tokens sold per unit of loss are p_loss / (p_token · (1 − discount)): bounded only when
        both prices are fixed (0.0 when they are not)."""
        fixed = model.price_rows[self.asset] < 0  # every debt asset's price is fixed
        eff = float(model.prices0[self.asset]) * (1.0 - self.discount)
        return eff if fixed and eff > 0 else 0.0

    def bounded_size(self, model: SimModel) -> bool:
        return self._fixed_eff_price(model) > 0

    def size_ceiling(self, model: SimModel, need: float) -> float:
        eff = self._fixed_eff_price(model)
        if eff <= 0:
            return math.inf
        # `need` is in loss units: the debt asset, or quote units (price 1) with several debt assets
        unit_price = 1.0 if model.loss_asset < 0 else float(model.prices0[model.loss_asset])
        return 2.0 * (need * unit_price / eff) + 1.0

    def summary(self, outcome: Outcome, j: int, horizon_years: float, paid_mean: float) -> dict[str, float]:
        return {"minted_mean": float(outcome.minted[:, j].mean())}

    def start(self, n: int, defaulted: np.ndarray) -> MintState:
        s = MintState(np.full(n, self.minted0, dtype=float))
        if self.lot > 0:
            s.step = np.zeros(n, dtype=np.int64)
            s.era = np.full((n, 1), -1, dtype=np.int64)
            s.debt = np.zeros((n, 1))
            if self.owed0 > 0:  # the engine's earlier debt: released (its delay is not tracked here)
                s.era[:, 0] = -self.delay_steps
                s.debt[:, 0] = self.owed0
        return s

    def absorb(self, s: MintState, a: Absorb) -> np.ndarray:
        if self.lot > 0:
            return self._queue(s, a)
        minted, p = s.minted, a.p
        room = np.maximum(0.0, self.mint_cap - minted[p])
        units, paid = pay_in_kind(room, a.prices[:, self.asset], a.loss_price, self.discount, a.remaining, False)
        minted[p] += units
        a.out.minted[p, a.j] += units
        return paid

    def scalar_params(self, model: SimModel) -> np.ndarray | None:
        """The scalar rule covers the sale at the time of the loss; debt auctions (`lot`) run the NumPy rule."""
        if self.lot > 0:
            return None
        return np.array([self.mint_cap, self.discount])

    def scalar_state(self, model: SimModel) -> np.ndarray:
        return np.array([self.minted0])

    # -- debt auctions ---------------------------------------------------------------------
    def _queue(self, s: MintState, a: Absorb) -> np.ndarray:
        """`Vow.fess`: the whole remainder is queued at the event's step, in a free slot."""
        assert s.era is not None and s.debt is not None
        p = a.p
        free = s.era[p] < 0
        if not free.any(axis=1).all():
            s.era = np.concatenate([s.era, np.full_like(s.era, -1)], axis=1)
            s.debt = np.concatenate([s.debt, np.zeros_like(s.debt)], axis=1)
            free = s.era[p] < 0
        slot = np.argmax(free, axis=1)
        s.era[p, slot] = a.step
        s.debt[p, slot] = a.remaining
        paid: np.ndarray = a.remaining.copy()
        return paid

    def accrues(self) -> bool:
        return self.lot > 0

    def accrue(self, s: MintState, states: list[Any], m: int, dt_years: np.ndarray, out: Outcome, j: int) -> None:
        """At each event of a path (the engine's `advance`): release, heal, then auction whole lots."""
        assert s.step is not None and s.era is not None and s.debt is not None
        s.step[:m] += np.rint(dt_years / self.step_years).astype(np.int64)
        era, debt = s.era[:m], s.debt[:m]
        released = (era >= 0) & (era + self.delay_steps <= s.step[:m, None])
        if not released.any():
            return
        free = np.where(released, debt, 0.0).sum(axis=1)
        if self.buffer >= 0:
            bal = states[self.buffer].bal
            heal = np.minimum(free, np.maximum(0.0, bal[:m, self.loss_index]))
            bal[:m, self.loss_index] -= heal
            out.alloc[:m, self.buffer] += heal
            out.alloc[:m, j] -= heal
            free = free - heal
            self._repay(era, debt, released, heal)
        lots = np.floor(free / self.lot + LOT_EPS)
        if math.isfinite(self.mint_cap):
            room = np.maximum(0.0, self.mint_cap - s.minted[:m])
            lots = np.minimum(lots, np.floor(room / self.tokens_per_lot + LOT_EPS))
        lots = np.maximum(lots, 0.0)
        tokens = lots * self.tokens_per_lot
        s.minted[:m] += tokens
        out.minted[:m, j] += tokens
        self._repay(era, debt, released, np.minimum(lots * self.lot, free))

    def _repay(self, era: np.ndarray, debt: np.ndarray, released: np.ndarray, amount: np.ndarray) -> None:
        """Take `amount` off each path's released debts, oldest first (in place)."""
        left = amount.copy()
        order = np.argsort(np.where(released, era, np.iinfo(np.int64).max), axis=1, kind="stable")
        rows = np.arange(len(era))
        for k in range(era.shape[1]):
            col = order[:, k]
            ok = released[rows, col]
            pay = np.where(ok, np.minimum(left, debt[rows, col]), 0.0)
            debt[rows, col] -= pay
            left -= pay
            done = ok & (debt[rows, col] <= 0.0)
            era[rows[done], col[done]] = -1
            debt[rows[done], col[done]] = 0.0


# -- per-path scalar rule (compiled phase B): the sale at the time of the loss, on one path ---------
# state st[so]: tokens minted; params par[po:]: mint_cap, discount.


def mint_absorb(
    st: np.ndarray, so: int, par: np.ndarray, po: int, prices: np.ndarray, la: int, asset: int, remaining: float
) -> tuple[float, float]:
    """(loss covered, tokens sold)."""
    room = par[po] - st[so]
    room = room if room > 0.0 else 0.0
    units, paid = pay_in_kind_one(room, prices[asset], prices[la], par[po + 1], remaining, False)
    st[so] += units
    return paid, units
