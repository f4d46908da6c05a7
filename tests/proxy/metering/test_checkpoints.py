"""The spool's write-ahead log is checkpointed by a thread of its own, never by a request's commit;
what was committed is in the log at once and in the database file after a checkpoint."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from modelpilot.proxy.checkpoints import Checkpointer
from modelpilot.proxy.spool import Spool
from tests.proxy.metering.records import charge

_DEADLINE_S = 30


def _rows_in_main_file(path: Path) -> int:
    """Pending rows as the database file alone holds them (``immutable``: the log is not read)."""
    with sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True) as reader:
        try:
            return int(reader.execute("SELECT count(*) FROM pending").fetchone()[0])
        except sqlite3.OperationalError:  # the table itself is still only in the log
            return 0


def _wait_for_rows_in_main_file(path: Path, rows: int) -> int:
    """The rows in the database file once it holds ``rows`` (or what it holds at the deadline)."""
    deadline = time.monotonic() + _DEADLINE_S
    while _rows_in_main_file(path) < rows and time.monotonic() < deadline:
        time.sleep(0.01)
    return _rows_in_main_file(path)


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "modelpilot-spool-checkpoints"]


def test_a_commit_never_checkpoints_the_log_itself(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path / "no-autocheckpoint.sqlite3")
    try:
        assert spool._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    finally:
        spool.close()


def test_the_thread_moves_committed_rows_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "checkpointed.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE pending (n INTEGER)")
    writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the table itself is in the file
    checkpointer = Checkpointer(path, lambda: writer.total_changes, interval_s=0.01)
    checkpointer.start()
    try:
        for n in range(50):
            writer.execute("INSERT INTO pending VALUES (?)", (n,))
        # Committed: every row is readable through the log at once.
        assert writer.execute("SELECT count(*) FROM pending").fetchone()[0] == 50
        assert _wait_for_rows_in_main_file(path, 50) == 50
    finally:
        checkpointer.stop()
        writer.close()


def test_the_spool_checkpoints_what_it_commits_and_stops_the_thread_when_closed(tmp_path: Path) -> None:
    path = tmp_path / "spool-checkpoints.sqlite3"
    before = len(_checkpoint_threads())
    spool = Spool.open(path)
    try:
        assert len(_checkpoint_threads()) == before + 1
        spool.add(charge())
        assert _wait_for_rows_in_main_file(path, 1) == 1
    finally:
        spool.close()
    assert len(_checkpoint_threads()) == before
    reopened = Spool.open(path)
    try:
        assert reopened.backlog().pending_rows == 1
    finally:
        reopened.close()
