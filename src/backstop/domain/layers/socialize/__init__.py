"""Socialized loss: whatever no layer paid is written off from the market's

The kind's home: `exact.py` holds its config and integer rule, `vector.py` its rule in the
risk lab (NumPy, loaded only by `backstop.sim`)."""

from ..spec import Kind
from .exact import Socialize, SocializeConfig

KIND = Kind(SocializeConfig, Socialize, __name__)

__all__ = ["KIND", "Socialize", "SocializeConfig"]
