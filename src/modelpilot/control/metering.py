"""Ingesting meter, telemetry and log batches: each idempotent on its batch id per deployment.

Before anything is stored, :func:`check_meter_batch`, :func:`check_log_batch` and
:func:`check_telemetry_batch` hold every value to a closed vocabulary (docs/privacy.md): model ids
from the catalog (or ``unknown``), hours, timestamps and telemetry windows within a window around
now, decision ids this server issued to the deployment. The wire schema has already bounded the
counters. A batch outside it is refused whole
(:class:`~modelpilot.control.errors.InvalidRequestError`, HTTP 422) naming the path of every
value refused, never the value. A batch already counted is acknowledged as a duplicate before its
values are checked: a redelivery of what was accepted is never refused because the window moved
on since (and a proxy that splits a refused batch can be sure nothing of it was counted).
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy.orm import Session

from modelpilot.control.decision_ids import is_issued
from modelpilot.control.errors import InvalidRequestError, ProblemDetail
from modelpilot.control.store.queries import ingestion as queries
from modelpilot.control.store.queries.ingestion import UsageDelta
from modelpilot.control.store.tables import Deployment
from modelpilot.control.store.tables import LogRecord as LogRow
from modelpilot.schema.bucket import BUCKET_KEY, COUNTERS
from modelpilot.schema.catalog import Catalog
from modelpilot.schema.wire import UNKNOWN_MODEL, IngestAck, LogBatch, MeterBatch, MeterRow, TelemetryBatch

#: How far back a meter hour may be: a proxy's backlog after a long outage (its spool keeps
#: everything) still counts; anything older is not a plausible hour of usage.
METER_HOURS_BACK = timedelta(days=62)
#: How far ahead of the server's clock an hour or timestamp may be (clock skew).
AHEAD = timedelta(hours=1)


def _is_vocabulary_model(model_id: str, catalog: Catalog) -> bool:
    return model_id == UNKNOWN_MODEL or model_id in catalog


def _refuse(problems: list[ProblemDetail]) -> None:
    if problems:
        raise InvalidRequestError(
            "the batch holds values outside the closed vocabulary; nothing was stored",
            # Every problem, not the first few: a proxy parks exactly the entries named and
            # sends the rest (bounded by the batch size: a few checks per row or record).
            errors=tuple(problems),
        )


def check_meter_batch(batch: MeterBatch, *, catalog: Catalog, now: datetime) -> None:
    """Refuse (InvalidRequestError) a meter batch with a model id outside the catalog or an hour
    outside ``[now - METER_HOURS_BACK, now + AHEAD]``."""
    problems: list[ProblemDetail] = []
    for index, row in enumerate(batch.rows):
        for name in ("requested_model", "served_model"):
            if not _is_vocabulary_model(getattr(row, name), catalog):
                problems.append(ProblemDetail(f"$.rows[{index}].{name}", "not a catalog model id"))
        if not now - METER_HOURS_BACK <= row.hour <= now + AHEAD:
            problems.append(ProblemDetail(f"$.rows[{index}].hour", "outside the accepted window"))
    _refuse(problems)


def check_telemetry_batch(batch: TelemetryBatch, *, now: datetime) -> None:
    """Refuse (InvalidRequestError) a telemetry window starting outside
    ``[now - METER_HOURS_BACK, now + AHEAD]`` or ending after ``now + AHEAD``: like a meter hour,
    a window is a time near now (a proxy resends an undelivered window until it is accepted),
    never a date chosen from centuries of them."""
    problems: list[ProblemDetail] = []
    if not now - METER_HOURS_BACK <= batch.window_start <= now + AHEAD:
        problems.append(ProblemDetail("$.window_start", "outside the accepted window"))
    elif batch.window_start + timedelta(seconds=batch.window_s) > now + AHEAD:
        problems.append(ProblemDetail("$.window_s", "the window ends after the accepted window"))
    _refuse(problems)


def check_log_batch(
    batch: LogBatch,
    *,
    catalog: Catalog,
    now: datetime,
    retention_days: int,
    deployment_id: uuid.UUID,
    secrets: Sequence[str],
) -> None:
    """Refuse (InvalidRequestError) a log batch with a model id outside the catalog, a timestamp
    outside ``[now - retention_days, now + AHEAD]`` (older would be purged at once), or a
    decision id this server did not issue to ``deployment_id``."""
    problems: list[ProblemDetail] = []
    oldest = now - timedelta(days=max(retention_days, 1))
    for index, record in enumerate(batch.records):
        for name in ("requested_model", "served_model"):
            if not _is_vocabulary_model(getattr(record, name), catalog):
                problems.append(ProblemDetail(f"$.records[{index}].{name}", "not a catalog model id"))
        if not oldest <= record.ts <= now + AHEAD:
            problems.append(ProblemDetail(f"$.records[{index}].ts", "outside the accepted window"))
        if record.decision_id is not None and not is_issued(record.decision_id, secrets, deployment_id):
            problems.append(ProblemDetail(f"$.records[{index}].decision_id", "not issued to this deployment"))
    _refuse(problems)


def _stored(value: object) -> object:
    return value.value if isinstance(value, Enum) else value


def _merge(rows: list[MeterRow]) -> list[UsageDelta]:
    # Rows of one batch that share a bucket are summed first: one upsert per bucket.
    sums: dict[tuple[object, ...], Counter[str]] = defaultdict(Counter)
    for row in rows:
        key = tuple(_stored(getattr(row, name)) for name in BUCKET_KEY)
        counters = {name: getattr(row, name) for name in COUNTERS}
        counters["acceptable"] = min(row.acceptable, row.judged)  # no share ever passes 100 %
        sums[key].update(counters)
    return [
        UsageDelta(bucket=dict(zip(BUCKET_KEY, key, strict=True)), counters=dict(counters))
        for key, counters in sums.items()
    ]


def _claim(
    session: Session,
    *,
    deployment: Deployment,
    kind: str,
    batch_id: str,
    now: datetime,
    check: Callable[[], None],
) -> bool:
    """Claim a batch for ingestion (False: it was counted before), then hold a new one to the
    closed vocabulary (``check`` raises InvalidRequestError; the claim is then rolled back)."""
    if not queries.claim_batch(session, deployment_id=deployment.id, kind=kind, batch_id=batch_id, now=now):
        session.rollback()
        return False
    try:
        check()
    except InvalidRequestError:
        session.rollback()
        raise
    return True


def ingest_meter(
    session: Session, *, deployment: Deployment, batch: MeterBatch, now: datetime, check: Callable[[], None]
) -> IngestAck:
    """Add a meter batch to the usage aggregates, once (committed). Verdict counters
    (``judged``, ``acceptable``) and calibration spend are summed like every other counter;
    calibration spend is kept apart from actual and baseline cost. A row claiming more
    acceptable verdicts than verdicts (no proxy sends one; the wire schema cannot say so) counts
    ``acceptable`` = ``judged``, so no share ever passes 100 %."""
    if not _claim(
        session, deployment=deployment, kind="meter", batch_id=batch.batch_id, now=now, check=check
    ):
        return IngestAck(batch_id=batch.batch_id, accepted=0, duplicate=True)
    queries.add_usage(session, deployment_id=deployment.id, deltas=_merge(list(batch.rows)))
    session.commit()
    return IngestAck(batch_id=batch.batch_id, accepted=len(batch.rows), duplicate=False)


def ingest_telemetry(
    session: Session,
    *,
    deployment: Deployment,
    batch: TelemetryBatch,
    now: datetime,
    check: Callable[[], None],
) -> IngestAck:
    """Store a telemetry window, once (committed)."""
    if not _claim(
        session, deployment=deployment, kind="telemetry", batch_id=batch.batch_id, now=now, check=check
    ):
        return IngestAck(batch_id=batch.batch_id, accepted=0, duplicate=True)
    queries.add_telemetry(
        session,
        deployment_id=deployment.id,
        window_start=batch.window_start,
        window_s=batch.window_s,
        counters=batch.counters.model_dump(),
        route_latency=batch.route_latency.model_dump(),
    )
    session.commit()
    return IngestAck(batch_id=batch.batch_id, accepted=1, duplicate=False)


def ingest_logs(
    session: Session, *, deployment: Deployment, batch: LogBatch, now: datetime, check: Callable[[], None]
) -> IngestAck:
    """Store opt-in metadata log records, once (committed).

    Logs are off by default: unless the deployment has ``metadata_logs`` on, the batch is
    acknowledged (``accepted=0``, not a duplicate) and nothing is stored or claimed. It is an
    acknowledgement rather than an error so the proxy drops the batch instead of retrying it;
    records sent while logs were off are never stored later.
    """
    if not deployment.metadata_logs:
        check()
        return IngestAck(batch_id=batch.batch_id, accepted=0, duplicate=False)
    if not _claim(session, deployment=deployment, kind="logs", batch_id=batch.batch_id, now=now, check=check):
        return IngestAck(batch_id=batch.batch_id, accepted=0, duplicate=True)
    queries.add_log_records(
        session,
        records=(
            LogRow(
                deployment_id=deployment.id,
                **record.model_dump(exclude={"category", "decision_reason", "escalation_reason"}),
                category=record.category.value,
                decision_reason=record.decision_reason.value if record.decision_reason else None,
                escalation_reason=record.escalation_reason.value if record.escalation_reason else None,
            )
            for record in batch.records
        ),
    )
    session.commit()
    return IngestAck(batch_id=batch.batch_id, accepted=len(batch.records), duplicate=False)
