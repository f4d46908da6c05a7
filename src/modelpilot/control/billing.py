"""Billing: per account and UTC month, what routing saved and ModelPilot's fee.

Per deployment and per account: requests, gross baseline cost, actual cost, net savings
(baseline - actual, negative when escalations paid twice) and the fee. The fee is computed once
per account: ``fee_share_bps / 10000 x max(0, account net savings)``, rounded down to the micro
(never billing a fraction the customer did not save). It is then split over the deployment lines
in proportion to each line's positive net savings by largest remainder, so the lines add up to
the account fee exactly. A deployment that lost money carries no fee; its loss still lowers the
account's net savings.

The current month is computed live from the usage aggregates. A closed month is billed by an
:class:`~modelpilot.control.store.tables.Invoice`, issued once per (account, month): replicas that
race insert-or-do-nothing on the unique constraint, so exactly one invoice and one set of lines
exist. Shadow savings ("would have saved") are reported next to the bill, never billed.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from modelpilot.control.errors import InvalidRequestError, NotFoundError
from modelpilot.control.settings import ControlSettings
from modelpilot.control.store.queries import billing as queries
from modelpilot.control.store.queries import deployments as deployment_queries
from modelpilot.control.store.queries.billing import UsageScope
from modelpilot.control.store.tables import Invoice, InvoiceLine, UsageAggregate
from modelpilot.control.usage import UsageTotals, totals_of

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
#: A closed month is invoiced only this long after it ends, so usage a proxy spooled while the
#: control plane was unreachable can still arrive. Usage metered later stays in the aggregates
#: (and the dashboard) but not on the issued invoice.
INVOICE_GRACE = timedelta(hours=24)
#: How many closed months back the invoicing job looks for a missing invoice.
INVOICE_LOOKBACK_MONTHS = 3


def month_of(moment: datetime) -> str:
    """``YYYY-MM`` of the UTC month ``moment`` falls in."""
    return moment.astimezone(UTC).strftime("%Y-%m")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """``[start, end)`` of a ``YYYY-MM`` UTC month; ``InvalidRequestError`` if malformed."""
    match = _MONTH.match(month)
    if match is None:
        raise InvalidRequestError("month must be YYYY-MM")
    year, number = int(match.group(1)), int(match.group(2))
    if not 1 <= year < 9999:
        raise InvalidRequestError("month is out of range")
    start = datetime(year, number, 1, tzinfo=UTC)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    return start, end


def previous_month(month: str) -> str:
    start, _ = month_bounds(month)
    return month_of(start - timedelta(days=1))


def fee_for(net_savings_micros: int, fee_share_bps: int) -> int:
    """The fee on net savings: a share of the positive part, rounded down to the micro."""
    return max(0, net_savings_micros) * fee_share_bps // 10_000


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` over ``weights`` (non-negative) by largest remainder: each share is the
    floor of its exact quota, and the leftover units go to the largest fractional parts (ties to
    the earliest). The shares always sum to ``total`` (all zero when every weight is zero)."""
    weight_sum = sum(weights)
    if total == 0 or weight_sum == 0:
        return [0] * len(weights)
    shares = [total * w // weight_sum for w in weights]
    remainders = [total * w % weight_sum for w in weights]
    leftover = total - sum(shares)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:leftover]:
        shares[index] += 1
    return shares


@dataclass(frozen=True, slots=True)
class BillLine:
    """One deployment's part of a month's bill."""

    deployment_id: uuid.UUID | None
    deployment_name: str
    usage: UsageTotals
    fee_micros: int

    @property
    def net_savings_micros(self) -> int:
        return self.usage.savings_micros


@dataclass(frozen=True, slots=True)
class Bill:
    """One account's month: totals, fee and lines (live, or as an issued invoice says)."""

    account_id: uuid.UUID
    month: str
    fee_share_bps: int
    usage: UsageTotals
    fee_micros: int
    lines: list[BillLine]
    invoice_id: uuid.UUID | None = None
    issued_at: datetime | None = None

    @property
    def net_savings_micros(self) -> int:
        return self.usage.savings_micros


def fee_share_of(db: Session, settings: ControlSettings, *, account_id: uuid.UUID) -> int:
    """The account's fee share in basis points (its own, else the control plane's default)."""
    account = queries.get_account(db, account_id=account_id)
    if account is None:
        raise NotFoundError("no such account")
    return settings.fee_share_bps if account.fee_share_bps is None else account.fee_share_bps


