"""Commands: frozen records of what someone asks the engine to do, each with its time `at`.

Amounts are integers in base units of the asset they name; prices are `price_e18` (quote
units per whole token, scaled by 1e18). Adapters (scenario loader, API) turn whole-token
decimals into these before anything reaches the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from .layers.spec import LayerConfig

INCIDENT_CAUSES: tuple[str, ...] = ("exploit", "bug", "oracle", "tech_failure")
"""What an `incident` may be, and so what cover may be bought against (claims are filed on incidents).
A loss from liquidations has the cause `bad_debt`, which is not an incident."""


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True, slots=True)
class CollateralConfig:
    """One collateral asset of a market (Aave reserve parameters, Liquity MCR via the threshold)."""

    asset: str
    ltv_bps: int = 8000
    liquidation_threshold_bps: int = 8500
    liquidation_bonus_bps: int = 500
    depth_value: int = 0
    """Quote value (whole quote units, e.g. USD) the market can absorb; 0 = infinitely deep."""
    impact_k_bps: int = 10_000
    """Price impact in bps when the sold value equals `depth_value`; scales linearly."""
    max_impact_bps: int = 9_000


@dataclass(frozen=True, slots=True)
class MarketConfig:
    kind: Literal["lending", "cdp"]
    debt_asset: str
    collateral: tuple[CollateralConfig, ...]
    waterfall: tuple[str, ...]
    close_factor_bps: int = 10_000
    full_close_health_bps: int = 9_500
    """Below this health the close factor is 100% (Aave v3: HF < 0.95)."""
    liquidation_fee_bps: int = 0
    """Share of the liquidation bonus that goes to the fee layer (insurance fund)."""
    min_collateral_ratio_bps: int = 0
    """cdp only: opening or minting needs collateral value / debt >= this (Liquity: 11000)."""
    reserve_factor_bps: int = 0
    base_rate_bps: int = 0
    slope1_bps: int = 0
    slope2_bps: int = 0
    optimal_utilization_bps: int = 8_000
    fee_layer: str | None = None
    """Layer that receives reserve-factor interest and liquidation fees (default: the first
    insurance fund of the waterfall)."""
    gas_compensation: int = 0
    """cdp only: the liquidation reserve in base units of the debt asset, minted to the market's
    gas pool when a position first takes debt and paid to the liquidator (Liquity:
    `LUSD_GAS_COMPENSATION` = 200 LUSD). A position's debt includes it."""
    gas_compensation_collateral_bps: int = 0
    """cdp only: share of a liquidated position's collateral paid to the liquidator (Liquity:
    `PERCENT_DIVISOR` = 200, i.e. 50 bps)."""
    recovery_ccr_bps: int = 0
    """cdp only: the critical total collateral ratio (Liquity: `CCR` = 15000); below it the market
    is in Recovery Mode. 0 = no Recovery Mode."""


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class AddAsset:
    at: int
    symbol: str
    decimals: int = 18


@dataclass(frozen=True, slots=True)
class SetPrice:
    at: int
    asset: str
    price_e18: int


@dataclass(frozen=True, slots=True)
class AddLayer:
    at: int
    layer: str
    config: LayerConfig


@dataclass(frozen=True, slots=True)
class AddMarket:
    at: int
    market: str
    config: MarketConfig


@dataclass(frozen=True, slots=True)
class Deposit:
    """Stake, deposit into a stability pool, donate to a fund/treasury, or add cover capital."""

    at: int
    layer: str
    account: str
    amount: int


@dataclass(frozen=True, slots=True)
class RequestWithdraw:
    at: int
    layer: str
    account: str
    shares: int | None = None
    amount: int | None = None


@dataclass(frozen=True, slots=True)
class CancelWithdraw:
    at: int
    layer: str
    account: str


@dataclass(frozen=True, slots=True)
class Withdraw:
    at: int
    layer: str
    account: str
    shares: int | None = None
    amount: int | None = None


@dataclass(frozen=True, slots=True)
class Supply:
    at: int
    market: str
    account: str
    amount: int


@dataclass(frozen=True, slots=True)
class WithdrawSupply:
    at: int
    market: str
    account: str
    amount: int


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """Open or grow a position: post collateral and borrow (lending) or mint (cdp)."""

    at: int
    market: str
    account: str
    collateral: tuple[tuple[str, int], ...] = ()
    debt: int = 0


@dataclass(frozen=True, slots=True)
class Repay:
    at: int
    market: str
    account: str
    amount: int


@dataclass(frozen=True, slots=True)
class AddCollateral:
    at: int
    market: str
    account: str
    collateral: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Liquidate:
    at: int
    market: str
    account: str
    keeper: str = "keeper"


@dataclass(frozen=True, slots=True)
class ClaimCollateral:
    """Take back the collateral surplus left by a capped Recovery Mode liquidation (Liquity:
    `BorrowerOperations.claimCollateral`)."""

    at: int
    market: str
    account: str


