"""`backstop serve` whose snapshot transaction stays open for a while, for the crash test.

The snapshot row is inserted, a marker file names its seq, and the transaction sleeps before
it commits: the test SIGKILLs the server while the marker exists, that is, while a snapshot
is being written. Production code is untouched: only `SqlStore.save_snapshot` is wrapped here.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert

from backstop.store import schema, sql
from backstop.store.base import Snapshot

MARKER = Path(os.environ["BACKSTOP_TEST_SNAPSHOT_MARKER"])
HOLD_SECONDS = 0.3


def slow_save(self: Any, snapshot: Snapshot) -> None:
    def work(conn: Connection) -> None:
        conn.execute(insert(schema.snapshots).values(**snapshot.meta.__dict__, blob=snapshot.blob))
        partial = MARKER.with_suffix(".partial")
        partial.write_text(str(snapshot.meta.seq))
        os.replace(partial, MARKER)  # atomic: the test never reads a half-written marker
        time.sleep(HOLD_SECONDS)
        MARKER.unlink(missing_ok=True)

    self._tx(work)


sql.SqlStore.save_snapshot = slow_save  # type: ignore[method-assign]

if __name__ == "__main__":
    from backstop.cli import main

    sys.argv[0] = "backstop"
    main()
