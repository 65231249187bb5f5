"""The result of a run as the JSON object of docs/scenario-format.md, and as readable rich tables.

Amounts leave the engine as base-unit integers and are formatted here, exactly, as
whole-token decimal strings ("37.5").
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.console import Console
from rich.table import Table

from ..domain import pnl
from ..domain.codec import command_from_dict, event_to_dict
from ..domain.commands import Command
from ..domain.context import Ctx
from ..domain.events import Event
from ..domain.layers.base import AccountView, LayerView
from ..domain.markets.market import MarketView
from ..domain.money import format_units
from ..engine import Engine
from .runner import RunResult


class Formatter:
    def __init__(self, engine: Engine) -> None:
        self.decimals = engine.state.assets

    def amt(self, units: int, asset: str) -> str:
        return format_units(units, self.decimals.get(asset, 18))

    def bag(self, amounts: dict[str, int]) -> dict[str, str]:
        return {a: self.amt(v, a) for a, v in sorted(amounts.items())}


def event_json(event: Event) -> dict[str, Any]:
    """`event_to_dict` with the integers of its data as strings (browsers lose precision past 2^53)."""
    out = event_to_dict(event)
    out["data"] = _ints_to_str(out["data"])
    return out


class JsonLog:
    """The `events` of a `run --json` file as a log `Engine.replay` reads (`backstop replay`)."""

    @staticmethod
    def command(logged: dict[str, Any]) -> Command | None:
        return command_from_dict(logged["data"]["command"]) if logged["kind"] == "command" else None

    @staticmethod
    def encode(event: Event) -> dict[str, Any]:
        return event_json(event)

    @staticmethod
    def same(rebuilt: dict[str, Any], logged: dict[str, Any]) -> bool:
        """Equal as written, or the same command written by an earlier version."""
        if rebuilt.get("kind") != "command" or logged.get("kind") != "command":
            return rebuilt == logged
        strip = {k: v for k, v in rebuilt.items() if k != "data"}
        return strip == {k: v for k, v in logged.items() if k != "data"} and command_from_dict(
            rebuilt["data"]["command"]
        ) == command_from_dict(logged["data"]["command"])


def _ints_to_str(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return {k: _ints_to_str(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_ints_to_str(v) for v in value]
    return value


def _account_json(f: Formatter, a: AccountView, asset: str) -> dict[str, Any]:
    dep = a.deposit
    out: dict[str, Any] = {
        "deposit": f.bag(dep) if isinstance(dep, dict) else f.amt(dep, asset),
        "shares": str(a.shares),
        "gains": f.bag(a.gains),
    }
    for name in ("deposited", "withdrawn"):
        value = getattr(a, name)
        if value is not None:
            out[name] = f.amt(value, asset)
    if a.queued_shares is not None:
        out["queued_shares"] = str(a.queued_shares)
    return out


def layer_json(f: Formatter, view: LayerView) -> dict[str, Any]:
    """A layer's typed view as JSON: the common fields, then the kind's own by their declared unit."""
    asset = view.asset or ""
    out: dict[str, Any] = {
        "kind": view.kind,
        "total_assets": f.bag(view.total_assets),
        "accounts": {acct: _account_json(f, a, asset) for acct, a in view.accounts.items()},
    }
    for fld in dataclasses.fields(view)[len(dataclasses.fields(LayerView)) :]:
        value = getattr(view, fld.name)
        unit = fld.metadata.get("unit")
        if unit == "amount":
            out[fld.name] = f.amt(value, asset)
        elif unit == "rate_e6":
            out[fld.metadata.get("key") or fld.name] = format_units(value, 6)
        else:
            out[fld.name] = str(value)
    return out


def market_json(f: Formatter, v: MarketView) -> dict[str, Any]:
    """A market's typed view as JSON; optional parts only where the market uses them."""
    d = v.debt_asset
    out: dict[str, Any] = {
        "kind": v.kind,
        "debt_asset": d,
        "total_debt": f.amt(v.total_debt, d),
        "cash": f.amt(v.cash, d),
        "supply_assets": f.amt(v.supply_assets, d),
        "suppliers": {a: f.amt(x, d) for a, x in v.suppliers.items()},
        "bad_debt": f.amt(v.bad_debt, d),
        "socialized": f.amt(v.socialized, d),
        "unbacked": f.amt(v.unbacked, d),
        "interest": f.amt(v.interest, d),
        "positions": {
            a: {
                "collateral": f.bag(p.collateral),
                "debt": f.amt(p.debt, d),
                "health": None if p.health_bps is None else format_units(p.health_bps, 4),
                **({"gas_reserve": f.amt(p.gas_reserve, d)} if p.gas_reserve else {}),
            }
            for a, p in v.positions.items()
        },
    }
    if v.deficit is not None:  # a market whose waterfall ends in a reserve deficit (Aave v3.3)
        out["deficit"] = f.bag(v.deficit)
    if v.tcr_bps is not None:  # Liquity: the total collateral ratio and Recovery Mode
        out["tcr"] = format_units(v.tcr_bps, 4)
        out["recovery_mode"] = v.recovery_mode
    if v.gas_pool is not None:
        out["gas_pool"] = f.amt(v.gas_pool, d)
    if v.claimable_collateral:
        out["claimable_collateral"] = {a: f.bag(c) for a, c in v.claimable_collateral.items()}
    return out


