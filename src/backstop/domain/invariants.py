"""The engine's invariants (docs/architecture.md: I1, I2, I5, I6, I8, I9), as a function that lists
every violation it finds.

Tests call it after every command; `backstop run --check` after every step. A violation is
a bug in the engine, never a user error, so it is reported separately from BackstopError.
"""

from __future__ import annotations

from collections.abc import Iterable

from .layers.share_vault import ShareVault
from .layers.stability_pool import StabilityPool
from .state import State


class InvariantViolation(AssertionError):
    pass


def check(state: State, losses_from: int = 0, policy_ids: Iterable[str] | None = None) -> list[str]:
    """Every violation found.

    Long random runs check after every command, so two parts can be narrowed to what the
    command could have changed: `losses_from` skips losses already checked (an allocation is
    final once recorded) and `policy_ids` limits the cover check to the policies it touched.
    """
    out: list[str] = []
    ledger = state.ledger
    for asset, total in ledger.totals().items():
        if total != 0:
            out.append(f"conservation: {asset} sums to {total}")
    for (account, asset), amount in ledger.balances.items():
        if amount < 0 and not account.startswith("external:"):
            out.append(f"negative balance: {account} holds {amount} {asset}")
    for lid, layer in state.layers.items():
        if isinstance(layer, ShareVault):
            if sum(layer.shares.values()) != layer.total_shares:
                out.append(f"{lid}: Σ shares != total_shares")
            queued = sum(r.shares for r in layer.requests.values())
            if queued != layer.queued_shares or queued > layer.total_shares:
                out.append(f"{lid}: queued shares {layer.queued_shares} vs requests {queued}")
            for acct, req in layer.requests.items():
                if req.shares > layer.shares.get(acct, 0):
                    out.append(f"{lid}: {acct} has more queued than owned shares")
            ta = layer.total_assets(state)
            if layer.assets_for_shares(layer.total_shares, ta) > ta:
                out.append(f"{lid}: shares are worth more than the pool holds")
        if isinstance(layer, StabilityPool):
            bal = ledger.balance(layer.account, layer.asset)
            owed = sum(layer.compounded(s) for s in layer.deposits.values())
            if owed > layer.total_deposits or layer.total_deposits > bal:
                out.append(f"{lid}: deposits owed {owed}, total {layer.total_deposits}, held {bal}")
            for asset in layer.collaterals:
                gains = sum(layer.gain(s, asset) for s in layer.deposits.values())
                held = ledger.balance(layer.account, asset)
                if gains > held:
                    out.append(f"{lid}: {asset} gains owed {gains} > held {held}")
    for loss in state.losses[losses_from:]:
        if sum(loss.allocation.values()) != loss.amount or any(v < 0 for v in loss.allocation.values()):
            out.append(f"{loss.id}: allocation {loss.allocation} does not sum to {loss.amount}")
    for mid, market in state.markets.items():
        per_asset: dict[str, int] = {}
        for pos in market.positions.values():
            for asset, amount in pos.collateral.items():
                if amount < 0:
                    out.append(f"{mid}: negative collateral")
                per_asset[asset] = per_asset.get(asset, 0) + amount
        for asset in market.coll:
            held = ledger.balance(market.collateral_account, asset)
            if per_asset.get(asset, 0) != held:
                out.append(f"{mid}: positions hold {per_asset.get(asset, 0)} {asset}, the market {held}")
        if sum(p.scaled_debt for p in market.positions.values()) + market.default_scaled != market.total_scaled:
            out.append(f"{mid}: Σ scaled debt != total")
        if sum(market.supply_shares.values()) != market.supply_shares_total:
            out.append(f"{mid}: Σ supply shares != total")
    policies = state.policies
    for pid in policies if policy_ids is None else policy_ids:
        policy = policies[pid]
        if policy.paid > policy.amount:
            out.append(f"{pid}: paid more than its cover")
    return out


def assert_ok(state: State) -> None:
    problems = check(state)
    if problems:
        raise InvariantViolation("; ".join(problems))
