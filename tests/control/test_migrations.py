from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from modelpilot.control.store.engine import create_db_engine
from modelpilot.control.store.migrate import downgrade, upgrade
from modelpilot.control.store.tables import Base


def test_migrations_build_the_models_schema_from_empty(db_url):
    engine = create_db_engine(db_url)
    try:
        assert inspect(engine).get_table_names() == []
        upgrade(engine)
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []
        upgrade(engine)  # idempotent: a second start migrates nothing
        downgrade(engine, "base")
        assert inspect(engine).get_table_names() == ["alembic_version"]
        upgrade(engine)
        assert set(inspect(engine).get_table_names()) == {*Base.metadata.tables, "alembic_version"}
    finally:
        engine.dispose()