def state_json(engine: Engine) -> dict[str, Any]:
    """Everything of §9's object except name and events: losses, layers, markets, ledger."""
    state = engine.state
    f = Formatter(engine)
    ctx = Ctx(state, state.now, 0)
    losses = [loss_json(f, loss) for loss in state.losses]
    layers = {lid: layer_json(f, layer.view(state)) for lid, layer in sorted(state.layers.items())}
    markets: dict[str, Any] = {}
    for mid, market in sorted(state.markets.items()):
        markets[mid] = market_json(f, market.view(ctx))
    ledger: dict[str, dict[str, str]] = {}
    for (acct, asset), amount in sorted(state.ledger.balances.items()):
        if amount:
            ledger.setdefault(acct, {})[asset] = f.amt(amount, asset)
    policies = [policy_json(f, state, pid) for pid in sorted(state.policies)]
    claims = [claim_json(f, state, cid) for cid in sorted(state.claims)]
    return {
        "losses": losses,
        "layers": layers,
        "markets": markets,
        "ledger": ledger,
        "policies": policies,
        "claims": claims,
        "pnl": pnl_json(engine, f),
    }


def loss_json(f: Formatter, loss: Any) -> dict[str, Any]:
    """One loss event and who paid it (the same row in `run --json` and the API's lists)."""
    return {
        "id": loss.id,
        "market": loss.market,
        "asset": loss.asset,
        "amount": f.amt(loss.amount, loss.asset),
        "cause": loss.cause,
        "at": loss.at,
        "incident": loss.incident,
        "allocation": {k: f.amt(v, loss.asset) for k, v in loss.allocation.items()},
    }


def policy_json(f: Formatter, state: Any, pid: str) -> dict[str, Any]:
    pol = state.policies[pid]
    asset = state.layers[pol.pool].config.asset or ""
    return {
        "id": pid,
        "pool": pol.pool,
        "owner": pol.owner,
        "market": pol.market,
        "causes": list(pol.causes),
        "amount": f.amt(pol.amount, asset),
        "start": pol.start,
        "end": pol.end,
        "premium": f.amt(pol.premium, asset),
        "paid": f.amt(pol.paid, asset),
    }


def claim_json(f: Formatter, state: Any, cid: str) -> dict[str, Any]:
    cl = state.claims[cid]
    asset = state.layers[state.policies[cl.policy].pool].config.asset or ""
    return {
        "id": cid,
        "policy": cl.policy,
        "claimant": cl.claimant,
        "incident": cl.incident,
        "loss": f.amt(cl.claimed, asset),
        "status": cl.status,
        "paid": f.amt(cl.paid, asset),
        "assessor": cl.assessor,
        "reason": cl.reason,
        **_claim_extras(f, cl, asset),
    }


def _claim_extras(f: Formatter, cl: Any, asset: str) -> dict[str, Any]:
    """A claim's deposit and stake-weighted vote, shown only where the pool uses them."""
    out: dict[str, Any] = {}
    if cl.deposit:
        out["deposit"] = f.amt(cl.deposit, asset)
    if cl.poll_end is not None:
        out["poll_end"] = cl.poll_end
        out["accepted"] = f.amt(cl.accepted, asset)
        out["denied"] = f.amt(cl.denied, asset)
        out["votes"] = [{"assessor": a, "approve": y, "stake": f.amt(w, asset)} for a, y, w in cl.votes]
    return out


