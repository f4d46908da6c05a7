from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelpilot.control import retention
from modelpilot.control.app import create_app
from modelpilot.control.jobs import Job, JobRunner, run_once
from modelpilot.control.store.tables import IngestedBatch, Invoice, LogRecord, StatusProbe
from tests.control.billing.seed import add_account, add_deployment, add_usage
from tests.control.conftest import make_settings

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def add_log(db: Session, deployment_id: uuid.UUID, age: timedelta, marker: int) -> None:
    db.add(
        LogRecord(
            deployment_id=deployment_id,
            ts=NOW - age,
            category="code",
            requested_model="claude-sonnet-4-5",
            served_model="claude-haiku-4-5",
            routed=True,
            escalated=False,
            status=200,
            input_tokens=1,
            output_tokens=1,
            cache_write_tokens=0,
            cache_read_tokens=0,
            cost_micros=1,
            latency_ms=marker,
        )
    )


def test_purge_follows_each_deployments_retention(engine):
    account = add_account(engine, "purge@example.com")
    week = add_deployment(engine, account, "week", log_retention_days=7, metadata_logs=True)
    month = add_deployment(engine, account, "month", log_retention_days=30, metadata_logs=True)
    forever = add_deployment(engine, account, "forever", log_retention_days=5000, metadata_logs=True)
    with Session(engine) as db:
        for deployment, ages in ((week, (1, 8)), (month, (8, 29, 31)), (forever, (300, 400))):
            for days in ages:
                add_log(db, deployment, timedelta(days=days), marker=days)
        for days in (29, 31):
            db.add(
                IngestedBatch(
                    deployment_id=week,
                    kind="meter",
                    batch_id=str(uuid.uuid4()),
                    received_at=NOW - timedelta(days=days),
                )
            )
        for days in (89, 91):
            db.add(StatusProbe(component="api", checked_at=NOW - timedelta(days=days), ok=True, latency_ms=1))
        db.commit()
    settings = make_settings("sqlite://", max_log_retention_days=365)
    with Session(engine) as db:
        result = retention.purge(db, settings, now=NOW)
    # 8 days (week), 31 days (month) and 400 days (capped at 365) go.
    assert result == retention.PurgeResult(log_records=3, ingested_batches=1, status_probes=1)
    with Session(engine) as db:
        kept = {(r.deployment_id, r.latency_ms) for r in db.scalars(select(LogRecord))}
        assert kept == {(week, 1), (month, 8), (month, 29), (forever, 300)}
        assert [b.received_at for b in db.scalars(select(IngestedBatch))] == [NOW - timedelta(days=29)]
        assert [p.checked_at for p in db.scalars(select(StatusProbe))] == [NOW - timedelta(days=89)]
    with Session(engine) as db:  # a second replica's purge finds nothing more
        assert retention.purge(db, settings, now=NOW) == retention.PurgeResult(0, 0, 0)


async def test_a_failing_job_is_logged_and_runs_again(caplog):
    runner = JobRunner()
    calls: list[int] = []
    third_call = asyncio.Event()

    def flaky() -> None:
        calls.append(1)
        if len(calls) >= 3:
            third_call.set()
        if len(calls) == 1:
            raise RuntimeError("database went away")

    runner.register_job("flaky", 0.001, flaky)
    with caplog.at_level(logging.ERROR, logger="modelpilot.control.jobs"):
        await runner.start()
        await asyncio.wait_for(third_call.wait(), timeout=10)
        await runner.stop()
    assert "job flaky failed" in caplog.text
    stopped_at = len(calls)
    await asyncio.sleep(0.01)
    assert len(calls) == stopped_at  # stopped for good


async def test_run_once_reports_failure_and_supports_coroutines():
    async def fine() -> None:
        return None

    def broken() -> None:
        raise ValueError("nope")

    assert await run_once(Job("fine", 1, fine)) is True
    assert await run_once(Job("broken", 1, broken)) is False


def test_duplicate_job_names_are_refused():
    runner = JobRunner()
    runner.register_job("x", 1, lambda: None)
    try:
        runner.register_job("x", 1, lambda: None)
    except ValueError as exc:
        assert "already registered" in str(exc)
    else:
        raise AssertionError("a duplicate name was accepted")


async def test_the_apps_lifespan_runs_purge_and_invoicing(engine, db_url):
    account = add_account(engine, "life@example.com")
    deployment = add_deployment(engine, account, "prod")
    add_usage(engine, deployment, datetime(2026, 10, 5, tzinfo=UTC), actual=1, baseline=11)
    app = create_app(make_settings(db_url), engine=engine, clock=lambda: NOW)
    assert [job.name for job in app.state.jobs.jobs] == ["purge", "invoices", "status-probes"]
    probed = asyncio.Event()
    app.state.jobs.register_job("status-probe", 60, probed.set)
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(probed.wait(), timeout=10)
        for _ in range(1000):  # the invoices job runs its first tick at start-up
            with Session(engine) as db:
                if db.scalar(select(Invoice.month).where(Invoice.account_id == account)):
                    break
            await asyncio.sleep(0.01)
    with Session(engine) as db:
        assert db.scalar(select(Invoice.fee_micros).where(Invoice.account_id == account)) == 2
