"""Issue 9, item 6: a bounded load test on loopback, with zero errors and nothing lost.

The proxy (a real ``modelpilot proxy`` process, routing and metering to a real ``modelpilot
control`` process) under closed-loop load against the simulator, beside the same load sent to the
simulator directly (the added latency); then the control plane's ingestion API on its own.

``MODELPILOT_LOAD_SECONDS`` (default 10) is how long each phase runs, ``MODELPILOT_LOAD_CONCURRENCY``
(default 32) how many requests are in flight. The requests/s reached are in the scenario table
(the performance issue's targets, >= 2,000/s for each, are measured by ``python -m bench.overhead``
and ``bench.control_route`` on an otherwise idle machine; here the load generator shares the
machine's two cores with everything under test)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import aiohttp
import orjson
import pytest

from modelpilot.control.store.engine import create_db_engine
from tests.control import payloads
from tests.metering_totals import metered_totals
from tests.reliability import canaries, processes
from tests.reliability.loadgen import LoadResult, run_load
from tests.reliability.processes import Child
from tests.reliability.scenarios import Scenario, record

SECONDS = float(os.environ.get("MODELPILOT_LOAD_SECONDS", "10"))
CONCURRENCY = int(os.environ.get("MODELPILOT_LOAD_CONCURRENCY", "32"))
MODELS = ("claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-6")
#: pytest's 120 s per test would cut a long run short: allow the phases and their start and drain.
pytestmark = pytest.mark.timeout(max(120, 2 * SECONDS + 120))
HEADERS = {
    "content-type": "application/json",
    "x-api-key": canaries.ANTHROPIC_KEY,
    "anthropic-version": "2023-06-01",
}


def messages_request(base_url: str):
    """Every fourth request streamed; an answer counts only when it arrived whole."""

    async def send(session: aiohttp.ClientSession, number: int) -> str | None:
        stream = number % 4 == 3
        body = {
            "model": MODELS[number % len(MODELS)],
            "max_tokens": 32,
            "messages": [{"role": "user", "content": f"Say something short about topic {number}."}],
            "stream": stream,
        }
        async with session.post(
            base_url + "/v1/messages", data=orjson.dumps(body), headers=HEADERS
        ) as response:
            data = await response.read()
            if response.status != 200:
                return f"status {response.status}"
        if stream:
            return None if b"event: message_stop" in data else "stream without message_stop"
        return None if orjson.loads(data).get("stop_reason") else "answer without stop_reason"

    return send


def scenario(
    name: str, result: LoadResult, baseline: LoadResult | None = None, *, more: str = ""
) -> Scenario:
    row = Scenario(
        name,
        sent=result.sent,
        succeeded=result.succeeded,
        lost=result.sent - result.succeeded,
        latencies_ms=result.latencies_ms,
        note=f"{result.per_second:.0f} req/s at concurrency {CONCURRENCY} for {result.elapsed_s:.1f} s{more}",
    )
    if baseline is not None:
        row.baseline_ms = Scenario("", latencies_ms=baseline.latencies_ms).median_ms
    return record(row)


@pytest.mark.slow
def test_the_proxy_under_load_answers_everything_and_meters_everything(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'control.sqlite3'}"
    children: list[Child] = []
    engine = create_db_engine(db_url)
    try:
        sim_port = processes.free_port()
        children.append(Child("sim", sim_port, ["sim", "--port", str(sim_port)], {}))
        sim = children[-1]
        control = processes.start_control(db_url, processes.free_port(), migrate=True)
        children.append(control)
        key = processes.deployment_key(db_url, "load@example.com")
        proxy = processes.start_proxy(
            processes.free_port(),
            upstream=sim.url,
            control_url=control.url,
            key=key,
            spool=tmp_path / "spool.sqlite3",
            extra=("--flush-interval", "1"),
        )
        children.append(proxy)

        direct = run_load(messages_request(sim.url), concurrency=CONCURRENCY, seconds=max(SECONDS / 3, 2))
        through = run_load(messages_request(proxy.url), concurrency=CONCURRENCY, seconds=SECONDS)
        assert proxy.terminate() == 0  # the graceful stop drains the spool
        metered = metered_totals(engine)[0]
    finally:
        for child in children:
            child.stop_quietly()
        engine.dispose()
    scenario("load: simulator directly (baseline)", direct)
    scenario("load: proxy, routing and metering on", through, direct, more=f"; metered {metered}")
    assert direct.errors == [] and through.errors == [], (direct.errors[:5], through.errors[:5])
    assert through.succeeded > 0
    assert metered == through.succeeded  # nothing lost, nothing counted twice


@pytest.mark.slow
def test_the_control_plane_under_load_answers_everything_and_stores_everything(db_url: str) -> None:
    engine = create_db_engine(db_url)
    control = processes.start_control(db_url, processes.free_port(), migrate=True)
    try:
        key = processes.deployment_key(db_url, "load@example.com")
        auth = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        route = orjson.dumps(payloads.route_request())

        async def send(session: aiohttp.ClientSession, number: int) -> str | None:
            # Nine decisions for one meter batch (one row of 3 requests), as a proxy sends them.
            if number % 10 == 9:
                body = orjson.dumps(payloads.meter_batch(batch_id=str(uuid.uuid4())))
                path = "/v1/meter"
            else:
                body, path = route, "/v1/route"
            async with session.post(control.url + path, data=body, headers=auth) as response:
                await response.read()
                return None if response.status == 200 else f"{path}: {response.status}"

        result = run_load(send, concurrency=CONCURRENCY, seconds=SECONDS)
        metered = metered_totals(engine)[0]
    finally:
        control.stop_quietly()
        engine.dispose()
    backend = db_url.split(":", 1)[0].split("+")[0]
    meters = sum(1 for n in range(result.sent) if n % 10 == 9)
    scenario(
        f"load: control plane /v1/route + /v1/meter ({backend})",
        result,
        more=f"; {meters} meter batches sent, {metered // 3} stored",
    )
    assert result.errors == [], result.errors[:5]
    assert metered == 3 * meters
