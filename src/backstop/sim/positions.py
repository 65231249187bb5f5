"""Position books: generated, read from CSV or taken from the scenario, bucketed by liquidation price.

A single-collateral position with debt D (debt-asset units), collateral C (tokens) and
liquidation threshold lt becomes liquidatable when the collateral price falls below its
liquidation price L = D·p_debt / (C·lt). Two facts make a book cheap to simulate whatever its size:

* The set of positions liquidated by the time the price has touched m is those with L > m: a
  prefix of the book sorted by L, so a running minimum of the price and prefix sums of D and C
  say what is liquidated at each step.
* A position's shortfall on a sale at per-token recovery q is D − C·q, linear in (D, C); positions
  with the same L have the same D/C, so a bucket of equal-L positions behaves exactly like one
  position holding their sums. Buckets are narrow bins of log L; the bucket's own L is the
  debt-weighted one implied by its sums (ΣD, ΣC), so the bucket is an exact aggregate position.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..domain.errors import InvalidConfig
from .config import PositionsSpec

CSV_COLUMNS = ("collateral_asset", "collateral_amount", "debt")


@dataclass(frozen=True)
class RawPositions:
    """Positions of one market and collateral asset, in whole tokens."""

    market: str
    collateral: str
    debt: np.ndarray
    collateral_amount: np.ndarray


@dataclass(frozen=True)
class Book:
    """A bucketed book of one (market, collateral asset); buckets sorted by liquidation price, highest first."""

    market: str
    market_index: int
    collateral: str
    asset_index: int
    """Index of the collateral in the model's asset list."""
    price_row: int
    """Row of the collateral in the simulated price array, or -1 if its price is held fixed."""
    lt: float
    bonus: float
    depth_value: float
    """Quote value the market absorbs before impact reaches `impact_k`; 0 = infinitely deep."""
    impact_k: float
    max_impact: float
    fee: float
    """Share of the keeper's bonus that goes to the fee layer."""
    debt_price: float
    neg_log_liq: np.ndarray
    """(B,) −log L per bucket, ascending (L descending)."""
    neg_ratio: np.ndarray
    """(B,) −D/C per bucket, ascending."""
    cum_debt: np.ndarray
    """(B+1,) prefix sums of debt over buckets."""
    cum_coll: np.ndarray
    """(B+1,) prefix sums of collateral tokens over buckets."""
    n_positions: int
    seize_all: bool = False
    """Liquity v1 (a cdp behind a stability pool): the borrower keeps nothing; all the collateral
    left after the pool's share is sold and what the sale brings beyond the debt and the keeper's
    bonus goes to the fee layer."""
    gas_collateral: float = 0.0
    """Liquity's collateral gas compensation (`gas_compensation_collateral_bps` / 1e4), paid to the
    keeper before the pool takes its share."""
    redistribution_layer: int = -1
    """Column of the market's `redistribution` layer (-1: none)."""
    min_collateral_ratio: float = 0.0
    """Liquity's MCR (`min_collateral_ratio_bps` / 1e4), used in Recovery Mode."""
    recovery_ccr: float = 0.0
    """Liquity's CCR (`recovery_ccr_bps` / 1e4); 0: no Recovery Mode."""

    @property
    def found_in_phase_b(self) -> bool:
        """Its liquidations depend on the path and the backstop: redistribution moves the other
        troves' liquidation prices, and Recovery Mode depends on the market's total collateral
        ratio and the pool's deposits. Phase A only keeps its prices; phase B finds them path by
        path (`liquidation.liquidate_paths`)."""
        return self.redistribution_layer >= 0 or self.recovery_ccr > 0

    @property
    def n_buckets(self) -> int:
        return len(self.neg_log_liq)

    @property
    def total_debt(self) -> float:
        return float(self.cum_debt[-1])


