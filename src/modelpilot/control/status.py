"""The status page's data: the control plane probes its own components, keeps one row per probe,
and turns 90 days of probes and the incidents admins post into a report.

Components: ``routing`` (the ``/v1/route`` decision path: database read, catalog and the decision
function, in process), ``metering`` (a write and read-back on the ingestion tables, rolled back)
and ``console`` (a template render and a database read). A component's current status is its last
probe, shown as degraded while an unresolved incident names it.

>>> record_probes(sessions, now=now, settings=settings, catalog=catalog, templates=templates)
... # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from modelpilot.control import routing
from modelpilot.control.errors import InvalidRequestError, NotFoundError, ProblemDetail
from modelpilot.control.policy.outcomes import OutcomeCache
from modelpilot.control.policy.settings import RoutingSettings
from modelpilot.control.settings import ControlSettings
from modelpilot.control.store.queries import ingestion as ingestion_queries
from modelpilot.control.store.queries import status as queries
from modelpilot.control.store.queries.ingestion import UsageDelta
from modelpilot.control.store.tables import Account, Deployment, Incident, StatusProbe
from modelpilot.schema.catalog import Catalog
from modelpilot.schema.wire import Category, DecisionReason, Features, RouteRequest

if TYPE_CHECKING:
    from jinja2 import Environment

logger = logging.getLogger(__name__)

#: Component id -> the name shown on the status page, in display order.
COMPONENTS: dict[str, str] = {"routing": "Routing API", "metering": "Metering", "console": "Console"}
SEVERITIES = ("minor", "major", "critical")
UPTIME_DAYS = 90

MAX_TITLE_CHARS = 200
MAX_BODY_CHARS = 5000


class ProbeFailedError(Exception):
    """A probe ran but its result was wrong (the component answered, incorrectly)."""


# --- probes -------------------------------------------------------------------------------------


def _probe_routing(session: Session, catalog: Catalog, settings: ControlSettings, now: datetime) -> None:
    # What POST /v1/route runs after authentication: the outcomes query (for a deployment that
    # has none, through an empty cache), then the policy with the prior, in process.
    model = next((m for m in catalog.models if m.is_routable), None)
    if model is None:
        raise ProbeFailedError("the catalog has no routable model")
    request = RouteRequest(
        requested_model=model.id,
        category=Category.QA,
        features=Features(input_tokens_estimate=500, max_tokens=256, message_count=1, turn_count=1),
    )
    outcomes = routing.deployment_outcomes(
        session, OutcomeCache(ttl_s=0.0), deployment_id=uuid.uuid4(), now=now
    )
    decision = routing.decide_route(
        catalog, request, settings=RoutingSettings(), outcomes=outcomes, ttl_s=settings.route_ttl_s, now=now
    )
    if decision.reason is DecisionReason.UNKNOWN_MODEL or decision.model not in catalog:
        raise ProbeFailedError("the decision named no catalog model")


def _probe_metering(session: Session, now: datetime) -> None:
    # The ingestion path's own writes (claim a batch id, upsert a usage bucket) on a throwaway
    # account and deployment, read back, then rolled back: nothing of it is ever committed.
    account = Account(
        email=f"status-probe-{uuid.uuid4()}@probe.invalid", password_hash="!", is_admin=False, created_at=now
    )
    session.add(account)
    session.flush()
    deployment = Deployment(account_id=account.id, name="status probe", created_at=now)
    session.add(deployment)
    session.flush()
    batch_id = str(uuid.uuid4())
    if not ingestion_queries.claim_batch(
        session, deployment_id=deployment.id, kind="meter", batch_id=batch_id, now=now
    ):
        raise ProbeFailedError("a fresh batch id was already claimed")
    hour = now.replace(minute=0, second=0, microsecond=0)
    delta = UsageDelta(
        bucket={
            "hour": hour,
            "category": "qa",
            "requested_model": "claude-probe",
            "served_model": "claude-probe",
            "routed": False,
            "escalated": False,
        },
        counters={
            "requests": 1,
            "input_tokens": 1,
            "output_tokens": 1,
            "actual_cost_micros": 1,
            "baseline_cost_micros": 1,
        },
    )
    ingestion_queries.add_usage(session, deployment_id=deployment.id, deltas=[delta])
    rows = ingestion_queries.list_usage(session, deployment_id=deployment.id)
    if [row.requests for row in rows] != [1]:
        raise ProbeFailedError("the usage bucket did not read back")


def _probe_console(session: Session, templates: Environment) -> None:
    session.execute(select(Account.id).limit(1)).all()
    if not templates.get_template("base.html").render():
        raise ProbeFailedError("the base template rendered nothing")


def _timed(component: str, check: Callable[[], None], *, now: datetime) -> StatusProbe:
    started = time.perf_counter()
    try:
        check()
        ok = True
    except Exception:  # a probe reports any failure as "down"; the traceback goes to the log
        logger.warning("status probe of %s failed", component, exc_info=True)
        ok = False
    latency_ms = round((time.perf_counter() - started) * 1000)
    return StatusProbe(component=component, checked_at=now, ok=ok, latency_ms=latency_ms)


def _in_rolled_back_session(
    session_factory: sessionmaker[Session], check: Callable[[Session], None]
) -> Callable[[], None]:
    def run() -> None:
        with session_factory() as session:
            try:
                check(session)
            finally:
                session.rollback()

    return run


def record_probes(
    session_factory: sessionmaker[Session],
    *,
    now: datetime,
    settings: ControlSettings,
    catalog: Catalog,
    templates: Environment,
) -> list[StatusProbe]:
    """Probe every component once, store one :class:`StatusProbe` per component (committed) and
    return the new probes. (Old probes are deleted by the purge job, :mod:`.retention`.)"""
    checks: dict[str, Callable[[Session], None]] = {
        "routing": lambda s: _probe_routing(s, catalog, settings, now),
        "metering": lambda s: _probe_metering(s, now),
        "console": lambda s: _probe_console(s, templates),
    }
    probes = [
        _timed(component, _in_rolled_back_session(session_factory, check), now=now)
        for component, check in checks.items()
    ]
    with session_factory() as session:
        queries.add_probes(session, probes)
        session.commit()
    return probes


def probe_job(
    session_factory: sessionmaker[Session],
    *,
    settings: ControlSettings,
    catalog: Catalog,
    templates: Environment,
    clock: Callable[[], datetime],
) -> Callable[[], None]:
    """The periodic job (for :meth:`modelpilot.control.jobs.JobRunner.register_job`, every
    ``settings.status_probe_interval_s``) that records one round of probes."""

    def probe_once() -> None:
        record_probes(session_factory, now=clock(), settings=settings, catalog=catalog, templates=templates)

    return probe_once


# --- the report ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayUptime:
    """One UTC day of one component: probes run, probes ok, and their share (None: no data)."""

    day: date
    probes: int
    ok: int

    @property
    def share(self) -> float | None:
        return self.ok / self.probes if self.probes else None


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    """One component on the status page."""

    id: str
    name: str
    status: str  # operational | degraded | down | unknown
    last_checked_at: datetime | None
    latency_ms: int | None
    days: tuple[DayUptime, ...]  # oldest first, UPTIME_DAYS of them, today last

    @property
    def uptime_share(self) -> float | None:
        """The share of ok probes over the whole window (None: no probes at all)."""
        probes = sum(day.probes for day in self.days)
        return sum(day.ok for day in self.days) / probes if probes else None


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Everything the status page shows."""

    generated_at: datetime
    components: tuple[ComponentStatus, ...]
    open_incidents: tuple[Incident, ...]
    resolved_incidents: tuple[Incident, ...]

    @property
    def overall(self) -> str:
        """The worst component status (unknown only when nothing was ever probed)."""
        statuses = {component.status for component in self.components}
        for worst in ("down", "degraded", "operational"):
            if worst in statuses:
                return worst
        return "unknown"


