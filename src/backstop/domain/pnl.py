"""Who earned and who paid (issue 4): per-account profit and loss, in integers.

Stakers: P&L = current value + withdrawn − deposited (rewards and premiums minus slashes and
payouts), and a realised APR in bps annualised over the time since the first deposit.
Stability-pool depositors count collateral gains at the oracle price. Guarantors: premiums
earned against losses paid. Investors: what the socialized part of each loss took from them,
what cover paid back, and what is left uncovered. Plus treasury spend and tokens minted.
"""

from __future__ import annotations

from typing import Any

from .layers.cover_pool import CoverPool
from .layers.guarantor import Guarantor
from .layers.share_vault import ShareVault
from .layers.stability_pool import StabilityPool
from .layers.treasury import Treasury
from .money import BPS, SECONDS_PER_YEAR, convert_down
from .state import State

MIN_APR_SECONDS = 86_400
"""Below a day held, an annualised rate is noise (a 1% move in a minute is 525,600% a year)."""


def apr_bps(pnl: int, capital: int, seconds: int) -> int | None:
    """Simple annualised return in bps, truncated toward zero; None when undefined or when
    the capital was held for less than a day."""
    if capital <= 0 or seconds < MIN_APR_SECONDS:
        return None
    num = pnl * BPS * SECONDS_PER_YEAR
    den = capital * seconds
    q = abs(num) // den
    return q if num >= 0 else -q


def staker_row(state: State, layer: object, acct: str) -> dict[str, Any] | None:
    """One depositor's P&L in one share vault or stability pool (None: not a depositor of it).
    `compute` builds every row with it; the service's `GET /v1/me` reads the caller's own."""
    if isinstance(layer, ShareVault):
        if acct not in layer.deposited:
            return None
        value = layer.assets_for_shares(layer.shares.get(acct, 0), layer.total_assets(state))
        dep, wd = layer.deposited[acct], layer.withdrawn.get(acct, 0)
        pnl = value + wd - dep
        return {
            "asset": layer.asset,
            "deposited": dep,
            "withdrawn": wd,
            "value": value,
            "pnl": pnl,
            "apr_bps": apr_bps(pnl, dep, state.now - layer.since.get(acct, state.now)),
        }
    if isinstance(layer, StabilityPool):
        if acct not in layer.deposited:
            return None
        snap = layer.deposits.get(acct)
        value = layer.compounded(snap) if snap else 0
        gains_value = 0
        for asset in layer.collaterals:
            g = (layer.gain(snap, asset) if snap else 0) + layer.paid_gains.get((acct, asset), 0)
            if g and asset in state.prices and layer.asset in state.prices:
                gains_value += convert_down(
                    g,
                    state.prices[asset],
                    state.assets[asset],
                    state.prices[layer.asset],
                    state.assets[layer.asset],
                )
        dep, wd = layer.deposited[acct], layer.withdrawn.get(acct, 0)
        pnl = value + wd + gains_value - dep
        return {
            "asset": layer.asset,
            "deposited": dep,
            "withdrawn": wd,
            "value": value,
            "gains_value": gains_value,
            "pnl": pnl,
            "apr_bps": apr_bps(pnl, dep, state.now - layer.since.get(acct, state.now)),
        }
    return None


def compute(state: State) -> dict[str, Any]:
    stakers: dict[str, dict[str, dict[str, Any]]] = {}
    for lid, layer in sorted(state.layers.items()):
        if isinstance(layer, (ShareVault, StabilityPool)):
            rows = {}
            for acct in sorted(layer.deposited):
                row = staker_row(state, layer, acct)
                assert row is not None  # every key of `deposited` is a depositor
                rows[acct] = row
            stakers[lid] = rows
    guarantors = {
        lid: {
            "guarantor": g.guarantor,
            "asset": g.asset,
            "premiums_earned": g.premiums_earned,
            "losses_paid": g.losses_paid,
            "net": g.premiums_earned - g.losses_paid,
            "lapsed": g.lapsed,
            "defaulted": g.defaulted,
        }
        for lid, g in sorted(state.layers.items())
        if isinstance(g, Guarantor)
    }
    investors: dict[str, dict[str, Any]] = {}
    for loss in state.losses:
        for acct, amount in loss.by_account.items():
            row = investors.setdefault(acct, {"losses": {}, "covered": {}, "uncovered": {}})
            row["losses"][loss.asset] = row["losses"].get(loss.asset, 0) + amount
    for claim in state.claims.values():
        if claim.paid:
            policy = state.policies[claim.policy]
            asset = state.layers[policy.pool].config.asset or ""
            row = investors.setdefault(claim.claimant, {"losses": {}, "covered": {}, "uncovered": {}})
            row["covered"][asset] = row["covered"].get(asset, 0) + claim.paid
    for row in investors.values():
        for asset, lost in row["losses"].items():
            row["uncovered"][asset] = max(0, lost - row["covered"].get(asset, 0))
    treasury: dict[str, dict[str, int]] = {}
    for loss in state.losses:
        for lid, paid in loss.allocation.items():
            if isinstance(state.layers[lid], Treasury) and paid:
                t = treasury.setdefault(lid, {})
                t[loss.asset] = t.get(loss.asset, 0) + paid
    out: dict[str, Any] = {
        "stakers": stakers,
        "guarantors": guarantors,
        "investors": investors,
        "treasury": treasury,
        "minted": dict(sorted(state.minted.items())),
    }
    capital_pools = capital_pool_rows(state)
    if capital_pools:
        out["capital_pools"] = capital_pools
    return out


def capital_pool_rows(state: State) -> dict[str, dict[str, Any]]:
    """A Nexus-style cover pool's capital pool (the mutual's share): the premiums it kept, the
    claim deposits it kept on denials, and what it holds (deposits of pending claims included).
    Only pools that use it are listed."""
    rows: dict[str, dict[str, Any]] = {}
    for lid, layer in sorted(state.layers.items()):
        if isinstance(layer, CoverPool) and layer.uses_mutual():
            rows[lid] = {
                "asset": layer.asset,
                "premiums": layer.premiums_to_capital,
                "deposits_kept": layer.deposits_kept,
                "pnl": layer.premiums_to_capital + layer.deposits_kept,
                "holds": state.ledger.balance(layer.capital_account, layer.asset),
                "assessment_stake": layer.assessment_total,
            }
    return rows
