from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelpilot.control import billing
from modelpilot.control.errors import InvalidRequestError
from modelpilot.control.store.tables import Invoice, InvoiceLine
from tests.control.billing.seed import add_account, add_deployment, add_usage
from tests.control.conftest import make_settings

NOV = datetime(2026, 11, 10, 9, tzinfo=UTC)
DEC_2 = datetime(2026, 12, 2, 0, tzinfo=UTC)


@given(total=st.integers(0, 10**15), weights=st.lists(st.integers(0, 10**12), max_size=30))
def test_allocation_adds_up_exactly(total, weights):
    shares = billing.allocate(total, weights)
    assert len(shares) == len(weights)
    if sum(weights) == 0:
        assert shares == [0] * len(weights)
        return
    assert sum(shares) == total
    for share, weight in zip(shares, weights, strict=True):
        exact = total * weight / sum(weights)
        assert exact - 1 < share < exact + 1


def test_allocation_gives_leftovers_to_the_largest_remainders():
    # 10 over 1:1:1 is 3.33 each: the first gets the leftover unit (ties go to the earliest).
    assert billing.allocate(10, [1, 1, 1]) == [4, 3, 3]
    assert billing.allocate(10, [1, 0, 2]) == [3, 0, 7]


def test_fee_is_a_share_of_positive_savings_rounded_down():
    assert billing.fee_for(1_000_000, 2000) == 200_000
    assert billing.fee_for(9, 2000) == 1  # 1.8 micros -> 1
    assert billing.fee_for(-5_000_000, 2000) == 0


def test_month_bounds():
    assert billing.month_bounds("2026-12") == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert billing.previous_month("2027-01") == "2026-12"
    for bad in ("2026-13", "2026-1", "26-01", "2026-00"):
        with pytest.raises(InvalidRequestError):
            billing.month_bounds(bad)


@pytest.fixture
def account(engine):
    """Three deployments in November: one saved, one lost money to escalations, one saved a bit."""
    account_id = add_account(engine, "bill@example.com")
    prod = add_deployment(engine, account_id, "prod")
    dev = add_deployment(engine, account_id, "dev")
    stage = add_deployment(engine, account_id, "stage")
    add_usage(engine, prod, NOV, actual=3_000_000, baseline=10_000_001, requests=70)
    add_usage(engine, dev, NOV, actual=1_500_000, baseline=1_000_000, requests=5, escalated=True)
    add_usage(engine, stage, NOV, actual=0, baseline=333, requests=1)
    # October and another account's usage must not count.
    add_usage(engine, prod, datetime(2026, 10, 31, 23, tzinfo=UTC), actual=1, baseline=999_999)
    add_usage(
        engine, add_deployment(engine, add_account(engine, "x@example.com"), "x"), NOV, actual=1, baseline=9
    )
    return account_id


def test_hand_checked_bill(engine, account):
    with Session(engine) as db:
        bill = billing.compute_bill(db, make_settings("sqlite://"), account_id=account, month="2026-11")
    # net = 7,000,001 - 500,000 + 333 = 6,500,334; fee = 20% rounded down = 1,300,066.
    assert (bill.usage.requests, bill.net_savings_micros, bill.fee_micros) == (76, 6_500_334, 1_300_066)
    assert bill.usage.baseline_cost_micros == 11_000_334
    assert bill.usage.actual_cost_micros == 4_500_000
    # Split by positive savings 7,000,001 : 0 : 333 -> floors 1,300,004 / 0 / 61 (sum 1,300,065);
    # the leftover micro goes to stage, whose remainder is the larger.
    fees = {line.deployment_name: line.fee_micros for line in bill.lines}
    assert fees == {"prod": 1_300_004, "dev": 0, "stage": 62}
    assert sum(fees.values()) == bill.fee_micros


def test_the_accounts_own_share_overrides_the_default(engine):
    account_id = add_account(engine, "share@example.com", fee_share_bps=1500)
    add_usage(engine, add_deployment(engine, account_id, "p"), NOV, actual=0, baseline=1_000_000)
    with Session(engine) as db:
        bill = billing.compute_bill(db, make_settings("sqlite://"), account_id=account_id, month="2026-11")
    assert (bill.fee_share_bps, bill.fee_micros) == (1500, 150_000)


