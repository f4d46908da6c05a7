"""The real control plane (SQLite in the test's directory, uvicorn on loopback) with one account,
one deployment and its key: for proxy tests that need real ingestion, config and settings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from modelpilot.control import accounts, deployments
from modelpilot.control.app import create_app as create_control_app
from modelpilot.control.settings import ControlSettings
from modelpilot.control.store.engine import create_db_engine
from modelpilot.control.store.tables import Base
from tests.servers import serve


@dataclass(frozen=True)
class SeededControlPlane:
    url: str
    engine: Engine
    account_id: uuid.UUID
    deployment_id: uuid.UUID
    key: str  # the deployment key (mp_live_...)


@contextmanager
def seeded_control_plane(tmp_path: Path, *, email: str, **serve_config: Any) -> Iterator[SeededControlPlane]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'control.sqlite3'}")
    Base.metadata.create_all(engine)
    settings = ControlSettings(
        database_url="sqlite://",
        session_secrets=("test-session-secret-0123456789abcdef",),
        password_iterations=1_000,
        allow_weak_password_hashing=True,
    )
    now = datetime.now(UTC)
    with Session(engine, expire_on_commit=False) as session:
        account = accounts.sign_up(session, settings, email=email, password="correct horse battery", now=now)
        deployment = deployments.create_deployment(session, account_id=account.id, name="prod", now=now)
        _, key = deployments.create_api_key(
            session, account_id=account.id, deployment_id=deployment.id, name="proxy", now=now
        )
    try:
        with serve(create_control_app(settings, engine=engine), **serve_config) as url:
            yield SeededControlPlane(url, engine, account.id, deployment.id, key)
    finally:
        engine.dispose()
