"""Engines and session factories for the control plane's database URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from modelpilot.control.store.key_changes import announce_key_changes


def create_db_engine(database_url: str, **kwargs: Any) -> Engine:
    """An engine for ``sqlite:///path`` or ``postgresql+psycopg://...``.

    SQLite gets foreign keys, WAL and a busy timeout so several threads (and the admin CLI) can
    share one file.
    """
    if database_url.startswith("sqlite"):
        engine = create_engine(
            database_url, connect_args={"check_same_thread": False, "timeout": 15}, **kwargs
        )
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(database_url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes usable after commit, and announce changes to keys,
    deployments and accounts (:mod:`modelpilot.control.store.key_changes`)."""
    sessions = sessionmaker(engine, expire_on_commit=False)
    announce_key_changes(sessions)
    return sessions
