"""Cover pool in the risk lab: slashed like a share vault when it sits in a waterfall. Policies
and claims are not simulated (a documented simplification, docs/risk-lab.md)."""

from __future__ import annotations

from dataclasses import dataclass

from ..share_vault_vector import VaultVector


@dataclass(frozen=True)
class Vector(VaultVector):
    pass
