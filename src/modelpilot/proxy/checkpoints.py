"""Checkpoints of the meter spool's write-ahead log, off the event loop.

SQLite in WAL mode copies the log back into the database file (a checkpoint) from whichever
connection commits when the log has grown past 1,000 pages. For the spool that is the event loop,
once every ~1,000 requests, and with ``synchronous=NORMAL`` a checkpoint is two fsyncs: a stall
for every request in flight. Measured on this project's 2-core machine (shared with other work):
39-49 ms to checkpoint 5,000 commits, and a one-row upsert commit took 50-58 µs with SQLite's
own checkpoints against 27-37 µs without. :class:`Checkpointer` turns them off on the spool's
connection (``wal_autocheckpoint=0``) and runs passive checkpoints from a thread of its own, on a
connection of its own, while there have been writes. A passive checkpoint never blocks a writer,
and the fsyncs run without the GIL. Durability is unchanged: a commit is in the log before ``add``
returns; checkpoints only move it into the main file.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("modelpilot.proxy")

#: How often the thread checkpoints while there are writes: at most this many seconds' worth of
#: commits wait in the log (about 1,000 pages at 1,000 requests/s, as SQLite's own default).
INTERVAL_S = 1.0


class Checkpointer:
    """Checkpoints ``path`` every ``interval_s`` while ``writes()`` moves; :meth:`stop` ends it.

    ``writes`` returns a number that changes whenever the spool committed something (read without
    a lock: a stale value only delays a checkpoint by one interval).
    """

    def __init__(self, path: Path, writes: Callable[[], int], *, interval_s: float = INTERVAL_S) -> None:
        self._path = path
        self._writes = writes
        self._interval_s = interval_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="modelpilot-spool-checkpoints", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (after its current checkpoint, if any) and close its connection."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            log.exception("meter spool checkpoints: could not open %s", self._path)
            return
        try:
            connection.execute("PRAGMA busy_timeout=5000")
            seen: int | None = None  # the first interval checkpoints whatever came before it
            while not self._stopping.wait(self._interval_s):
                now = self._writes()
                if now == seen:
                    continue
                seen = now
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    # The next interval tries again; the log only grows meanwhile.
                    log.warning("meter spool checkpoint failed", exc_info=True)
        finally:
            connection.close()


__all__ = ["INTERVAL_S", "Checkpointer"]
