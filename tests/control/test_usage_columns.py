"""Every counter of the usage bucket (schema/bucket.py) reaches every place: a charge in the
proxy's spool, the MeterRow it sends, the control plane's ingestion over loopback HTTP, the
``usage_aggregates`` row, the usage sums, the console's JSON and its CSV export. Each counter in
turn carries a value no other counter has; SQLite and PostgreSQL for the storage."""

from __future__ import annotations

import csv
import io
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from modelpilot.control import dashboard
from modelpilot.control.app import create_app
from modelpilot.control.settings import ControlSettings
from modelpilot.control.usage import usage_breakdown
from modelpilot.proxy.accounting import CHARGE_FIELDS
from modelpilot.proxy.control_client import ControlPlaneClient
from modelpilot.proxy.flusher import MeterFlusher
from modelpilot.proxy.metrics import ProxyMetrics
from modelpilot.proxy.spool import Spool, deployment_fingerprint
from modelpilot.schema.bucket import BUCKET_KEY, COUNTERS
from modelpilot.schema.catalog import load_catalog
from modelpilot.schema.wire import MeterRow
from tests.proxy.metering.records import HOUR, charge
from tests.servers import serve


def counter_values(under_test: str) -> dict[str, int]:
    """Every counter distinct and nonzero: even values falling with the counter's place (a
    counter checked against an earlier one, acceptable <= judged or shadow_requests <= requests,
    stays within it), and the counter under test one more (odd, so no other counter has it).
    Multiples of these stay distinct."""
    values = {name: 1000 - 2 * index for index, name in enumerate(COUNTERS)}
    values[under_test] += 1
    return values


def test_the_values_are_distinct_and_fit_the_wire_contract() -> None:
    for name in COUNTERS:
        values = counter_values(name)
        assert len(set(values.values())) == len(COUNTERS)
        assert [v for v in values.values() if v % 2] == [values[name]]
        MeterRow(hour=HOUR, category="code", requested_model="claude-sonnet-4-5",
                 served_model="claude-haiku-4-5", routed=True, escalated=False, **values)  # fmt: skip


@pytest.fixture
def control_url(engine: Engine, settings: ControlSettings, clock) -> Iterator[str]:
    """The control plane on a loopback port, on the test's database (a replica of the app the
    tenant's browser talks to)."""
    with serve(create_app(settings, engine=engine, clock=clock)) as url:
        yield url


def spooled_row(path: Path) -> dict[str, object]:
    with closing(sqlite3.connect(path)) as connection:
        connection.row_factory = sqlite3.Row
        (row,) = connection.execute("SELECT * FROM pending").fetchall()
        return dict(row)


def stored_counters(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        row = connection.execute(text(f"SELECT {', '.join(COUNTERS)} FROM usage_aggregates")).one()
    return dict(zip(COUNTERS, (int(v) for v in row), strict=True))


async def deliver(spool: Spool, url: str, key: str) -> bool:
    client = ControlPlaneClient(url, api_key=key, timeout_s=5)
    try:
        flusher = MeterFlusher(
            spool, client, metrics=ProxyMetrics(load_catalog()), interval_s=0.05, jitter=lambda: 0.0
        )
        return await flusher.flush()
    finally:
        await client.aclose()


@pytest.mark.parametrize("counter", COUNTERS)
async def test_each_counter_reaches_every_place(
    counter: str, tmp_path: Path, new_tenant, engine: Engine, control_url: str, clock
) -> None:
    tenant = await new_tenant(f"usagecols-{counter.replace('_', '-')}@example.com")
    deployment = await tenant.create_deployment("usagecols")
    _, secret = await tenant.create_key(deployment)
    values = counter_values(counter)
    one = charge(**{CHARGE_FIELDS[name]: value for name, value in values.items()})

    # The proxy: two charges of one bucket add up in the spool file (its upsert) and in the
    # MeterRow it sends; a third goes in a later batch, which the control plane adds (its upsert).
    spool_path = tmp_path / "usagecols-spool.sqlite3"
    spool = Spool.open(spool_path, deployment=deployment_fingerprint(secret))
    try:
        assert spool.add(one) and spool.add(one)
        assert spooled_row(spool_path)[counter] == 2 * values[counter]
        outgoing = spool.take_batch()
        assert outgoing is not None
        (sent,) = outgoing.batch.rows
        assert isinstance(sent, MeterRow) and getattr(sent, counter) == 2 * values[counter]
        assert {name: getattr(sent, name) for name in COUNTERS} == {n: 2 * v for n, v in values.items()}
        # The control plane, over loopback HTTP: each batch acknowledged, the spool emptied.
        assert await deliver(spool, control_url, secret) is True
        assert spool.add(one)
        assert await deliver(spool, control_url, secret) is True
        assert spool.backlog().rows == 0
    finally:
        spool.close()
    values = {name: 3 * value for name, value in values.items()}
    expected = values[counter]

    # Storage: the column of the same name holds it (and every other counter its own value).
    assert stored_counters(engine) == values

    # The sums behind billing and the dashboards.
    with Session(engine) as session:
        breakdown = usage_breakdown(
            session,
            account_id=uuid.UUID(tenant.account_id),
            deployment_id=None,
            start=HOUR,
            end=HOUR + timedelta(hours=1),
        )
        day = HOUR.date().isoformat()
        period = dashboard.choose_period("custom", start=day, end=day, now=clock.now)
        summary = dashboard.account_summary(
            session, account_id=uuid.UUID(tenant.account_id), deployment_id=None, period=period
        )
    assert getattr(breakdown.totals, counter) == expected
    (route,) = breakdown.by_route
    assert {name: getattr(route.totals, name) for name in COUNTERS} == values
    assert getattr(summary.totals, counter) == expected
    assert {name: getattr(summary.totals, name) for name in COUNTERS} == values

    # The console's JSON and its CSV export.
    response = await tenant.client.get(f"/api/deployments/{deployment}/usage")
    assert response.status_code == 200, response.text
    (shown,) = response.json()
    assert shown[counter] == expected
    assert {name: shown[name] for name in COUNTERS} == values
    assert {name: shown[name] for name in BUCKET_KEY} == {
        "hour": HOUR.isoformat().replace("+00:00", "Z"),
        "category": "code",
        "requested_model": "claude-sonnet-4-5",
        "served_model": "claude-haiku-4-5",
        "routed": True,
        "escalated": False,
    }
    exported = await tenant.client.get(f"/api/deployments/{deployment}/usage.csv")
    assert exported.status_code == 200, exported.text
    (row,) = csv.DictReader(io.StringIO(exported.text))
    assert row[counter] == str(expected)
    assert {name: row[name] for name in COUNTERS} == {name: str(v) for name, v in values.items()}
