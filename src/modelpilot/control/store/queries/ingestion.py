"""Ingested batches, usage aggregates, telemetry reports and metadata log records."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from modelpilot.control.store.tables import (
    Deployment,
    IngestedBatch,
    LogRecord,
    StatusProbe,
    TelemetryReport,
    UsageAggregate,
    usage_columns,
)
from modelpilot.schema.bucket import BUCKET_KEY, COUNTERS

BIGINT_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class UsageDelta:
    """Usage to add to one aggregate bucket: its key (every field of
    :data:`~modelpilot.schema.bucket.BUCKET_KEY`, by name) and counters by name (those left out
    add zero)."""

    bucket: Mapping[str, Any]
    counters: Mapping[str, int]


def claim_batch(
    session: Session, *, deployment_id: uuid.UUID, kind: str, batch_id: str, now: datetime
) -> bool:
    """Record that this batch is being ingested; False if it already was (on any replica).

    The unique constraint decides (``INSERT ... ON CONFLICT DO NOTHING``), so two concurrent
    deliveries of one batch count once: the second waits for the first and inserts nothing.
    """
    statement = (
        _insert(session)(IngestedBatch)
        .values(deployment_id=deployment_id, kind=kind, batch_id=batch_id, received_at=now)
        .on_conflict_do_nothing(index_elements=["deployment_id", "kind", "batch_id"])
        .returning(IngestedBatch.id)
    )
    return session.execute(statement).first() is not None


def _insert(session: Session) -> Any:
    # The only dialect branch: both dialects spell upserts the same way, from different modules.
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def add_usage(session: Session, *, deployment_id: uuid.UUID, deltas: Iterable[UsageDelta]) -> None:
    """Add each delta to its bucket (insert, or add to the existing row)."""
    insert = _insert(session)
    for delta in deltas:
        counters = {name: delta.counters.get(name, 0) for name in COUNTERS}
        statement = insert(UsageAggregate).values(
            deployment_id=deployment_id, **{name: delta.bucket[name] for name in BUCKET_KEY}, **counters
        )
        statement = statement.on_conflict_do_update(
            index_elements=["deployment_id", *BUCKET_KEY],
            set_={name: _saturating_sum(usage_columns[name], statement.excluded[name]) for name in COUNTERS},
        )
        session.execute(statement)


def _saturating_sum(stored: Any, added: Any) -> Any:
    # BIGINT overflow would be a database error (a 500) on both backends; a bucket that reaches
    # 2**63-1 (9.2 trillion dollars in micros) stays there instead.
    return case((stored > BIGINT_MAX - added, BIGINT_MAX), else_=stored + added)


def list_usage(session: Session, *, deployment_id: uuid.UUID, limit: int = 1000) -> Sequence[UsageAggregate]:
    return session.scalars(
        select(UsageAggregate)
        .where(UsageAggregate.deployment_id == deployment_id)
        .order_by(UsageAggregate.hour.desc(), UsageAggregate.id)
        .limit(limit)
    ).all()


def add_telemetry(
    session: Session,
    *,
    deployment_id: uuid.UUID,
    window_start: datetime,
    window_s: int,
    counters: dict[str, int],
    route_latency: dict[str, int],
) -> None:
    session.add(
        TelemetryReport(
            deployment_id=deployment_id,
            window_start=window_start,
            window_s=window_s,
            counters=counters,
            route_latency=route_latency,
        )
    )


def list_telemetry(
    session: Session, *, deployment_id: uuid.UUID, limit: int = 100
) -> Sequence[TelemetryReport]:
    return session.scalars(
        select(TelemetryReport)
        .where(TelemetryReport.deployment_id == deployment_id)
        .order_by(TelemetryReport.window_start.desc(), TelemetryReport.id)
        .limit(limit)
    ).all()


def add_log_records(session: Session, *, records: Iterable[LogRecord]) -> None:
    session.add_all(list(records))


def list_log_records(session: Session, *, deployment_id: uuid.UUID, limit: int = 100) -> Sequence[LogRecord]:
    return session.scalars(
        select(LogRecord)
        .where(LogRecord.deployment_id == deployment_id)
        .order_by(LogRecord.ts.desc(), LogRecord.id)
        .limit(limit)
    ).all()


def log_page(
    session: Session,
    *,
    deployment_id: uuid.UUID,
    start: datetime | None,
    end: datetime | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> Sequence[LogRecord]:
    """One page of a deployment's log records by (ts, id), resuming after ``after``."""
    statement = select(LogRecord).where(LogRecord.deployment_id == deployment_id)
    if start is not None:
        statement = statement.where(LogRecord.ts >= start)
    if end is not None:
        statement = statement.where(LogRecord.ts < end)
    if after is not None:
        statement = statement.where(
            or_(LogRecord.ts > after[0], and_(LogRecord.ts == after[0], LogRecord.id > after[1]))
        )
    return session.scalars(statement.order_by(LogRecord.ts, LogRecord.id).limit(limit)).all()


def delete_log_records_before(session: Session, *, retention_days: int, cutoff: datetime) -> int:
    """Delete log records older than ``cutoff`` of the deployments keeping ``retention_days``."""
    keeping = select(Deployment.id).where(Deployment.log_retention_days == retention_days)
    result = session.execute(
        delete(LogRecord).where(LogRecord.deployment_id.in_(keeping), LogRecord.ts < cutoff)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def retention_periods(session: Session) -> Sequence[int]:
    """The distinct log retention periods (days) deployments use."""
    return session.scalars(select(Deployment.log_retention_days).distinct()).all()


def delete_ingested_batches_before(session: Session, *, cutoff: datetime) -> int:
    result = session.execute(delete(IngestedBatch).where(IngestedBatch.received_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


def delete_status_probes_before(session: Session, *, cutoff: datetime) -> int:
    result = session.execute(delete(StatusProbe).where(StatusProbe.checked_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
