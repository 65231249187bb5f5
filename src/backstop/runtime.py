"""Process-level tuning for the adapters (CLI, service, benchmarks); the domain never calls it.

The engine's event log is a long-lived, growing heap of small acyclic containers (an event
and its data dict per posting). CPython's default cyclic-GC threshold (700 allocations)
re-scans that heap so often that the collector takes ~30% of a command-heavy run (measured by
`make bench`, which prints the figure with and without this). Raising the first-generation
threshold keeps the collector for real cycles without paying for the log on every few
hundred allocations; memory is unaffected because nothing in the log is cyclic.

`skip_exit_collections` is for a one-shot command's last moment, `one_blas_thread` for its first,
`keep_freed_memory` for the risk lab's one-shot commands: see their docstrings.
"""

from __future__ import annotations

import gc
import os

GEN0_THRESHOLD = 50_000


def tune_gc(gen0_threshold: int = GEN0_THRESHOLD) -> None:
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)


def skip_exit_collections() -> None:
    """Freeze every object the collector tracks (`gc.freeze`), so that the interpreter's shutdown
    does not scan them all again for cycles.

    Why: at exit CPython runs several full collections (before and while it clears the modules),
    each walking every tracked object. After `backstop simulate` (NumPy, pydantic, rich, Numba and
    its compiler's tables loaded) that took ~0.12–0.16 s of a ~1.8 s command, after its output was
    written (issue 15; docs/benchmarks.md). The memory goes back to the OS with the process either
    way. What still runs: every `atexit` handler (the kept worker pools' shutdown, the service's
    job table), thread joins, stream flushes, and every object freed by reference counting as the
    modules are cleared. What no longer runs: `__del__` of objects that are garbage only as part
    of a cycle at that moment, which CPython does not promise at exit anyway; nothing here relies
    on one. Called by the CLI's `main` once its command has finished, never by the library."""
    gc.freeze()


BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")


def one_blas_thread() -> None:
    """Ask NumPy's OpenBLAS for one thread (`OPENBLAS_NUM_THREADS=1`) unless the user chose a number
    (any of `BLAS_THREAD_VARIABLES` set). Must run before NumPy is imported; worker processes
    inherit it.

    Why: when NumPy loads OpenBLAS, OpenBLAS starts a thread per core that spins ~0.1 s waiting
    for work before it sleeps: ~0.05–0.1 s of CPU in every process, on the core that `simulate`'s
    drawing thread or another process needs (issue 15). Nothing in backstop calls BLAS beyond a
    Cholesky of the price correlation matrix (a few assets), which OpenBLAS runs in the calling
    thread at any setting, so no number changes."""
    if not any(os.environ.get(name) for name in BLAS_THREAD_VARIABLES):
        os.environ["OPENBLAS_NUM_THREADS"] = "1"


def keep_freed_memory() -> bool:
    """glibc only: serve large allocations from the heap and keep freed memory in the process
    (`mallopt`: mmap threshold 1 GiB, trim threshold 2 GiB, top pad 64 MiB); True if applied.

    Why: a risk-lab chunk allocates and frees tens of MB of NumPy temporaries (phase B's ~0.5 M
    events of a cdp chunk, their order, the outcome columns). glibc maps each large one afresh
    and unmaps it when freed, so every chunk faults the same memory in again (2,000–5,000 page
    faults, ~4 ms a chunk in the thread every chunk waits for; issue 15). Kept, the next chunk
    reuses it. Peak RSS does not grow (the chunks are alike: measured 546 vs 545 MB for
    `simulate` at 100,000 paths), but memory freed is not returned before exit, so this is for a
    command that ends (`simulate`, `price`, `size`), not for the service. The work buffers and
    the normals drawn ahead are mappings of their own (`sim.buffers`), not affected."""
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):  # not a POSIX system, or no such name here
        glibc = ""
    if not glibc.startswith("glibc"):
        return False
    import ctypes

    libc = ctypes.CDLL(None)  # this process's symbols: glibc's malloc
    m_top_pad, m_trim_threshold, m_mmap_threshold = -2, -1, -3  # <malloc.h>
    ok = libc.mallopt(m_mmap_threshold, 1 << 30) == 1
    ok = libc.mallopt(m_trim_threshold, (1 << 31) - 1) == 1 and ok
    return bool(libc.mallopt(m_top_pad, 64 << 20) == 1) and ok
