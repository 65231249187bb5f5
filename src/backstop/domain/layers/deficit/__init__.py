"""Reserve deficit (Aave v3.3): the end of a waterfall that records what no layer paid as the
market's deficit, without cutting suppliers' balances.

The kind's home: `exact.py` holds its config and integer rule, `vector.py` its rule in the
risk lab (NumPy, loaded only by `backstop.sim`)."""

from ..spec import Kind
from .exact import Deficit, DeficitConfig

KIND = Kind(DeficitConfig, Deficit, __name__)

__all__ = ["KIND", "Deficit", "DeficitConfig"]
