"""A caller that leaves mid-stream: the proxy cancels the upstream request (tests/proxy/
test_streaming.py shows the cancel) and meters the usage the stream had reported so far, marked
cut short, in its spool: the upstream bills what it produced before the cancel."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import aiohttp
import orjson

from modelpilot.proxy.app import create_app
from modelpilot.proxy.recording import RequestRecord
from modelpilot.proxy.settings import ProxySettings
from modelpilot.sim import SimSettings
from modelpilot.sim import create_app as create_sim
from tests.proxy.metering.records import spooled_rows
from tests.servers import serve


async def test_a_caller_leaving_mid_stream_is_metered_for_what_was_streamed(tmp_path: Path) -> None:
    records: list[RequestRecord] = []
    recorded = threading.Event()

    def on_record(record: RequestRecord) -> None:
        records.append(record)
        recorded.set()

    spool_path = tmp_path / "spool.sqlite3"
    # 20 ms per streamed delta: the caller leaves long before the 400-token answer is done.
    with serve(create_sim(SimSettings(token_ms=20, cheap_failure_rate=0.0))) as sim_url:
        settings = ProxySettings(upstream_url=sim_url, spool_path=str(spool_path))
        with serve(create_app(settings, on_record=on_record)) as proxy_url:
            body = {
                "model": "claude-sonnet-4-6",
                "max_tokens": 400,
                "stream": True,
                "messages": [{"role": "user", "content": "Write a long story about a lighthouse."}],
            }
            seen = b""
            async with (
                aiohttp.ClientSession() as client,
                client.post(
                    f"{proxy_url}/v1/messages",
                    data=orjson.dumps(body),
                    headers={"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"},
                ) as response,
            ):
                assert response.status == 200
                async for chunk in response.content.iter_any():
                    seen += chunk
                    if seen.count(b"event: content_block_delta") >= 3:
                        break  # leave: closing the response drops the connection
            assert await asyncio.to_thread(recorded.wait, 10), "no record for the cut stream"

    [record] = records
    assert record.is_client_disconnected and not record.is_complete
    assert record.usage is not None
    # message_start reported the input; output counts only what was produced before the cut.
    assert record.usage.input_tokens > 0
    assert record.usage.output_tokens < 400
    assert record.cost is not None and record.cost.actual_micros > 0
    [row] = spooled_rows(spool_path)
    assert row.requests == 1
    assert (row.input_tokens, row.output_tokens) == (record.usage.input_tokens, record.usage.output_tokens)
    assert row.actual_cost_micros == record.cost.actual_micros
