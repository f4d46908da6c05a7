"""What the caller receives through the proxy is byte for byte what the simulator sends."""

from __future__ import annotations

import gzip
import re
import socket

import aiohttp
import anthropic
import orjson
import pytest

from modelpilot.proxy.app import create_app
from modelpilot.proxy.recording import RequestRecord
from modelpilot.proxy.settings import ProxySettings
from tests.e2e.conftest import API_KEY, Deployment
from tests.servers import serve

HEADERS = {
    "x-api-key": API_KEY,
    "anthropic-version": "2023-06-01",
    "content-type": "application/json",
}


def normalised(raw: bytes) -> bytes:
    """``raw`` with message ids blanked: the simulator draws a fresh one per request."""
    return re.sub(rb"msg_01[0-9A-Za-z]+", b"msg_01X", raw)


def body(**extra: object) -> bytes:
    return orjson.dumps(
        {
            "model": "claude-sonnet-4-6",
            "max_tokens": 200,
            "messages": [{"role": "user", "content": "Write two sentences about lighthouses."}],
            **extra,
        }
    )


async def fetch(
    http: aiohttp.ClientSession, url: str, data: bytes, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    async with http.post(url + "/v1/messages", data=data, headers={**HEADERS, **headers}) as response:
        return response.status, dict(response.headers), await response.read()


@pytest.mark.parametrize(
    "extra",
    [
        {"stream": True},
        {"stream": True, "thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 2048},
        {
            "stream": True,
            "tools": [
                {
                    "name": "lookup",
                    "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
                }
            ],
            "tool_choice": {"type": "any"},
        },
    ],
    ids=["text", "thinking", "tool_use"],
)
async def test_sse_stream_is_identical(
    http: aiohttp.ClientSession, deployment: Deployment, extra: dict[str, object]
) -> None:
    data = body(**extra)
    direct = await fetch(http, deployment.sim_url, data)
    proxied = await fetch(http, deployment.proxy_url, data)
    assert direct[0] == proxied[0] == 200
    assert direct[1]["Content-Type"].startswith("text/event-stream")
    assert proxied[2].count(b"event: ") > 5
    # The very bytes the simulator sent for the proxied request reached the caller unchanged.
    assert proxied[2] == deployment.sim.sent[proxied[1]["request-id"]]
    # And the same request sent directly gives the same stream, up to the fresh message id.
    assert normalised(proxied[2]) == normalised(direct[2])


async def test_gzip_json_answer_is_identical(http: aiohttp.ClientSession, deployment: Deployment) -> None:
    data = body(max_tokens=400)
    direct = await fetch(http, deployment.sim_url, data, **{"accept-encoding": "gzip"})
    proxied = await fetch(http, deployment.proxy_url, data, **{"accept-encoding": "gzip"})
    assert direct[1].get("Content-Encoding") == proxied[1].get("Content-Encoding") == "gzip"
    assert proxied[2] == deployment.sim.sent[proxied[1]["request-id"]]
    assert normalised(gzip.decompress(proxied[2])) == normalised(gzip.decompress(direct[2]))
    record = await deployment.record_for(proxied[1]["request-id"])
    assert record.usage is not None and record.usage.output_tokens > 0


async def test_error_answer_is_identical(http: aiohttp.ClientSession, deployment: Deployment) -> None:
    data = body()
    fault = {"x-sim-fault": "status=529;retry_after_ms=10"}
    direct = await fetch(http, deployment.sim_url, data, **fault)
    proxied = await fetch(http, deployment.proxy_url, data, **fault)
    assert direct[0] == proxied[0] == 529
    assert orjson.loads(proxied[2])["error"] == orjson.loads(direct[2])["error"]
    assert proxied[1]["retry-after-ms"] == direct[1]["retry-after-ms"]


def test_unreachable_upstream_maps_to_internal_server_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    records: list[RequestRecord] = []
    app = create_app(ProxySettings(upstream_url=dead), on_record=records.append)
    with (
        serve(app) as proxy_url,
        anthropic.Anthropic(base_url=proxy_url, api_key=API_KEY, max_retries=0) as sdk,
        pytest.raises(anthropic.InternalServerError) as caught,
    ):
        sdk.messages.create(
            model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 502
    assert caught.value.type == "api_error"
    assert caught.value.request_id is not None and caught.value.request_id.startswith("req_")
    assert dead in caught.value.message
    assert caught.value.response.headers["x-should-retry"] == "true"  # the SDK would retry it
    assert records[0].status == 502 and records[0].error_type == "api_error"
