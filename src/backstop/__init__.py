"""backstop: an exact loss-absorption engine and risk lab for DeFi backstops."""

__version__ = "0.1.0"
