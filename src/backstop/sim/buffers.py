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

import math
import mmap
import threading
from typing import Any

import numpy as np

_local = threading.local()


def work_buffer(name: str, shape: tuple[int, ...], dtype: Any = np.float64, populate: bool = True) -> np.ndarray:
    """A buffer of this shape and dtype, contents undefined; the same array each time it is asked
    for by `name` with the same shape in this thread, so the caller must be done with it by then.
    `populate=False`: a new buffer's pages are not faulted in at once but on first write (see
    `_anonymous`)."""
    cache: dict[str, np.ndarray] = _local.__dict__.setdefault("buffers", {})
    buf = cache.get(name)
    if buf is None or buf.shape != shape or buf.dtype != np.dtype(dtype):
        cache.pop(name, None)
        buf = _anonymous(shape, np.dtype(dtype), populate)
        cache[name] = buf
    return buf


def release_work_buffers() -> None:
    """Drop this thread's buffers (they are freed once nothing else refers to them)."""
    _local.__dict__.pop("buffers", None)


def _anonymous(shape: tuple[int, ...], dtype: np.dtype[Any], populate: bool = True) -> np.ndarray:
    """A fresh array in its own anonymous mapping (ordinary pages: NumPy's allocator would ask for
    transparent huge pages for an array this big, and a first fault may then wait for the kernel to
    compact memory; the buffers are walked row by row, so huge pages buy nothing here).

    With `populate` (Linux) the pages are faulted in at once, inside `mmap()`, which is cheaper
    than one fault at a time; but CPython holds the GIL through that call, so every other thread
    of the process stops for it (~30 ms for the 88 MB of a cdp chunk's normals, issue 15). A
    buffer that another thread fills with a NumPy call that releases the GIL (the normals drawn
    ahead, `world.draw_normals_ahead`) is better left to fault in as it is written."""
    size = math.prod(shape) * dtype.itemsize
    if size == 0:
        return np.empty(shape, dtype)
    flag = getattr(mmap, "MAP_POPULATE", 0) if populate else 0  # Linux: fault the pages in at once
    if flag and hasattr(mmap, "MAP_ANONYMOUS"):
        mem = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | flag)
    else:
        mem = mmap.mmap(-1, size)
    arr: np.ndarray = np.frombuffer(mem, dtype=dtype).reshape(shape)
    return arr
