"""GET /status and /status.json (public), and the admin incident pages (admins only, CSRF)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import httpx2 as httpx
import pytest
from sqlalchemy import Engine, func, select

from modelpilot.control import accounts, status
from modelpilot.control.settings import ControlSettings
from modelpilot.control.store.engine import create_session_factory
from modelpilot.control.store.tables import Incident, StatusProbe

from ..conftest import PASSWORD, Clock, csrf_from, log_in, sign_up
from .accessibility import accessibility_problems


def _probe(engine: Engine, clock: Clock, component: str, ok: bool, *, days_ago: int = 0) -> None:
    with create_session_factory(engine)() as session:
        at = clock.now - timedelta(days=days_ago)
        session.add(StatusProbe(component=component, checked_at=at, ok=ok, latency_ms=12))
        session.commit()


async def _admin(
    make_client: Callable[..., httpx.AsyncClient], settings: ControlSettings, engine: Engine, clock: Clock
) -> httpx.AsyncClient:
    with create_session_factory(engine)() as session:
        accounts.sign_up(
            session, settings, email="ops@example.com", password=PASSWORD, now=clock.now, is_admin=True
        )
    client = make_client(settings)
    assert (await log_in(client, "ops@example.com")).status_code == 303
    return client


async def test_status_page_needs_no_login_and_shows_each_component(
    client: httpx.AsyncClient, engine: Engine, clock: Clock
) -> None:
    _probe(engine, clock, "routing", True)
    _probe(engine, clock, "routing", False, days_ago=3)
    _probe(engine, clock, "metering", False)
    response = await client.get("/status")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert accessibility_problems(page) == []
    for name in status.COMPONENTS.values():
        assert f"{name}: <span" in page
    assert 'class="st st-down">Down' in page  # metering's last probe failed
    assert "50.00%" in page  # routing: 1 of 2 probes ok over the window
    # Every day has a bar with a text alternative.
    assert page.count("<rect ") == status.UPTIME_DAYS * len(status.COMPONENTS)
    assert page.count("<title>") == 1 + status.UPTIME_DAYS * len(status.COMPONENTS)
    assert 'role="img"' in page and "days without data" in page


async def test_status_json_schema(client: httpx.AsyncClient, engine: Engine, clock: Clock) -> None:
    _probe(engine, clock, "console", True)
    body = (await client.get("/status.json")).json()
    assert set(body) == {
        "generated_at",
        "status",
        "probe_interval_s",
        "window_days",
        "components",
        "open_incidents",
        "recent_incidents",
    }
    assert [c["id"] for c in body["components"]] == list(status.COMPONENTS)
    console = body["components"][2]
    assert set(console) == {"id", "name", "status", "last_checked_at", "latency_ms", "uptime_90d", "daily"}
    assert (console["status"], console["latency_ms"], console["uptime_90d"]) == ("operational", 12, 1.0)
    assert len(console["daily"]) == body["window_days"] == status.UPTIME_DAYS
    assert console["daily"][-1] == {"date": clock.now.date().isoformat(), "probes": 1, "ok": 1, "uptime": 1.0}
    assert console["daily"][0]["uptime"] is None
    assert body["components"][0]["status"] == "unknown"


async def test_status_probe_interval_comes_from_settings(
    make_client: Callable[..., httpx.AsyncClient], settings: ControlSettings
) -> None:
    from dataclasses import replace

    client = make_client(replace(settings, status_probe_interval_s=300))
    assert (await client.get("/status.json")).json()["probe_interval_s"] == 300
    assert "every 5 minutes" in (await client.get("/status")).text


async def test_an_admin_posts_updates_and_resolves_an_incident(
    make_client: Callable[..., httpx.AsyncClient], settings: ControlSettings, engine: Engine, clock: Clock
) -> None:
    admin = await _admin(make_client, settings, engine, clock)
    form = await admin.get("/admin/incidents")
    assert form.status_code == 200
    assert accessibility_problems(form.text) == []
    csrf = csrf_from(form.text)
    posted = await admin.post(
        "/admin/incidents",
        data={
            "title": "Metering delayed",
            "body": "Aggregates arrive late.",
            "severity": "major",
            "components": ["metering", "console"],
            "csrf_token": csrf,
        },
    )
    assert posted.status_code == 303
    public = await make_client(settings).get("/status.json")
    [incident] = public.json()["open_incidents"]
    assert (incident["title"], incident["severity"], incident["components"]) == (
        "Metering delayed",
        "major",
        ["metering", "console"],
    )
    assert "created_by" not in incident
    statuses = {c["id"]: c["status"] for c in public.json()["components"]}
    assert statuses["metering"] == statuses["console"] == "degraded"

    clock.advance(600)
    edit = await admin.get(f"/admin/incidents/{incident['id']}")
    assert edit.status_code == 200 and accessibility_problems(edit.text) == []
    updated = await admin.post(
        f"/admin/incidents/{incident['id']}",
        data={
            "title": "Metering delayed",
            "body": "Fixed upstream; catching up.",
            "severity": "minor",
            "components": ["metering"],
            "csrf_token": csrf,
        },
    )
    assert updated.status_code == 303
    clock.advance(600)
    resolved = await admin.post(f"/admin/incidents/{incident['id']}/resolve", data={"csrf_token": csrf})
    assert resolved.status_code == 303

    body = (await make_client(settings).get("/status.json")).json()
    assert body["open_incidents"] == []
    [done] = body["recent_incidents"]
    assert (done["body"], done["severity"], done["components"]) == (
        "Fixed upstream; catching up.",
        "minor",
        ["metering"],
    )
    assert done["resolved_at"] is not None and done["updated_at"] == done["resolved_at"]
    page = (await make_client(settings).get("/status")).text
    assert "Fixed upstream; catching up." in page and "Resolved incidents" in page


async def test_an_invalid_incident_is_shown_again_with_its_errors(
    make_client: Callable[..., httpx.AsyncClient], settings: ControlSettings, engine: Engine, clock: Clock
) -> None:
    admin = await _admin(make_client, settings, engine, clock)
    csrf = csrf_from((await admin.get("/admin/incidents")).text)
    response = await admin.post(
        "/admin/incidents",
        data={
            "title": "  ",
            "body": "b",
            "severity": "apocalyptic",
            "components": ["moon"],
            "csrf_token": csrf,
        },
    )
    assert response.status_code == 422
    assert re.search(r'role="alert".*title:.*severity:.*components:', response.text, re.S)
    assert accessibility_problems(response.text) == []
    with create_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Incident)) == 0


@pytest.mark.parametrize(
    "path", ["/admin/incidents", "/admin/incidents/{id}", "/admin/incidents/{id}/resolve"]
)
async def test_incident_changes_need_an_admin_and_a_csrf_token(
    path: str,
    make_client: Callable[..., httpx.AsyncClient],
    settings: ControlSettings,
    engine: Engine,
    clock: Clock,
) -> None:
    with create_session_factory(engine)() as session:
        incident = status.post_incident(
            session,
            draft=status.IncidentDraft("Down", "", "critical", ("routing",)),
            now=clock.now,
            created_by=None,
        )
    url = path.format(id=incident.id)
    data = {"title": "Hijacked", "body": "", "severity": "minor", "components": ["console"]}

    anonymous = make_client(settings)
    assert (await anonymous.post(url, data={**data, "csrf_token": "x"})).status_code == 401
    refused = await anonymous.get("/admin/incidents")  # a page: log in first, then back here
    assert (refused.status_code, refused.headers["location"]) == (303, "/login?next=%2Fadmin%2Fincidents")

    customer = await sign_up(make_client(settings), "customer@example.com")
    assert (await customer.client.get("/admin/incidents")).status_code == 403
    response = await customer.client.post(url, data={**data, "csrf_token": customer.csrf})
    assert response.status_code == 403

    admin = await _admin(make_client, settings, engine, clock)
    assert (await admin.post(url, data=data)).status_code == 422  # the token is required
    assert (await admin.post(url, data={**data, "csrf_token": customer.csrf})).status_code == 403

    with create_session_factory(engine)() as session:
        rows = session.scalars(select(Incident)).all()
        assert [(i.title, i.resolved_at) for i in rows] == [("Down", None)]


async def test_each_app_keeps_its_own_probe_history(
    client: httpx.AsyncClient, engine: Engine, clock: Clock, settings: ControlSettings, tmp_path
) -> None:
    # The routers are built once per process and shared by every app; what the status page caches
    # of settled days belongs to each app (ControlState.probe_history), never to the router.
    from modelpilot.control.app import create_app
    from modelpilot.control.store.engine import create_db_engine
    from modelpilot.control.store.tables import Base

    _probe(engine, clock, "routing", False, days_ago=3)
    first = (await client.get("/status.json")).json()
    other_engine = create_db_engine(f"sqlite:///{tmp_path / 'other-control.sqlite3'}")
    Base.metadata.create_all(other_engine)
    try:
        other_app = create_app(settings, engine=other_engine, clock=clock)
        transport = httpx.ASGITransport(app=other_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://other") as other:
            second = (await other.get("/status.json")).json()
    finally:
        other_engine.dispose()
    day = (clock.now - timedelta(days=3)).date().isoformat()

    def routing_day(body: dict) -> dict:
        return next(d for d in body["components"][0]["daily"] if d["date"] == day)

    assert routing_day(first) == {"date": day, "probes": 1, "ok": 0, "uptime": 0.0}
    assert routing_day(second) == {"date": day, "probes": 0, "ok": 0, "uptime": None}
