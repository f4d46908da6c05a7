"""Alembic environment: runs on the engine handed over by ``modelpilot.control.store.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from modelpilot.control.store.tables import Base

engine = context.config.attributes["engine"]
assert isinstance(engine, Engine)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
