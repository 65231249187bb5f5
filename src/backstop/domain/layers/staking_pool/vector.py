"""Staking pool in the risk lab: the share vault's vectorized rule (`share_vault_vector.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..share_vault_vector import VaultVector


@dataclass(frozen=True)
class Vector(VaultVector):
    pass
