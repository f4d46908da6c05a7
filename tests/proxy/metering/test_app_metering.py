"""The app meters every answered Messages request into its spool before the request is done,
serves ``/metrics``, and runs and drains the flusher in its lifespan."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from modelpilot.proxy.app import create_app
from modelpilot.proxy.settings import ProxySettings
from modelpilot.proxy.spool import Spool, deployment_fingerprint
from tests.proxy.conftest import PLAIN, Stack
from tests.proxy.metering.records import charge, spooled_rows
from tests.proxy.metering.standin import KEY, MeterStandIn
from tests.proxy.upstreams import Received, Send, reply, wait_for
from tests.servers import serve


def messages_answer(model: str, **usage: int) -> bytes:
    return orjson.dumps(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0, **usage},
        }
    )


async def answer_haiku(_request: Received, send: Send) -> None:
    await reply(send, body=messages_answer("claude-haiku-4-5-20251001", input_tokens=1000, output_tokens=100))


async def test_answered_requests_are_spooled_and_counted_in_metrics(
    stack: Stack, client: aiohttp.ClientSession, tmp_path: Path
) -> None:
    spool_path = tmp_path / "spool.sqlite3"
    _, proxy_url = stack.pair(answer_haiku, spool_path=str(spool_path))
    body = orjson.dumps({"model": "claude-haiku-4-5", "max_tokens": 10, "messages": []})
    for _ in range(3):
        async with client.post(f"{proxy_url}/v1/messages", data=body) as response:
            assert response.status == 200
            await response.read()
    async with client.get(f"{proxy_url}/v1/models") as response:
        await response.read()
    await stack.records.next(3)
    # on_record runs after the spool commit, so the rows are there once the records are.
    [row] = spooled_rows(spool_path)
    assert (row.requests, row.input_tokens, row.output_tokens) == (3, 3000, 300)
    assert row.actual_cost_micros == row.baseline_cost_micros == 3 * (1000 + 500)
    assert row.served_model == "claude-haiku-4-5"

    async with client.get(f"{proxy_url}/metrics") as response:
        assert response.status == 200
        assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = (await response.read()).decode()
    assert 'modelpilot_requests_total{status_class="2xx",stream="false"} 4' in text
    assert (
        'modelpilot_cost_micros_total{requested_model="claude-haiku-4-5",served_model="claude-haiku-4-5"} 4500'
        in text
    )
    assert 'modelpilot_request_duration_seconds_count{stream="false"} 4' in text
    assert "modelpilot_spool_backlog_rows 1" in text
    assert "modelpilot_fail_open_total" in text


async def test_without_a_spool_metrics_still_count(stack: Stack, client: aiohttp.ClientSession) -> None:
    _, proxy_url = stack.pair(answer_haiku)
    for model in ("claude-nova-9", "gpt-4o"):
        async with client.post(f"{proxy_url}/v1/messages", data=orjson.dumps({"model": model})) as response:
            await response.read()
    await stack.records.next(1)
    async with client.get(f"{proxy_url}/metrics") as response:
        text = (await response.read()).decode()
    assert "modelpilot_unpriced_requests_total 1" in text  # claude-nova-9 has no price
    assert "modelpilot_unmetered_requests_total 1" in text  # gpt-4o cannot go on the wire
    # arbitrary model ids never become label values
    assert 'modelpilot_cost_micros_total{requested_model="other",served_model="claude-haiku-4-5"} 0' in text
    assert "nova" not in text and "gpt" not in text


async def lifespan(app: Any, *events: str) -> list[str]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: list[str] = []

    async def send(message: Any) -> None:
        outbox.append(message["type"])

    for event in events:
        await inbox.put({"type": event})
    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send)
    return outbox


async def test_the_lifespan_runs_the_flusher_and_drains_the_spool_at_shutdown(tmp_path: Path) -> None:
    spool_path = tmp_path / "spool.sqlite3"
    earlier = Spool.open(spool_path, deployment=deployment_fingerprint(KEY))  # left over by a previous run
    earlier.add(charge())
    earlier.close()
    standin = MeterStandIn()
    with serve(standin, **PLAIN) as url:
        settings = ProxySettings(
            upstream_url="http://127.0.0.1:9",
            control_plane_url=url,
            control_plane_api_key=KEY,
            spool_path=str(spool_path),
            flush_interval_s=3600,
        )
        app = create_app(settings)
        assert app.flusher is not None
        done = await lifespan(app, "lifespan.startup", "lifespan.shutdown")
    assert done == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert standin.requests == 1
    assert app.spool is None  # closed
    reopened = Spool.open(spool_path, deployment=deployment_fingerprint(KEY))
    try:
        assert reopened.rows == 0
    finally:
        reopened.close()


async def test_a_spool_without_a_control_plane_only_accumulates(tmp_path: Path) -> None:
    app = create_app(ProxySettings(upstream_url="http://127.0.0.1:9", spool_path=str(tmp_path / "s.sqlite3")))
    assert app.flusher is None and app.spool is not None
    await lifespan(app, "lifespan.startup", "lifespan.shutdown")
    assert await wait_for(lambda: app.spool is None)
