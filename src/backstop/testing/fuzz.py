"""A seeded, in-process command fuzzer over every layer kind and both market kinds.

It builds one world (lending and cdp markets; insurance fund, treasury, staking pools in
cooldown and queue mode, stability pool, guarantor, mint, cover pool, socialize), then throws
random commands at it — valid ones and plausible invalid ones. After every command every
invariant of docs/architecture.md must hold; a command that fails must leave `state_hash` unchanged
(checked on a sample, since hashing is O(state)); and at the end replaying the event log must
give the same hash. Same seed, same run.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..domain import commands as c
from ..domain.errors import BackstopError
from ..domain.invariants import check
from ..domain.layers.cover_pool import CoverPoolConfig
from ..domain.layers.guarantor import GuarantorConfig
from ..domain.layers.insurance_fund import InsuranceFundConfig
from ..domain.layers.mint import MintConfig
from ..domain.layers.socialize import SocializeConfig
from ..domain.layers.stability_pool import StabilityPoolConfig
from ..domain.layers.staking_pool import StakingPoolConfig
from ..domain.layers.treasury import TreasuryConfig
from ..engine import Engine

E18 = 10**18
E6 = 10**6
DAY = 86_400

ACCOUNTS = ("alice", "bob", "carol", "dave", "erin", "frank")


def world() -> list[Any]:
    """The set-up commands of the fuzzed world."""
    cmds: list[Any] = [
        c.AddAsset(0, "USDC", 6),
        c.AddAsset(0, "LUSD", 18),
        c.AddAsset(0, "ETH", 18),
        c.AddAsset(0, "AAVE", 18),
        c.AddAsset(0, "MKR", 18),
        c.SetPrice(0, "USDC", E18),
        c.SetPrice(0, "LUSD", E18),
        c.SetPrice(0, "ETH", 2000 * E18),
        c.SetPrice(0, "AAVE", 100 * E18),
        c.SetPrice(0, "MKR", 1000 * E18),
        c.AddLayer(0, "fund", InsuranceFundConfig(asset="USDC", swap=True, haircut_bps=500)),
        c.AddLayer(0, "treasury", TreasuryConfig(asset="USDC", cap=50_000 * E6)),
        c.AddLayer(
            0,
            "safety",
            StakingPoolConfig(
                asset="AAVE",
                cooldown_seconds=10 * DAY,
                unstake_window_seconds=2 * DAY,
                max_slash_bps=3000,
                min_remaining_assets=E18,
                haircut_bps=1000,
            ),
        ),
        c.AddLayer(
            0,
            "q4w",
            StakingPoolConfig(
                asset="USDC",
                mode="queue",
                queue_seconds=17 * DAY,
                freeze_borrow_queued_bps=3000,
                freeze_supply_queued_bps=5000,
            ),
        ),
        c.AddLayer(0, "sp", StabilityPoolConfig(asset="LUSD")),
        c.AddLayer(
            0,
            "g1",
            GuarantorConfig(
                asset="USDC",
                guarantor="reinsurer",
                attachment=1_000 * E6,
                limit=20_000 * E6,
                premium_bps_per_year=300,
                payer="fund",
                collateral=5_000 * E6,
                aggregate_limit=30_000 * E6,
            ),
        ),
        c.AddLayer(0, "mkr", MintConfig(asset="MKR", discount_bps=500, cap=100 * E18)),
        c.AddLayer(
            0,
            "cover",
            CoverPoolConfig(
                asset="USDC",
                capacity_ratio_bps=20_000,
                premium_bps_per_year=400,
                cooldown_seconds=DAY,
                unstake_window_seconds=DAY,
            ),
        ),
        c.AddLayer(0, "rest", SocializeConfig()),
        c.AddMarket(
            0,
            "lend",
            c.MarketConfig(
                kind="lending",
                debt_asset="USDC",
                collateral=(
                    c.CollateralConfig("ETH", 8000, 8500, 500, depth_value=5_000_000, impact_k_bps=5000),
                    c.CollateralConfig("AAVE", 6000, 7000, 1000, depth_value=200_000, impact_k_bps=10_000),
                ),
                waterfall=("fund", "q4w", "safety", "g1", "treasury", "rest"),
                close_factor_bps=5000,
                liquidation_fee_bps=1000,
                reserve_factor_bps=1500,
                base_rate_bps=100,
                slope1_bps=400,
                slope2_bps=6000,
            ),
        ),
        c.AddMarket(
            0,
            "cdp",
            c.MarketConfig(
                kind="cdp",
                debt_asset="LUSD",
                collateral=(c.CollateralConfig("ETH", 9091, 9091, 0, depth_value=2_000_000),),
                waterfall=("sp", "mkr", "rest"),
                min_collateral_ratio_bps=11000,
                base_rate_bps=200,
            ),
        ),
    ]
    return cmds


@dataclass
class FuzzStats:
    commands: int = 0
    failed: int = 0
    losses: int = 0
    hash_checks: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


class Fuzzer:
    def __init__(self, seed: int, hash_check_every: int = 7) -> None:
        self.rng = random.Random(seed)
        self.engine = Engine()
        self.stats = FuzzStats()
        self.hash_check_every = hash_check_every
        self.t = 0
        for cmd in world():
            self.engine.apply(cmd)

    # -- random arguments ---------------------------------------------------------------
    def amount(self, unit: int, scale: int) -> int:
        r = self.rng.random()
        if r < 0.03:
            return self.rng.choice([0, -unit, 1])
        return max(1, int(self.rng.lognormvariate(0, 1.2) * scale * unit / 4))

    def acct(self) -> str:
        return self.rng.choice(ACCOUNTS)

    def commands(self) -> Iterator[Any]:
        rng = self.rng
        while True:
            self.t += rng.choice([0, 1, 60, 3600, DAY, 3 * DAY])
            if rng.random() < 0.01:
                yield c.Advance(max(0, self.t - 10))  # time going backwards
                continue
            t = self.t
            k = rng.randrange(20)
            a = self.acct()
            if k == 0:
                yield c.Deposit(t, rng.choice(["safety", "q4w", "sp", "cover", "fund"]), a, self._layer_amount())
            elif k == 1:
                yield c.RequestWithdraw(
                    t,
                    rng.choice(["safety", "q4w", "cover"]),
                    a,
                    shares=self.amount(E18, 50) if rng.random() < 0.5 else None,
                    amount=None if rng.random() < 0.5 else self.amount(E6, 1000),
                )
            elif k == 2:
                yield c.CancelWithdraw(t, rng.choice(["safety", "q4w", "cover"]), a)
            elif k == 3:
                layer = rng.choice(["safety", "q4w", "sp", "cover"])
                if layer == "sp":
                    yield c.Withdraw(t, "sp", a, None, None if rng.random() < 0.5 else self.amount(E18, 100))
                else:
                    yield c.Withdraw(
                        t, layer, a, shares=self.amount(E18, 100) if rng.random() < 0.7 else None, amount=None
                    )
            elif k == 4:
                yield c.Supply(t, "lend", a, self.amount(E6, 20_000))
            elif k == 5:
                yield c.WithdrawSupply(t, "lend", a, self.amount(E6, 5_000))
            elif k in (6, 7):
                market = rng.choice(["lend", "cdp"])
                asset = "ETH" if market == "cdp" or rng.random() < 0.6 else "AAVE"
                unit = E6 if market == "lend" else E18
                yield c.OpenPosition(t, market, a, ((asset, self.amount(E18, 5)),), self.amount(unit, 3_000))
            elif k == 8:
                market = rng.choice(["lend", "cdp"])
                yield c.Repay(t, market, a, self.amount(E6 if market == "lend" else E18, 500))
            elif k == 9:
                yield c.AddCollateral(t, rng.choice(["lend", "cdp"]), a, (("ETH", self.amount(E18, 1)),))
            elif k in (10, 11):
                asset = rng.choice(["ETH", "AAVE", "MKR"])
                base = {"ETH": 2000, "AAVE": 100, "MKR": 1000}[asset]
                yield c.SetPrice(t, asset, max(1, int(base * E18 * rng.uniform(0.2, 1.5))))
            elif k in (12, 13):
                yield c.Liquidate(t, rng.choice(["lend", "cdp"]), a)
            elif k == 14:
                market = rng.choice(["lend", "cdp"])
                asset = rng.choice(["USDC", "ETH"]) if market == "lend" else "ETH"
                unit = E6 if asset == "USDC" else E18
                yield c.Incident(
                    t,
                    market,
                    asset,
                    self.amount(unit, 2_000 if unit == E6 else 1),
                    rng.choice(["exploit", "bug", "oracle", "tech_failure"]),
                )
            elif k == 15:
                yield c.Reward(
                    t,
                    rng.choice(["safety", "q4w", "cover", "fund"]),
                    self.amount(E6, 100),
                    rng.choice(["external:world", "treasury"]),
                )
            elif k == 16:
                yield c.Advance(t)
            elif k == 17:
                yield c.BuyCover(
                    t,
                    "cover",
                    a,
                    rng.choice(["lend", "cdp"]),
                    tuple(rng.sample(["exploit", "bug", "oracle", "tech_failure"], rng.randint(1, 2))),
                    self.amount(E6, 2_000),
                    rng.choice([DAY, 30 * DAY, 365 * DAY]),
                )
            elif k == 18:
                n_pol = len(self.engine.state.policies) or 1
                n_inc = len(self.engine.state.incidents) or 1
                yield c.FileClaim(
                    t,
                    f"pol-{rng.randint(1, n_pol)}",
                    f"inc-{rng.randint(1, n_inc)}",
                    self.amount(E6, 1_000),
                    claimant=None if rng.random() < 0.8 else a,
                )
            else:
                n_cl = len(self.engine.state.claims) or 1
                if rng.random() < 0.1:
                    yield c.GuarantorDefaults(t, "g1")
                else:
                    yield c.AssessClaim(
                        t, f"clm-{rng.randint(1, n_cl)}", rng.choice([*ACCOUNTS, "assessor"]), rng.random() < 0.8
                    )

    def _layer_amount(self) -> int:
        return self.amount(E18 if self.rng.random() < 0.5 else E6, 1_000)

    # -- the run --------------------------------------------------------------------------
    def run(self, n: int, check_invariants: bool = True) -> FuzzStats:
        engine = self.engine
        stats = self.stats
        gen = self.commands()
        checked_losses = 0
        for i in range(n):
            cmd = next(gen)
            # Hashing is O(state); sample densely early, sparsely once the state has grown.
            sample = i % (self.hash_check_every if i < 5_000 else 101) == 0
            before = engine.state_hash() if sample else None
            name = type(cmd).__name__
            stats.by_type[name] = stats.by_type.get(name, 0) + 1
            stats.commands += 1
            losses_before = len(engine.state.losses)
            log_before = len(engine.log)
            try:
                engine.apply(cmd)
            except BackstopError:
                stats.failed += 1
                if before is not None:
                    stats.hash_checks += 1
                    after = engine.state_hash()
                    if after != before:
                        raise AssertionError(f"command {i} ({cmd}) failed but changed the state") from None
            stats.losses += len(engine.state.losses) - losses_before
            if check_invariants:
                touched: set[str] = {
                    str(e.data.get("policy") or e.data.get("id"))
                    for e in engine.log[log_before:]
                    if e.kind in ("claim_paid", "cover_bought")
                }
                problems = check(engine.state, losses_from=checked_losses, policy_ids=touched)
                checked_losses = len(engine.state.losses)
                if problems:
                    raise AssertionError(f"command {i} ({cmd}): {'; '.join(problems)}")
        return stats

    def replay_matches(self) -> bool:
        return Engine.replay(self.engine.log).state_hash() == self.engine.state_hash()
