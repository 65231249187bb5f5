"""A hypothesis state machine over the exact engine (docs/architecture.md: say the invariants first,
then let a machine try to break them).

The world is the fuzzer's (`backstop.testing.fuzz.world`): a lending and a cdp market; an
insurance fund with swap, a treasury, staking pools in cooldown and queue mode, a stability
pool, a guarantor, a mint, a cover pool and socialize. Each rule is one command kind. After
every step: every invariant of docs/architecture.md holds (`backstop.domain.invariants.check`), and a
refused command left `state_hash` and the log unchanged. At teardown replaying the event log
from empty gives the same hash.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from backstop.domain import commands as c
from backstop.domain.errors import BackstopError
from backstop.domain.invariants import check
from backstop.domain.layers.registry import make_config
from backstop.domain.layers.share_vault import ShareVault
from backstop.domain.layers.stability_pool import StabilityPool
from backstop.engine import Engine
from backstop.testing.fuzz import world

from .helpers import DAY, E6, E18

ACCOUNTS = st.sampled_from(["alice", "bob", "carol", "a"])
VAULTS = st.sampled_from(["safety", "q4w", "cover"])
CAUSES = ("exploit", "bug", "oracle", "tech_failure")
LAYER_UNIT = {"safety": E18, "q4w": E6, "cover": E6, "sp": E18, "fund": E6, "treasury": E6, "g1": E6}
WHOLE = st.integers(1, 20_000)
FRACTION = st.integers(1, 100)
STEP = st.sampled_from([0, 1, 3_600, DAY, 3 * DAY, 11 * DAY, 18 * DAY])

SETTINGS = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


SEED: tuple[Any, ...] = (
    # Capital everywhere, so that most random commands have something to act on.
    c.Supply(0, "lend", "lp", 2_000_000 * E6),
    c.Deposit(0, "fund", "dao", 20_000 * E6),
    c.Deposit(0, "treasury", "dao", 20_000 * E6),
    *(
        c.Deposit(0, layer, who, 5_000 * LAYER_UNIT[layer])
        for layer in ("safety", "q4w", "cover", "sp")
        for who in "abc"
    ),
    *(c.OpenPosition(0, "lend", who, (("ETH", 10 * E18),), 12_000 * E6) for who in ("alice", "bob", "carol")),
    *(c.OpenPosition(0, "cdp", who, (("ETH", 10 * E18),), 15_000 * E18) for who in ("alice", "bob", "carol")),
    *(c.Supply(0, "lend", who, 10_000 * E6) for who in ("alice", "bob", "carol")),
    *(c.BuyCover(0, "cover", who, "lend", CAUSES, 5_000 * E6, 365 * DAY) for who in ("alice", "bob", "carol")),
)
"""The seed stakers a, b, c stay passive; alice, bob and carol act (and borrow, supply, buy cover)."""


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = Engine()
        for cmd in (*world(), *SEED):
            self.engine.apply(cmd)
        self.t = 0
        self.applied = 0
        self.refused = 0

    # -- plumbing ---------------------------------------------------------------------------
    def at(self, step: int) -> int:
        self.t += step
        return self.t

    def run(self, cmd: Any) -> None:
        e = self.engine
        before = e.state_hash()
        log_len = len(e.log)
        try:
            e.apply(cmd)
        except BackstopError as err:
            self.refused += 1
            assert err.field, f"{type(err).__name__} names no field"
            assert e.state_hash() == before, f"refused {cmd} changed the state"
            assert len(e.log) == log_len
        else:
            self.applied += 1

    def vault(self, layer: str) -> ShareVault:
        v = self.engine.state.layers[layer]
        assert isinstance(v, ShareVault)
        return v

    # -- layers -----------------------------------------------------------------------------
    @rule(
        layer=st.sampled_from(["safety", "q4w", "cover", "sp", "fund", "treasury", "g1"]),
        account=ACCOUNTS,
        amount=WHOLE,
        step=STEP,
    )
    def deposit(self, layer: str, account: str, amount: int, step: int) -> None:
        account = "reinsurer" if layer == "g1" and amount % 2 else account  # the guarantor, or a refusal
        self.run(c.Deposit(self.at(step), layer, account, amount * LAYER_UNIT[layer]))

    @rule(layer=VAULTS, account=ACCOUNTS, pct=FRACTION, by_amount=st.booleans(), step=STEP)
    def request_withdraw(self, layer: str, account: str, pct: int, by_amount: bool, step: int) -> None:
        v = self.vault(layer)
        shares = v.shares.get(account, 0) * pct // 100 or 1
        if by_amount:
            value = v.assets_for_shares(shares, v.total_assets(self.engine.state)) or 1
            self.run(c.RequestWithdraw(self.at(step), layer, account, amount=value))
        else:
            self.run(c.RequestWithdraw(self.at(step), layer, account, shares=shares))

    @rule(layer=VAULTS, account=ACCOUNTS, step=STEP)
    def cancel_withdraw(self, layer: str, account: str, step: int) -> None:
        self.run(c.CancelWithdraw(self.at(step), layer, account))

    @rule(layer=VAULTS, account=ACCOUNTS, pct=st.one_of(st.none(), FRACTION), step=STEP, wait=st.booleans())
    def withdraw(self, layer: str, account: str, pct: int | None, step: int, wait: bool) -> None:
        v = self.vault(layer)
        req = v.requests.get(account)
        if wait and req is not None:  # a staker who waits for the cooldown or queue to end
            self.t = max(self.t, req.ready_at)
        shares = None if pct is None else ((req.shares if req else v.shares.get(account, 0)) * pct // 100 or 1)
        self.run(c.Withdraw(self.at(step), layer, account, shares=shares))

    @rule(account=ACCOUNTS, pct=st.one_of(st.none(), FRACTION), step=STEP)
    def sp_withdraw(self, account: str, pct: int | None, step: int) -> None:
        sp = self.engine.state.layers["sp"]
        assert isinstance(sp, StabilityPool)
        snap = sp.deposits.get(account)
        have = sp.compounded(snap) if snap else 0
        amount = None if pct is None else (have * pct // 100 or 1)
        self.run(c.Withdraw(self.at(step), "sp", account, amount=amount))

    @rule(layer=st.sampled_from(["safety", "q4w", "cover", "fund"]), amount=WHOLE, source=st.booleans(), step=STEP)
    def reward(self, layer: str, amount: int, source: bool, step: int) -> None:
        unit = E6 if layer != "safety" else E18
        self.run(c.Reward(self.at(step), layer, amount * unit // 100, "treasury" if source else "external:world"))

    @rule(step=st.sampled_from([0, DAY]))
    def guarantor_defaults(self, step: int) -> None:
        self.run(c.GuarantorDefaults(self.at(step), "g1"))

    # -- markets ----------------------------------------------------------------------------
    @rule(account=ACCOUNTS, amount=WHOLE, step=STEP)
    def supply(self, account: str, amount: int, step: int) -> None:
        self.run(c.Supply(self.at(step), "lend", account, amount * 10 * E6))

    @rule(account=ACCOUNTS, amount=WHOLE, step=STEP)
    def withdraw_supply(self, account: str, amount: int, step: int) -> None:
        self.run(c.WithdrawSupply(self.at(step), "lend", account, amount * E6))

    @rule(
        market=st.sampled_from(["lend", "cdp"]),
        account=ACCOUNTS,
        asset=st.sampled_from(["ETH", "AAVE"]),
        coll_tenths=st.integers(1, 100),
        debt=st.integers(0, 15_000),
        step=STEP,
    )
    def open(self, market: str, account: str, asset: str, coll_tenths: int, debt: int, step: int) -> None:
        unit = E6 if market == "lend" else E18
        if market == "cdp":
            asset = "ETH"
        self.run(c.OpenPosition(self.at(step), market, account, ((asset, coll_tenths * E18 // 10),), debt * unit))

    @rule(market=st.sampled_from(["lend", "cdp"]), account=ACCOUNTS, amount=WHOLE, step=STEP)
    def repay(self, market: str, account: str, amount: int, step: int) -> None:
        self.run(c.Repay(self.at(step), market, account, amount * (E6 if market == "lend" else E18)))

    @rule(market=st.sampled_from(["lend", "cdp"]), account=ACCOUNTS, tenths=st.integers(1, 50), step=STEP)
    def add_collateral(self, market: str, account: str, tenths: int, step: int) -> None:
        self.run(c.AddCollateral(self.at(step), market, account, (("ETH", tenths * E18 // 10),)))

    @rule(asset=st.sampled_from(["ETH", "AAVE", "MKR"]), pct=st.integers(10, 150), step=STEP)
    def price(self, asset: str, pct: int, step: int) -> None:
        base = {"ETH": 2_000, "AAVE": 100, "MKR": 1_000}[asset]
        self.run(c.SetPrice(self.at(step), asset, base * E18 * pct // 100))

    @rule(market=st.sampled_from(["lend", "cdp"]), account=ACCOUNTS, step=STEP)
    def liquidate(self, market: str, account: str, step: int) -> None:
        self.run(c.Liquidate(self.at(step), market, account, keeper="kim"))

    @rule(
        market=st.sampled_from(["lend", "cdp"]),
        usdc=st.booleans(),
        amount=WHOLE,
        cause=st.sampled_from(CAUSES),
        step=STEP,
    )
    def incident(self, market: str, usdc: bool, amount: int, cause: str, step: int) -> None:
        if market == "lend" and usdc:
            self.run(c.Incident(self.at(step), market, "USDC", amount * 50 * E6, cause))
        else:
            self.run(c.Incident(self.at(step), market, "ETH", amount * E18 // 10_000, cause))

    @rule(step=st.sampled_from([1, 3_600, DAY, 30 * DAY, 200 * DAY]))
    def advance(self, step: int) -> None:
        self.run(c.Advance(self.at(step)))

    # -- cover ------------------------------------------------------------------------------
    @rule(
        account=ACCOUNTS,
        market=st.sampled_from(["lend", "cdp"]),
        causes=st.lists(st.sampled_from(CAUSES), min_size=1, max_size=2, unique=True),
        amount=WHOLE,
        days=st.sampled_from([1, 30, 365]),
        step=STEP,
    )
    def buy_cover(self, account: str, market: str, causes: list[str], amount: int, days: int, step: int) -> None:
        self.run(c.BuyCover(self.at(step), "cover", account, market, tuple(causes), amount * E6, days * DAY))

    @precondition(lambda self: self.engine.state.policies and self.engine.state.incidents)
    @rule(data=st.data(), amount=WHOLE, step=STEP, assess=st.booleans())
    def file_claim(self, data: st.DataObject, amount: int, step: int, assess: bool) -> None:
        policy = data.draw(st.sampled_from(sorted(self.engine.state.policies)))
        incidents = self.engine.state.incidents
        inc = data.draw(st.sampled_from(sorted(incidents, key=lambda i: (incidents[i]["market"] != "lend", i))[:3]))
        n = len(self.engine.state.claims)
        self.run(c.FileClaim(self.at(step), policy, inc, amount * E6))
        if assess and len(self.engine.state.claims) > n:  # assessed at once, approved
            self.run(c.AssessClaim(self.t, f"clm-{n + 1}", "assessor", True, "evidence"))

    @precondition(lambda self: self.engine.state.claims)
    @rule(data=st.data(), assessor=st.sampled_from(["alice", "bob", "assessor"]), approve=st.booleans(), step=STEP)
    def assess_claim(self, data: st.DataObject, assessor: str, approve: bool, step: int) -> None:
        claim = data.draw(st.sampled_from(sorted(self.engine.state.claims)))
        self.run(c.AssessClaim(self.at(step), claim, assessor, approve))

    # -- what must always hold ----------------------------------------------------------------
    @invariant()
    def invariants_hold(self) -> None:
        problems = check(self.engine.state)
        assert not problems, problems

    @invariant()
    def premiums_paid_equal_premiums_earned(self) -> None:
        """Issue 4: what payers paid in premiums (the `premium` postings to each guarantor) is
        exactly what each guarantor layer records as earned, lapse part-payments included."""
        from backstop.domain.layers.guarantor import Guarantor

        e = self.engine
        for lid, layer in e.state.layers.items():
            if not isinstance(layer, Guarantor):
                continue
            payer = e.state.layers[layer.config.payer].account if layer.config.payer else None
            paid = sum(
                ev.data["amount"]
                for ev in e.log
                if ev.kind == "posting"
                and ev.data["credit"] == payer
                and ev.data["debit"] == f"user:{layer.guarantor}"
                and ev.data["asset"] == layer.asset
            )
            assert paid == layer.premiums_earned, (lid, paid, layer.premiums_earned)

    def teardown(self) -> None:
        replayed = Engine.replay(self.engine.log)
        assert replayed.state_hash() == self.engine.state_hash()


EngineMachine.TestCase.settings = SETTINGS
TestEngineMachine = EngineMachine.TestCase


# --------------------------------------------------------------------------- no free money


def _ops(accounts: list[str]) -> st.SearchStrategy[list[tuple[str, str, str, int]]]:
    return st.lists(
        st.tuples(
            st.sampled_from(["deposit", "withdraw"]),
            st.sampled_from(accounts),
            st.sampled_from(["instant", "queue", "sp"]),
            st.integers(1, 10**12),
        ),
        max_size=40,
    )


OPS = _ops(["a"]) | _ops(["a", "b", "c"])


@settings(max_examples=60, deadline=None)
@given(ops=OPS, slash=st.integers(1, 10**11), whale=st.integers(1, 10**12))
def test_deposits_and_withdrawals_never_pay_out_more_than_was_put_in(ops: list[Any], slash: int, whale: int) -> None:
    """Through any sequence of deposits and withdrawals (no rewards) in a staking pool with
    instant exit, one in queue mode, and a stability pool — after a slash has left the share
    price awkward — an account acting alone never takes out more than it put in, even once it
    leaves entirely, and neither do several accounts together.

    Found by this test: a withdrawal of shares worth 0 base units used to succeed, burning the
    shares and handing their value to the other holders (now refused, as Solmate's ERC4626
    `ZERO_ASSETS`)."""
    e = Engine(check_invariants=True)
    for cmd in [
        c.AddAsset(0, "USD", 6),
        c.AddAsset(0, "ETH", 18),
        c.SetPrice(0, "USD", E18),
        c.SetPrice(0, "ETH", 2_000 * E18),
        c.AddLayer(0, "instant", make_config(kind="staking_pool", asset="USD")),
        c.AddLayer(0, "queue", make_config(kind="staking_pool", asset="USD", mode="queue", queue_seconds=DAY)),
        c.AddLayer(0, "sp", make_config(kind="stability_pool", asset="USD")),
        c.AddLayer(0, "rest", make_config(kind="socialize")),
        c.AddMarket(
            0,
            "m",
            c.MarketConfig("lending", "USD", (c.CollateralConfig("ETH"),), ("instant", "queue", "rest")),
        ),
        c.Supply(0, "m", "lp", 10**13),
        c.Deposit(0, "instant", "whale", whale),
        c.Deposit(0, "queue", "whale", whale),
        c.Incident(0, "m", "USD", slash, "exploit"),
    ]:
        e.apply(cmd)
    t = 0

    def apply(cmd: Any) -> None:
        try:
            e.apply(cmd)
        except BackstopError:
            pass

    def leave(layer: str, account: str, pct: int) -> None:
        nonlocal t
        if layer == "sp":
            sp = e.state.layers["sp"]
            assert isinstance(sp, StabilityPool)
            snap = sp.deposits.get(account)
            have = sp.compounded(snap) if snap else 0
            apply(c.Withdraw(t, "sp", account, amount=max(1, have * pct // 100)))
            return
        v = e.state.layers[layer]
        assert isinstance(v, ShareVault)
        shares = max(1, v.shares.get(account, 0) * pct // 100)
        if layer == "queue":
            apply(c.RequestWithdraw(t, layer, account, shares=shares))
            t += DAY
        apply(c.Withdraw(t, layer, account, shares=shares))

    for op, account, layer, n in ops:
        t += 1
        if op == "deposit":
            apply(c.Deposit(t, layer, account, n))
        else:
            leave(layer, account, n % 100 + 1)
    for layer in ("instant", "queue", "sp"):
        for account in ("a", "b", "c"):
            leave(layer, account, 100)
    for layer in ("instant", "queue", "sp"):
        pool = e.state.layers[layer]
        deposited: dict[str, int] = pool.deposited  # type: ignore[attr-defined]
        withdrawn: dict[str, int] = pool.withdrawn  # type: ignore[attr-defined]
        if len({account for _, account, _, _ in ops}) <= 1:
            for account in ("a", "b", "c"):
                assert withdrawn.get(account, 0) <= deposited.get(account, 0), (layer, account)
        # Several accounts together (one person, or colluders) cannot get more out either: the
        # rounding dust one account leaves behind may go to another, never out of the pool.
        assert sum(withdrawn.get(a, 0) for a in "abc") <= sum(deposited.get(a, 0) for a in "abc"), layer
    assert not check(e.state)
