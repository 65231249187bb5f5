"""Cover pool (Nexus Mutual style): capital providers hold shares of a vault that

The kind's home: `exact.py` holds its config and integer rule, `vector.py` its rule in the
risk lab (NumPy, loaded only by `backstop.sim`)."""

from ..spec import Kind
from .exact import CoverPool, CoverPoolConfig

KIND = Kind(CoverPoolConfig, CoverPool, __name__)

__all__ = ["KIND", "CoverPool", "CoverPoolConfig"]
