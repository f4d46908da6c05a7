"""Billing and exports for the console: the month-to-date bill, issued invoices, and CSV
exports of usage aggregates, metadata logs and invoices. Scoped to the logged-in account.

CSV money columns come twice: dollars with six decimals (exact, from integer micros) and micros.
Usage and log exports stream in pages of ``_PAGE`` rows, each page read in its own short
database session, so an export of any size holds neither memory nor a connection for long.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session, sessionmaker

from modelpilot.control import billing, deployments
from modelpilot.control.billing import Bill, BillLine
from modelpilot.control.http.dependencies import Db, State, current_session
from modelpilot.control.http.problems import problem_responses
from modelpilot.control.sessions import ActiveSession
from modelpilot.control.store.queries import billing as billing_queries
from modelpilot.control.store.queries import ingestion as log_queries
from modelpilot.control.store.tables import Invoice, InvoiceLine, LogRecord, UsageAggregate
from modelpilot.control.usage import UsageTotals
from modelpilot.schema.bucket import BUCKET_KEY, COUNTERS

Reader = Annotated[ActiveSession, Depends(current_session)]
_PAGE = 1_000
_CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV (RFC 4180)"}
}


def dollars(micros: int) -> str:
    """Integer micro-dollars as exact dollars with six decimals (``-1.500000``)."""
    sign = "-" if micros < 0 else ""
    whole, fraction = divmod(abs(micros), 1_000_000)
    return f"{sign}{whole}.{fraction:06d}"


def spreadsheet_safe(text: str) -> str:
    """Free text for a CSV cell, defused against formula injection (OWASP: a cell starting with
    ``= + - @`` or a tab/CR is prefixed with ``'`` so spreadsheets show it as text)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class _View(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BillLineView(_View):
    """One deployment's part of a bill (its name as it was when an invoice was issued)."""

    deployment_id: uuid.UUID | None
    deployment_name: str
    requests: int
    baseline_cost_micros: int
    actual_cost_micros: int
    net_savings_micros: int
    fee_micros: int
    shadow_requests: int | None = None
    would_save_micros: int | None = None
    judged: int | None = None
    acceptable: int | None = None
    calibration_cost_micros: int | None = None


class BillView(_View):
    """An account's month: the live bill for an open month, else what its invoice says.
    ``would_save_micros`` (shadow mode) is reported, never billed. ``judged`` and
    ``acceptable`` count paired checks (calibration); ``calibration_cost_micros`` is their
    spend, reported apart: never part of actual, baseline, net savings or the fee."""

    month: str
    is_final: bool
    invoice_id: uuid.UUID | None
    fee_share_bps: int
    requests: int
    baseline_cost_micros: int
    actual_cost_micros: int
    net_savings_micros: int
    fee_micros: int
    shadow_requests: int
    would_save_micros: int
    judged: int
    acceptable: int
    calibration_cost_micros: int
    lines: list[BillLineView]


class InvoiceView(_View):
    id: uuid.UUID
    month: str
    issued_at: datetime
    fee_share_bps: int
    requests: int
    baseline_cost_micros: int
    actual_cost_micros: int
    net_savings_micros: int
    fee_micros: int
    lines: list[BillLineView] | None = None


def _line_view(line: BillLine) -> BillLineView:
    return BillLineView(
        deployment_id=line.deployment_id,
        deployment_name=line.deployment_name,
        requests=line.usage.requests,
        baseline_cost_micros=line.usage.baseline_cost_micros,
        actual_cost_micros=line.usage.actual_cost_micros,
        net_savings_micros=line.net_savings_micros,
        fee_micros=line.fee_micros,
        shadow_requests=line.usage.shadow_requests,
        would_save_micros=line.usage.would_save_micros,
        judged=line.usage.judged,
        acceptable=line.usage.acceptable,
        calibration_cost_micros=line.usage.calibration_cost_micros,
    )


def _bill_view(bill: Bill) -> BillView:
    usage: UsageTotals = bill.usage
    return BillView(
        month=bill.month,
        is_final=False,
        invoice_id=None,
        fee_share_bps=bill.fee_share_bps,
        requests=usage.requests,
        baseline_cost_micros=usage.baseline_cost_micros,
        actual_cost_micros=usage.actual_cost_micros,
        net_savings_micros=bill.net_savings_micros,
        fee_micros=bill.fee_micros,
        shadow_requests=usage.shadow_requests,
        would_save_micros=usage.would_save_micros,
        judged=usage.judged,
        acceptable=usage.acceptable,
        calibration_cost_micros=usage.calibration_cost_micros,
        lines=[_line_view(line) for line in bill.lines],
    )


def _invoice_line_view(line: InvoiceLine) -> BillLineView:
    return BillLineView(
        deployment_id=line.deployment_id,
        deployment_name=line.deployment_name,
        requests=line.requests,
        baseline_cost_micros=line.baseline_cost_micros,
        actual_cost_micros=line.actual_cost_micros,
        net_savings_micros=line.net_savings_micros,
        fee_micros=line.fee_micros,
    )


def _invoice_view(invoice: Invoice, lines: Sequence[InvoiceLine] | None = None) -> InvoiceView:
    return InvoiceView(
        id=invoice.id,
        month=invoice.month,
        issued_at=invoice.issued_at,
        fee_share_bps=invoice.fee_share_bps,
        requests=invoice.requests,
        baseline_cost_micros=invoice.baseline_cost_micros,
        actual_cost_micros=invoice.actual_cost_micros,
        net_savings_micros=invoice.net_savings_micros,
        fee_micros=invoice.fee_micros,
        lines=None if lines is None else [_invoice_line_view(line) for line in lines],
    )


def _csv_lines(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> StreamingResponse:
    return StreamingResponse(
        _csv_lines(header, rows),
        media_type=_CSV_MEDIA_TYPE,
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


def _period(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    # ``to`` is inclusive: the whole UTC day. A period that ends before it starts is empty.
    low = datetime.combine(start, time(), tzinfo=UTC) if start else None
    high = datetime.combine(end, time(), tzinfo=UTC) + timedelta(days=1) if end and end < date.max else None
    return low, high


def _paged(
    sessions: sessionmaker[Session], fetch: Callable[[Session, Any], Sequence[Any]], key: Callable[[Any], Any]
) -> Iterator[Any]:
    # Keyset pagination: each page in its own short session, resuming after the last row's key.
    after = None
    while True:
        with sessions() as session:
            page = fetch(session, after)
            session.expunge_all()
        yield from page
        if len(page) < _PAGE:
            return
        after = key(page[-1])


#: How an export shows some counters: the bill's figures (baseline, actual, net savings) in
#: dollars then micros where ``actual_cost_micros`` comes, and calibration spend in both units.
#: Every other counter is one column of its own name, in the wire's order.
_USAGE_COUNTER_COLUMNS = {
    "actual_cost_micros": (
        "baseline_cost_usd",
        "actual_cost_usd",
        "net_savings_usd",
        "baseline_cost_micros",
        "actual_cost_micros",
        "net_savings_micros",
    ),
    "baseline_cost_micros": (),
    "calibration_cost_micros": ("calibration_cost_usd", "calibration_cost_micros"),
}
USAGE_COLUMNS = BUCKET_KEY + tuple(
    column for name in COUNTERS for column in _USAGE_COUNTER_COLUMNS.get(name, (name,))
)

LOG_COLUMNS = (
    "ts",
    "category",
    "requested_model",
    "served_model",
    "routed",
    "escalated",
    "status",
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "cost_usd",
    "cost_micros",
    "latency_ms",
    "decision_id",
    "decision_reason",
    "escalation_reason",
)

INVOICE_COLUMNS = (
    "invoice_id",
    "month",
    "issued_at",
    "deployment_id",
    "deployment_name",
    "requests",
    "baseline_cost_usd",
    "actual_cost_usd",
    "net_savings_usd",
    "fee_usd",
    "baseline_cost_micros",
    "actual_cost_micros",
    "net_savings_micros",
    "fee_micros",
    "fee_share_bps",
)


def _usage_row(row: UsageAggregate) -> list[Any]:
    values: dict[str, Any] = {name: getattr(row, name) for name in BUCKET_KEY} | row.counters()
    values["net_savings_micros"] = values["baseline_cost_micros"] - values["actual_cost_micros"]
    return [_usage_cell(values, column) for column in USAGE_COLUMNS]


def _usage_cell(values: dict[str, Any], column: str) -> Any:
    if column.endswith("_usd"):
        return dollars(values[column.removesuffix("_usd") + "_micros"])
    value = values[column]
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).lower() if isinstance(value, bool) else value


def _log_row(row: LogRecord) -> list[Any]:
    return [
        row.ts.isoformat(),
        row.category,
        row.requested_model,
        row.served_model,
        str(row.routed).lower(),
        str(row.escalated).lower(),
        row.status,
        row.input_tokens,
        row.output_tokens,
        row.cache_write_tokens,
        row.cache_read_tokens,
        dollars(row.cost_micros),
        row.cost_micros,
        row.latency_ms,
        row.decision_id or "",
        row.decision_reason or "",
        row.escalation_reason or "",
    ]


def _invoice_rows(invoice: Invoice, lines: Sequence[InvoiceLine]) -> Iterator[list[Any]]:
    # One row per line, then a total row (empty deployment columns) carrying the account figures.
    entries: list[tuple[Any, str, int, int, int, int, int]] = [
        (
            line.deployment_id or "",
            spreadsheet_safe(line.deployment_name),
            line.requests,
            line.baseline_cost_micros,
            line.actual_cost_micros,
            line.net_savings_micros,
            line.fee_micros,
        )
        for line in lines
    ]
    entries.append(
        (
            "",
            "TOTAL",
            invoice.requests,
            invoice.baseline_cost_micros,
            invoice.actual_cost_micros,
            invoice.net_savings_micros,
            invoice.fee_micros,
        )
    )
    for deployment_id, name, requests, baseline, actual, net, fee in entries:
        yield [
            invoice.id,
            invoice.month,
            invoice.issued_at.isoformat(),
            deployment_id,
            name,
            requests,
            dollars(baseline),
            dollars(actual),
            dollars(net),
            dollars(fee),
            baseline,
            actual,
            net,
            fee,
            invoice.fee_share_bps,
        ]


From = Annotated[date | None, Query(alias="from", description="First UTC day (YYYY-MM-DD)")]
To = Annotated[date | None, Query(alias="to", description="Last UTC day, inclusive (YYYY-MM-DD)")]


def billing_router() -> APIRouter:
    """Routes under ``/api`` for billing and CSV exports."""
    router = APIRouter(prefix="/api", tags=["billing"], responses=problem_responses(401, 403, 404, 422))

    @router.get("/billing", response_model=BillView)
    def current_bill(
        active: Reader,
        db: Db,
        state: State,
        month: Annotated[
            str | None, Query(pattern=r"^(19|20|21)\d{2}-(0[1-9]|1[0-2])$", description="YYYY-MM (UTC)")
        ] = None,
    ) -> BillView:
        """The bill of a month (default: the current UTC month, to date), per deployment and in
        total. An open month is computed live; a month with an invoice shows the invoice."""
        month = month or billing.month_of(state.clock())
        billing.month_bounds(month)
        invoice = billing_queries.find_invoice_for_month(db, account_id=active.account.id, month=month)
        bill = billing.compute_bill(db, state.settings, account_id=active.account.id, month=month)
        view = _bill_view(bill)
        if invoice is None:
            return view
        _, lines = billing.get_invoice(db, account_id=active.account.id, invoice_id=invoice.id)
        return view.model_copy(
            update={
                "is_final": True,
                "invoice_id": invoice.id,
                "fee_share_bps": invoice.fee_share_bps,
                "requests": invoice.requests,
                "baseline_cost_micros": invoice.baseline_cost_micros,
                "actual_cost_micros": invoice.actual_cost_micros,
                "net_savings_micros": invoice.net_savings_micros,
                "fee_micros": invoice.fee_micros,
                "lines": [_invoice_line_view(line) for line in lines],
            }
        )

    @router.get("/billing/invoices", response_model=list[InvoiceView])
    def list_invoices(active: Reader, db: Db) -> list[InvoiceView]:
        """The account's issued invoices, newest month first (totals only)."""
        return [_invoice_view(i) for i in billing.list_invoices(db, account_id=active.account.id)]

    # The .csv routes come before ``/invoices/{invoice_id}``, which would otherwise claim them.
    @router.get("/billing/invoices.csv", response_class=StreamingResponse, responses=_CSV_RESPONSE)
    def invoices_csv(active: Reader, db: Db) -> StreamingResponse:
        """Every invoice of the account: its lines, then a TOTAL row, per invoice."""
        rows: list[list[Any]] = []
        for invoice in billing.list_invoices(db, account_id=active.account.id):
            _, lines = billing.get_invoice(db, account_id=active.account.id, invoice_id=invoice.id)
            rows.extend(_invoice_rows(invoice, lines))
        return _csv_response("invoices.csv", INVOICE_COLUMNS, rows)

    @router.get(
        "/billing/invoices/{invoice_id}.csv", response_class=StreamingResponse, responses=_CSV_RESPONSE
    )
    def invoice_csv(invoice_id: uuid.UUID, active: Reader, db: Db) -> StreamingResponse:
        invoice, lines = billing.get_invoice(db, account_id=active.account.id, invoice_id=invoice_id)
        return _csv_response(
            f"invoice-{invoice.month}.csv", INVOICE_COLUMNS, list(_invoice_rows(invoice, lines))
        )

    @router.get("/billing/invoices/{invoice_id}", response_model=InvoiceView)
    def get_invoice(invoice_id: uuid.UUID, active: Reader, db: Db) -> InvoiceView:
        invoice, lines = billing.get_invoice(db, account_id=active.account.id, invoice_id=invoice_id)
        return _invoice_view(invoice, lines)

    @router.get(
        "/deployments/{deployment_id}/usage.csv", response_class=StreamingResponse, responses=_CSV_RESPONSE
    )
    def usage_csv(
        deployment_id: uuid.UUID, active: Reader, db: Db, state: State, start: From = None, end: To = None
    ) -> StreamingResponse:
        """The deployment's hourly usage aggregates, oldest first, optionally for ``from``..``to``."""
        deployment = deployments.get_deployment(db, account_id=active.account.id, deployment_id=deployment_id)
        low, high = _period(start, end)

        def fetch(session: Session, after: tuple[datetime, int] | None) -> Sequence[UsageAggregate]:
            return billing_queries.usage_page(
                session, deployment_id=deployment.id, start=low, end=high, after=after, limit=_PAGE
            )

        rows = _paged(state.sessions, fetch, key=lambda row: (row.hour, row.id))
        return _csv_response("usage.csv", USAGE_COLUMNS, (_usage_row(row) for row in rows))

    @router.get(
        "/deployments/{deployment_id}/logs.csv", response_class=StreamingResponse, responses=_CSV_RESPONSE
    )
    def logs_csv(
        deployment_id: uuid.UUID, active: Reader, db: Db, state: State, start: From = None, end: To = None
    ) -> StreamingResponse:
        """The deployment's opt-in metadata log records (no content), oldest first."""
        deployment = deployments.get_deployment(db, account_id=active.account.id, deployment_id=deployment_id)
        low, high = _period(start, end)

        def fetch(session: Session, after: tuple[datetime, int] | None) -> Sequence[LogRecord]:
            return log_queries.log_page(
                session, deployment_id=deployment.id, start=low, end=high, after=after, limit=_PAGE
            )

        rows = _paged(state.sessions, fetch, key=lambda row: (row.ts, row.id))
        return _csv_response("logs.csv", LOG_COLUMNS, (_log_row(row) for row in rows))

    return router
