from __future__ import annotations

import uuid
from datetime import datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import DateTime, Uuid, bindparam, inspect, text

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


def test_0003_keeps_existing_usage_and_gives_deployments_the_calibration_defaults(db_url):
    """Rows written before paired checks existed read as zero verdicts, zero calibration spend,
    the default calibration settings and a first settings version."""

    def typed(sql: str):
        # Plain SQL at revision 0002 (the models describe the newest schema), ids and times typed.
        names = [n for n in ("id", "a", "d") if f":{n}" in sql]
        return text(sql).bindparams(
            *(bindparam(n, type_=Uuid()) for n in names), bindparam("now", type_=DateTime(timezone=True))
        )

    engine = create_db_engine(db_url)
    try:
        upgrade(engine, "0002")
        account, deployment = uuid.uuid4(), uuid.uuid4()
        now = datetime(2026, 11, 28, 10)  # naive: stored as UTC by both
        with engine.begin() as connection:
            connection.execute(
                typed(
                    "INSERT INTO accounts (id, email, password_hash, is_admin, created_at) "
                    "VALUES (:id, 'm@example.com', 'x', false, :now)"
                ),
                {"id": account, "now": now},
            )
            connection.execute(
                typed(
                    "INSERT INTO deployments (id, account_id, name, created_at) VALUES (:id, :a, 'p', :now)"
                ),
                {"id": deployment, "a": account, "now": now},
            )
            connection.execute(
                typed(
                    "INSERT INTO usage_aggregates (deployment_id, hour, category, requested_model, "
                    "served_model, routed, escalated, requests, input_tokens, output_tokens, "
                    "cache_write_tokens, cache_read_tokens, actual_cost_micros, baseline_cost_micros) "
                    "VALUES (:d, :now, 'qa', 'claude-sonnet-4-5', 'claude-haiku-4-5', true, false, "
                    "7, 1, 1, 0, 0, 10, 30)"
                ),
                {"d": deployment, "now": now},
            )
        upgrade(engine)
        with engine.connect() as connection:
            usage = connection.execute(
                text("SELECT requests, judged, acceptable, calibration_cost_micros FROM usage_aggregates")
            ).one()
            settings = connection.execute(
                text(
                    "SELECT calibration_rate_bps, calibration_daily_cap_micros, settings_version "
                    "FROM deployments"
                )
            ).one()
        assert tuple(usage) == (7, 0, 0, 0)
        assert tuple(settings) == (200, 1_000_000, 1)
        downgrade(engine, "0002")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT requests FROM usage_aggregates")).scalar_one() == 7
    finally:
        engine.dispose()


def test_upgrading_from_0001_keeps_keys_and_usage(db_url):
    """0002 rebuilds ``deployments`` on SQLite (it drops a column); rows referencing it must
    survive the rebuild instead of being cascade-deleted."""
    engine = create_db_engine(db_url)
    try:
        upgrade(engine, "0001")
        account, deployment, key = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        now = datetime(2026, 11, 28, 10)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO accounts (id, email, password_hash, is_admin, created_at) "
                    "VALUES (:id, 'old@example.com', 'x', false, :now)"
                ).bindparams(bindparam("id", type_=Uuid()), bindparam("now", type_=DateTime(timezone=True))),
                {"id": account, "now": now},
            )
            connection.execute(
                text(
                    "INSERT INTO deployments (id, account_id, name, routing_enabled, created_at) "
                    "VALUES (:id, :a, 'p', false, :now)"
                ).bindparams(
                    bindparam("id", type_=Uuid()),
                    bindparam("a", type_=Uuid()),
                    bindparam("now", type_=DateTime(timezone=True)),
                ),
                {"id": deployment, "a": account, "now": now},
            )
            connection.execute(
                text(
                    "INSERT INTO api_keys (id, deployment_id, name, key_hash, display_prefix, created_at) "
                    "VALUES (:id, :d, 'k', :hash, 'mp_live_abcd', :now)"
                ).bindparams(
                    bindparam("id", type_=Uuid()),
                    bindparam("d", type_=Uuid()),
                    bindparam("now", type_=DateTime(timezone=True)),
                ),
                {"id": key, "d": deployment, "hash": "0" * 64, "now": now},
            )
        upgrade(engine)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM api_keys")).scalar_one() == 1
            assert connection.execute(text("SELECT routing_mode FROM deployments")).scalar_one() == "off"
            if connection.dialect.name == "sqlite":
                assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    finally:
        engine.dispose()
