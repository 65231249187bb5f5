"""Statistics of a run, each with its Monte Carlo standard error and a 95% confidence interval.

* means: se = s / √n;
* probabilities: se = √(p(1−p)/n), Wilson score interval (sane at p = 0 or tiny n·p);
* VaR_q: the empirical q-quantile; its interval comes from order statistics (the ranks
  n·q ± 1.96·√(n·q(1−q)) bound the quantile with 95% confidence, whatever the distribution), and
  se is that interval's half-width / 1.96;
* CVaR_q: mean of the worst ⌈n(1−q)⌉ outcomes; se = their standard deviation / √k (it leaves
  out the VaR's own noise, so it is a slight underestimate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    value: float
    se: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "se": self.se, "ci_low": self.ci_low, "ci_high": self.ci_high}


def mean(x: np.ndarray) -> Estimate:
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan)
    m = float(x.mean())
    se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return Estimate(m, se, m - Z95 * se, m + Z95 * se)


def probability(hits: np.ndarray) -> Estimate:
    hits = np.asarray(hits, dtype=bool)
    n = len(hits)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan)
    k = int(hits.sum())
    p = k / n
    se = math.sqrt(p * (1 - p) / n)
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Estimate(p, se, max(0.0, centre - half), min(1.0, centre + half))


def value_at_risk(x: np.ndarray, q: float) -> Estimate:
    s = np.sort(np.asarray(x, dtype=float))
    n = len(s)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan)
    rank = min(n - 1, max(0, math.ceil(n * q) - 1))
    half = Z95 * math.sqrt(n * q * (1 - q))
    lo = s[min(n - 1, max(0, math.floor(n * q - half) - 1))]
    hi = s[min(n - 1, max(0, math.ceil(n * q + half) - 1))]
    return Estimate(float(s[rank]), float(hi - lo) / (2 * Z95), float(lo), float(hi))


def expected_shortfall(x: np.ndarray, q: float) -> Estimate:
    s = np.sort(np.asarray(x, dtype=float))
    n = len(s)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan)
    k = max(1, math.ceil(n * (1 - q)))
    tail = s[n - k :]
    m = float(tail.mean())
    se = float(tail.std(ddof=1) / math.sqrt(k)) if k > 1 else math.nan
    return Estimate(m, se, m - Z95 * se, m + Z95 * se)


def quantile(x: np.ndarray, q: float) -> float:
    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    return float(np.quantile(x, q)) if len(x) else math.nan


def format_amount(x: float, places: int = 6) -> str:
    """A float amount as a plain decimal string in whole tokens (no exponent)."""
    if math.isnan(x):
        return "NaN"
    text = f"{x:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
