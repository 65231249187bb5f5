"""The pure domain core: integer money, ledger, markets, layers, waterfall, cover.

Nothing in this package does I/O, reads a clock, draws random numbers or uses float.
"""
