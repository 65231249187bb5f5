"""What every layer kind does in the risk lab (NumPy), and the vectorized rule for paying a loss
in kind: the twins of `base.Layer` and `base.pay_in_kind`, all paths of a round at once.

A kind's `vector.Vector` is a frozen dataclass of its compiled parameters (whole tokens, floats),
built once per model by `compile`. Phase B asks it for its per-path state (`start`), lets it
accrue what runs with time, credit fees, complete withdrawals, and `absorb` a loss; sizing,
pricing and the reports read its hooks. Nothing here is imported by the exact engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from ..errors import InvalidConfig

if TYPE_CHECKING:
    from ...sim.model import LayerCompiler, SimModel
    from ...sim.waterfall import Outcome

EPS = 1e-9


@dataclass
class Absorb:
    """One layer's turn in a waterfall round: the events (`p`: rows of the path state) that
    still have something left, with their step, whole loss, prices and remainder."""

    model: SimModel
    p: np.ndarray
    step: np.ndarray
    loss: np.ndarray
    prices: np.ndarray
    """(events, assets) prices at each event."""
    loss_price: np.ndarray
    remaining: np.ndarray
    la: int
    """Index of the loss asset: the debt asset of the market whose waterfall runs (markets may differ)."""
    out: Outcome
    j: int
    """This layer's column."""
    states: list[Any]
    """Every layer's per-path state (a guarantor's premium payer is another layer)."""


@dataclass(frozen=True)
class VectorLayer:
    id: str
    kind: str
    asset: int = -1
    """Index of the layer's asset in the model's asset list (-1: none)."""

    terminal: ClassVar[bool] = False
    """Pays whatever is left (ends the waterfall)."""
    records_deficit: ClassVar[bool] = False
    """A terminal layer whose remainder is the market's reserve deficit (suppliers are not cut):
    reported as `deficit`, not as the investors' socialized loss."""
    share_price: ClassVar[bool] = False
    """Shares over a pool: stakers earn rewards, may run, and have an APR."""
    absorbs_liquidations: ClassVar[bool] = False
    """Takes liquidated debt first (a stability pool), instead of paying loss events."""
    can_default: ClassVar[bool] = False
    """May default (the world draws it with a probability)."""
    size_meaning: ClassVar[str | None] = None
    """What `backstop size` changes for this kind (None: the kind has no size)."""

    @classmethod
    def compile(cls, c: LayerCompiler, layer: Any) -> Self:
        return cls(layer.id, layer.kind, asset=c.asset_of(layer))

    # -- sizing and pricing hooks ------------------------------------------------------------
    def no_size(self) -> InvalidConfig:
        return InvalidConfig("layer", f"layer: {self.id} is a {self.kind} layer, which has no size")

    def size_of(self) -> float:
        raise self.no_size()

    def with_size(self, size: float) -> Self:
        raise self.no_size()

    def size_ceiling(self, model: SimModel, need: float) -> float:
        """A size beyond which the layer cannot pay more on any path, given the most any path
        asks of the backstop (`need`); inf when there is no simple bound."""
        return math.inf if self.size_meaning is None else 2.0 * need + 1.0

    def bounded_size(self, model: SimModel) -> bool:
        """False when `size_ceiling` would be inf whatever the paths (skips computing `need`)."""
        return self.size_meaning is not None

    def premium_base(self) -> float:
        """What a fair premium is quoted on (the layer's size, a guarantor's limit)."""
        return self.size_of()

    def borne(self, outcome: Outcome, j: int) -> np.ndarray:
        """Per-path loss the layer bore over the horizon (loss-asset units)."""
        out: np.ndarray = outcome.alloc[:, j]
        return out

    def settles_slashing(self) -> bool:
        """Whether the layer has a post-slashing period that `simulation.settle_slashing_after_days`
        may end (an Aave v1.5 staking pool)."""
        return False

    def summary(self, outcome: Outcome, j: int, horizon_years: float, paid_mean: float) -> dict[str, float]:
        """The kind's own figures in `by_layer` (means over paths)."""
        return {}

    # -- phase B -----------------------------------------------------------------------------
    def start(self, n: int, defaulted: np.ndarray) -> Any:
        """Per-path state at the start of a chunk of `n` paths (None: the kind keeps none)."""
        return None

    def accrues(self) -> bool:
        """Whether `accrue` does anything (rewards, premiums), so phase B calls it only then."""
        return False

    def accrue(self, s: Any, states: list[Any], m: int, dt_years: np.ndarray, out: Outcome, j: int) -> None:
        """Accrue what runs with time for the first `m` paths, `dt_years` since their last event."""

    def credits_fees(self, la: int) -> bool:
        """Whether liquidation fees paid to this layer add to what it can pay."""
        return False

    def credit(self, s: Any, m: int, amount: np.ndarray, la: int) -> None:
        """Add fees (loss-asset units) to the first `m` paths."""

    def withdraw(self, s: Any, q: np.ndarray, fraction: np.ndarray, out: Outcome, j: int) -> None:
        """Stakers who ran take `fraction` of the start's shares out, on paths `q`."""

    def finish(self, s: Any, out: Outcome, j: int, horizon_years: float) -> None:
        """Per-path results that need the final state (a staker's APR)."""

    def absorb(self, s: Any, a: Absorb) -> np.ndarray:
        """What the layer pays towards `a.remaining` on each event (loss-asset units)."""
        return np.zeros(len(a.p))

    # -- compiled phase B (`sim/phase_b.py`) ---------------------------------------------------
    def scalar_params(self, model: SimModel) -> np.ndarray | None:
        """This layer's parameters for its kind's per-path scalar rule (floats), or None when the
        kind has no scalar rule or this layer uses an option the scalar rule does not cover (phase B
        then runs the NumPy rules)."""
        return None

    def scalar_state(self, model: SimModel) -> np.ndarray:
        """One path's state at the start, as floats (the row the scalar rule works on)."""
        return np.zeros(0)


