"""Probes recorded by the control plane itself, and uptime computed from them (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from jinja2 import DictLoader, Environment, PackageLoader
from sqlalchemy import Engine, event, func, select, text

from modelpilot.control import status
from modelpilot.control.jobs import JobRunner, run_once
from modelpilot.control.store.engine import create_db_engine, create_session_factory
from modelpilot.control.store.tables import (
    Account,
    Base,
    Deployment,
    IngestedBatch,
    StatusProbe,
    UsageAggregate,
)
from modelpilot.schema.catalog import Catalog, load_catalog

from ..conftest import make_settings

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _templates() -> Environment:
    return Environment(loader=PackageLoader("modelpilot.control", "templates"), autoescape=True)


def _count(engine: Engine, table: type) -> int:
    with create_session_factory(engine)() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_each_component_gets_one_probe_and_the_metering_probe_leaves_nothing_behind(
    engine: Engine, db_url: str
) -> None:
    sessions = create_session_factory(engine)
    probes = status.record_probes(
        sessions, now=NOW, settings=make_settings(db_url), catalog=load_catalog(), templates=_templates()
    )
    assert {(p.component, p.ok) for p in probes} == {(c, True) for c in status.COMPONENTS}
    with sessions() as session:
        stored = session.scalars(select(StatusProbe)).all()
        assert sorted(p.component for p in stored) == sorted(status.COMPONENTS)
        assert {p.checked_at for p in stored} == {NOW}
        assert all(p.latency_ms >= 0 for p in stored)
    for table in (Account, Deployment, IngestedBatch, UsageAggregate):
        assert _count(engine, table) == 0, table


def test_a_broken_component_is_recorded_as_down_and_the_others_still_run(engine: Engine, db_url: str) -> None:
    no_models = Catalog(version="empty", models=(), batch_discount=Decimal(0), inference_geo_multipliers={})
    no_templates = Environment(loader=DictLoader({}), autoescape=True)
    probes = status.record_probes(
        create_session_factory(engine),
        now=NOW,
        settings=make_settings(db_url),
        catalog=no_models,
        templates=no_templates,
    )
    assert {p.component: p.ok for p in probes} == {"routing": False, "metering": True, "console": False}
    assert _count(engine, StatusProbe) == len(status.COMPONENTS)


def test_the_probe_job_records_a_round_at_the_clock_time(engine: Engine, db_url: str) -> None:
    sessions = create_session_factory(engine)
    job = status.probe_job(
        sessions,
        settings=make_settings(db_url),
        catalog=load_catalog(),
        templates=_templates(),
        clock=lambda: NOW,
    )
    job()
    job()
    with sessions() as session:
        assert session.scalar(select(func.count()).where(StatusProbe.component == "routing")) == 2


def _add(engine: Engine, component: str, at: datetime, ok: bool, latency_ms: int = 5) -> None:
    with create_session_factory(engine)() as session:
        session.add(StatusProbe(component=component, checked_at=at, ok=ok, latency_ms=latency_ms))
        session.commit()


def test_uptime_is_the_share_of_ok_probes_per_utc_day_and_over_the_window(engine: Engine) -> None:
    today = NOW.replace(hour=0)
    # Two days ago: 3 of 4 ok, one of them in the last minute of the day. Yesterday: nothing.
    # Today: 2 of 2 ok. 95 days ago: outside the window, ignored.
    two_days_ago = today - timedelta(days=2)
    for minutes, ok in ((0, True), (60, False), (600, True), (24 * 60 - 1, True)):
        _add(engine, "routing", two_days_ago + timedelta(minutes=minutes), ok)
    _add(engine, "routing", today + timedelta(hours=1), True)
    _add(engine, "routing", today + timedelta(hours=2), True, latency_ms=17)
    _add(engine, "routing", today - timedelta(days=95), False)
    _add(engine, "metering", today + timedelta(hours=1), False, latency_ms=40)

    with create_session_factory(engine)() as session:
        report = status.build_report(session, now=NOW)

    routing, metering, console = report.components
    assert len(routing.days) == status.UPTIME_DAYS
    assert routing.days[-1].day == NOW.date()
    assert routing.days[0].day == NOW.date() - timedelta(days=status.UPTIME_DAYS - 1)
    by_day = {d.day: d for d in routing.days}
    assert (by_day[two_days_ago.date()].probes, by_day[two_days_ago.date()].ok) == (4, 3)
    assert by_day[two_days_ago.date()].share == 3 / 4
    assert by_day[(today - timedelta(days=1)).date()].share is None
    assert by_day[today.date()].share == 1.0
    assert routing.uptime_share == 5 / 6
    assert sum(1 for d in routing.days if d.share is None) == status.UPTIME_DAYS - 2
    assert (routing.status, routing.latency_ms) == ("operational", 17)
    assert routing.last_checked_at == today + timedelta(hours=2)
    assert (metering.status, metering.uptime_share, metering.latency_ms) == ("down", 0.0, 40)
    assert (console.status, console.uptime_share, console.last_checked_at) == ("unknown", None, None)
    assert report.overall == "down"


def test_an_open_incident_marks_its_components_degraded_until_resolved(engine: Engine) -> None:
    _add(engine, "routing", NOW - timedelta(minutes=1), True)
    _add(engine, "console", NOW - timedelta(minutes=1), True)
    sessions = create_session_factory(engine)
    with sessions() as session:
        incident = status.post_incident(
            session,
            draft=status.IncidentDraft("Slow decisions", "Investigating.", "minor", ("routing",)),
            now=NOW,
            created_by=None,
        )
        report = status.build_report(session, now=NOW)
        assert {c.id: c.status for c in report.components} == {
            "routing": "degraded",
            "metering": "unknown",
            "console": "operational",
        }
        assert [i.id for i in report.open_incidents] == [incident.id]
        status.resolve_incident(session, incident_id=incident.id, now=NOW + timedelta(hours=1))
        report = status.build_report(session, now=NOW + timedelta(hours=1))
        assert report.components[0].status == "operational"
        assert report.open_incidents == ()
        assert [i.id for i in report.resolved_incidents] == [incident.id]
        # Resolved incidents older than the window drop off the page.
        later = NOW + timedelta(days=status.UPTIME_DAYS + 1)
        assert status.build_report(session, now=later).resolved_incidents == ()


def test_days_are_utc_days_whatever_the_connection_time_zone(db_url: str) -> None:
    # PostgreSQL renders timestamptz in the session's time zone; the day of a probe must not move.
    engine = create_db_engine(db_url)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _far_east_time_zone)
    Base.metadata.create_all(engine)
    try:
        late = NOW.replace(hour=23, minute=30) - timedelta(days=1)  # 23:30 UTC yesterday
        _add(engine, "console", late, True)
        with create_session_factory(engine)() as session:
            if engine.dialect.name == "postgresql":
                assert session.scalar(text("SHOW TIME ZONE")) == "Pacific/Kiritimati"
            days = {d.day: d.probes for d in status.build_report(session, now=NOW).components[2].days}
        assert (days[late.date()], days[NOW.date()]) == (1, 0)
    finally:
        engine.dispose()


def _far_east_time_zone(dbapi_connection: Any, _record: object) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'Pacific/Kiritimati'")  # UTC+14


async def test_the_probe_job_runs_under_the_control_planes_job_runner(engine: Engine, db_url: str) -> None:
    settings = make_settings(db_url)
    runner = JobRunner()
    runner.register_job(
        "status-probes",
        settings.status_probe_interval_s,
        status.probe_job(
            create_session_factory(engine),
            settings=settings,
            catalog=load_catalog(),
            templates=_templates(),
            clock=lambda: NOW,
        ),
    )
    [job] = runner.jobs
    assert job.interval_s == settings.status_probe_interval_s
    assert await run_once(job)
    assert _count(engine, StatusProbe) == len(status.COMPONENTS)


def test_the_history_counts_settled_days_once_and_recent_days_every_time(engine: Engine) -> None:
    today = NOW.replace(hour=0)
    for days_ago in (0, 1, 2, 10):
        _add(engine, "metering", today - timedelta(days=days_ago, hours=-1), True)
    history = status.ProbeHistory()
    sessions = create_session_factory(engine)

    def metering_days(now: datetime) -> dict[object, int]:
        with sessions() as session:
            cached = status.build_report(session, now=now, history=history).components[1]
            fresh = status.build_report(session, now=now).components[1]
        return {
            "cached": {d.day: d.probes for d in cached.days},
            "fresh": {d.day: d.probes for d in fresh.days},
        }

    first = metering_days(NOW)
    assert first["cached"] == first["fresh"]
    assert sum(first["cached"].values()) == 4
    # New probes today and yesterday show at once; a (late) probe on a settled day is not
    # recounted by the cache until the process restarts.
    _add(engine, "metering", today + timedelta(hours=3), False)
    _add(engine, "metering", today - timedelta(days=1, hours=-5), True)
    _add(engine, "metering", today - timedelta(days=10, hours=-5), True)
    second = metering_days(NOW)
    assert second["cached"][NOW.date()] == 2
    assert second["cached"][(today - timedelta(days=1)).date()] == 2
    assert second["cached"][(today - timedelta(days=10)).date()] == 1
    assert second["fresh"][(today - timedelta(days=10)).date()] == 2
    # A day later the window moves by one day and yesterday's count becomes settled.
    third = metering_days(NOW + timedelta(days=1))
    assert len(third["cached"]) == status.UPTIME_DAYS
    assert third["cached"][NOW.date()] == third["fresh"][NOW.date()] == 2
    assert min(third["cached"]) == min(third["fresh"]) == NOW.date() - timedelta(days=status.UPTIME_DAYS - 2)
