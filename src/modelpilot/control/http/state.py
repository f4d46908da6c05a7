"""What every request handler needs, built once by the app factory and reached through FastAPI
dependencies (``request.app.state``), never through module globals."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from fastapi import Request
from jinja2 import Environment
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from modelpilot.control.route_keys import RouteKeys
from modelpilot.control.settings import ControlSettings
from modelpilot.control.status import ProbeHistory
from modelpilot.schema.catalog import Catalog


@dataclass(frozen=True, slots=True)
class ControlState:
    """The app's collaborators: settings, database sessions, catalog, templates and clock.
    ``reads`` is the same engine in autocommit mode, for single-statement reads on the hot path
    (no BEGIN and ROLLBACK round trips); ``route_keys`` remembers keys for ``/v1/route``;
    ``probe_history`` caches settled days' status-probe counts for the status page."""

    settings: ControlSettings
    sessions: sessionmaker[Session]
    catalog: Catalog
    templates: Environment
    clock: Callable[[], datetime]
    reads: Engine
    route_keys: RouteKeys
    probe_history: ProbeHistory = field(default_factory=ProbeHistory)


def get_state(request: Request) -> ControlState:
    state = request.app.state.control
    assert isinstance(state, ControlState)
    return state


async def state_dependency(request: Request) -> ControlState:
    """:func:`get_state` as a dependency: ``async`` so FastAPI runs it on the event loop instead
    of sending it to the thread pool (a hop per request, for an attribute read)."""
    return get_state(request)


def get_db(request: Request) -> Iterator[Session]:
    """One database session per request, closed (rolled back if uncommitted) afterwards."""
    with get_state(request).sessions() as session:
        yield session
