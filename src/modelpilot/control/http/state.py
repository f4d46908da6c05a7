"""What every request handler needs, built once by the app factory and reached through FastAPI
dependencies (``request.app.state``), never through module globals."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request
from jinja2 import Environment
from sqlalchemy.orm import Session, sessionmaker

from modelpilot.control.settings import ControlSettings
from modelpilot.schema.catalog import Catalog


@dataclass(frozen=True, slots=True)
class ControlState:
    """The app's collaborators: settings, database sessions, catalog, templates and clock."""

    settings: ControlSettings
    sessions: sessionmaker[Session]
    catalog: Catalog
    templates: Environment
    clock: Callable[[], datetime]


def get_state(request: Request) -> ControlState:
    state = request.app.state.control
    assert isinstance(state, ControlState)
    return state


def get_db(request: Request) -> Iterator[Session]:
    """One database session per request, closed (rolled back if uncommitted) afterwards."""
    with get_state(request).sessions() as session:
        yield session