def compute_bill(
    db: Session, settings: ControlSettings, *, account_id: uuid.UUID, month: str, include_idle: bool = True
) -> Bill:
    """The account's bill for ``month`` computed live from the aggregates. ``include_idle`` adds
    a zero line for each deployment without usage that month (the console wants them)."""
    start, end = month_bounds(month)
    share = fee_share_of(db, settings, account_id=account_id)
    scope = UsageScope(account_id=account_id, start=start, end=end)
    by_deployment = {
        row[0]: totals_of(tuple(row)[1:])
        for row in queries.sum_usage(db, scope, group_by=[UsageAggregate.deployment_id])
    }
    owned = deployment_queries.list_deployments(db, account_id=account_id)
    named = [
        (d.id, d.name, by_deployment.get(d.id, UsageTotals()))
        for d in owned
        if include_idle or d.id in by_deployment
    ]
    total = UsageTotals()
    for _, _, usage in named:
        total = total + usage
    fee = fee_for(total.savings_micros, share)
    fees = allocate(fee, [max(0, usage.savings_micros) for _, _, usage in named])
    lines = [
        BillLine(deployment_id=d, deployment_name=name, usage=usage, fee_micros=line_fee)
        for (d, name, usage), line_fee in zip(named, fees, strict=True)
    ]
    return Bill(
        account_id=account_id, month=month, fee_share_bps=share, usage=total, fee_micros=fee, lines=lines
    )


def is_invoiceable(month: str, *, now: datetime) -> bool:
    """A month is invoiced once it has ended and the grace period has passed."""
    _, end = month_bounds(month)
    return now >= end + INVOICE_GRACE


def issue_invoice(
    db: Session, settings: ControlSettings, *, account_id: uuid.UUID, month: str, now: datetime
) -> Invoice | None:
    """Issue the account's invoice for a closed month, once (committed); returns the invoice,
    the existing one if already issued, or None when the account had no usage that month.
    Refuses (``InvalidRequestError``) a month still open or within its grace period."""
    if not is_invoiceable(month, now=now):
        raise InvalidRequestError("only closed months are invoiced (after a grace period)")
    _insert_invoice(db, settings, account_id=account_id, month=month, now=now)
    return queries.find_invoice_for_month(db, account_id=account_id, month=month)


def _insert_invoice(
    db: Session, settings: ControlSettings, *, account_id: uuid.UUID, month: str, now: datetime
) -> bool:
    # True when this call issued the invoice (False: it existed, or nothing to bill).
    if queries.find_invoice_for_month(db, account_id=account_id, month=month) is not None:
        return False
    bill = compute_bill(db, settings, account_id=account_id, month=month, include_idle=False)
    if not bill.lines:
        return False
    invoice_id = uuid.uuid4()
    inserted = queries.insert_invoice_once(
        db,
        values={
            "id": invoice_id,
            "account_id": account_id,
            "month": month,
            "issued_at": now,
            "fee_share_bps": bill.fee_share_bps,
            "requests": bill.usage.requests,
            "baseline_cost_micros": bill.usage.baseline_cost_micros,
            "actual_cost_micros": bill.usage.actual_cost_micros,
            "net_savings_micros": bill.net_savings_micros,
            "fee_micros": bill.fee_micros,
        },
    )
    if inserted:
        queries.add_invoice_lines(
            db,
            lines=[
                InvoiceLine(
                    invoice_id=invoice_id,
                    deployment_id=line.deployment_id,
                    deployment_name=line.deployment_name,
                    requests=line.usage.requests,
                    baseline_cost_micros=line.usage.baseline_cost_micros,
                    actual_cost_micros=line.usage.actual_cost_micros,
                    net_savings_micros=line.net_savings_micros,
                    fee_micros=line.fee_micros,
                )
                for line in bill.lines
            ],
        )
    db.commit()
    return inserted


def issue_invoices_for_month(db: Session, settings: ControlSettings, *, month: str, now: datetime) -> int:
    """Issue every missing invoice of one closed month (each account with usage in it); returns
    how many this call issued. ``InvalidRequestError`` for a month not yet invoiceable."""
    if not is_invoiceable(month, now=now):
        raise InvalidRequestError("only closed months are invoiced (after a grace period)")
    start, end = month_bounds(month)
    issued = 0
    for account_id in queries.accounts_with_usage(db, start=start, end=end):
        if _insert_invoice(db, settings, account_id=account_id, month=month, now=now):
            issued += 1
    return issued


def issue_due_invoices(db: Session, settings: ControlSettings, *, now: datetime) -> int:
    """The invoicing job: issue every missing invoice of the last few closed months; returns how
    many this call issued. Idempotent, so any number of replicas may run it."""
    issued = 0
    month = previous_month(month_of(now))
    for _ in range(INVOICE_LOOKBACK_MONTHS):
        if is_invoiceable(month, now=now):
            issued += issue_invoices_for_month(db, settings, month=month, now=now)
        month = previous_month(month)
    return issued


def list_invoices(db: Session, *, account_id: uuid.UUID) -> Sequence[Invoice]:
    """The account's invoices, newest month first."""
    return queries.list_invoices(db, account_id=account_id)


def get_invoice(
    db: Session, *, account_id: uuid.UUID, invoice_id: uuid.UUID
) -> tuple[Invoice, list[InvoiceLine]]:
    """One of the account's invoices and its lines; ``NotFoundError`` for anyone else's."""
    invoice = queries.find_invoice(db, account_id=account_id, invoice_id=invoice_id)
    if invoice is None:
        raise NotFoundError("no such invoice")
    return invoice, list(queries.list_invoice_lines(db, invoice_id=invoice.id))
