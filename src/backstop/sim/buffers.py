"""Work buffers reused from chunk to chunk (per thread).

Phase A needs a few arrays of (steps × paths) floats per chunk, tens of MB each. Allocated
afresh for every chunk, each one is new memory for the kernel to fault in (NumPy asks for huge
pages for big arrays, which may mean compacting memory first), and that costs as much as using
them. Kept per thread, the same memory serves every chunk a worker runs; memory stays bounded by
one chunk's buffers per thread, and `release_work_buffers` (which the inline executor calls when
its tasks are done) gives them back, so a long-lived process (the service) keeps nothing after a
run. Worker processes free theirs when they exit.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

_local = threading.local()


def work_buffer(name: str, shape: tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
    """A buffer of this shape and dtype, contents undefined; the same array each time it is asked
    for by `name` with the same shape in this thread, so the caller must be done with it by then."""
    cache: dict[str, np.ndarray] = _local.__dict__.setdefault("buffers", {})
    buf = cache.get(name)
    if buf is None or buf.shape != shape or buf.dtype != np.dtype(dtype):
        cache.pop(name, None)
        buf = np.empty(shape, dtype)
        cache[name] = buf
    return buf


def release_work_buffers() -> None:
    """Drop this thread's buffers (they are freed once nothing else refers to them)."""
    _local.__dict__.pop("buffers", None)
