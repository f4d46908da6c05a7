"""The control plane's ASGI app factory (the composition root)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import APIRouter, FastAPI
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel
from sqlalchemy import Engine

from modelpilot import __version__
from modelpilot.control import status
from modelpilot.control.http.allowed_hosts import AllowedHosts
from modelpilot.control.http.assets import assets_router
from modelpilot.control.http.body_limit import BodyLimit
from modelpilot.control.http.exports import exports_router
from modelpilot.control.http.forms import forms_router
from modelpilot.control.http.ingestion import ingestion_router
from modelpilot.control.http.pages import pages_router
from modelpilot.control.http.problems import install_error_handlers
from modelpilot.control.http.resources import resource_routers
from modelpilot.control.http.security_headers import SecurityHeaders
from modelpilot.control.http.state import ControlState
from modelpilot.control.jobs import default_jobs
from modelpilot.control.route_keys import RouteKeys, libpq_url, listen
from modelpilot.control.settings import ControlSettings
from modelpilot.control.store.engine import create_session_factory
from modelpilot.schema.catalog import Catalog, load_catalog


class Health(BaseModel):
    status: str


def _utcnow() -> datetime:
    return datetime.now(UTC)


# Far above any meter or log batch a proxy sends (hundreds of KB), far below what could hurt a
# worker: anything larger is refused with 413 (a problem document) before it is all in memory.
MAX_BODY_BYTES = 4 * 1024 * 1024


def create_app(
    settings: ControlSettings,
    *,
    engine: Engine,
    catalog: Catalog | None = None,
    clock: Callable[[], datetime] = _utcnow,
) -> FastAPI:
    """Build the control plane on an engine the caller owns (and disposes of).

    The database must already be migrated (``modelpilot.control.store.migrate.upgrade``).
    ``clock`` is the time source for sessions, throttling and metering (tests pass their own).

    >>> app = create_app(settings, engine=create_db_engine(settings.database_url))  # doctest: +SKIP
    """
    sessions = create_session_factory(engine)
    # Periodic jobs (purge, invoicing) run during the lifespan; others add theirs through
    # ``app.state.jobs.register_job`` before start-up (see modelpilot.control.jobs).
    jobs = default_jobs(settings, sessions=sessions, clock=clock)
    app = FastAPI(
        title="ModelPilot control plane",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=jobs.lifespan,
    )
    app.state.jobs = jobs
    app.state.control = ControlState(
        settings=settings,
        sessions=sessions,
        catalog=catalog if catalog is not None else load_catalog(),
        templates=Environment(
            loader=PackageLoader("modelpilot.control", "templates"),
            autoescape=select_autoescape(default=True),
        ),
        clock=clock,
        reads=engine.execution_options(isolation_level="AUTOCOMMIT"),
        route_keys=RouteKeys(max_age_s=settings.key_last_used_resolution_s),
    )
    state = app.state.control
    if engine.dialect.name == "postgresql":
        conninfo = libpq_url(engine.url)
        jobs.register_service("key-changes", lambda: listen(state.route_keys, conninfo))
    jobs.register_job(
        "status-probes",
        settings.status_probe_interval_s,
        status.probe_job(
            state.sessions, settings=settings, catalog=state.catalog, templates=state.templates, clock=clock
        ),
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(AllowedHosts, settings=settings)
    app.add_middleware(SecurityHeaders)
    # A trailing-slash redirect would name the request's Host (an attacker's, behind DNS
    # rebinding or a lax proxy): such paths are a plain 404 instead.
    app.router.redirect_slashes = False

    @app.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> Health:
        """Liveness: the process answers (no database round trip)."""
        return Health(status="ok")

    for router in _routers():
        app.include_router(router)
    return app


@functools.cache
def _routers() -> tuple[APIRouter, ...]:
    """Every router of the control plane, in the order they are matched; built once per process.

    FastAPI analyses each endpoint's signature as it is declared, about half the cost of building
    an app (0.5 s here). The routers hold nothing of an app (that is ``app.state.control``, which
    handlers reach through dependencies), so every app built in a process (replicas in one test,
    ``--workers``) includes the same ones."""
    return (
        ingestion_router(),
        forms_router(),
        assets_router(),
        # Before the resources: ``/api/billing/invoices.csv`` would match ``/invoices/{invoice_id}``.
        exports_router(),
        *resource_routers(),
        pages_router(),
    )
