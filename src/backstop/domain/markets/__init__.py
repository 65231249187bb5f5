"""Markets where losses come from (design §5): lending (Aave/Compound-like) and cdp (Liquity/Maker-like)."""
