"""Measure ``build_report`` over a full window of probes at the default 60 s interval (3 components
x 90 days x 1,440 probes): without the settled-days cache, while filling it, and cached.

    .venv/bin/python -m tests.control.status.measure_report sqlite
    .venv/bin/python -m tests.control.status.measure_report postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, insert, text

from modelpilot.control import status
from modelpilot.control.store.engine import create_db_engine, create_session_factory
from modelpilot.control.store.tables import Base, StatusProbe

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def measure(url: str) -> None:
    engine = create_db_engine(url)
    Base.metadata.create_all(engine)
    rows = [
        {"component": c, "checked_at": NOW - timedelta(minutes=m), "ok": m % 997 != 0, "latency_ms": 3}
        for c in status.COMPONENTS
        for m in range(status.UPTIME_DAYS * 1440)
    ]
    with engine.begin() as connection:
        for start in range(0, len(rows), 20_000):
            connection.execute(insert(StatusProbe), rows[start : start + 20_000])
    sessions = create_session_factory(engine)
    history = status.ProbeHistory()
    for label, cache in (
        ("no cache", None),
        ("filling the cache", history),
        ("cached", history),
        ("cached", history),
    ):
        with sessions() as session:
            started = time.perf_counter()
            report = status.build_report(session, now=NOW, history=cache)
            elapsed_ms = (time.perf_counter() - started) * 1000
        share = report.components[0].uptime_share
        sys.stdout.write(
            f"{len(rows):,} probes, build_report {label}: {elapsed_ms:.0f} ms (uptime {share:.5f})\n"
        )
    engine.dispose()


def main(target: str) -> None:
    if target == "sqlite":
        measure(f"sqlite:///{tempfile.mkdtemp()}/measure.sqlite3")
        return
    schema = f"m_{uuid.uuid4().hex[:8]}"
    admin = create_engine(target, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        measure(f"{target}?options=-csearch_path%3D{schema}")
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main(sys.argv[1])