def test_an_open_month_is_not_invoiced(engine, account):
    with Session(engine) as db, pytest.raises(InvalidRequestError):
        billing.issue_invoice(
            db,
            make_settings("sqlite://"),
            account_id=account,
            month="2026-11",
            now=datetime(2026, 12, 1, 1, tzinfo=UTC),
        )


def test_closed_months_are_invoiced_once(engine, account):
    settings = make_settings("sqlite://")
    with Session(engine) as db:
        # November for this account and x@, and October (still in the look-back) for this one.
        assert billing.issue_due_invoices(db, settings, now=DEC_2) == 3
    with Session(engine) as db:
        assert billing.issue_due_invoices(db, settings, now=DEC_2) == 0
        invoice = db.scalar(select(Invoice).where(Invoice.account_id == account))
        assert invoice is not None
        assert (invoice.month, invoice.fee_micros, invoice.net_savings_micros) == (
            "2026-11",
            1_300_066,
            6_500_334,
        )
        lines = db.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)).all()
        assert sorted((line.deployment_name, line.fee_micros) for line in lines) == [
            ("dev", 0),
            ("prod", 1_300_004),
            ("stage", 62),
        ]
        # October was invoiced too (within the look-back), with its own single line.
        months = db.scalars(
            select(Invoice.month).where(Invoice.account_id == account).order_by(Invoice.month)
        )
        assert list(months) == ["2026-10", "2026-11"]


def test_replicas_racing_issue_one_invoice(engine, account):
    settings = make_settings("sqlite://")
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def replica() -> None:
        try:
            with Session(engine) as db:
                barrier.wait()
                billing.issue_invoice(db, settings, account_id=account, month="2026-11", now=DEC_2)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Session(engine) as db:
        invoices = db.scalars(
            select(Invoice).where(Invoice.account_id == account, Invoice.month == "2026-11")
        ).all()
        assert len(invoices) == 1
        assert db.scalar(select(func.count()).where(InvoiceLine.invoice_id == invoices[0].id)) == 3


def test_one_month_is_invoiced_on_demand_once_closed(engine, account):
    settings = make_settings("sqlite://")
    with Session(engine) as db:
        with pytest.raises(InvalidRequestError):
            billing.issue_invoices_for_month(
                db, settings, month="2026-11", now=datetime(2026, 11, 30, tzinfo=UTC)
            )
        assert billing.issue_invoices_for_month(db, settings, month="2026-11", now=DEC_2) == 2
        assert billing.issue_invoices_for_month(db, settings, month="2026-11", now=DEC_2) == 0
        assert db.scalar(select(func.count()).select_from(Invoice).where(Invoice.month == "2026-10")) == 0


def test_calibration_spend_is_reported_apart_and_never_billed(engine, account):
    settings = make_settings("sqlite://")
    with Session(engine) as db:
        before = billing.compute_bill(db, settings, account_id=account, month="2026-11")
    prod = next(line.deployment_id for line in before.lines if line.deployment_name == "prod")
    # Paired checks: a calibration row of their own (requests = 0), and verdicts merged into a
    # routed bucket, both with spend.
    add_usage(
        engine,
        prod,
        NOV,
        actual=0,
        baseline=0,
        requests=0,
        routed=False,
        judged=10,
        acceptable=9,
        calibration_cost_micros=250_000,
    )
    add_usage(
        engine,
        prod,
        NOV,
        actual=10,
        baseline=30,
        requests=1,
        category="qa",
        judged=2,
        acceptable=1,
        calibration_cost_micros=50_000,
    )
    with Session(engine) as db:
        after = billing.compute_bill(db, settings, account_id=account, month="2026-11")
    assert after.usage.calibration_cost_micros == 300_000
    assert (after.usage.judged, after.usage.acceptable) == (12, 10)
    # Only the one real request's own 20 micros of savings changed anything.
    assert after.usage.requests == before.usage.requests + 1
    assert after.usage.actual_cost_micros == before.usage.actual_cost_micros + 10
    assert after.net_savings_micros == before.net_savings_micros + 20
    assert after.fee_micros == billing.fee_for(before.net_savings_micros + 20, after.fee_share_bps)
    line = next(line for line in after.lines if line.deployment_name == "prod")
    assert line.usage.calibration_cost_micros == 300_000
