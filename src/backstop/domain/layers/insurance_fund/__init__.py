"""Insurance fund: a plain balance that pays losses.

The kind's home: `exact.py` holds its config and integer rule, `vector.py` its rule in the
risk lab (NumPy, loaded only by `backstop.sim`)."""

from ..spec import Kind
from .exact import InsuranceFund, InsuranceFundConfig

KIND = Kind(InsuranceFundConfig, InsuranceFund, __name__)

__all__ = ["KIND", "InsuranceFund", "InsuranceFundConfig"]
