"""A batch the control plane refuses for some of its entries (an hour past the accepted window
after a long outage, say): only those entries are parked, the others are counted at once, and
nothing is counted twice, against the real control plane over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelpilot.control.store.tables import UsageAggregate
from modelpilot.proxy.control_client import ControlPlaneClient
from modelpilot.proxy.flusher import MeterFlusher, refused_entries
from modelpilot.proxy.metrics import ProxyMetrics
from modelpilot.proxy.spool import OutgoingBatch, Spool
from modelpilot.schema.catalog import load_catalog
from modelpilot.schema.wire import Category
from tests.proxy.metering.records import charge, log_entry
from tests.proxy.seeded_control_plane import seeded_control_plane


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    spool = Spool.open(tmp_path / "spool.sqlite3")
    yield spool
    spool.close()


def _hour(ago: timedelta) -> datetime:
    return (datetime.now(UTC) - ago).replace(minute=0, second=0, microsecond=0)


def test_set_aside_parks_the_named_entries_and_queues_the_rest(spool: Spool):
    for category in (Category.CODE, Category.CHAT, Category.MATH, Category.QA):
        spool.add(charge(category=category))
    batch = spool.take_batch()
    assert batch is not None and batch.size == 4
    assert spool.set_aside(batch.batch_id, frozenset({1, 3}), "HTTP 422 (outside the accepted window)")
    rest = spool.take_batch()
    assert rest is not None and rest.batch_id != batch.batch_id
    assert rest.batch.rows == [batch.batch.rows[0], batch.batch.rows[2]]
    backlog = spool.backlog()
    assert (backlog.parked_rows, backlog.batched_rows, backlog.pending_rows) == (2, 2, 0)
    assert spool.rows == 4  # the bound still counts every row held
    spool.acknowledge(rest.batch_id)
    assert spool.unpark_all() == 1
    parked = spool.take_batch()
    assert parked is not None and parked.batch.rows == [batch.batch.rows[1], batch.batch.rows[3]]
    spool.acknowledge(parked.batch_id)
    assert spool.rows == 0 and spool.take_batch() is None


def test_set_aside_leaves_a_batch_whole_when_it_names_none_or_all(spool: Spool):
    spool.add(charge())
    spool.add(charge(category=Category.CHAT))
    batch = spool.take_batch()
    assert batch is not None
    assert not spool.set_aside(batch.batch_id, frozenset(), "HTTP 422")
    assert not spool.set_aside(batch.batch_id, frozenset({0, 1}), "HTTP 422")
    again = spool.take_batch()
    assert again is not None and again.batch_id == batch.batch_id


def test_set_aside_splits_log_batches_too(spool: Spool):
    for status in (200, 400, 500):
        spool.add_log(log_entry(status=status))
    batch = spool.take_log_batch()
    assert batch is not None and batch.size == 3
    assert spool.set_aside(batch.batch_id, frozenset({0}), "HTTP 422 (outside the accepted window)")
    rest = spool.take_log_batch()
    assert rest is not None and [r.status for r in rest.batch.records] == [400, 500]


@pytest.mark.parametrize(
    ("errors", "expected"),
    [
        (
            [{"path": "$.rows[0].hour", "reason": "x"}, {"path": "$.rows[2].served_model", "reason": "y"}],
            {0, 2},
        ),
        (
            [{"path": "$.rows[1].hour", "reason": "x"}, {"path": "$.rows[1].requested_model", "reason": "y"}],
            {1},
        ),
        # anything not about one of this batch's rows refuses the batch as a whole
        ([{"path": "$.rows[0].hour", "reason": "x"}, {"path": "$.batch_id", "reason": "y"}], set()),
        ([{"path": "$.rows[9].hour", "reason": "x"}], set()),
        ([{"path": "$.records[0].ts", "reason": "x"}], set()),
        ("not a list", set()),
        ([], set()),
    ],
)
def test_refused_entries_reads_only_paths_of_this_batch(spool: Spool, errors, expected):
    for category in (Category.CODE, Category.CHAT, Category.MATH):
        spool.add(charge(category=category))
    batch = spool.take_batch()
    assert isinstance(batch, OutgoingBatch) and batch.size == 3
    assert refused_entries(batch, {"status": 422, "errors": errors}) == expected
    assert refused_entries(batch, None) == frozenset()


async def test_only_the_refused_rows_wait_and_nothing_is_counted_twice(tmp_path: Path, spool: Spool):
    now = _hour(timedelta(0))
    # The oldest hour is past the control plane's 62-day window (a proxy offline for ten weeks).
    spool.add(charge(hour=_hour(timedelta(days=70)), category=Category.CODE))
    spool.add(charge(hour=now, category=Category.CHAT))
    spool.add(charge(hour=now, category=Category.MATH))
    metrics = ProxyMetrics(load_catalog(), backlog=spool.backlog)
    with seeded_control_plane(tmp_path, email="refused-rows@example.com") as control:
        client = ControlPlaneClient(control.url, api_key=control.key, timeout_s=5)
        try:
            flusher = MeterFlusher(spool, client, metrics=metrics, interval_s=0.05, jitter=lambda: 0.0)
            assert await flusher.flush() is True
            backlog = spool.backlog()
            assert (backlog.parked_rows, backlog.batched_rows, backlog.pending_rows) == (1, 0, 0)
            assert metrics.batches_parked.value("meter") == 1
            with Session(control.engine) as session:
                counted = sorted(session.scalars(select(UsageAggregate.category)).all())
            assert counted == ["chat", "math"]
            # At the next start the parked row is tried once more: refused again (whole), kept,
            # and what was counted stays counted once.
            assert spool.unpark_all() == 1
            assert await flusher.flush() is True
            assert spool.backlog().parked_rows == 1
            assert metrics.batches_parked.value("meter") == 2
            with Session(control.engine) as session:
                requests = session.scalars(select(UsageAggregate.requests)).all()
            assert sorted(requests) == [1, 1]
        finally:
            await client.aclose()
