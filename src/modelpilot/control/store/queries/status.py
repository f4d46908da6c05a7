"""Status probes (per component, per day) and the incidents admins post."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from modelpilot.control.store.tables import Incident, StatusProbe


@dataclass(frozen=True, slots=True)
class DailyProbes:
    """How many probes of one component ran on one UTC day, and how many were ok."""

    component: str
    day: str  # YYYY-MM-DD (UTC)
    probes: int
    ok: int


def add_probes(session: Session, probes: Sequence[StatusProbe]) -> None:
    session.add_all(probes)
    session.flush()


def latest_probe(session: Session, *, component: str) -> StatusProbe | None:
    """The most recent probe of ``component`` (an index seek on (component, checked_at))."""
    return session.scalar(
        select(StatusProbe)
        .where(StatusProbe.component == component)
        .order_by(StatusProbe.checked_at.desc())
        .limit(1)
    )


def _utc_day(session: Session) -> ColumnElement[str]:
    # The one dialect branch: PostgreSQL keeps a timestamptz whose rendering follows the
    # connection's time zone, so it is converted to UTC first; SQLite keeps UTC as ISO text
    # ("YYYY-MM-DD HH:MM:SS..."), whose first ten characters are the day (cheaper than strftime).
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", StatusProbe.checked_at), "YYYY-MM-DD")
    return func.substr(StatusProbe.checked_at, 1, 10)


def daily_probes(session: Session, *, component: str, since: datetime, until: datetime) -> list[DailyProbes]:
    """Probe counts of one component per UTC day for ``since <= checked_at < until`` (a range
    scan of the (component, checked_at) index)."""
    day = _utc_day(session).label("day")
    rows = session.execute(
        select(
            day,
            func.count().label("probes"),
            func.sum(case((StatusProbe.ok, 1), else_=0)).label("ok"),
        )
        .where(
            StatusProbe.component == component,
            StatusProbe.checked_at >= since,
            StatusProbe.checked_at < until,
        )
        .group_by(day)
    )
    return [DailyProbes(component, row.day, int(row.probes), int(row.ok or 0)) for row in rows]


def add_incident(
    session: Session,
    *,
    title: str,
    body: str,
    severity: str,
    components: list[str],
    now: datetime,
    created_by: uuid.UUID | None,
) -> Incident:
    incident = Incident(
        title=title,
        body=body,
        severity=severity,
        components=components,
        started_at=now,
        updated_at=now,
        created_by=created_by,
    )
    session.add(incident)
    session.flush()
    return incident


def get_incident(session: Session, *, incident_id: uuid.UUID) -> Incident | None:
    return session.get(Incident, incident_id)


def open_incidents(session: Session) -> list[Incident]:
    """Unresolved incidents, newest first."""
    return list(
        session.scalars(
            select(Incident).where(Incident.resolved_at.is_(None)).order_by(Incident.started_at.desc())
        )
    )


def resolved_incidents(session: Session, *, since: datetime) -> list[Incident]:
    """Incidents resolved at or after ``since``, most recently resolved first."""
    return list(
        session.scalars(
            select(Incident)
            .where(Incident.resolved_at.is_not(None), Incident.resolved_at >= since)
            .order_by(Incident.resolved_at.desc())
        )
    )
