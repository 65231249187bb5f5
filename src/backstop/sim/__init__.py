"""Risk lab (docs/risk-lab.md): vectorized Monte Carlo of the whole backstop, pricing and sizing.

`backstop.sim.api` is the Python entry point; `backstop.sim.cli` mounts `simulate`, `price` and
`size` on the `backstop` command.
"""
