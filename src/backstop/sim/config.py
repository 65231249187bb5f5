"""The `simulation:` section of a scenario file (docs/risk-lab.md), validated with pydantic.

Every field says its unit in its name or its docstring. Probabilities and fractions are plain
numbers in [0, 1]; rates are per 365-day year; amounts are whole tokens of the loss asset (the
markets' debt asset); times are in simulation steps unless the name says days.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..domain.errors import InvalidConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JumpSpec(_Strict):
    """Merton jumps: Poisson arrivals, log jump size ~ Normal(mean, std)."""

    per_year: float = Field(default=0.0, ge=0)
    mean: float = 0.0
    """Mean of the log jump size (-0.2 is a fall of about 18%)."""
    std: float = Field(default=0.0, ge=0)


class AssetModelSpec(_Strict):
    vol: float = 0.0
    """Annualised volatility of log returns (0.8 = 80%/year)."""
    drift: float = 0.0
    """Expected total return per year (the jump compensator keeps it so with jumps)."""
    jumps: JumpSpec | None = None
    column: str | None = None
    """historical model: the CSV column whose shock this asset replays (default: its symbol)."""

    @field_validator("vol")
    @classmethod
    def _vol(cls, v: float) -> float:
        if v < 0:
            raise ValueError(f"volatility must not be negative, got {v}")
        return v


class PricesSpec(_Strict):
    model: Literal["gbm", "historical"] = "gbm"
    assets: dict[str, AssetModelSpec] = {}
    correlation: dict[str, float] = {}
    """Pairwise correlations of the diffusions, `A/B: rho`; unlisted pairs are 0."""
    csv: str | None = None
    """historical model: a bundled shock (`eth_black_thursday_2020`, `crv_squeeze_2022`) or a CSV path."""
    start_day: int | Literal["random"] = "random"
    """historical model: day the shock starts (uniformly random per path by default)."""
    scale: float = Field(default=1.0, ge=0)
    """historical model: multiplier on the shock's log returns (2 = twice as deep)."""


class HealthSpec(_Strict):
    median: float = Field(default=1.6, gt=1.0)
    """Median health factor at the start (collateral value × threshold / debt)."""
    sigma: float = Field(default=0.2, ge=0)
    """Sigma of log(health − 1): dispersion of the book's health."""


class PositionsSpec(_Strict):
    market: str
    csv: str | None = None
    """A CSV of real positions: columns collateral_asset, collateral_amount, debt (whole tokens)."""
    count: int | None = Field(default=None, gt=0)
    collateral: str | None = None
    debt_total: float | None = Field(default=None, gt=0)
    """Total debt of the generated book, whole tokens of the debt asset."""
    health: HealthSpec = HealthSpec()
    size_sigma: float = Field(default=1.0, ge=0)
    """Sigma of the lognormal debt sizes (0 = all equal)."""


class LiquidationSpec(_Strict):
    keeper_delay_steps: int = Field(default=0, ge=0)
    """Steps between a liquidation being triggered (oracle below the position's liquidation
    price) and its settlement at the then market price."""
    buckets: int = Field(default=256, ge=1)
    """Liquidation-price buckets per book (market × collateral); positions in a bucket act as one."""


class OutageSpec(_Strict):
    per_year: float = Field(default=0.0, ge=0)
    mean_steps: float = Field(default=1.0, ge=1)
    """Mean outage length in steps (geometric)."""


class SeveritySpec(_Strict):
    dist: Literal["lognormal", "pareto"] = "lognormal"
    median_fraction: float = Field(default=0.05, gt=0, le=1)
    """lognormal: median loss as a fraction of the market's TVL."""
    sigma: float = Field(default=1.0, ge=0)
    min_fraction: float = Field(default=0.01, gt=0, le=1)
    """pareto: scale (smallest loss) as a fraction of TVL."""
    alpha: float = Field(default=1.5, gt=0)
    """pareto: tail index (smaller = heavier tail)."""
    max_fraction: float = Field(default=1.0, gt=0, le=1)
    """Cap on one incident, as a fraction of TVL."""


class IncidentSpec(_Strict):
    market: str
    per_year: float = Field(ge=0)
    severity: SeveritySpec = SeveritySpec()
    cause: Literal["exploit", "bug", "oracle", "tech_failure"] = "exploit"
    tvl: float | None = Field(default=None, gt=0)
    """TVL the severity fraction applies to (default: supplied assets of a lending market, total
    debt of a cdp market, at the start)."""


class RunSpec(_Strict):
    drawdown_trigger: float = Field(default=0.1, gt=0, lt=1)
    """A run starts the first step the reference asset is this far below its running peak."""
    fraction: float = Field(default=0.3, gt=0, le=1)
    """Fraction of the not-yet-queued shares that ask to leave in each wave."""
    queued_trigger: float | None = Field(default=None, gt=0, le=1)
    """If set, another wave follows each step while the queued share of the pool is at least this."""
    asset: str | None = None
    """Reference asset whose drawdown stakers watch (default: the first collateral with a book)."""


class StakersSpec(_Strict):
    reward_apr: float | dict[str, float] = 0.0
    """Emissions to staking pools, per year as a fraction of the pool's assets at the start
    (one number for every pool, or per layer)."""
    run: RunSpec | None = None


class SimulationSpec(_Strict):
    horizon_days: int = Field(default=365, gt=0)
    steps_per_day: int = Field(default=1, ge=1, le=1440)
    chunk_paths: int = Field(default=10_000, gt=0)
    """Paths per chunk: the unit of work and of seeding. Changing it changes the random draws."""
    prices: PricesSpec = PricesSpec()
    positions: list[PositionsSpec] = []
    liquidation: LiquidationSpec = LiquidationSpec()
    oracle_outages: OutageSpec = OutageSpec()
    incidents: list[IncidentSpec] = []
    stakers: StakersSpec = StakersSpec()
    guarantor_default_probability: dict[str, float] = {}
    settle_slashing_after_days: dict[str, Annotated[float, Field(gt=0)]] = {}
    """Per staking pool with `post_slash_lock`: days after a slash at which governance sends
    `settle_slashing` on every path (Aave stk v1.5 `settleSlashing`); unlisted pools stay in their
    post-slashing period to the horizon."""


def parse_simulation(raw: Any) -> SimulationSpec:
    """Validate the raw `simulation:` mapping, or raise InvalidConfig naming the field."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidConfig("simulation", "simulation: must be a mapping")
    try:
        return SimulationSpec.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(["simulation", *(str(p) for p in err["loc"])])
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise InvalidConfig(field, f"{field}: {msg}") from None