def generate(
    spec: PositionsSpec, index: int, price: float, debt_price: float, lt: float, rng: np.random.Generator
) -> RawPositions:
    """A synthetic book: lognormal debt sizes summing to `debt_total`; health = 1 + (median − 1)·e^(σZ)."""
    field = f"simulation.positions.{index}"
    if spec.count is None or spec.collateral is None or spec.debt_total is None:
        raise InvalidConfig(field, f"{field}: a generated book needs count, collateral and debt_total (or give csv)")
    n = spec.count
    weights = np.exp(spec.size_sigma * rng.standard_normal(n)) if spec.size_sigma > 0 else np.ones(n)
    debt = spec.debt_total * weights / weights.sum()
    health = 1.0 + (spec.health.median - 1.0) * np.exp(spec.health.sigma * rng.standard_normal(n))
    coll = health * debt * debt_price / (price * lt)
    return RawPositions(spec.market, spec.collateral, debt, coll)


def read_csv(spec: PositionsSpec, index: int, base_dir: Path | None) -> list[RawPositions]:
    """Real positions from a CSV with columns collateral_asset, collateral_amount, debt (whole tokens)."""
    field = f"simulation.positions.{index}.csv"
    assert spec.csv is not None
    path = Path(spec.csv)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidConfig(field, f"{field}: cannot read {path}: {exc.strerror or exc}") from None
    reader = csv.DictReader(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    columns = {c.strip() for c in (reader.fieldnames or [])}
    missing = [c for c in CSV_COLUMNS if c not in columns]
    if missing:
        raise InvalidConfig(field, f"{field}: {path.name} is missing column(s) {', '.join(missing)}")
    by_asset: dict[str, tuple[list[float], list[float]]] = {}
    for line, row in enumerate(reader, start=2):
        try:
            asset = row["collateral_asset"].strip()
            amount = float(row["collateral_amount"])
            debt = float(row["debt"])
        except (AttributeError, TypeError, ValueError):
            raise InvalidConfig(field, f"{field}: {path.name} line {line}: not a number") from None
        if amount < 0 or debt < 0 or not asset:
            raise InvalidConfig(field, f"{field}: {path.name} line {line}: amounts must be non-negative")
        if debt == 0:
            continue
        d, c = by_asset.setdefault(asset, ([], []))
        d.append(debt)
        c.append(amount)
    return [RawPositions(spec.market, a, np.asarray(d), np.asarray(c)) for a, (d, c) in sorted(by_asset.items())]


def bucket(raw: list[RawPositions], n_buckets: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Merge positions and bin them by log liquidation price: (debt per bucket, collateral per bucket, count).

    Positions with no collateral have L = ∞ and land in the first (highest) bucket.
    """
    debt = np.concatenate([r.debt for r in raw]) if raw else np.zeros(0)
    coll = np.concatenate([r.collateral_amount for r in raw]) if raw else np.zeros(0)
    n = len(debt)
    if n == 0:
        return np.zeros(0), np.zeros(0), 0
    with np.errstate(divide="ignore"):
        ratio = np.where(coll > 0, debt / np.where(coll > 0, coll, 1.0), np.inf)
    if n <= n_buckets:
        order = np.argsort(-ratio, kind="stable")
        return debt[order], coll[order], n
    finite = np.isfinite(ratio)
    log_r = np.log(ratio[finite])
    lo, hi = float(log_r.min()), float(log_r.max())
    width = (hi - lo) / n_buckets if hi > lo else 1.0
    idx = np.full(n, n_buckets - 1, dtype=np.int64)
    idx[finite] = np.minimum(((hi - log_r) / width).astype(np.int64), n_buckets - 1)
    idx[~finite] = 0
    d_b = np.bincount(idx, weights=debt, minlength=n_buckets)
    c_b = np.bincount(idx, weights=coll, minlength=n_buckets)
    keep = d_b > 0
    d_b, c_b = d_b[keep], c_b[keep]
    with np.errstate(divide="ignore"):
        r_b = np.where(c_b > 0, d_b / np.where(c_b > 0, c_b, 1.0), np.inf)
    order = np.argsort(-r_b, kind="stable")
    return d_b[order], c_b[order], n
