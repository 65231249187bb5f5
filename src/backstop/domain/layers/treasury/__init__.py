"""Treasury: the platform's own funds. Same rule as the insurance fund's (it is a

The kind's home: `exact.py` holds its config and integer rule, `vector.py` its rule in the
risk lab (NumPy, loaded only by `backstop.sim`)."""

from ..spec import Kind
from .exact import Treasury, TreasuryConfig

KIND = Kind(TreasuryConfig, Treasury, __name__)

__all__ = ["KIND", "Treasury", "TreasuryConfig"]
