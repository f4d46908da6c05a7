"""Alembic environment: runs on the engine handed over by ``modelpilot.control.store.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from modelpilot.control.store.tables import Base

engine = context.config.attributes["engine"]
assert isinstance(engine, Engine)

with engine.connect() as connection:
    is_sqlite = connection.dialect.name == "sqlite"
    if is_sqlite:
        # Batch mode alters a SQLite table by copying, dropping and renaming it; with foreign
        # keys on, the drop would cascade-delete every row that references it (keys, usage).
        # The pragma is a no-op inside a transaction, hence before it begins.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
    if is_sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()