def _apr(bps: int | None) -> str | None:
    return None if bps is None else format_units(bps, 2) + "%"


def pnl_json(engine: Engine, f: Formatter) -> dict[str, Any]:
    raw = pnl.compute(engine.state)
    stakers = {
        lid: {
            acct: {
                **{k: f.amt(r[k], r["asset"]) for k in ("deposited", "withdrawn", "value", "pnl")},
                **({"gains_value": f.amt(r["gains_value"], r["asset"])} if "gains_value" in r else {}),
                "apr": _apr(r["apr_bps"]),
            }
            for acct, r in rows.items()
        }
        for lid, rows in raw["stakers"].items()
    }
    guarantors = {
        lid: {
            "guarantor": g["guarantor"],
            "premiums_earned": f.amt(g["premiums_earned"], g["asset"]),
            "losses_paid": f.amt(g["losses_paid"], g["asset"]),
            "net": f.amt(g["net"], g["asset"]),
            "lapsed": g["lapsed"],
            "defaulted": g["defaulted"],
        }
        for lid, g in raw["guarantors"].items()
    }
    investors = {acct: {k: f.bag(v) for k, v in row.items()} for acct, row in sorted(raw["investors"].items())}
    out: dict[str, Any] = {
        "stakers": stakers,
        "guarantors": guarantors,
        "investors": investors,
        "treasury": {k: f.bag(v) for k, v in raw["treasury"].items()},
        "minted": f.bag(raw["minted"]),
    }
    if "capital_pools" in raw:
        out["capital_pools"] = {
            lid: {k: f.amt(v, r["asset"]) for k, v in r.items() if k != "asset"}
            for lid, r in raw["capital_pools"].items()
        }
    return out


def result_json(result: RunResult) -> dict[str, Any]:
    engine = result.engine
    body = state_json(engine)
    return {
        "name": result.scenario.name,
        "state_hash": engine.state_hash(),
        "events": [event_json(e) for e in engine.log],
        **body,
    }


def _money(amount: str, asset: str, negate: bool = False) -> str:
    """A decimal string with its asset; `negate` flips the sign; zero is always "0 X"."""
    if negate and amount.lstrip("-") != "0":
        amount = amount[1:] if amount.startswith("-") else "-" + amount
    if amount.lstrip("-") == "0":
        amount = "0"
    return f"{amount} {asset}" if asset else amount


def _layer_asset(engine: Engine, layer_id: str) -> str:
    layer = engine.state.layers[layer_id]
    return str(getattr(layer, "asset", None) or layer.config.asset or "")


def _bag_text(bag: dict[str, str], negate: bool = False) -> str:
    """Amounts of several assets, each with its asset ("0" alone when the bag is empty)."""
    return ", ".join(_money(v, a, negate) for a, v in bag.items()) or "0"


def _deposit_text(deposit: str | dict[str, str], asset: str = "") -> str:
    if isinstance(deposit, str):
        return _money(deposit, asset)
    return ", ".join(f"{x} {k}" for k, x in deposit.items())