def _current_status(last: StatusProbe | None, *, has_open_incident: bool) -> str:
    if last is None:
        return "degraded" if has_open_incident else "unknown"
    if not last.ok:
        return "down"
    return "degraded" if has_open_incident else "operational"


class ProbeHistory:
    """Per-day probe counts, with the settled days (before yesterday) kept in memory.

    A settled day's probes no longer change (a probe is stored moments after its ``checked_at``),
    so each is counted once per process; yesterday and today are counted on every call. Without
    this, every status page view would aggregate 90 days of probes (390,000 rows at the default
    interval). The cache is an optimisation only: any replica computes the same numbers.
    """

    def __init__(self) -> None:
        self._settled: dict[date, dict[str, queries.DailyProbes]] = {}
        self._lock = threading.Lock()

    def counts(self, session: Session, *, first_day: date, today: date) -> dict[tuple[str, date], DayUptime]:
        """Probe counts per (component, day) for ``first_day`` through ``today``."""
        settled_until = today - timedelta(days=1)
        with self._lock:
            known = {day: rows for day, rows in self._settled.items() if day >= first_day}
        missing = [
            first_day + timedelta(days=n)
            for n in range((settled_until - first_day).days)
            if first_day + timedelta(days=n) not in known
        ]
        if missing:
            fetched = _count_days(session, since=missing[0], until=settled_until)
            for offset in range((settled_until - missing[0]).days):
                day = missing[0] + timedelta(days=offset)
                known[day] = fetched.get(day, {})
            with self._lock:
                self._settled = known
        counts = dict(known)
        counts.update(
            _count_days(session, since=max(settled_until, first_day), until=today + timedelta(days=1))
        )
        return {
            (component, day): DayUptime(day, row.probes, row.ok)
            for day, rows in counts.items()
            for component, row in rows.items()
        }


def _count_days(session: Session, *, since: date, until: date) -> dict[date, dict[str, queries.DailyProbes]]:
    by_day: dict[date, dict[str, queries.DailyProbes]] = {}
    if until <= since:
        return by_day
    start, end = (datetime.combine(d, datetime.min.time(), tzinfo=UTC) for d in (since, until))
    for component in COMPONENTS:
        for row in queries.daily_probes(session, component=component, since=start, until=end):
            by_day.setdefault(date.fromisoformat(row.day), {})[component] = row
    return by_day


