"""The risk lab against closed forms.

1. Barrier: one position, GBM without jumps, no keeper delay, no outages, no incidents. It is
   liquidated the first time the price falls below its liquidation price L, so
   P(liquidated by T) = P(min_{t≤T} S_t ≤ L). For log S_t = log S_0 + νt + σW_t with
   ν = μ − σ²/2 and b = log(L/S_0) < 0, the reflection principle gives
       P = Φ((b − νT)/(σ√T)) + exp(2νb/σ²) · Φ((b + νT)/(σ√T))
   (e.g. Shreve, Stochastic Calculus for Finance II, §7.2; Björk, Arbitrage Theory, ch. 18).
   The simulator only looks at the price at the end of each step, which misses crossings
   between steps: discrete monitoring biases P down. Broadie, Glasserman & Kou (1997, "A
   continuity correction for discrete barrier options", Math. Finance 7) show the discrete
   probability equals the continuous one for the barrier moved away from S_0 by
   exp(−β σ √Δt), β = −ζ(1/2)/√(2π) ≈ 0.5826. We use 24 steps a day and compare with the
   corrected barrier, within 3 Monte Carlo standard errors.

2. Pricing: a guarantor layer (attachment A, limit M) first in the waterfall, hit only by
   incidents: Poisson(λ) per year, each a lognormal loss X (median m, sigma s). Its expected
   annual loss is λ·E[min((X − A)⁺, M)] = λ·(C(A) − C(A + M)), with the lognormal call
   C(K) = E[(X − K)⁺] = e^{μ+s²/2}Φ(d₁) − KΦ(d₂), μ = log m, d₁ = (μ + s² − log K)/s, d₂ = d₁ − s.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from backstop.scenario.loader import load_scenario
from backstop.sim import api

BGK_BETA = 0.5825971579390106


def barrier_probability(s0: float, barrier: float, mu: float, sigma: float, t: float) -> float:
    nu = mu - 0.5 * sigma**2
    b = math.log(barrier / s0)
    st = sigma * math.sqrt(t)
    return float(norm.cdf((b - nu * t) / st) + math.exp(2 * nu * b / sigma**2) * norm.cdf((b + nu * t) / st))


def one_position(vol: float, drift: float, horizon_days: int, steps_per_day: int) -> dict[str, object]:
    return {
        "name": "barrier",
        "assets": {"USD": {"decimals": 18}, "ETH": {"decimals": 18}},
        "prices": {"USD": 1, "ETH": 2000},
        "layers": {"fund": {"kind": "insurance_fund", "asset": "USD"}, "rest": {"kind": "socialize"}},
        "markets": {
            "troves": {
                "kind": "cdp",
                "debt_asset": "USD",
                "collateral": {"ETH": {"liquidation_threshold_bps": 8000, "liquidation_bonus_bps": 0}},
                "waterfall": ["fund", "rest"],
            }
        },
        # L = D / (C · lt) = 1000 / (1 · 0.8) = 1250 USD per ETH
        "steps": [{"at": 0, "do": "open", "market": "troves", "account": "t1", "collateral": {"ETH": 1}, "debt": 1000}],
        "simulation": {
            "horizon_days": horizon_days,
            "steps_per_day": steps_per_day,
            "chunk_paths": 5000,
            "prices": {"assets": {"ETH": {"vol": vol, "drift": drift}}},
        },
    }


def test_liquidation_probability_matches_the_gbm_barrier_formula() -> None:
    vol, drift, days, spd = 0.9, 0.0, 90, 24
    res = api.simulate(load_scenario(one_position(vol, drift, days, spd)), paths=20_000, seed=11)
    hit = res.outcome.liquidations > 0
    p_hat = float(hit.mean())
    se = math.sqrt(p_hat * (1 - p_hat) / len(hit))
    t = days / 365
    dt = 1 / (365 * spd)
    corrected = barrier_probability(2000, 1250 * math.exp(-BGK_BETA * vol * math.sqrt(dt)), drift, vol, t)
    assert abs(p_hat - corrected) < 3 * se, (p_hat, corrected, se)
    # sanity of the set-up: a meaningful probability, and bad debt needs a jump over 1000 (none here)
    assert 0.15 < p_hat < 0.6
    assert res.outcome.bad_debt.max() < 1e-6 * 1000 + 50


def test_discrete_monitoring_bias_shows_at_one_step_a_day() -> None:
    """With one step a day the uncorrected continuous formula overstates P by many standard
    errors, and the BGK-corrected one still fits: the correction is doing real work."""
    vol, drift, days = 0.9, 0.0, 90
    res = api.simulate(load_scenario(one_position(vol, drift, days, 1)), paths=20_000, seed=12)
    p_hat = float((res.outcome.liquidations > 0).mean())
    se = math.sqrt(p_hat * (1 - p_hat) / 20_000)
    t, dt = days / 365, 1 / 365
    continuous = barrier_probability(2000, 1250, drift, vol, t)
    corrected = barrier_probability(2000, 1250 * math.exp(-BGK_BETA * vol * math.sqrt(dt)), drift, vol, t)
    assert continuous - p_hat > 5 * se
    assert abs(p_hat - corrected) < 3 * se, (p_hat, corrected, se)


def lognormal_call(median: float, s: float, k: float) -> float:
    mu = math.log(median)
    d1 = (mu + s * s - math.log(k)) / s
    return float(math.exp(mu + s * s / 2) * norm.cdf(d1) - k * norm.cdf(d1 - s))


def test_fair_premium_matches_the_poisson_lognormal_layer() -> None:
    tvl, lam, median_f, s = 100_000_000, 2.0, 0.01, 1.2
    a, m = 1_000_000, 4_000_000
    spec = one_position(0.0, 0.0, 365, 1)
    spec["layers"] = {
        "g1": {"kind": "guarantor", "asset": "USD", "guarantor": "re", "attachment": a, "limit": m},
        "rest": {"kind": "socialize"},
    }
    spec["markets"]["troves"]["waterfall"] = ["g1", "rest"]  # type: ignore[index]
    spec["simulation"]["incidents"] = [  # type: ignore[index]
        {"market": "troves", "per_year": lam, "tvl": tvl, "severity": {"median_fraction": median_f, "sigma": s}}
    ]
    median = median_f * tvl
    expected = lam * (lognormal_call(median, s, a) - lognormal_call(median, s, a + m))
    res = api.price(load_scenario(spec), "g1", paths=40_000, seed=5)
    el = res.premium.expected_loss_per_year
    assert abs(el.value - expected) < 3 * el.se, (el.value, expected, el.se)
    assert el.se < 0.05 * expected
    np.testing.assert_allclose(res.simulation.outcome.alloc.sum(axis=1) + 0, res.simulation.outcome.loss)
