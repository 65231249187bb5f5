"""Redistribution: Liquity v1's redistribution of what the stability pool cannot offset.

The kind's home: `exact.py` holds its config and integer rule, `vector.py` its rule in the
risk lab (NumPy, loaded only by `backstop.sim`)."""

from ..spec import Kind
from .exact import Redistribution, RedistributionConfig

KIND = Kind(RedistributionConfig, Redistribution, __name__)

__all__ = ["KIND", "Redistribution", "RedistributionConfig"]
