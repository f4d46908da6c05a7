"""The spool: aggregation, batch formation, same-id resend, acknowledgement, the bound, and
what survives closing and reopening the file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelpilot.proxy.spool import Spool
from modelpilot.schema.wire import Category
from tests.proxy.metering.records import HOUR, charge, log_entry


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "spool.sqlite3"


@pytest.fixture
def spool(path: Path) -> Iterator[Spool]:
    spool = Spool.open(path)
    yield spool
    spool.close()


def test_charges_of_one_bucket_add_up_in_one_row(spool: Spool):
    spool.add(charge(input_tokens=100, actual_micros=7, baseline_micros=9))
    spool.add(charge(input_tokens=50, cache_write_tokens=3, actual_micros=1, baseline_micros=2))
    spool.add(charge(escalated=True))
    assert spool.backlog().pending_rows == 2 and spool.rows == 2
    outgoing = spool.take_batch()
    assert outgoing is not None
    rows = {row.escalated: row for row in outgoing.batch.rows}
    assert rows[False].requests == 2
    assert (rows[False].input_tokens, rows[False].cache_write_tokens) == (150, 3)
    assert (rows[False].actual_cost_micros, rows[False].baseline_cost_micros) == (8, 11)
    assert rows[False].hour == HOUR and rows[False].category is Category.CODE
    assert rows[True].requests == 1
    assert outgoing.batch.batch_id == outgoing.batch_id


def test_a_batch_is_resent_with_the_same_id_until_acknowledged_even_after_a_restart(path: Path):
    spool = Spool.open(path)
    spool.add(charge())
    first = spool.take_batch()
    assert first is not None
    spool.add(charge())  # arrives after the batch was formed: it waits for the next batch
    again = spool.take_batch()
    assert again is not None and again.batch == first.batch
    spool.close()  # as if the proxy died between sending and recording the acknowledgement

    spool = Spool.open(path)
    try:
        resent = spool.take_batch()
        assert resent is not None and resent.batch == first.batch
        assert spool.rows == 2
        spool.acknowledge(first.batch_id)
        nxt = spool.take_batch()
        assert nxt is not None and nxt.batch_id != first.batch_id
        assert [row.requests for row in nxt.batch.rows] == [1]
        spool.acknowledge(nxt.batch_id)
        spool.acknowledge(nxt.batch_id)  # a second acknowledgement changes nothing
        assert spool.take_batch() is None
        assert spool.rows == 0 and spool.backlog().rows == 0
    finally:
        spool.close()


def test_pending_rows_survive_a_restart(path: Path):
    spool = Spool.open(path)
    spool.add(charge())
    spool.add(charge(category=Category.CHAT))
    spool.close()
    spool = Spool.open(path)
    try:
        assert spool.rows == 2
        outgoing = spool.take_batch()
        assert outgoing is not None and len(outgoing.batch.rows) == 2
    finally:
        spool.close()


def test_batch_ids_are_lowercase_uuid4(spool: Spool):
    spool.add(charge())
    outgoing = spool.take_batch()
    assert outgoing is not None
    assert outgoing.batch_id == outgoing.batch_id.lower() and outgoing.batch_id[14] == "4"


def test_a_batch_holds_at_most_a_thousand_rows(spool: Spool):
    for index in range(1001):
        spool.add(charge(hour=HOUR - timedelta(hours=index)))
    first = spool.take_batch()
    assert first is not None and len(first.batch.rows) == 1000
    # oldest hours first
    assert min(row.hour for row in first.batch.rows) == HOUR - timedelta(hours=1000)
    spool.acknowledge(first.batch_id)
    second = spool.take_batch()
    assert second is not None and [row.hour for row in second.batch.rows] == [HOUR]


def test_sums_beyond_what_one_wire_row_carries_are_split_exactly(spool: Spool):
    from modelpilot.schema.wire import MeterRow

    limit = MeterRow.model_fields["input_tokens"].metadata[-1].le
    for _ in range(3):
        # 200,000 requests each: a plausible 5M tokens per request (MeterRow refuses more).
        spool.add(charge(requests=200_000, input_tokens=limit, output_tokens=1, actual_micros=5))
    outgoing = spool.take_batch()
    assert outgoing is not None
    rows = outgoing.batch.rows
    assert len(rows) == 3
    assert sum(row.input_tokens for row in rows) == 3 * limit
    assert sum(row.actual_cost_micros for row in rows) == 15
    assert sum(row.requests for row in rows) == 3 * 200_000


def test_at_the_bound_existing_buckets_grow_and_new_ones_are_refused_and_counted(path: Path, caplog):
    spool = Spool.open(path, max_rows=2)
    try:
        assert spool.add(charge(category=Category.CODE))
        assert spool.add(charge(category=Category.CHAT))
        assert not spool.add(charge(category=Category.MATH))
        assert not spool.add(charge(category=Category.QA))
        assert spool.add(charge(category=Category.CODE))  # no new row needed
        assert "meter spool is full" in caplog.text
        assert spool.backlog().refused_requests == 2
        outgoing = spool.take_batch()
        assert outgoing is not None
        assert not spool.add(charge(category=Category.MATH))  # rows in flight still count
        spool.acknowledge(outgoing.batch_id)
        assert spool.add(charge(category=Category.MATH))
        assert sorted(row.requests for row in outgoing.batch.rows) == [1, 2]
    finally:
        spool.close()
    spool = Spool.open(path, max_rows=2)
    try:
        assert spool.backlog().refused_requests == 3  # durable
        assert spool.rows == 1
    finally:
        spool.close()


def test_a_parked_batch_is_kept_and_skipped_until_unparked(spool: Spool):
    spool.add(charge())
    poison = spool.take_batch()
    assert poison is not None
    spool.park(poison.batch_id, "HTTP 400")
    assert spool.take_batch() is None
    spool.add(charge(category=Category.CHAT))
    fresh = spool.take_batch()
    assert fresh is not None and fresh.batch_id != poison.batch_id
    backlog = spool.backlog()
    assert (backlog.parked_rows, backlog.batched_rows, backlog.pending_rows) == (1, 1, 0)
    spool.acknowledge(fresh.batch_id)
    assert spool.unpark_all() == 1
    again = spool.take_batch()
    assert again is not None and again.batch == poison.batch


charges = st.builds(
    charge,
    category=st.sampled_from([Category.CODE, Category.CHAT, Category.MATH]),
    escalated=st.booleans(),
    input_tokens=st.integers(0, 10**6),
    actual_micros=st.integers(0, 10**6),
    baseline_micros=st.integers(0, 10**6),
)
steps = st.lists(st.one_of(charges, st.sampled_from(["take", "ack", "reopen"])), max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_whatever_the_interleaving_every_charge_is_sent_exactly_once(tmp_path_factory, steps):
    path = tmp_path_factory.mktemp("spool") / "spool.sqlite3"
    spool = Spool.open(path)
    acknowledged: dict[str, tuple[int, int, int]] = {}
    expected = [0, 0, 0]
    in_flight = None
    try:
        for step in [*steps, "drain"]:
            if step == "take":
                in_flight = spool.take_batch()
            elif step == "ack" and in_flight is not None:
                rows = in_flight.batch.rows
                totals = (
                    sum(r.requests for r in rows),
                    sum(r.input_tokens for r in rows),
                    sum(r.actual_cost_micros for r in rows),
                )
                acknowledged.setdefault(in_flight.batch_id, totals)  # the control plane dedupes
                spool.acknowledge(in_flight.batch_id)
                in_flight = None
            elif step == "reopen":
                spool.close()
                spool = Spool.open(path)
                in_flight = None
            elif step == "drain":
                while (outgoing := spool.take_batch()) is not None:
                    rows = outgoing.batch.rows
                    acknowledged.setdefault(
                        outgoing.batch_id,
                        (
                            sum(r.requests for r in rows),
                            sum(r.input_tokens for r in rows),
                            sum(r.actual_cost_micros for r in rows),
                        ),
                    )
                    spool.acknowledge(outgoing.batch_id)
            elif not isinstance(step, str):
                assert spool.add(step)
                expected[0] += 1
                expected[1] += step.input_tokens
                expected[2] += step.actual_micros
        got = [sum(t[i] for t in acknowledged.values()) for i in range(3)]
        assert got == expected
        assert spool.rows == 0
    finally:
        spool.close()


def test_a_row_the_wire_schema_refuses_is_set_aside_instead_of_blocking_the_rest(spool: Spool, caplog):
    spool.add(charge(requested_model="claude-Not-A-Model"))  # as if written by an older version
    spool.add(charge(category=Category.CHAT))
    outgoing = spool.take_batch()
    assert outgoing is not None
    assert [row.category for row in outgoing.batch.rows] == [Category.CHAT]
    assert "does not fit the wire schema" in caplog.text and "requested_model" in caplog.text
    spool.acknowledge(outgoing.batch_id)
    backlog = spool.backlog()
    assert (backlog.rows, backlog.rejected_rows, spool.rows) == (0, 1, 0)


def test_metadata_logs_are_batched_in_order_and_resent_under_the_same_id(path: Path):
    spool = Spool.open(path, max_rows=3)
    try:
        for latency_ms in (1, 2, 3):
            assert spool.add_log(log_entry(latency_ms=latency_ms))
        assert not spool.add_log(log_entry(latency_ms=4))  # at the bound: refused and counted
        spool.add(charge())
        assert spool.add(charge(category=Category.CHAT))  # metering has its own room
        first = spool.take_log_batch()
        assert first is not None and first.kind == "logs" and first.path == "/v1/logs"
        assert [r.latency_ms for r in first.batch.records] == [1, 2, 3]
        meter = spool.take_batch()
        assert meter is not None and meter.kind == "meter"
        backlog = spool.backlog()
        assert (backlog.log_records, backlog.refused_log_records, backlog.batched_rows) == (3, 1, 2)
    finally:
        spool.close()
    spool = Spool.open(path, max_rows=3)
    try:
        again = spool.take_log_batch()
        assert again is not None and again.batch == first.batch
        spool.acknowledge(again.batch_id)
        assert spool.take_log_batch() is None
        assert spool.add_log(log_entry())
        assert spool.backlog().log_records == 1
    finally:
        spool.close()


def test_a_closed_spool_reports_an_empty_backlog(path: Path):
    spool = Spool.open(path)
    spool.add(charge())
    spool.close()
    assert spool.backlog().rows == 0  # a late /metrics scrape during shutdown must not fail
