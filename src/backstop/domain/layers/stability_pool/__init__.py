"""Stability pool: the Liquity v1 product-sum algorithm.

The kind's home: `exact.py` holds its config and integer rule, `vector.py` its rule in the
risk lab (NumPy, loaded only by `backstop.sim`)."""

from ..spec import Kind
from .exact import StabilityPool, StabilityPoolConfig

KIND = Kind(StabilityPoolConfig, StabilityPool, __name__)

__all__ = ["KIND", "StabilityPool", "StabilityPoolConfig"]