@dataclass(frozen=True)
class AbsorbingLayer(VectorLayer):
    """A layer that takes debt against collateral (a stability pool, a Liquity redistribution):
    what it bore is the debt it absorbed less the collateral's value it received (`pool_loss`),
    and its report shows both."""

    def borne(self, outcome: Outcome, j: int) -> np.ndarray:
        out: np.ndarray = outcome.pool_loss[:, j]
        return out

    def summary(self, outcome: Outcome, j: int, horizon_years: float, paid_mean: float) -> dict[str, float]:
        return {
            "absorbed_mean": float(outcome.absorbed[:, j].mean()),
            "pool_loss_mean": float(outcome.pool_loss[:, j].mean()),
        }


def pay_in_kind(
    have: np.ndarray, pay_price: np.ndarray, loss_price: np.ndarray, haircut: float, remaining: np.ndarray, same: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(units paid, loss covered): `base.pay_in_kind` in floats. In the loss asset one unit
    covers one; otherwise the units are sold at the price less the haircut."""
    if same:
        units = np.minimum(have, remaining)
        return units, units
    eff = pay_price * (1.0 - haircut)
    with np.errstate(divide="ignore", invalid="ignore"):
        needed = np.where(eff > 0, remaining * loss_price / np.where(eff > 0, eff, 1.0), 0.0)
    units = np.where(eff > 0, np.minimum(have, needed), 0.0)
    covered = np.where(units >= needed, remaining, np.minimum(remaining, units * eff / loss_price))
    return units, covered


# -- per-path scalar rules (the compiled phase B, `sim/phase_b.py`) ------------------------------
# A kind that phase B can run path by path in compiled code gives, beside its NumPy rule, plain
# functions on one path's state (a row of floats, `st[so:]`) and its parameters (`par[po:]`), and
# its `Vector` says how to lay them out (`scalar_params`, `scalar_state`). Each function makes the
# float operations of the NumPy rule in its order, so both paths give the same numbers bit for
# bit. They use only `math`, `np` and the constants `sim/phase_b.py` declares: the compiled
# driver is built from their source.


def pay_in_kind_one(
    have: float, pay_price: float, loss_price: float, haircut: float, remaining: float, same: bool
) -> tuple[float, float]:
    """`pay_in_kind` for one event: (units paid, loss covered)."""
    if same:
        units = have if have < remaining else remaining
        return units, units
    eff = pay_price * (1.0 - haircut)
    if eff > 0:
        needed = remaining * loss_price / eff
        units = have if have < needed else needed
    else:
        needed = 0.0
        units = 0.0
    if units >= needed:
        return units, remaining
    part = units * eff / loss_price
    return units, (remaining if remaining < part else part)
