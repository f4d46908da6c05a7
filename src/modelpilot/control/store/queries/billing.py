"""Usage sums over an account's aggregates (for the dashboard and billing), and invoices."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, case, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from modelpilot.control.store.tables import (
    Account,
    Deployment,
    Invoice,
    InvoiceLine,
    UsageAggregate,
    usage_columns,
)
from modelpilot.schema.bucket import COUNTERS

#: Sums over a bucket's counters besides the counters' own: requests routed, requests escalated,
#: and shadow mode's "would have saved".
DERIVED_SUMS = ("routed_requests", "escalated_requests", "would_save_micros")
#: The sums every usage query returns, in this order, after its group-by columns.
SUM_NAMES = COUNTERS + DERIVED_SUMS


def _total(value: Any) -> ColumnElement[Any]:
    return func.coalesce(func.sum(value), 0)


def _sums() -> list[ColumnElement[Any]]:
    u = usage_columns
    return [
        *(_total(u[name]) for name in COUNTERS),
        _total(case((u.routed, u.requests), else_=0)),
        _total(case((u.escalated, u.requests), else_=0)),
        # Shadow "would have saved", estimated per bucket: its mean actual cost per request times
        # the shadow requests, minus their shadow cost (divided first: no BIGINT overflow).
        _total(
            case(
                (
                    and_(u.shadow_requests > 0, u.requests > 0),
                    u.actual_cost_micros // u.requests * u.shadow_requests - u.shadow_cost_micros,
                ),
                else_=0,
            )
        ),
    ]


@dataclass(frozen=True, slots=True)
class UsageScope:
    """Which aggregates a query sums: one account's, optionally one of its deployments, over
    ``[start, end)`` by aggregate hour."""

    account_id: uuid.UUID
    start: datetime
    end: datetime
    deployment_id: uuid.UUID | None = None


def sum_usage(
    session: Session, scope: UsageScope, *, group_by: Sequence[InstrumentedAttribute[Any]]
) -> Sequence[Row[Any]]:
    """Rows of (*group_by, *SUM_NAMES) over the scope, ordered by the group-by columns."""
    u = UsageAggregate
    statement = (
        select(*group_by, *_sums())
        .join(Deployment, Deployment.id == u.deployment_id)
        .where(Deployment.account_id == scope.account_id, u.hour >= scope.start, u.hour < scope.end)
        .group_by(*group_by)
        .order_by(*group_by)
    )
    if scope.deployment_id is not None:
        statement = statement.where(u.deployment_id == scope.deployment_id)
    return session.execute(statement).all()


def usage_page(
    session: Session,
    *,
    deployment_id: uuid.UUID,
    start: datetime | None,
    end: datetime | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> Sequence[UsageAggregate]:
    """One page of a deployment's aggregate rows by (hour, id), resuming after ``after``."""
    u = UsageAggregate
    statement = select(u).where(u.deployment_id == deployment_id)
    if start is not None:
        statement = statement.where(u.hour >= start)
    if end is not None:
        statement = statement.where(u.hour < end)
    if after is not None:
        statement = statement.where(or_(u.hour > after[0], and_(u.hour == after[0], u.id > after[1])))
    return session.scalars(statement.order_by(u.hour, u.id).limit(limit)).all()


def get_account(session: Session, *, account_id: uuid.UUID) -> Account | None:
    return session.get(Account, account_id)


def accounts_with_usage(session: Session, *, start: datetime, end: datetime) -> Sequence[uuid.UUID]:
    """Accounts that have any aggregate in ``[start, end)``."""
    return session.scalars(
        select(Deployment.account_id)
        .join(UsageAggregate, UsageAggregate.deployment_id == Deployment.id)
        .where(UsageAggregate.hour >= start, UsageAggregate.hour < end)
        .distinct()
        .order_by(Deployment.account_id)
    ).all()


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def insert_invoice_once(session: Session, *, values: dict[str, Any]) -> bool:
    """Insert an invoice row unless (account, month) already has one; True when this call did.
    Safe when replicas race: the unique constraint decides, nobody fails."""
    statement = (
        _insert(session)(Invoice)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["account_id", "month"])
        .returning(Invoice.id)
    )
    return session.execute(statement).first() is not None


def add_invoice_lines(session: Session, *, lines: Sequence[InvoiceLine]) -> None:
    session.add_all(list(lines))


def find_invoice(session: Session, *, account_id: uuid.UUID, invoice_id: uuid.UUID) -> Invoice | None:
    return session.scalar(select(Invoice).where(Invoice.id == invoice_id, Invoice.account_id == account_id))


def find_invoice_for_month(session: Session, *, account_id: uuid.UUID, month: str) -> Invoice | None:
    return session.scalar(select(Invoice).where(Invoice.account_id == account_id, Invoice.month == month))


def list_invoices(session: Session, *, account_id: uuid.UUID) -> Sequence[Invoice]:
    return session.scalars(
        select(Invoice).where(Invoice.account_id == account_id).order_by(Invoice.month.desc())
    ).all()


def list_invoice_lines(session: Session, *, invoice_id: uuid.UUID) -> Sequence[InvoiceLine]:
    return session.scalars(
        select(InvoiceLine)
        .where(InvoiceLine.invoice_id == invoice_id)
        .order_by(InvoiceLine.deployment_name, InvoiceLine.id)
    ).all()
