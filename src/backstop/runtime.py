"""Process-level tuning for the adapters (CLI, service, benchmarks); the domain never calls it.

The engine's event log is a long-lived, growing heap of small acyclic containers (an event
and its data dict per posting). CPython's default cyclic-GC threshold (700 allocations)
re-scans that heap so often that the collector takes ~30% of a command-heavy run (measured by
`make bench`, which prints the figure with and without this). Raising the first-generation
threshold keeps the collector for real cycles without paying for the log on every few
hundred allocations; memory is unaffected because nothing in the log is cyclic.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 50_000


def tune_gc(gen0_threshold: int = GEN0_THRESHOLD) -> None:
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)
