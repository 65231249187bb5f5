"""Staking pool: a share vault over one asset that is slashed to pay losses.

The kind's home: `exact.py` holds its config and integer rule, `vector.py` its rule in the
risk lab (NumPy, loaded only by `backstop.sim`)."""

from ..spec import Kind
from .exact import StakingPool, StakingPoolConfig

KIND = Kind(StakingPoolConfig, StakingPool, __name__)

__all__ = ["KIND", "StakingPool", "StakingPoolConfig"]
