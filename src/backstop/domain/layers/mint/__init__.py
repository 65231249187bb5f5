"""Mint layer: sell newly minted governance tokens to cover the rest (Maker's "flop"

The kind's home: `exact.py` holds its config and integer rule, `vector.py` its rule in the
risk lab (NumPy, loaded only by `backstop.sim`)."""

from ..spec import Kind
from .exact import Mint, MintConfig

KIND = Kind(MintConfig, Mint, __name__)

__all__ = ["KIND", "Mint", "MintConfig"]
