"""Work on a copy-on-write view of the process: a forked child computes, the parent goes on.

Why: the checkpoint's state hash and the snapshot's pickle read the whole state, which takes
time that grows with it (0.2 s and 0.3 s at 100,000 accounts on this project's benchmark
machine), and both are single long C calls (`json.dumps`, `pickle.dumps`) that hold the GIL
from start to end, so in-process they stall every other thread, reads included, however the
locks are arranged. `os.fork` gives the child the state as it stood at the fork (the kernel
copies a page only when one side writes it), so the parent holds its write lock only for the
fork itself (milliseconds) and the work runs on another core: the same technique as Redis's
BGSAVE. The child writes its result to a pipe and leaves with `os._exit`: it runs no handler,
touches no database connection and flushes no buffer of the parent's.

The cost: while the child runs, the pages it touches are copied (CPython's reference counts
make that most of the state's pages), so memory peaks near twice the state for that time. Where
`os.fork` does not exist, `fork_available()` is False and the caller computes in process.
"""

from __future__ import annotations

import gc
import os
import struct
import sys
from collections.abc import Callable

_LENGTH = struct.Struct(">Q")


def fork_available() -> bool:
    return hasattr(os, "fork") and sys.platform.startswith("linux")


class Forked:
    """The result of `work` computed in a forked child; `result()` waits for it (None if the
    child failed: its output is checked for length and its exit status for 0)."""

    def __init__(self, work: Callable[[], bytes]) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: compute, write, leave without running any of the parent's code
            status = 1
            try:
                os.close(read_end)
                gc.disable()  # a collection would only touch (and so copy) pages
                data = work()
                view = memoryview(_LENGTH.pack(len(data)) + data)
                while view:
                    view = view[os.write(write_end, view) :]
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        self.pid = pid
        self._read_end = read_end

    def result(self) -> bytes | None:
        with os.fdopen(self._read_end, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(self.pid, 0)
        if status != 0 or len(data) < _LENGTH.size:
            return None
        (length,) = _LENGTH.unpack_from(data)
        return data[_LENGTH.size :] if len(data) == _LENGTH.size + length else None
