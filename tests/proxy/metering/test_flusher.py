"""The flusher against a stand-in ``/v1/meter`` over loopback HTTP: acknowledgement, same-id
resends while the control plane is away, parking refused batches, and the backoff."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from modelpilot.proxy.control_client import ControlPlaneClient
from modelpilot.proxy.flusher import Backoff, MeterFlusher
from modelpilot.proxy.metrics import ProxyMetrics
from modelpilot.proxy.spool import Spool
from modelpilot.schema.catalog import load_catalog
from modelpilot.schema.wire import Category
from tests.proxy.metering.records import charge, log_entry
from tests.proxy.metering.standin import KEY, MeterStandIn
from tests.servers import serve


@pytest.fixture
def standin() -> Iterator[tuple[MeterStandIn, str]]:
    app = MeterStandIn()
    with serve(app) as url:
        yield app, url


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    spool = Spool.open(tmp_path / "spool.sqlite3")
    yield spool
    spool.close()


@pytest.fixture
def metrics(spool: Spool) -> ProxyMetrics:
    return ProxyMetrics(load_catalog(), backlog=spool.backlog)


@pytest.fixture
async def make_flusher(spool: Spool, metrics: ProxyMetrics) -> AsyncIterator:
    clients: list[ControlPlaneClient] = []

    def build(url: str, *, key: str = KEY) -> MeterFlusher:
        client = ControlPlaneClient(url, api_key=key, timeout_s=5)
        clients.append(client)
        return MeterFlusher(spool, client, metrics=metrics, interval_s=0.05, jitter=lambda: 0.0)

    yield build
    for client in clients:
        await client.aclose()


async def test_a_flush_sends_every_batch_and_empties_the_spool(standin, spool, metrics, make_flusher):
    app, url = standin
    for category in (Category.CODE, Category.CHAT, Category.CODE):
        spool.add(charge(category=category))
    flusher = make_flusher(url)
    assert await flusher.flush() is True
    assert (app.requests, app.actual_micros) == (3, 6000)
    assert len(app.deliveries) == 1
    assert spool.rows == 0 and spool.take_batch() is None
    assert metrics.batches_sent.value("meter") == 1
    # exactly the MeterBatch schema went over the wire
    assert set(app.bodies[0]) == {"batch_id", "rows"}


async def test_while_the_control_plane_fails_the_same_batch_is_retried_and_counted_once(
    standin, spool, metrics, make_flusher
):
    app, url = standin
    spool.add(charge())
    app.script = [503, 429, 408]
    flusher = make_flusher(url)
    for failures in (1, 2, 3):
        assert await flusher.flush() is False
        assert flusher.failures == failures
    spool.add(charge())  # arrives during the outage: a later batch
    assert await flusher.flush() is True
    assert flusher.failures == 0
    assert app.requests == 2 and len(app.batches) == 2
    assert metrics.flush_failures.value("http_503") == 1


async def test_a_lost_acknowledgement_is_resent_with_the_same_id_and_counted_once(
    standin, spool, make_flusher
):
    app, url = standin
    spool.add(charge())
    outgoing = spool.take_batch()
    assert outgoing is not None
    # The batch reached the control plane but the proxy died before recording the answer.
    client = ControlPlaneClient(url, api_key=KEY, timeout_s=5)
    try:
        first = await client.post_json("/v1/meter", outgoing.batch.model_dump(mode="json"))
    finally:
        await client.aclose()
    assert first.json["duplicate"] is False
    assert await make_flusher(url).flush() is True
    assert app.deliveries == [outgoing.batch_id, outgoing.batch_id]
    assert app.requests == 1


async def test_an_unreachable_control_plane_is_a_failure_not_an_error(spool, make_flusher):
    with serve(MeterStandIn()) as url:
        pass  # the port is free again: nothing listens there now
    spool.add(charge())
    flusher = make_flusher(url)
    assert await flusher.flush() is False
    assert spool.rows == 1


@pytest.mark.parametrize("status", [400, 404, 413, 422])
async def test_a_refused_batch_is_parked_and_the_others_still_go(
    standin, spool, metrics, make_flusher, status, caplog
):
    app, url = standin
    spool.add(charge())
    poison = spool.take_batch()
    assert poison is not None
    spool.add(charge(category=Category.CHAT))
    app.script = [status]
    assert await make_flusher(url).flush() is True
    assert f"refused meter batch {poison.batch_id}" in caplog.text
    assert app.requests == 1 and poison.batch_id not in app.batches
    assert spool.backlog().parked_rows == 1
    assert metrics.batches_parked.value("meter") == 1
    assert b"modelpilot_spool_parked_rows 1" in metrics.render()


async def test_a_refused_key_holds_everything_without_parking(standin, spool, make_flusher, caplog):
    app, url = standin
    spool.add(charge())
    assert await make_flusher(url, key="mp_wrong").flush() is False
    assert "refused the deployment key" in caplog.text
    assert spool.backlog().parked_rows == 0
    assert await make_flusher(url).flush() is True
    assert app.requests == 1


async def test_run_retries_parked_batches_once_at_start_and_stop_drains(standin, spool, make_flusher):
    app, url = standin
    spool.add(charge())
    parked = spool.take_batch()
    assert parked is not None
    spool.park(parked.batch_id, "HTTP 500")
    flusher = make_flusher(url)
    flusher.start()
    await asyncio.sleep(0)  # let the first flush start
    spool.add(charge(category=Category.MATH))
    assert await flusher.stop(drain_timeout_s=5) is True
    assert parked.batch_id in app.batches
    assert app.requests == 2 and spool.rows == 0


async def test_stop_reports_what_could_not_be_drained(spool, make_flusher, caplog):
    with serve(MeterStandIn()) as url:
        pass
    spool.add(charge())
    flusher = make_flusher(url)
    assert await flusher.stop(drain_timeout_s=5) is False
    assert "1 meter rows are still in the spool" in caplog.text


def test_backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half():
    backoff = Backoff(base_s=1, cap_s=8)
    assert [backoff.delay_s(n, jitter=0.0) for n in (1, 2, 3, 4, 5, 50)] == [0.5, 1, 2, 4, 4, 4]
    assert backoff.delay_s(3, jitter=0.999) == pytest.approx(3.998)


async def test_the_flusher_waits_the_interval_when_healthy_and_backs_off_when_failing(spool, metrics):
    with serve(MeterStandIn()) as url:
        pass
    client = ControlPlaneClient(url, api_key=KEY, timeout_s=1)
    flusher = MeterFlusher(
        spool, client, metrics=metrics, interval_s=10, backoff=Backoff(2, 60), jitter=lambda: 0.5
    )
    try:
        assert flusher.next_delay_s() == 10
        spool.add(charge())
        assert await flusher.flush() is False
        assert flusher.next_delay_s() == 1.5
        assert await flusher.flush() is False
        assert flusher.next_delay_s() == 3.0
    finally:
        await client.aclose()


async def test_metering_goes_first_then_metadata_logs(standin, spool, metrics, make_flusher):
    app, url = standin
    spool.add_log(log_entry(status=529))
    spool.add(charge())
    assert await make_flusher(url).flush() is True
    assert app.requests == 1
    assert [record.status for record in app.log_records] == [529]
    assert set(app.bodies[0]) == {"batch_id", "rows"} and set(app.bodies[1]) == {"batch_id", "records"}
    assert metrics.batches_sent.value("logs") == 1
    assert spool.backlog().log_records == 0


async def test_a_refused_key_is_reported_once_with_the_fix(standin, spool, make_flusher, caplog):
    _, url = standin
    spool.add(charge())
    flusher = make_flusher(url, key="mp_wrong")
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        assert await flusher.flush() is False
    errors = [r for r in caplog.records if "refused the deployment key" in r.getMessage()]
    assert len(errors) == 1 and errors[0].levelno == logging.ERROR
    assert "MODELPILOT_API_KEY" in errors[0].getMessage() and "create-key" in errors[0].getMessage()