@dataclass(frozen=True, slots=True)
class Incident:
    at: int
    market: str
    asset: str
    amount: int
    cause: str


@dataclass(frozen=True, slots=True)
class Reward:
    """Raise a share vault's exchange rate (emissions, premiums) from `source` (a wallet or a layer)."""

    at: int
    layer: str
    amount: int
    source: str = "external:world"


@dataclass(frozen=True, slots=True)
class Advance:
    """Move time forward to `at`: accrue interest and guarantor premiums."""

    at: int


@dataclass(frozen=True, slots=True)
class QuoteTerms:
    """A risk-lab quote's terms, carried by the `buy_cover` that takes it (docs/cover-and-claims.md,
    "Quotes"): the engine charges `premium` instead of the pool's rate and refuses the cover when
    the pool's assets or the market's TVL moved more than `tolerance_bps` from the quote's. Expiry
    and the stored quote are the service's to check; the engine sees only what the log carries."""

    id: str
    premium: int
    """Base units of the pool's asset."""
    pool_assets: int
    """The pool's assets when quoted (base units of its asset)."""
    market_tvl: int
    """The market's TVL when quoted (base units of its debt asset): supply, or debt where none."""
    tolerance_bps: int


@dataclass(frozen=True, slots=True)
class BuyCover:
    at: int
    pool: str
    account: str
    market: str
    causes: tuple[str, ...]
    amount: int
    period_seconds: int
    quote: QuoteTerms | None = None


@dataclass(frozen=True, slots=True)
class FileClaim:
    at: int
    policy: str
    incident: str
    loss: int
    claimant: str | None = None


@dataclass(frozen=True, slots=True)
class AssessClaim:
    at: int
    claim: str
    assessor: str
    approve: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AssessorStake:
    """Stake into a cover pool's assessment stake (weighs the assessor's votes on its claims)."""

    at: int
    pool: str
    account: str
    amount: int


@dataclass(frozen=True, slots=True)
class AssessorUnstake:
    at: int
    pool: str
    account: str
    amount: int


@dataclass(frozen=True, slots=True)
class SettleClaim:
    """Decide a claim put to a stake-weighted vote, after its poll and the payout cooldown."""

    at: int
    claim: str


@dataclass(frozen=True, slots=True)
class GuarantorDefaults:
    at: int
    layer: str


@dataclass(frozen=True, slots=True)
class SettleSlashing:
    """Aave Safety Module v1.5 `settleSlashing`: end a staking pool's post-slashing period."""

    at: int
    layer: str


ADMIN_STATUSES = ("active", "on_ice", "frozen", "none")
"""What Blend's admin may set (`set_status`): statuses 0, 2, 4, and 3 (the permissionless ones)."""


@dataclass(frozen=True, slots=True)
class SetStatus:
    """Blend `set_status` (admin): set a backstop-guarded pool's admin status, `active`, `on_ice`,
    `frozen`, or `none` (Blend's status 3: back to the permissionless thresholds), if the backstop
    allows it (`execute_set_pool_status`, docs/layers/staking_pool.md)."""

    at: int
    layer: str
    status: str


@dataclass(frozen=True, slots=True)
class ClaimRewards:
    """Claim the rewards a staker accrued in a pool with `rewards: separate` (Umbrella)."""

    at: int
    layer: str
    account: str


@dataclass(frozen=True, slots=True)
class CoverDeficit:
    """Cover a market's reserve deficit from a treasury or a staking pool (Aave v3.3
    `eliminateReserveDeficit`, Umbrella `coverPendingDeficit` / `coverDeficitOffset`)."""

    at: int
    market: str
    layer: str
    amount: int
    asset: str | None = None
    """The deficit's asset (default: the market's debt asset)."""


@dataclass(frozen=True, slots=True)
class FillAuction:
    """Fill `percent` (1 to 100, Blend's `percent_filled`) of a Blend backstop's bad-debt auction,
    `block` blocks after it started; what is left stays on auction."""

    at: int
    layer: str
    account: str
    block: int
    percent: int = 100


Command = (
    AddAsset
    | SetPrice
    | AddLayer
    | AddMarket
    | Deposit
    | RequestWithdraw
    | CancelWithdraw
    | Withdraw
    | Supply
    | WithdrawSupply
    | OpenPosition
    | Repay
    | AddCollateral
    | Liquidate
    | Incident
    | Reward
    | Advance
    | BuyCover
    | FileClaim
    | AssessClaim
    | AssessorStake
    | AssessorUnstake
    | SettleClaim
    | GuarantorDefaults
    | ClaimCollateral
    | SettleSlashing
    | SetStatus
    | ClaimRewards
    | CoverDeficit
    | FillAuction
)
"""Every command the engine accepts: `Engine.apply` takes exactly this union."""

COMMAND_TYPES: dict[str, type[Command]] = {cls.__name__: cls for cls in get_args(Command)}
"""Command classes by name, for the codec (`{"type": "Deposit", ...}`)."""
