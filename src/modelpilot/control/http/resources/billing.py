"""Billing: the billing page (the month to date and issued invoices) and its JSON twins under
``/api/billing`` (session or management token). Invoices as CSV are in
:mod:`modelpilot.control.http.exports`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from modelpilot.control import billing
from modelpilot.control.billing import Bill, BillLine
from modelpilot.control.http import charts
from modelpilot.control.http.dependencies import ApiReader, Db, SignedIn, State
from modelpilot.control.http.html import render
from modelpilot.control.http.problems import problem_responses
from modelpilot.control.http.routers import combined
from modelpilot.control.store.queries import billing as billing_queries
from modelpilot.control.store.tables import Invoice, InvoiceLine
from modelpilot.control.usage import UsageTotals


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


def router() -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/console/billing")
    def billing_page(active: SignedIn, db: Db, state: State) -> Response:
        now = state.clock()
        bill = billing.compute_bill(
            db, state.settings, account_id=active.account.id, month=billing.month_of(now)
        )
        return render(
            state,
            "console/billing.html",
            active=active,
            nav="billing",
            month=now.astimezone(UTC).strftime("%B %Y"),
            bill=bill,
            invoices=billing.list_invoices(db, account_id=active.account.id),
            usd=charts.format_usd,
        )

    router = APIRouter(prefix="/api", tags=["billing"], responses=problem_responses(401, 403, 404, 422))

    @router.get("/billing", response_model=BillView)
    def current_bill(
        caller: ApiReader,
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
        invoice = billing_queries.find_invoice_for_month(db, account_id=caller.account.id, month=month)
        bill = billing.compute_bill(db, state.settings, account_id=caller.account.id, month=month)
        view = _bill_view(bill)
        if invoice is None:
            return view
        _, lines = billing.get_invoice(db, account_id=caller.account.id, invoice_id=invoice.id)
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
    def list_invoices(caller: ApiReader, db: Db) -> list[InvoiceView]:
        """The account's issued invoices, newest month first (totals only)."""
        return [_invoice_view(i) for i in billing.list_invoices(db, account_id=caller.account.id)]

    @router.get("/billing/invoices/{invoice_id}", response_model=InvoiceView)
    def get_invoice(invoice_id: uuid.UUID, caller: ApiReader, db: Db) -> InvoiceView:
        invoice, lines = billing.get_invoice(db, account_id=caller.account.id, invoice_id=invoice_id)
        return _invoice_view(invoice, lines)

    return combined(pages, router)
