"""Load a scenario file into engine commands (docs/scenario-format.md).

Load -> commands -> apply -> report, as beancount does: the loader knows every asset's
decimals, so whole-token inputs become exact base units here and nowhere else. Errors name
the step and the field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from ..domain import commands as c
from ..domain.errors import BackstopError, UnknownEntity
from ..domain.layers.registry import KINDS
from ..domain.layers.spec import AMOUNT, LayerConfig, unit_of
from ..domain.money import parse_units
from .errors import ScenarioError
from .model import MarketSpec, ScenarioSpec

SECONDS_PER_DAY = 86_400
_LAYER_ADAPTERS = {name: TypeAdapter(k.config) for name, k in KINDS.items()}
_ID_FIELDS = {
    "layer",
    "market",
    "account",
    "asset",
    "pool",
    "policy",
    "incident",
    "claim",
    "assessor",
    "cause",
    "keeper",
    "from",
    "claimant",
    "reason",
}


@dataclass(frozen=True)
class Step:
    index: int | None
    """1-based step number in the file; None for the set-up commands built from the header."""
    verb: str
    command: Any
    """None only for a step that could not be built and whose `expect_error` names that very
    error (`load_error`): the run checks it and goes on, as for an error the engine raises."""
    expect_error: str | None = None
    load_error: str | None = None
    """The message of the expected error met while building the step."""


@dataclass
class Scenario:
    name: str
    spec: ScenarioSpec
    steps: list[Step]

    @property
    def commands(self) -> list[Any]:
        return [s.command for s in self.steps if s.command is not None]


def _num(value: Any) -> str | int:
    if isinstance(value, float):
        return repr(value)
    return value  # type: ignore[no-any-return]


def load_scenario(source: str | Path | dict[str, Any]) -> Scenario:
    """Load a scenario from a YAML file (or an already parsed mapping)."""
    if isinstance(source, dict):
        return scenario_from_data(source)
    path = Path(source)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ScenarioError("file", f"file: cannot read {path}: {reason}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ScenarioError("file", f"file: malformed YAML{where}: {getattr(exc, 'problem', exc)}") from exc
    return scenario_from_data(raw)


def scenario_from_data(raw: Any) -> Scenario:
    """Validate parsed YAML (any shape) into a scenario, or raise a ScenarioError naming the field."""
    if not isinstance(raw, dict):
        raise ScenarioError("file", "file: a scenario must be a YAML mapping with name, assets, layers, markets, steps")
    try:
        spec = ScenarioSpec.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ScenarioError(field, f"{field}: {err['msg']}") from exc
    return Scenario(spec.name, spec, _Builder(spec).build())


class _Builder:
    def __init__(self, spec: ScenarioSpec) -> None:
        self.spec = spec
        self.decimals = {k: v.decimals for k, v in spec.assets.items()}
        self.step: int | None = None
        self.used: set[str] = set()
        self.policy_assets: dict[str, str] = {}
        self.expecting_error = False

    def fail(self, field: str, message: str, cause: type[BackstopError] | None = None) -> ScenarioError:
        """A ScenarioError at this step; with `cause`, it reports that typed error (chained)."""
        err = ScenarioError(field, f"{field}: {message}", self.step)
        if cause is not None:
            err.__cause__ = cause(field, f"{field}: {message}")
        return err

    def units(self, value: Any, asset: str, field: str) -> int:
        if asset not in self.decimals:
            raise self.fail(field, f"unknown asset {asset!r}", UnknownEntity)
        try:
            return parse_units(_num(value), self.decimals[asset], field)
        except BackstopError as exc:
            raise ScenarioError(field, exc.message, self.step) from exc

    def layer_asset(self, layer_id: str, field: str = "layer") -> str:
        spec = self.spec.layers.get(layer_id)
        if spec is None:
            raise self.fail(field, f"unknown layer {layer_id!r}", UnknownEntity)
        asset = spec.get("asset")
        if asset is None:
            raise self.fail(field, f"layer {layer_id!r} has no asset")
        return str(asset)

    def market(self, market_id: str) -> Any:
        m = self.spec.markets.get(market_id)
        if m is None:
            raise self.fail("market", f"unknown market {market_id!r}", UnknownEntity)
        return m

    def build(self) -> list[Step]:
        out: list[Step] = []
        for sym, a in self.spec.assets.items():
            out.append(Step(None, "asset", c.AddAsset(0, sym, a.decimals)))
        for sym, p in self.spec.prices.items():
            out.append(Step(None, "price", c.SetPrice(0, sym, self.price(p, f"prices.{sym}"))))
        for lid, raw in self.spec.layers.items():
            out.append(Step(None, "layer", c.AddLayer(0, lid, self.layer_config(lid, raw))))
        for mid, m in self.spec.markets.items():
            out.append(Step(None, "market", c.AddMarket(0, mid, self.market_config(mid, m))))
        for i, raw_step in enumerate(self.spec.steps, start=1):
            self.step = i
            try:
                out.append(self.build_step(raw_step))
            except ScenarioError as exc:
                # A bad amount or an unknown name is found while building the step, before the
                # engine sees it; a step that says it expects exactly that error is kept as such.
                expect = raw_step.get("expect_error") if isinstance(raw_step, dict) else None
                if expect is None or expect != exc.type:
                    raise
                out.append(Step(i, str(raw_step.get("do")), None, expect, exc.message))
        return out

    def price(self, value: Any, field: str) -> int:
        try:
            return parse_units(_num(value), 18, field)
        except BackstopError as exc:
            raise ScenarioError(field, exc.message, self.step) from exc

    def layer_config(self, lid: str, raw: dict[str, Any]) -> LayerConfig:
        """A layer's config from its file (or request) mapping: the kind first, then each of that
        kind's fields, amounts read as whole tokens of the layer's `asset`."""
        name = raw.get("kind")
        if name is None:
            raise ScenarioError(f"layers.{lid}.kind", f"layers.{lid}.kind: missing")
        adapter = _LAYER_ADAPTERS.get(name) if isinstance(name, str) else None
        if adapter is None:
            field = f"layers.{lid}.kind"
            raise ScenarioError(field, f"{field}: unknown layer kind {name!r} (kinds: {', '.join(KINDS)})")
        fields = {f.name: f for f in dataclasses.fields(KINDS[name].config)}
        asset = raw.get("asset")
        kwargs: dict[str, Any] = {}
        for key, value in raw.items():
            field = f"layers.{lid}.{key}"
            if key == "period_days":
                continue
            if key not in fields:
                raise ScenarioError(field, f"{field}: unknown layer parameter (not one of a {name} layer)")
            if unit_of(fields[key]) == AMOUNT and value is not None:
                if asset is None:
                    raise ScenarioError(field, f"{field}: an amount needs the layer's `asset`")
                value = self.units(value, str(asset), field)
            kwargs[key] = value
        try:
            config: LayerConfig = adapter.validate_python(kwargs)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = f"layers.{lid}." + ".".join(str(p) for p in err["loc"])
            raise ScenarioError(field, f"{field}: {err['msg']}") from None
        return config

    def market_config(self, mid: str, m: Any) -> c.MarketConfig:
        colls = []
        for asset, cs in m.collateral.items():
            ltv = cs.ltv_bps if cs.ltv_bps is not None else cs.liquidation_threshold_bps
            colls.append(
                c.CollateralConfig(
                    asset=asset,
                    ltv_bps=ltv,
                    liquidation_threshold_bps=cs.liquidation_threshold_bps,
                    liquidation_bonus_bps=cs.liquidation_bonus_bps,
                    depth_value=int(
                        self.price(cs.depth_value, f"markets.{mid}.collateral.{asset}.depth_value") // 10**18
                    ),
                    impact_k_bps=cs.impact_k_bps,
                    max_impact_bps=cs.max_impact_bps,
                )
            )
        fields = m.model_dump(exclude={"collateral", "waterfall", "gas_compensation"})
        gas = (
            self.units(m.gas_compensation, m.debt_asset, f"markets.{mid}.gas_compensation") if m.gas_compensation else 0
        )
        return c.MarketConfig(collateral=tuple(colls), waterfall=tuple(m.waterfall), gas_compensation=gas, **fields)

    # -- steps -----------------------------------------------------------------------------
    def build_step(self, raw: dict[str, Any]) -> Step:
        raw = dict(raw)
        verb = raw.pop("do", None)
        expect = raw.pop("expect_error", None)
        self.expecting_error = expect is not None
        if verb is None:
            raise self.fail("do", "every step needs a verb in `do`")
        at = raw.pop("at", None)
        if isinstance(at, bool) or not isinstance(at, int) or at < 0:
            raise self.fail("at", f"needs a non-negative integer time in seconds, got {at!r}")
        builder = getattr(self, f"v_{verb}", None)
        if builder is None:
            raise self.fail("do", f"unknown verb {verb!r}")
        try:
            cmd = builder(at, raw)
        except KeyError as exc:
            raise self.fail(str(exc.args[0]), "missing") from exc
        extra = set(raw) - self.used
        if extra:
            name = sorted(extra)[0]
            raise self.fail(name, f"not a field of `{verb}`")
        return Step(self.step, verb, cmd, expect)

    def take(self, raw: dict[str, Any], *names: str) -> list[Any]:
        self.used = set(self.used) | set(names)
        out = [raw[n] for n in names]
        for name, value in zip(names, out, strict=True):
            if name in _ID_FIELDS and not isinstance(value, str):
                raise self.fail(name, f"must be a name (string), got {value!r}")
        return out

    def opt(self, raw: dict[str, Any], name: str, default: Any = None) -> Any:
        self.used = set(self.used) | {name}
        value = raw.get(name, default)
        if name in _ID_FIELDS and value is not None and not isinstance(value, str):
            raise self.fail(name, f"must be a name (string), got {value!r}")
        return value

    def _reset(self) -> None:
        self.used = set()

    def v_deposit(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        layer, account, amount = self.take(raw, "layer", "account", "amount")
        return c.Deposit(at, layer, str(account), self.units(amount, self.layer_asset(layer), "amount"))

    v_stake = v_deposit

    def _shares_or_amount(self, raw: dict[str, Any], layer: str) -> tuple[int | None, int | None]:
        shares = self.opt(raw, "shares")
        amount = self.opt(raw, "amount")
        if (shares is None) == (amount is None):
            raise self.fail("amount", "give exactly one of `amount` or `shares`")
        if shares is not None:
            if isinstance(shares, bool) or not isinstance(shares, (int, str)) or not str(shares).isdigit():
                raise self.fail("shares", f"must be a whole number of shares, got {shares!r}")
            return int(shares), None
        return None, self.units(amount, self.layer_asset(layer), "amount")

    def v_request_withdraw(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        layer, account = self.take(raw, "layer", "account")
        shares, amount = self._shares_or_amount(raw, layer)
        return c.RequestWithdraw(at, layer, str(account), shares, amount)

    def v_cancel_withdraw(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        layer, account = self.take(raw, "layer", "account")
        return c.CancelWithdraw(at, layer, str(account))

    def v_withdraw(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        layer, account = self.take(raw, "layer", "account")
        if raw.get("shares") is None and raw.get("amount") is None:
            self.used = set(self.used) | {"shares", "amount"}
            return c.Withdraw(at, layer, str(account), None, None)
        shares, amount = self._shares_or_amount(raw, layer)
        return c.Withdraw(at, layer, str(account), shares, amount)

    def v_supply(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        market, account, amount = self.take(raw, "market", "account", "amount")
        return c.Supply(at, market, str(account), self.units(amount, self.market(market).debt_asset, "amount"))

    def v_withdraw_supply(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        market, account, amount = self.take(raw, "market", "account", "amount")
        return c.WithdrawSupply(at, market, str(account), self.units(amount, self.market(market).debt_asset, "amount"))

    def _collateral(self, value: Any) -> tuple[tuple[str, int], ...]:
        if value is None:
            return ()
        if not isinstance(value, dict):
            raise self.fail("collateral", "must be a mapping ASSET: amount")
        return tuple((str(a), self.units(v, str(a), f"collateral.{a}")) for a, v in value.items())

    def v_open(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        market, account = self.take(raw, "market", "account")
        m = self.market(market)
        coll = self._collateral(self.opt(raw, "collateral"))
        debt = self.opt(raw, "debt")
        debt_units = 0 if debt is None else self.units(debt, m.debt_asset, "debt")
        if debt is not None and debt_units <= 0:
            raise self.fail("debt", f"must be positive, got {debt!r}")
        return c.OpenPosition(at, market, str(account), coll, debt_units)

    def v_repay(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        market, account, amount = self.take(raw, "market", "account", "amount")
        return c.Repay(at, market, str(account), self.units(amount, self.market(market).debt_asset, "amount"))

    def v_add_collateral(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        market, account, coll = self.take(raw, "market", "account", "collateral")
        self.market(market)
        return c.AddCollateral(at, market, str(account), self._collateral(coll))

    def v_price(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        asset, price = self.take(raw, "asset", "price")
        if asset not in self.decimals:
            raise self.fail("asset", f"unknown asset {asset!r}", UnknownEntity)
        return c.SetPrice(at, asset, self.price(price, "price"))

    def v_liquidate(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        market, account = self.take(raw, "market", "account")
        keeper = self.opt(raw, "keeper", "keeper")
        return c.Liquidate(at, market, str(account), str(keeper))

    def v_claim_collateral(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        market, account = self.take(raw, "market", "account")
        self.market(market)
        return c.ClaimCollateral(at, market, str(account))

    def v_incident(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        market, asset, amount, cause = self.take(raw, "market", "asset", "amount", "cause")
        self.market(market)
        return c.Incident(at, market, asset, self.units(amount, asset, "amount"), str(cause))

    def v_reward(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        layer, amount = self.take(raw, "layer", "amount")
        source = self.opt(raw, "from", "external:world")
        return c.Reward(at, layer, self.units(amount, self.layer_asset(layer), "amount"), str(source))

    def v_advance(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        return c.Advance(at)

    def v_buy_cover(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        pool, account, market, causes, amount, days = self.take(
            raw, "pool", "account", "market", "causes", "amount", "period_days"
        )
        asset = self.layer_asset(pool, "pool")
        if isinstance(causes, str):
            causes = [causes]
        if not isinstance(causes, list):
            raise self.fail("causes", "must be a list of causes")
        if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
            raise self.fail("period_days", f"must be a positive whole number of days, got {days!r}")
        quote = self.quote_terms(self.opt(raw, "quote"), asset, market)
        if not self.expecting_error:
            self.policy_assets[f"pol-{len(self.policy_assets) + 1}"] = asset
        return c.BuyCover(
            at,
            pool,
            str(account),
            market,
            tuple(str(x) for x in causes),
            self.units(amount, asset, "amount"),
            days * SECONDS_PER_DAY,
            quote,
        )

    def quote_terms(self, raw: Any, asset: str, market: str) -> c.QuoteTerms | None:
        """`quote: {id, premium, pool_assets, market_tvl, tolerance_bps}`: a risk-lab quote's terms
        (docs/cover-and-claims.md, "Quotes"); amounts in whole tokens of the pool's asset, the TVL in
        the market's debt asset."""
        if raw is None:
            return None
        keys = ("id", "premium", "pool_assets", "market_tvl", "tolerance_bps")
        if not isinstance(raw, dict) or set(raw) != set(keys):
            raise self.fail("quote", f"must be a mapping with exactly {', '.join(keys)}")
        qid, tol = raw["id"], raw["tolerance_bps"]
        if not isinstance(qid, str) or not qid:
            raise self.fail("quote.id", f"must be a name (string), got {qid!r}")
        if isinstance(tol, bool) or not isinstance(tol, int) or not 0 <= tol <= 10_000:
            raise self.fail("quote.tolerance_bps", f"must be a whole number of bps in 0..10000, got {tol!r}")
        debt = self.market(market).debt_asset
        return c.QuoteTerms(
            qid,
            self.units(raw["premium"], asset, "quote.premium"),
            self.units(raw["pool_assets"], asset, "quote.pool_assets"),
            self.units(raw["market_tvl"], debt, "quote.market_tvl"),
            tol,
        )

    def v_file_claim(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        policy, incident, loss = self.take(raw, "policy", "incident", "loss")
        claimant = self.opt(raw, "claimant")
        asset = self.policy_assets.get(str(policy))
        units = self.units(loss, asset, "loss") if asset else self.price(loss, "loss")
        return c.FileClaim(at, str(policy), str(incident), units, None if claimant is None else str(claimant))

    def v_assess_claim(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        claim, assessor, approve = self.take(raw, "claim", "assessor", "approve")
        reason = self.opt(raw, "reason", "")
        if not isinstance(approve, bool):
            raise self.fail("approve", f"must be true or false, got {approve!r}")
        return c.AssessClaim(at, str(claim), str(assessor), approve, str(reason))

    def v_assessor_stake(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        pool, account, amount = self.take(raw, "pool", "account", "amount")
        return c.AssessorStake(at, pool, str(account), self.units(amount, self.layer_asset(pool, "pool"), "amount"))

    def v_assessor_unstake(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        pool, account, amount = self.take(raw, "pool", "account", "amount")
        return c.AssessorUnstake(at, pool, str(account), self.units(amount, self.layer_asset(pool, "pool"), "amount"))

    def v_settle_claim(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        (claim,) = self.take(raw, "claim")
        return c.SettleClaim(at, str(claim))

    def v_guarantor_defaults(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        (layer,) = self.take(raw, "layer")
        return c.GuarantorDefaults(at, str(layer))

    def v_settle_slashing(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        (layer,) = self.take(raw, "layer")
        return c.SettleSlashing(at, str(layer))

    def v_set_status(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        layer, status = self.take(raw, "layer", "status")
        if status not in c.ADMIN_STATUSES:
            raise self.fail("status", f"must be one of {', '.join(c.ADMIN_STATUSES)}, got {status!r}")
        return c.SetStatus(at, str(layer), str(status))

    def v_claim_rewards(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        layer, account = self.take(raw, "layer", "account")
        return c.ClaimRewards(at, str(layer), str(account))

    def v_cover_deficit(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        market, layer, amount = self.take(raw, "market", "layer", "amount")
        asset = self.opt(raw, "asset")
        m = self.market(market)
        unit_asset = m.debt_asset if asset is None else str(asset)
        if unit_asset not in self.decimals:
            raise self.fail("asset", f"unknown asset {unit_asset!r}", UnknownEntity)
        return c.CoverDeficit(at, str(market), str(layer), self.units(amount, unit_asset, "amount"), asset)

    def v_fill_auction(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        layer, account, block = self.take(raw, "layer", "account", "block")
        percent = self.opt(raw, "percent", 100)
        if isinstance(block, bool) or not isinstance(block, int) or block < 0:
            raise self.fail("block", f"must be a non-negative whole number of blocks, got {block!r}")
        if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 100:
            raise self.fail("percent", f"must be a whole percentage from 1 to 100, got {percent!r}")
        return c.FillAuction(at, str(layer), str(account), block, percent)

    # -- set-up as steps (`backstop export` writes set-up that came after the start this way) --
    def v_add_asset(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        symbol, decimals = self.take(raw, "symbol", "decimals")
        if not isinstance(symbol, str) or not symbol:
            raise self.fail("symbol", f"must be a name (string), got {symbol!r}")
        if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 36:
            raise self.fail("decimals", f"must be a whole number in [0, 36], got {decimals!r}")
        if not self.expecting_error:
            self.decimals[symbol] = decimals
        return c.AddAsset(at, symbol, decimals)

    def v_add_layer(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        (layer,) = self.take(raw, "layer")
        fields = {k: v for k, v in raw.items() if k != "layer"}
        self.used = set(raw)
        config = self.layer_config(str(layer), fields)
        if not self.expecting_error:
            self.spec.layers[str(layer)] = fields  # later steps read the layer's asset from here
        return c.AddLayer(at, str(layer), config)

    def v_add_market(self, at: int, raw: dict[str, Any]) -> Any:
        self._reset()
        (market,) = self.take(raw, "market")
        fields = {k: v for k, v in raw.items() if k != "market"}
        self.used = set(raw)
        try:
            spec = MarketSpec.model_validate(fields)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            raise self.fail(field, str(err["msg"])) from None
        if not self.expecting_error:
            self.spec.markets[str(market)] = spec
        return c.AddMarket(at, str(market), self.market_config(str(market), spec))
