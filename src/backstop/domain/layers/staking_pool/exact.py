"""Staking pool, exact rule: a share vault over one asset that is slashed to pay losses.

Modelled on Aave's Safety Module / Umbrella (cooldown then an unstake window, a maximum slash
per event, a minimum of assets left), Blend's backstop (queue-for-withdrawal, Q4W) and Drift's
insurance fund. The rules are the share vault's (`share_vault.py`); this kind adds nothing to
them yet, and is the home of the staking-pool options to come.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from ..share_vault import ShareVault, ShareVaultConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class StakingPoolConfig(ShareVaultConfig):
    kind: Literal["staking_pool"] = "staking_pool"


class StakingPool(ShareVault[StakingPoolConfig]):
    kind: ClassVar[str] = "staking_pool"
