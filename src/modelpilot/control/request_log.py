"""The opt-in metadata request log as the console browses it: filters and pagination over one
deployment's records (the caller checked that the account owns the deployment)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from modelpilot.control.store.tables import LogRecord

PAGE_SIZE = 50
MAX_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class LogFilters:
    """What the person filtered by; None (or empty) means "any"."""

    category: str | None = None
    served_model: str | None = None
    routed: bool | None = None
    escalated: bool | None = None
    errors_only: bool = False
    since: date | None = None
    until: date | None = None

    def apply(self, query: Select[LogRecord]) -> Select[LogRecord]:
        if self.category:
            query = query.where(LogRecord.category == self.category)
        if self.served_model:
            query = query.where(LogRecord.served_model == self.served_model)
        if self.routed is not None:
            query = query.where(LogRecord.routed.is_(self.routed))
        if self.escalated is not None:
            query = query.where(LogRecord.escalated.is_(self.escalated))
        if self.errors_only:
            query = query.where(LogRecord.status >= 400)
        if self.since is not None:
            query = query.where(LogRecord.ts >= _midnight(self.since))
        if self.until is not None:
            query = query.where(LogRecord.ts < _midnight(self.until) + timedelta(days=1))
        return query


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class LogPage:
    records: Sequence[LogRecord]
    page: int
    has_next: bool


def search_logs(session: Session, *, deployment_id: uuid.UUID, filters: LogFilters, page: int) -> LogPage:
    """One page (1-based, newest first) of the deployment's records that match ``filters``."""
    page = min(max(page, 1), MAX_PAGE)
    query = filters.apply(select(LogRecord).where(LogRecord.deployment_id == deployment_id))
    rows = session.scalars(
        query.order_by(LogRecord.ts.desc(), LogRecord.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    ).all()
    return LogPage(records=rows[:PAGE_SIZE], page=page, has_next=len(rows) > PAGE_SIZE)
