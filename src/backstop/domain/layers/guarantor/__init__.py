"""Guarantor layer: excess-of-loss cover sold by an external party for a premium.

The kind's home: `exact.py` holds its config and integer rule, `vector.py` its rule in the
risk lab (NumPy, loaded only by `backstop.sim`)."""

from ..spec import Kind
from .exact import Guarantor, GuarantorConfig

KIND = Kind(GuarantorConfig, Guarantor, __name__)

__all__ = ["KIND", "Guarantor", "GuarantorConfig"]