def print_summary(result: RunResult, console: Console) -> None:
    engine = result.engine
    data = state_json(engine)
    console.print(
        f"[bold]{result.scenario.name}[/bold]  steps: {len(result.scenario.spec.steps)}  "
        f"events: {len(engine.log)}  state_hash: {engine.state_hash()[:16]}…"
    )
    if data["losses"]:
        layer_ids = sorted(
            {k for loss in data["losses"] for k in loss["allocation"]}, key=lambda k: list(engine.state.layers).index(k)
        )
        t = Table(title="Losses and who paid them")
        for col in ("loss", "market", "cause", "asset", "amount", *layer_ids):
            t.add_column(
                col, justify="right" if col not in ("loss", "market", "cause", "asset") else "left", overflow="fold"
            )
        for loss in data["losses"]:
            t.add_row(
                loss["id"],
                loss["market"],
                loss["cause"],
                loss["asset"],
                loss["amount"],
                *[loss["allocation"].get(k, "-") for k in layer_ids],
            )
        console.print(t)
    else:
        console.print("No losses.")
    t = Table(title="Backstop layers")
    for col in ("layer", "kind", "holds", "accounts"):
        t.add_column(col)
    for lid, layer in data["layers"].items():
        holds = ", ".join(f"{v} {a}" for a, v in layer["total_assets"].items()) or "0"
        asset = _layer_asset(engine, lid)
        accts = ", ".join(
            f"{a}: {_deposit_text(v['deposit'], asset)}"
            + (f" (+{', '.join(f'{g} {x}' for x, g in v['gains'].items())})" if v["gains"] else "")
            for a, v in layer["accounts"].items()
        )
        t.add_row(lid, layer["kind"], holds, accts or "-")
    console.print(t)
    if data["markets"]:
        t = Table(title="Markets and positions")
        for col in ("market", "account", "collateral", "debt", "health"):
            t.add_column(col)
        for mid, m in data["markets"].items():
            t.add_row(
                mid,
                "(market)",
                f"cash {_money(m['cash'], m['debt_asset'])}",
                _money(m["total_debt"], m["debt_asset"]),
                f"bad debt {_money(m['bad_debt'], m['debt_asset'])}, "
                f"socialized {_money(m['socialized'], m['debt_asset'])}"
                + "".join(f", deficit {v} {a}" for a, v in m.get("deficit", {}).items()),
            )
            for acct, p in m["positions"].items():
                coll = ", ".join(f"{v} {a}" for a, v in p["collateral"].items()) or "0"
                t.add_row("", acct, coll, _money(p["debt"], m["debt_asset"]), p["health"] or "-")
        console.print(t)
    if data["claims"]:
        t = Table(title="Investor cover claims")
        for col in ("claim", "policy", "claimant", "incident", "claimed", "status", "paid"):
            t.add_column(col, overflow="fold")
        for cl in data["claims"]:
            t.add_row(cl["id"], cl["policy"], cl["claimant"], cl["incident"], cl["loss"], cl["status"], cl["paid"])
        console.print(t)
    p = data["pnl"]
    t = Table(title="Who earned and who paid")
    for col in ("who", "role", "detail", "P&L", "APR"):
        t.add_column(col, overflow="fold", justify="right" if col in ("P&L", "APR") else "left")
    # Every amount cell names its asset, and a zero is "0 X", never "-0 X".
    for lid, rows in p["stakers"].items():
        a = _layer_asset(engine, lid)
        for acct, r in rows.items():
            t.add_row(
                acct,
                f"staker in {lid}",
                f"in {_money(r['deposited'], a)}, out {_money(r['withdrawn'], a)}, now {_money(r['value'], a)}"
                + (f" (gains worth {_money(r['gains_value'], a)})" if "gains_value" in r else ""),
                _money(r["pnl"], a),
                r["apr"] or "-",
            )
    for lid, g in p["guarantors"].items():
        state = "defaulted" if g["defaulted"] else ("lapsed" if g["lapsed"] else "active")
        a = _layer_asset(engine, lid)
        t.add_row(
            g["guarantor"],
            f"guarantor {lid} ({state})",
            f"premiums {_money(g['premiums_earned'], a)}, paid {_money(g['losses_paid'], a)}",
            _money(g["net"], a),
            "-",
        )
    for acct, r in p["investors"].items():
        t.add_row(
            acct,
            "investor",
            f"lost {_bag_text(r['losses'])}, covered {_bag_text(r['covered'] or dict.fromkeys(r['losses'], '0'))}",
            _bag_text(r["uncovered"], negate=True),
            "-",
        )
    for lid, bag in p["treasury"].items():
        t.add_row(lid, "treasury", f"paid {_bag_text(bag)}", _bag_text(bag, negate=True), "-")
    for lid, r in p.get("capital_pools", {}).items():
        a = _layer_asset(engine, lid)
        t.add_row(
            f"{lid} capital pool",
            "mutual",
            f"premiums {_money(r['premiums'], a)}, deposits kept {_money(r['deposits_kept'], a)}, "
            f"holds {_money(r['holds'], a)}",
            _money(r["pnl"], a),
            "-",
        )
    for token, amount in p["minted"].items():
        t.add_row(token, "minted (dilution)", f"minted {_money(amount, token)}", "-", "-")
    if t.row_count:
        console.print(t)
    if result.expected_errors:
        console.print(f"{len(result.expected_errors)} step(s) failed as expected:")
        for step, kind, msg in result.expected_errors:
            console.print(f"  step {step}: {kind}: {msg}")
