"""OTLP export end to end: the official SDK sends requests with canary strings in every content
field through the proxy to the simulator; the proxy exports to a real OTLP/HTTP receiver on
loopback, which decodes the protobuf. The metadata is there; no content is, anywhere in the bytes."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import pytest
from aiohttp import web
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from modelpilot.proxy.app import create_app
from modelpilot.proxy.otlp import OtlpExporter, OtlpUnavailableError
from modelpilot.proxy.settings import ProxySettings
from modelpilot.sim import SimSettings
from modelpilot.sim import create_app as create_sim
from tests.servers import serve

CANARY = "CANARY-5d1e-otlp"
API_KEY = "sk-ant-api03-CANARYKEY-otlp"


class Receiver:
    """An OTLP/HTTP receiver: keeps every body POSTed to /v1/logs and /v1/metrics as received."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[bytes]] = {"/v1/logs": [], "/v1/metrics": []}
        self.content_types: set[str] = set()

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies[request.path].append(await request.read())
        self.content_types.add(request.content_type)
        return web.Response(body=b"", content_type="application/x-protobuf")

    def log_records(self) -> list[Any]:
        return [
            record
            for body in self.bodies["/v1/logs"]
            for resource in ExportLogsServiceRequest.FromString(body).resource_logs
            for scope in resource.scope_logs
            for record in scope.log_records
        ]

    def metrics(self) -> dict[str, list[Any]]:
        """The metrics of the last export (cumulative: it holds the totals)."""
        found: dict[str, list[Any]] = {}
        for body in self.bodies["/v1/metrics"][-1:]:
            for resource in ExportMetricsServiceRequest.FromString(body).resource_metrics:
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        found.setdefault(metric.name, []).append(metric)
        return found


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/v1/logs", receiver.handle)
    app.router.add_post("/v1/metrics", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield receiver, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def value_of(any_value: AnyValue) -> Any:
    return getattr(any_value, any_value.WhichOneof("value"))


async def test_the_metadata_reaches_the_collector_and_content_never_does(receiver, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_HEADERS", raising=False)
    collector, collector_url = receiver
    with serve(create_sim(SimSettings())) as sim_url:
        proxy = create_app(
            ProxySettings(upstream_url=sim_url, otlp_endpoint=collector_url, otlp_export_interval_s=3600)
        )
        assert proxy.otlp is not None
        with serve(proxy) as proxy_url:
            answers: list[str] = []
            async with anthropic.AsyncAnthropic(base_url=proxy_url, api_key=API_KEY, max_retries=0) as sdk:
                message = await sdk.messages.create(
                    model="claude-sonnet-4-6",
                    max_tokens=200,
                    system=f"You are {CANARY}-system.",
                    metadata={"user_id": f"{CANARY}-user"},
                    messages=[{"role": "user", "content": f"Summarise {CANARY}-prompt please."}],
                )
                answers.extend(block.text for block in message.content if block.type == "text")
                usage = message.usage
                async with sdk.messages.stream(
                    model="claude-haiku-4-5",
                    max_tokens=100,
                    messages=[{"role": "user", "content": f"Stream {CANARY}-stream."}],
                ) as stream:
                    answers.append(await stream.get_final_text())
            # The exporter posts from its own threads, to a receiver on this loop: flush off-loop.
            try:
                assert await asyncio.to_thread(proxy.otlp.force_flush)
            finally:
                await asyncio.to_thread(proxy.otlp.shutdown)

    records = collector.log_records()
    assert len(records) == 2
    first = {kv.key: value_of(kv.value) for kv in records[0].attributes}
    assert first["gen_ai.operation.name"] == "chat"
    assert first["gen_ai.provider.name"] == first["gen_ai.system"] == "anthropic"
    assert first["gen_ai.request.model"] == "claude-sonnet-4-6"
    assert first["gen_ai.response.model"] == "claude-sonnet-4-6"
    assert first["gen_ai.usage.input_tokens"] == usage.input_tokens
    assert first["gen_ai.usage.output_tokens"] == usage.output_tokens
    assert first["http.response.status_code"] == 200
    assert first["modelpilot.routed"] is False and first["modelpilot.escalated"] is False
    assert first["modelpilot.cost_micros"] > 0
    assert first["modelpilot.savings_micros"] == 0
    assert records[0].event_name == "modelpilot.request"
    assert records[0].body.WhichOneof("value") is None  # no body: attributes only
    second = {kv.key: value_of(kv.value) for kv in records[1].attributes}
    assert second["gen_ai.request.model"] == "claude-haiku-4-5"

    metrics = collector.metrics()
    assert {"gen_ai.client.token.usage", "gen_ai.client.operation.duration", "modelpilot.requests"} <= set(
        metrics
    )
    requests = sum(
        point.as_int for metric in metrics["modelpilot.requests"] for point in metric.sum.data_points
    )
    assert requests == 2
    cost = sum(point.as_int for metric in metrics["modelpilot.cost"] for point in metric.sum.data_points)
    assert cost == first["modelpilot.cost_micros"] + second["modelpilot.cost_micros"]
    durations = [p for m in metrics["gen_ai.client.operation.duration"] for p in m.histogram.data_points]
    assert sum(p.count for p in durations) == 2

    everything = b"".join(body for bodies in collector.bodies.values() for body in bodies)
    assert CANARY.encode() not in everything
    assert b"CANARYKEY" not in everything
    # Nor any stretch of the answers (24-character windows; single words could be attribute names).
    for answer in answers:
        assert len(answer) > 24
        for start in range(0, len(answer) - 24, 6):
            assert answer[start : start + 24].encode() not in everything
    assert collector.content_types == {"application/x-protobuf"}


def test_a_missing_sdk_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk._logs", None)
    with pytest.raises(OtlpUnavailableError, match=r"modelpilot\[otlp\]"):
        OtlpExporter("http://127.0.0.1:4318")


def test_the_endpoint_must_be_http():
    with pytest.raises(ValueError, match="otlp_endpoint"):
        ProxySettings(otlp_endpoint="grpc://127.0.0.1:4317")
