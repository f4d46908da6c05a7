"""The durable meter spool: one SQLite file between the requests and the control plane.

Three tables::

    pending  one row per open bucket (hour × category × requested × served × routed × escalated)
             holding sums: requests, tokens, micro-dollars
    outbox   immutable batches: kind (meter or logs), a fresh batch id (uuid4), the MeterBatch or
             LogBatch JSON exactly as it is sent, how many spool rows it holds, and why it is
             parked (NULL = to be sent)
    log_pending  opt-in metadata log records (LogRecord JSON), one per request, in order
    calibration_spend  what paired checks settled per UTC day (the daily cap survives a restart)
    meta     durable counters (requests refused at the bound)
    rejected pending rows the wire schema refuses (say, written by an older version), kept
             aside so that one bad row cannot block every batch after it

Every row, batch and log record carries the deployment it was recorded for (``deployment``: a
keyed hash of the deployment key, never the key): a spool opened with one key only batches,
sends and acknowledges that key's rows, so usage is never billed to another account, even when a
spool file is reused with another key. Rows of other deployments are kept, and sent when a proxy
with their key opens the file. A file written before this column existed is stamped, once, with
the deployment of the first proxy that opens it (in an upgrade, the one that wrote it).

One process at a time: :meth:`Spool.open` takes an exclusive lock (``<file>.lock``, ``flock``)
held until :meth:`Spool.close` or the process ends, and raises :class:`SpoolLockedError` if
another process holds it.

A charge is one UPSERT, committed before :meth:`Spool.add` returns. :meth:`Spool.take_batch`
moves pending rows into a new outbox batch in one transaction; the batch is sent, and deleted by
:meth:`Spool.acknowledge` only once the control plane acknowledged it. Until then it is resent
with the same batch id, which the control plane counts once: a crash before, during or after a
send loses nothing and counts nothing twice.

Durability: WAL with ``synchronous=NORMAL``. Every commit is in the WAL file (the OS page cache)
before ``add`` returns, so a killed or crashed proxy loses nothing; only an OS crash or power cut
can lose the last commits before a checkpoint. ``FULL`` would add an fsync per request (0.1 ms to
several ms depending on the disk) on the event loop, for metering a power cut rarely touches.

The bound: ``max_rows`` counts pending rows plus the rows in unacknowledged batches. At the bound
the spool stops growing: charges for buckets that already exist are still added (that costs no
row), charges that would need a new row are refused, counted durably and logged loudly. What is
spooled is always kept; what could not be spooled is counted, never silently dropped.

Opt-in metadata logs go the same way (``add_log``, ``take_log_batch``) with a bound of their own
(``max_rows`` records): at the bound new records are refused and counted, and metering, which
bills, never competes with logs, which only inform, for room.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import annotated_types
import orjson
from pydantic import ValidationError

from modelpilot.proxy.accounting import Charge
from modelpilot.schema.bucket import BUCKET_KEY, COUNTERS, counter_bound
from modelpilot.schema.wire import LogBatch, LogRecord, MeterBatch, MeterRow

log = logging.getLogger("modelpilot.proxy.spool")

#: A bucket of one deployment (a keyed hash of its key; see :func:`deployment_fingerprint`).
_KEY = ("deployment", *BUCKET_KEY)
_COLUMNS = _KEY + COUNTERS


def _sql_type(name: str) -> str:
    # SQLite has no boolean: routed and escalated are stored as 0/1.
    return "INTEGER" if MeterRow.model_fields[name].annotation is bool else "TEXT"


_BUCKET_COLUMNS = "".join(f"\n    {name} {_sql_type(name)} NOT NULL," for name in BUCKET_KEY)
_COUNTER_COLUMNS = "".join(f"\n    {name} INTEGER NOT NULL DEFAULT 0," for name in COUNTERS)
_PENDING = f"""
CREATE TABLE IF NOT EXISTS pending (
    deployment TEXT NOT NULL DEFAULT '',{_BUCKET_COLUMNS}{_COUNTER_COLUMNS}
    PRIMARY KEY ({", ".join(_KEY)})
);
"""
_SCHEMA = (
    _PENDING
    + """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    batch_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    spool_rows INTEGER NOT NULL,
    parked_reason TEXT
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rejected (row TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS log_pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS calibration_spend (day TEXT PRIMARY KEY, spent_micros INTEGER NOT NULL);
"""
)

_UPSERT = (
    f"INSERT INTO pending ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET "
    + ", ".join(f"{name} = {name} + excluded.{name}" for name in COUNTERS)
    + f" RETURNING {', '.join(COUNTERS)}"
)
_ADD_TO_EXISTING = (
    "UPDATE pending SET "
    + ", ".join(f"{name} = {name} + ?" for name in COUNTERS)
    + " WHERE "
    + " AND ".join(f"{name} = ?" for name in _KEY)
)
_REFUSED = "refused_requests"
_REFUSED_LOGS = "refused_log_records"
_METER = "meter"
_LOGS = "logs"


#: What one MeterRow may carry (the wire contract's bounds); bigger sums are split across rows.
_ROW_LIMITS = {name: counter_bound(name) for name in COUNTERS}
_BATCH_MAX_ROWS = min(
    int(item.max_length)
    for item in MeterBatch.model_fields["rows"].metadata
    if isinstance(item, annotated_types.MaxLen)
)


@dataclass(frozen=True, slots=True)
class OutgoingBatch:
    """A batch taken from the outbox: send ``batch`` to ``path`` and acknowledge (or park)
    ``batch_id``."""

    batch_id: str
    batch: MeterBatch | LogBatch

    @property
    def kind(self) -> str:
        return _METER if isinstance(self.batch, MeterBatch) else _LOGS

    @property
    def path(self) -> str:
        return "/v1/meter" if isinstance(self.batch, MeterBatch) else "/v1/logs"

    @property
    def size(self) -> int:
        """Rows (meter) or records (logs) in the batch."""
        return len(self.batch.rows) if isinstance(self.batch, MeterBatch) else len(self.batch.records)


@dataclass(frozen=True, slots=True)
class Backlog:
    """What the spool holds: rows not yet in a batch, rows in batches waiting to be sent, rows
    in parked batches; requests refused at the bound and rows set aside as unsendable since the
    file was created (neither counts in :attr:`rows`)."""

    pending_rows: int
    batched_rows: int
    parked_rows: int
    refused_requests: int
    rejected_rows: int = 0
    log_records: int = 0
    refused_log_records: int = 0
    #: Rows recorded for other deployment keys: kept, sent only by a proxy with their key.
    other_deployments_rows: int = 0

    @property
    def rows(self) -> int:
        return self.pending_rows + self.batched_rows + self.parked_rows


def _wire_rows(values: dict[str, Any]) -> list[MeterRow]:
    """One spool row as MeterRows, split evenly when a sum exceeds what one row may carry."""
    parts = max(-(-values[name] // _ROW_LIMITS[name]) for name in COUNTERS)
    # Each part needs a request (or, in a feedback-only or calibration row, a report or a
    # verdict) of its own.
    parts = max(1, min(parts, values["requests"] or values["feedback_reports"] or values["judged"] or 1))
    rows = []
    for index in range(parts):
        share = {name: values[name] // parts + (index < values[name] % parts) for name in COUNTERS}
        key = {name: values[name] for name in BUCKET_KEY} | {"hour": datetime.fromisoformat(values["hour"])}
        # Validation reads the stored category text and 0/1 back as the wire's enum and booleans.
        rows.append(MeterRow.model_validate(key | share))
    return rows


def _add_missing_columns(connection: sqlite3.Connection) -> None:
    # A spool file written before a counter existed gains it (zero in its rows) on open.
    present = {row[1] for row in connection.execute("PRAGMA table_info(pending)")}
    for name in COUNTERS:
        if name not in present:
            connection.execute(f"ALTER TABLE pending ADD COLUMN {name} INTEGER NOT NULL DEFAULT 0")


def _columns(connection: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]


def _add_deployment(connection: sqlite3.Connection, deployment: str) -> None:
    """Give a spool file from before the ``deployment`` column one, stamping what it holds with
    ``deployment`` (the first proxy to open it after the upgrade: the one that wrote it). The
    column is part of ``pending``'s primary key, so that table is rebuilt."""
    if "deployment" in _columns(connection, "pending"):
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute("ALTER TABLE pending RENAME TO pending_before_deployment")
        connection.execute(_PENDING)
        kept = [name for name in _columns(connection, "pending_before_deployment") if name in _COLUMNS]
        names = ", ".join(kept)
        connection.execute(
            f"INSERT INTO pending (deployment, {names}) SELECT ?, {names} FROM pending_before_deployment",
            (deployment,),
        )
        connection.execute("DROP TABLE pending_before_deployment")
        for table in ("outbox", "log_pending"):
            if "deployment" not in _columns(connection, table):
                connection.execute(f"ALTER TABLE {table} ADD COLUMN deployment TEXT NOT NULL DEFAULT ''")
                connection.execute(f"UPDATE {table} SET deployment = ?", (deployment,))
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _stored(value: object) -> object:
    """A bucket key value as the spool stores it (ISO hour, category text, 0/1)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return str(value)


#: The deployment of rows recorded by a proxy without a control plane (never sent).
LOCAL_DEPLOYMENT = "local"
_FINGERPRINT_KEY = b"modelpilot spool deployment"


def deployment_fingerprint(api_key: str) -> str:
    """What the spool records as a row's deployment: a keyed hash of the deployment key (the key
    itself is never written to the file). Also names the default spool file."""
    return hmac.new(_FINGERPRINT_KEY, api_key.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


class SpoolLockedError(Exception):
    """Another process holds the spool file's lock."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"the meter spool {path} is in use by another modelpilot proxy")
        self.path = path


