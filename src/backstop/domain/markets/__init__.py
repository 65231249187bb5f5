"""Markets where losses come from: lending (Aave/Compound-like) and cdp (Liquity/Maker-like).

See docs/engine.md, "Markets".
"""
