"""The purge job: what the control plane stops keeping, and when.

- metadata log records: after their deployment's ``log_retention_days`` (capped at the control
  plane's ``max_log_retention_days``). Turning logs off stops new records being stored; the ones
  already stored age out on the same schedule;
- ingested batch ids: after ``BATCH_ID_RETENTION`` (30 days), far longer than a proxy retries a
  batch, so redelivered batches are still recognised;
- status probes: after ``STATUS_PROBE_RETENTION`` (90 days, what the status page shows).

Every delete is by age alone, so any number of replicas may run the purge at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from modelpilot.control.settings import ControlSettings
from modelpilot.control.store.queries import ingestion as queries

BATCH_ID_RETENTION = timedelta(days=30)
STATUS_PROBE_RETENTION = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """How many rows one purge deleted, per table."""

    log_records: int
    ingested_batches: int
    status_probes: int


def purge(db: Session, settings: ControlSettings, *, now: datetime) -> PurgeResult:
    """Delete everything past its retention (committed) and say how much went."""
    logs = 0
    for days in queries.retention_periods(db):
        kept_days = min(max(days, 1), settings.max_log_retention_days)
        logs += queries.delete_log_records_before(
            db, retention_days=days, cutoff=now - timedelta(days=kept_days)
        )
    batches = queries.delete_ingested_batches_before(db, cutoff=now - BATCH_ID_RETENTION)
    probes = queries.delete_status_probes_before(db, cutoff=now - STATUS_PROBE_RETENTION)
    db.commit()
    return PurgeResult(log_records=logs, ingested_batches=batches, status_probes=probes)