def build_report(
    session: Session, *, now: datetime, days: int = UPTIME_DAYS, history: ProbeHistory | None = None
) -> StatusReport:
    """The status of every component, its daily uptime over ``days`` UTC days ending today, the
    open incidents and those resolved within the window. ``history`` keeps settled days'
    counts between calls (default: count everything now)."""
    today = now.astimezone(UTC).date()
    first_day = today - timedelta(days=days - 1)
    counts = (history or ProbeHistory()).counts(session, first_day=first_day, today=today)
    open_incidents = queries.open_incidents(session)
    affected = {component for incident in open_incidents for component in incident.components}
    components = []
    for component, name in COMPONENTS.items():
        series = []
        for offset in range(days):
            day = first_day + timedelta(days=offset)
            series.append(counts.get((component, day), DayUptime(day, 0, 0)))
        last = queries.latest_probe(session, component=component)
        components.append(
            ComponentStatus(
                id=component,
                name=name,
                status=_current_status(last, has_open_incident=component in affected),
                last_checked_at=last.checked_at if last else None,
                latency_ms=last.latency_ms if last else None,
                days=tuple(series),
            )
        )
    resolved = queries.resolved_incidents(session, since=_window_start(now, days))
    return StatusReport(now, tuple(components), tuple(open_incidents), tuple(resolved))


def _window_start(now: datetime, days: int) -> datetime:
    first_day = now.astimezone(UTC).date() - timedelta(days=days - 1)
    return datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)


def list_incidents(session: Session, *, now: datetime) -> tuple[list[Incident], list[Incident]]:
    """(open incidents, incidents resolved within the status page's window)."""
    return queries.open_incidents(session), queries.resolved_incidents(
        session, since=_window_start(now, UPTIME_DAYS)
    )


# --- incidents ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncidentDraft:
    """What an admin submits for a new or updated incident (validated by :func:`check_draft`)."""

    title: str
    body: str
    severity: str
    components: tuple[str, ...]


def check_draft(draft: IncidentDraft) -> IncidentDraft:
    """The draft with whitespace trimmed, or :class:`InvalidRequestError` naming each bad field."""
    cleaned = IncidentDraft(
        title=draft.title.strip(),
        body=draft.body.strip(),
        severity=draft.severity,
        components=tuple(dict.fromkeys(draft.components)),
    )
    problems = []
    if not 1 <= len(cleaned.title) <= MAX_TITLE_CHARS:
        problems.append(ProblemDetail("$.title", f"between 1 and {MAX_TITLE_CHARS} characters"))
    if len(cleaned.body) > MAX_BODY_CHARS:
        problems.append(ProblemDetail("$.body", f"at most {MAX_BODY_CHARS} characters"))
    if cleaned.severity not in SEVERITIES:
        problems.append(ProblemDetail("$.severity", "one of " + ", ".join(SEVERITIES)))
    if not cleaned.components or any(c not in COMPONENTS for c in cleaned.components):
        problems.append(ProblemDetail("$.components", "one or more of " + ", ".join(COMPONENTS)))
    if problems:
        raise InvalidRequestError("the incident is incomplete or invalid", errors=tuple(problems))
    return cleaned


def post_incident(
    session: Session, *, draft: IncidentDraft, now: datetime, created_by: uuid.UUID | None
) -> Incident:
    """Open an incident (committed)."""
    cleaned = check_draft(draft)
    incident = queries.add_incident(
        session,
        title=cleaned.title,
        body=cleaned.body,
        severity=cleaned.severity,
        components=list(cleaned.components),
        now=now,
        created_by=created_by,
    )
    session.commit()
    return incident


def get_incident(session: Session, *, incident_id: uuid.UUID) -> Incident:
    incident = queries.get_incident(session, incident_id=incident_id)
    if incident is None:
        raise NotFoundError("no such incident")
    return incident


def update_incident(
    session: Session, *, incident_id: uuid.UUID, draft: IncidentDraft, now: datetime
) -> Incident:
    """Replace an incident's text, severity and components (committed)."""
    cleaned = check_draft(draft)
    incident = get_incident(session, incident_id=incident_id)
    incident.title = cleaned.title
    incident.body = cleaned.body
    incident.severity = cleaned.severity
    incident.components = list(cleaned.components)
    incident.updated_at = now
    session.commit()
    return incident


def resolve_incident(session: Session, *, incident_id: uuid.UUID, now: datetime) -> Incident:
    """Mark an incident resolved (committed); resolving a resolved incident changes nothing."""
    incident = get_incident(session, incident_id=incident_id)
    if incident.resolved_at is None:
        incident.resolved_at = now
        incident.updated_at = now
        session.commit()
    return incident


def component_names(ids: Sequence[str]) -> list[str]:
    """Display names for component ids (unknown ids as they are)."""
    return [COMPONENTS.get(component, component) for component in ids]