def _lock(path: Path) -> int:
    """Hold ``<path>.lock`` exclusively for this process (released when the descriptor is closed,
    or by the OS when the process dies, so a crash never leaves a stale lock)."""
    descriptor = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(descriptor)
        raise SpoolLockedError(path) from exc
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


class Spool:
    """The meter spool on one SQLite file (see the module doc for the design).

    Safe to call from any thread (one connection behind a lock); every call is a short local
    transaction, so the event loop calls it directly.

    >>> spool = Spool.open(tmp_path / "spool.sqlite3")  # doctest: +SKIP
    >>> spool.add(charge); batch = spool.take_batch(); spool.acknowledge(batch.batch_id)
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        max_rows: int,
        deployment: str = LOCAL_DEPLOYMENT,
        lock: int | None = None,
    ) -> None:
        self._db = connection
        self.deployment = deployment
        self._lock_descriptor = lock
        self._lock = threading.Lock()
        self.max_rows = max_rows
        self._rows = 0  # pending rows + rows in the outbox, kept in step with the file
        self._logs = 0  # the same for metadata log records
        self._is_full_logged = False
        self._is_log_full_logged = False
        self._is_closed = False
        with self._lock:
            self._rows = self._count_rows()
            self._logs = self._count_logs()

    @classmethod
    def open(cls, path: str | Path, *, max_rows: int = 100_000, deployment: str = LOCAL_DEPLOYMENT) -> Spool:
        """Open (or create) the spool file, creating its directory if needed, and lock it for
        this process (:class:`SpoolLockedError` if another one has it). ``deployment`` (see
        :func:`deployment_fingerprint`) is what new rows are recorded for, and the only rows
        batched and acknowledged."""
        path = Path(path).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = _lock(path)
        try:
            # Autocommit mode: single statements commit on their own, and multi-statement changes
            # use explicit BEGIN IMMEDIATE, so nothing is left in an implicit open transaction.
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except BaseException:
            os.close(lock)
            raise
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA busy_timeout=5000")
            connection.executescript(_SCHEMA)
            _add_missing_columns(connection)
            _add_deployment(connection, deployment)
            spool = cls(connection, max_rows=max_rows, deployment=deployment, lock=lock)
        except BaseException:
            connection.close()
            os.close(lock)
            raise
        held = spool.backlog().other_deployments_rows
        if held:
            log.warning(
                "the meter spool %s holds %d rows recorded with another deployment key; they are kept "
                "and sent only by a proxy started with that key",
                path,
                held,
            )
        return spool

    def close(self) -> None:
        with self._lock:
            if self._is_closed:
                return
            self._is_closed = True
            self._db.close()
            if self._lock_descriptor is not None:
                os.close(self._lock_descriptor)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _count_rows(self) -> int:
        pending = self._db.execute("SELECT count(*) FROM pending").fetchone()[0]
        batched = self._db.execute(
            "SELECT coalesce(sum(spool_rows), 0) FROM outbox WHERE kind = ?", (_METER,)
        ).fetchone()[0]
        return int(pending) + int(batched)

    def _count_logs(self) -> int:
        pending = self._db.execute("SELECT count(*) FROM log_pending").fetchone()[0]
        batched = self._db.execute(
            "SELECT coalesce(sum(spool_rows), 0) FROM outbox WHERE kind = ?", (_LOGS,)
        ).fetchone()[0]
        return int(pending) + int(batched)

    def _count(self, name: str) -> None:
        self._db.execute(
            "INSERT INTO meta (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1",
            (name,),
        )

    # -- writing ---------------------------------------------------------------------------------
    def add(self, charge: Charge) -> bool:
        """Add one request to its bucket, committed on return. False if refused at the bound."""
        with self._lock:
            is_added = self._add(charge)
        if not is_added:
            self._warn_full()
        return is_added

    def add_calibration(self, charge: Charge, *, day: date) -> bool:
        """Add a paired check's charge and its spend to ``day``'s calibration spend, in one
        transaction (the spend counts even when the bound refuses the row)."""
        with self._lock, self._transaction() as db:
            db.execute(
                "INSERT INTO calibration_spend (day, spent_micros) VALUES (?, ?) "
                "ON CONFLICT (day) DO UPDATE SET spent_micros = spent_micros + excluded.spent_micros",
                (day.isoformat(), charge.calibration_micros),
            )
            is_added = self._add(charge)
        if not is_added:
            self._warn_full()
        return is_added

    def calibration_spent(self, day: date) -> int:
        """What paired checks settled on ``day`` (UTC), across restarts."""
        with self._lock:
            found = self._db.execute(
                "SELECT spent_micros FROM calibration_spend WHERE day = ?", (day.isoformat(),)
            ).fetchone()
        return int(found[0]) if found is not None else 0

    def _add(self, charge: Charge) -> bool:
        key = (self.deployment, *(_stored(getattr(charge, name)) for name in BUCKET_KEY))
        sums = charge.counters()
        if self._rows < self.max_rows:
            # One statement, one transaction: the row is new or the sums grow, atomically.
            # fetchall() runs the statement to its end, which is what commits it.
            (found,) = self._db.execute(_UPSERT, key + sums).fetchall()
            # A fresh row holds exactly this charge; an updated one holds more.
            if tuple(found) == sums:
                self._rows += 1
            return True
        if self._db.execute(_ADD_TO_EXISTING, sums + key).rowcount == 1:
            return True
        self._count(_REFUSED)
        return False

    def add_log(self, entry: LogRecord) -> bool:
        """Append one metadata log record, committed on return. False if refused at the bound."""
        with self._lock:
            if self._logs < self.max_rows:
                self._db.execute(
                    "INSERT INTO log_pending (deployment, body) VALUES (?, ?)",
                    (self.deployment, entry.model_dump_json()),
                )
                self._logs += 1
                return True
            self._count(_REFUSED_LOGS)
            is_first = not self._is_log_full_logged
            self._is_log_full_logged = True
        if is_first:
            log.error(
                "metadata log spool is full (%d records): new records are dropped until the control "
                "plane accepts the backlog; see modelpilot_spool_refused_log_records_total",
                self.max_rows,
            )
        return False

    def _warn_full(self) -> None:
        if not self._is_full_logged:
            self._is_full_logged = True
            log.error(
                "meter spool is full (%d rows, spool_max_rows=%d): requests in new buckets are not "
                "metered until the control plane accepts the backlog; see "
                "modelpilot_spool_refused_requests_total",
                self._rows,
                self.max_rows,
            )

    # -- batches ---------------------------------------------------------------------------------
    def take_batch(self) -> OutgoingBatch | None:
        """The oldest batch still to be sent; if there is none, a new batch formed from the
        pending rows (in one transaction). None when there is nothing to send."""
        with self._lock, self._transaction() as db:
            waiting = db.execute(
                "SELECT batch_id, body FROM outbox WHERE parked_reason IS NULL AND kind = ? "
                "AND deployment = ? ORDER BY seq LIMIT 1",
                (_METER, self.deployment),
            ).fetchone()
            if waiting is not None:
                return OutgoingBatch(waiting[0], MeterBatch.model_validate_json(waiting[1]))
            cursor = db.execute(
                f"SELECT rowid, {', '.join(_COLUMNS)} FROM pending WHERE deployment = ? "
                "ORDER BY hour, rowid LIMIT ?",
                (self.deployment, _BATCH_MAX_ROWS),
            )
            rowids: list[int] = []
            rows: list[MeterRow] = []
            for found in cursor.fetchall():
                values = dict(zip(_COLUMNS, found[1:], strict=True))
                try:
                    split = _wire_rows(values)
                except ValidationError as exc:
                    self._reject(db, found[0], values, exc)
                    continue
                if rows and len(rows) + len(split) > _BATCH_MAX_ROWS:
                    break
                rowids.append(found[0])
                rows.extend(split)
            if not rows:
                return None
            batch_id = str(uuid.uuid4())
            batch = MeterBatch(batch_id=batch_id, rows=rows)
            self._enqueue(db, _METER, batch, spool_rows=len(rowids))
            db.executemany("DELETE FROM pending WHERE rowid = ?", [(rowid,) for rowid in rowids])
        return OutgoingBatch(batch_id, batch)

    def take_log_batch(self) -> OutgoingBatch | None:
        """:meth:`take_batch` for metadata log records (oldest first)."""
        with self._lock, self._transaction() as db:
            waiting = db.execute(
                "SELECT batch_id, body FROM outbox WHERE parked_reason IS NULL AND kind = ? "
                "AND deployment = ? ORDER BY seq LIMIT 1",
                (_LOGS, self.deployment),
            ).fetchone()
            if waiting is not None:
                return OutgoingBatch(waiting[0], LogBatch.model_validate_json(waiting[1]))
            found = db.execute(
                "SELECT seq, body FROM log_pending WHERE deployment = ? ORDER BY seq LIMIT ?",
                (self.deployment, _BATCH_MAX_ROWS),
            ).fetchall()
            if not found:
                return None
            records: list[LogRecord] = []
            for _, body in found:
                try:
                    records.append(LogRecord.model_validate_json(body))
                except ValidationError as exc:
                    log.error("a metadata log record does not fit the wire schema and is set aside")
                    db.execute("INSERT INTO rejected (row, reason) VALUES (?, ?)", (body, str(exc)))
            db.execute(
                "DELETE FROM log_pending WHERE seq <= ? AND deployment = ?", (found[-1][0], self.deployment)
            )
            self._logs -= len(found) - len(records)
            if not records:
                return None
            batch_id = str(uuid.uuid4())
            batch = LogBatch(batch_id=batch_id, records=records)
            self._enqueue(db, _LOGS, batch, spool_rows=len(records))
        return OutgoingBatch(batch_id, batch)

    def _reject(
        self, db: sqlite3.Connection, rowid: int, values: dict[str, Any], error: ValidationError
    ) -> None:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        log.error("a meter spool row does not fit the wire schema and is set aside: %s", reasons)
        db.execute(
            "INSERT INTO rejected (row, reason) VALUES (?, ?)", (orjson.dumps(values).decode(), reasons)
        )
        db.execute("DELETE FROM pending WHERE rowid = ?", (rowid,))
        self._rows -= 1

    def acknowledge(self, batch_id: str) -> None:
        """The control plane counted this batch: forget it."""
        with self._lock, self._transaction() as db:
            found = db.execute(
                "SELECT kind, spool_rows FROM outbox WHERE batch_id = ? AND deployment = ?",
                (batch_id, self.deployment),
            ).fetchone()
            if found is None:
                return
            db.execute("DELETE FROM outbox WHERE batch_id = ?", (batch_id,))
            if found[0] == _LOGS:
                self._logs -= int(found[1])
                self._is_log_full_logged = False
            else:
                self._rows -= int(found[1])
                self._is_full_logged = False

    def park(self, batch_id: str, reason: str) -> None:
        """Stop sending a batch the control plane refused as such (kept, and retried once at the
        next start by :meth:`unpark_all`)."""
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET parked_reason = ? WHERE batch_id = ? AND deployment = ?",
                (reason, batch_id, self.deployment),
            )

    def set_aside(self, batch_id: str, refused: frozenset[int], reason: str) -> bool:
        """Split a batch the control plane refused for some of its entries (``refused``: their
        indices): those are parked in a batch of their own, the others go into a new batch to
        be sent, in one transaction. The refused batch was counted nowhere (the control plane
        acknowledges a batch it already counted as a duplicate before it checks the values), so
        fresh batch ids count nothing twice. False, and nothing changed, when ``refused`` names
        no entry of the batch or all of them (park it whole then)."""
        with self._lock, self._transaction() as db:
            found = db.execute(
                "SELECT kind, body, spool_rows FROM outbox WHERE batch_id = ? AND deployment = ?",
                (batch_id, self.deployment),
            ).fetchone()
            if found is None:
                return False
            kind, body, spool_rows = found[0], found[1], int(found[2])
            batch: MeterBatch | LogBatch = (
                MeterBatch.model_validate_json(body) if kind == _METER else LogBatch.model_validate_json(body)
            )
            entries: list[Any] = list(batch.rows if isinstance(batch, MeterBatch) else batch.records)
            bad = [entry for index, entry in enumerate(entries) if index in refused]
            good = [entry for index, entry in enumerate(entries) if index not in refused]
            if not bad or not good:
                return False
            # Spool rows (what the bound counts) follow the entries; their sum is unchanged.
            bad_rows = min(spool_rows, max(1, round(spool_rows * len(bad) / len(entries))))
            db.execute("DELETE FROM outbox WHERE batch_id = ?", (batch_id,))
            for part, rows, parked in ((bad, bad_rows, reason), (good, spool_rows - bad_rows, None)):
                part_id = str(uuid.uuid4())
                part_batch = (
                    MeterBatch(batch_id=part_id, rows=part)
                    if kind == _METER
                    else LogBatch(batch_id=part_id, records=part)
                )
                self._enqueue(db, kind, part_batch, spool_rows=rows, parked_reason=parked)
        return True

    def _enqueue(
        self,
        db: sqlite3.Connection,
        kind: str,
        batch: MeterBatch | LogBatch,
        *,
        spool_rows: int,
        parked_reason: str | None = None,
    ) -> None:
        """Put ``batch`` in the outbox (to be sent, or parked with ``parked_reason``), holding
        ``spool_rows`` of the bound."""
        db.execute(
            "INSERT INTO outbox (deployment, kind, batch_id, body, spool_rows, parked_reason) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (self.deployment, kind, batch.batch_id, batch.model_dump_json(), spool_rows, parked_reason),
        )

    def unpark_all(self) -> int:
        """Make parked batches sendable again; returns how many there were."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE outbox SET parked_reason = NULL WHERE parked_reason IS NOT NULL AND deployment = ?",
                (self.deployment,),
            )
            return cursor.rowcount

    # -- reading ---------------------------------------------------------------------------------
    def backlog(self) -> Backlog:
        """What the spool holds now (all zeros once closed: a late scrape must not fail)."""
        with self._lock:
            if self._is_closed:
                return Backlog(pending_rows=0, batched_rows=0, parked_rows=0, refused_requests=0)
            pending = self._db.execute(
                "SELECT count(*) FROM pending WHERE deployment = ?", (self.deployment,)
            ).fetchone()[0]
            batched, parked = self._db.execute(
                "SELECT coalesce(sum(CASE WHEN parked_reason IS NULL THEN spool_rows END), 0), "
                "coalesce(sum(CASE WHEN parked_reason IS NOT NULL THEN spool_rows END), 0) "
                "FROM outbox WHERE kind = ? AND deployment = ?",
                (_METER, self.deployment),
            ).fetchone()
            counters = dict(self._db.execute("SELECT name, value FROM meta").fetchall())
            rejected = self._db.execute("SELECT count(*) FROM rejected").fetchone()[0]
            logs = self._logs
            held = self._rows - int(pending) - int(batched) - int(parked)
        return Backlog(
            pending_rows=int(pending),
            batched_rows=int(batched),
            parked_rows=int(parked),
            refused_requests=int(counters.get(_REFUSED, 0)),
            rejected_rows=int(rejected),
            log_records=logs,
            refused_log_records=int(counters.get(_REFUSED_LOGS, 0)),
            other_deployments_rows=held,
        )

    @property
    def rows(self) -> int:
        """Rows held (pending and in unacknowledged batches), as counted against ``max_rows``."""
        return self._rows


__all__ = [
    "LOCAL_DEPLOYMENT",
    "Backlog",
    "OutgoingBatch",
    "Spool",
    "SpoolLockedError",
    "deployment_fingerprint",
]
