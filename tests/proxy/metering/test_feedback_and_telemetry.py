"""Feedback reaches the control plane's aggregates, and the proxy sends telemetry windows: both
end to end against the real control plane (SQLite) on loopback, the simulator as the upstream."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from modelpilot.control.store.tables import TelemetryReport, UsageAggregate
from modelpilot.proxy.app import create_app
from modelpilot.proxy.control_client import ControlPlaneClient
from modelpilot.proxy.flusher import TelemetryReporter, telemetry_counters
from modelpilot.proxy.settings import ProxySettings
from modelpilot.schema.wire import LatencyHistogram
from modelpilot.sim import SimSettings
from modelpilot.sim import create_app as create_sim
from tests.proxy.seeded_control_plane import SeededControlPlane, seeded_control_plane
from tests.proxy.upstreams import wait_for
from tests.servers import serve


@pytest.fixture
def control_plane(tmp_path: Path) -> Iterator[SeededControlPlane]:
    with seeded_control_plane(tmp_path, email="fb@example.com") as seeded:
        yield seeded


def buckets(engine: Engine) -> list[tuple[Any, ...]]:
    with Session(engine) as session:
        rows = session.scalars(select(UsageAggregate)).all()
        return [(r.requested_model, r.served_model, r.requests, r.feedback_reports) for r in rows]


async def test_a_reported_bad_answer_reaches_the_aggregates_of_its_bucket(control_plane, tmp_path):
    settings = ProxySettings(
        control_plane_url=control_plane.url,
        control_plane_api_key=control_plane.key,
        spool_path=str(tmp_path / "spool.sqlite3"),
        flush_interval_s=3600,
    )
    with serve(create_sim(SimSettings())) as sim_url:
        proxy = create_app(dataclasses.replace(settings, upstream_url=sim_url))
        with serve(proxy) as proxy_url:
            async with anthropic.AsyncAnthropic(
                base_url=proxy_url, api_key="sk-ant-test", max_retries=0
            ) as sdk:
                first = await sdk.messages.create(
                    model="claude-sonnet-4-6",
                    max_tokens=50,
                    messages=[{"role": "user", "content": "Hello there"}],
                )
                await sdk.messages.create(
                    model="claude-sonnet-4-6",
                    max_tokens=50,
                    messages=[{"role": "user", "content": "And again"}],
                )
            async with aiohttp.ClientSession() as http:
                for expected in (False, True):  # the second report about the same answer is a duplicate
                    async with http.post(
                        f"{proxy_url}/modelpilot/feedback", json={"request_id": first._request_id}
                    ) as response:
                        assert response.status == 202
                        assert (await response.json())["duplicate"] is expected
        await proxy.aclose()  # drains the spool to the control plane
    rows = buckets(control_plane.engine)
    assert sum(r[2] for r in rows) == 2
    assert sum(r[3] for r in rows) == 1
    # The report is counted in the bucket of the request it is about (which served both here).
    reported = [r for r in rows if r[3] == 1]
    assert reported[0][2] >= 1


class Counters:
    def __init__(self) -> None:
        self.route = {"calls": 0, "cache_hits": 0}
        self.escalations = 0

    def read(self) -> dict[str, int]:
        return telemetry_counters(self.route, escalations=self.escalations)


def stored_windows(engine: Engine) -> list[dict[str, int]]:
    with Session(engine) as session:
        reports = session.scalars(select(TelemetryReport).order_by(TelemetryReport.id)).all()
        return [dict(r.counters) for r in reports]


async def test_telemetry_windows_carry_the_increase_of_each_counter(control_plane):
    counters = Counters()
    now = [time.time() - 600]  # the control plane takes windows near its own clock only
    client = ControlPlaneClient(control_plane.url, api_key=control_plane.key, timeout_s=5)
    reporter = TelemetryReporter(
        client, read_counters=counters.read, read_backlog_rows=lambda: 7, interval_s=60, clock=lambda: now[0]
    )
    try:
        counters.route.update({"calls": 10, "cache_hits": 30, "fail_open:timeout": 2, "fail_open:refused": 1})
        counters.route["fail_open:circuit_open"] = 4
        counters.escalations = 3
        assert await reporter.report()  # the window is not over yet: nothing sent
        assert stored_windows(control_plane.engine) == []
        now[0] += 60
        assert await reporter.report()
        counters.route["calls"] = 15
        now[0] += 61
        assert await reporter.report()
    finally:
        await client.aclose()
    first, second = stored_windows(control_plane.engine)
    assert first == {
        "route_calls": 10,
        "route_cache_hits": 30,
        "fail_open_timeouts": 2,
        "fail_open_errors": 1,
        "circuit_open_skips": 4,
        "escalations": 3,
        "spool_backlog_rows": 7,
    }
    assert (second["route_calls"], second["route_cache_hits"], second["escalations"]) == (5, 0, 0)


class Switchable:
    """A control-plane client that is away until switched on (what TelemetryReporter calls)."""

    def __init__(self, away: ControlPlaneClient, there: ControlPlaneClient) -> None:
        self.current, self.there, self.away = away, there, away

    async def post_json(self, path: str, payload: Any) -> Any:
        return await self.current.post_json(path, payload)


async def test_an_unsent_window_is_resent_with_the_same_batch_id(control_plane):
    counters = Counters()
    start = time.time() - 600  # the control plane takes windows near its own clock only
    now = [start]
    client = Switchable(
        ControlPlaneClient("http://127.0.0.1:9", api_key=control_plane.key, timeout_s=2),
        ControlPlaneClient(control_plane.url, api_key=control_plane.key, timeout_s=5),
    )
    reporter = TelemetryReporter(
        client,  # type: ignore[arg-type]
        read_counters=counters.read,
        read_backlog_rows=lambda: 0,
        interval_s=10,
        clock=lambda: now[0],
    )
    counters.route["calls"] = 4
    now[0] = start + 10
    try:
        assert not await reporter.report()
        counters.route["calls"] = 9  # goes into the next window, not into the unsent one
        client.current = client.there
        assert await reporter.report()
        now[0] = start + 20
        assert await reporter.report()
    finally:
        await client.away.aclose()
        await client.there.aclose()
    assert [w["route_calls"] for w in stored_windows(control_plane.engine)] == [4, 5]


async def test_the_running_proxy_sends_telemetry(control_plane, tmp_path):
    settings = ProxySettings(
        upstream_url="http://127.0.0.1:9",
        control_plane_url=control_plane.url,
        control_plane_api_key=control_plane.key,
        spool_path=str(tmp_path / "spool.sqlite3"),
        flush_interval_s=0.05,
        telemetry_interval_s=0.05,
    )
    app = create_app(settings)
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    sent: list[str] = []

    async def send(message: Any) -> None:
        sent.append(message["type"])

    await inbox.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send))
    assert await wait_for(lambda: bool(stored_windows(control_plane.engine)), timeout_s=20)
    await inbox.put({"type": "lifespan.shutdown"})
    await lifespan
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert stored_windows(control_plane.engine)[0]["route_calls"] == 0


def stored_latency(engine: Engine) -> tuple[int, dict[str, int]]:
    """The route calls and the latency histogram summed over every stored window."""
    calls, histogram = 0, {name: 0 for name in LatencyHistogram.model_fields}
    with Session(engine) as session:
        for report in session.scalars(select(TelemetryReport)):
            calls += int(report.counters["route_calls"])
            for name, count in report.route_latency.items():
                histogram[name] += int(count)
    return calls, histogram


async def test_the_proxy_times_each_route_round_trip_for_the_latency_chart(control_plane, tmp_path):
    settings = ProxySettings(
        control_plane_url=control_plane.url,
        control_plane_api_key=control_plane.key,
        spool_path=str(tmp_path / "spool.sqlite3"),
        flush_interval_s=0.05,
        telemetry_interval_s=0.05,
    )
    with serve(create_sim(SimSettings())) as sim_url:
        proxy = create_app(dataclasses.replace(settings, upstream_url=sim_url))
        with serve(proxy, lifespan="on") as proxy_url:  # the lifespan runs the telemetry loop
            async with anthropic.AsyncAnthropic(
                base_url=proxy_url, api_key="sk-ant-test", max_retries=0
            ) as sdk:
                for index in range(4):  # new conversations of different sizes: each asks the control plane
                    await sdk.messages.create(
                        model="claude-sonnet-4-6",
                        max_tokens=50,
                        messages=[{"role": "user", "content": f"Question {index}: " + "why? " * 40 * index}],
                    )
            assert await wait_for(lambda: stored_latency(control_plane.engine)[0] >= 1, timeout_s=20)
            # Every finished round trip is in the histogram of some window, beside its route call.
            assert await wait_for(
                lambda: (
                    sum(stored_latency(control_plane.engine)[1].values())
                    == stored_latency(control_plane.engine)[0]
                ),
                timeout_s=20,
            )
    calls, histogram = stored_latency(control_plane.engine)
    assert calls >= 1 and sum(histogram.values()) == calls


def test_telemetry_counters_carry_the_latency_histogram():
    counts = {"calls": 3, "latency:le_5_ms": 2, "latency:gt_1000_ms": 1}
    counters = telemetry_counters(counts, escalations=0)
    assert counters["route_latency.le_5_ms"] == 2 and counters["route_latency.gt_1000_ms"] == 1
    assert counters["route_latency.le_10_ms"] == 0 and counters["route_calls"] == 3
