"""The official SDK (sync and async) through the proxy to the simulator."""

from __future__ import annotations

import anthropic
import pytest
from anthropic.types import MessageParam, ToolParam

from modelpilot.schema.catalog import load_catalog
from modelpilot.schema.pricing import price_request
from modelpilot.schema.usage import Usage
from tests.e2e.conftest import Deployment

MODEL = "claude-sonnet-4-6"
USER: list[MessageParam] = [{"role": "user", "content": "Name three colours of the rainbow."}]
WEATHER_TOOL: ToolParam = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}


def test_create_and_its_record(client: anthropic.Anthropic, deployment: Deployment) -> None:
    message = client.messages.create(model=MODEL, max_tokens=64, messages=USER)
    assert message.type == "message" and message.content
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    record = deployment.sync_record_for(message._request_id)
    assert (record.method, record.path, record.status) == ("POST", "/v1/messages", 200)
    assert record.requested_model == MODEL and record.served_model == message.model
    assert not record.is_stream and record.is_complete
    usage = Usage.from_api(message.usage.model_dump())
    assert record.usage == usage
    assert record.cost == price_request(usage, served=message.model, requested=MODEL, catalog=load_catalog())
    assert record.cost is not None and record.cost.actual_micros is not None and record.cost.actual_micros > 0


def test_raw_stream_of_text(client: anthropic.Anthropic, deployment: Deployment) -> None:
    with client.messages.create(model=MODEL, max_tokens=64, messages=USER, stream=True) as stream:
        events = list(stream)
        request_id = stream.response.headers.get("request-id")
    kinds = [event.type for event in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    text = "".join(
        e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text
    final_usage = next(e for e in events if e.type == "message_delta").usage
    record = deployment.sync_record_for(request_id)
    assert record.is_stream and record.is_complete
    assert record.usage is not None and record.usage.output_tokens == final_usage.output_tokens


async def test_stream_helper_with_tool_use(aclient: anthropic.AsyncAnthropic, deployment: Deployment) -> None:
    async with aclient.messages.stream(
        model=MODEL,
        max_tokens=256,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
    ) as stream:
        message = await stream.get_final_message()
        request_id = stream.request_id
    tool_uses = [block for block in message.content if block.type == "tool_use"]
    assert tool_uses and tool_uses[0].name == "get_weather"
    assert isinstance(tool_uses[0].input, dict) and "location" in tool_uses[0].input
    assert message.stop_reason == "tool_use"
    record = await deployment.record_for(request_id)
    assert record.is_complete and record.stop_reason == "tool_use"
    assert record.usage == Usage.from_api(message.usage.model_dump())


def test_stream_helper_with_thinking(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model=MODEL, max_tokens=2048, messages=USER, thinking={"type": "enabled", "budget_tokens": 1024}
    ) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert text
    assert message.content[0].type == "thinking"
    assert message.content[0].signature


async def test_async_create(aclient: anthropic.AsyncAnthropic, deployment: Deployment) -> None:
    message = await aclient.messages.create(model="claude-haiku-4-5", max_tokens=32, messages=USER)
    record = await deployment.record_for(message._request_id)
    assert record.requested_model == "claude-haiku-4-5"
    assert record.usage == Usage.from_api(message.usage.model_dump())


def test_count_tokens(client: anthropic.Anthropic, deployment: Deployment) -> None:
    counted = client.messages.count_tokens(model=MODEL, messages=USER)
    assert counted.input_tokens > 0


def test_models_pagination(client: anthropic.Anthropic, deployment: Deployment) -> None:
    everything = [model.id for model in client.models.list(limit=1000)]
    paged = [model.id for model in client.models.list(limit=2)]
    assert len(everything) > 2
    assert paged == everything
    assert client.models.retrieve(everything[0]).id == everything[0]


def test_batches_and_results_through_the_proxy(client: anthropic.Anthropic, deployment: Deployment) -> None:
    batch = client.messages.batches.create(
        requests=[
            {"custom_id": "a", "params": {"model": MODEL, "max_tokens": 32, "messages": USER}},
            {"custom_id": "b", "params": {"model": "claude-haiku-4-5", "max_tokens": 32, "messages": USER}},
        ]
    )
    for _ in range(200):
        batch = client.messages.batches.retrieve(batch.id)
        if batch.processing_status == "ended":
            break
    assert batch.processing_status == "ended"
    assert batch.results_url is not None and batch.results_url.startswith(deployment.proxy_url + "/")
    listed = [b for b in client.messages.batches.list(limit=100) if b.id == batch.id]
    assert listed and listed[0].results_url == batch.results_url
    results = {entry.custom_id: entry.result for entry in client.messages.batches.results(batch.id)}
    assert set(results) == {"a", "b"}
    assert all(result.type == "succeeded" for result in results.values())
    results_record = deployment.sync_record_where(lambda r: r.path.endswith(f"/{batch.id}/results"))
    assert results_record.status == 200, "the results were not fetched through the proxy"


def test_retries_on_529_and_429_with_retry_after_ms(deployment: Deployment) -> None:
    with anthropic.Anthropic(base_url=deployment.proxy_url, api_key="sk-ant-test", max_retries=2) as sdk:
        for status in (529, 429):
            fault = f"status={status};retry_after_ms=10;attempts=2"
            message = sdk.messages.create(
                model=MODEL, max_tokens=16, messages=USER, extra_headers={"x-sim-fault": fault}
            )
            assert message.content
            deployment.sync_record_for(message._request_id)  # records arrive after the last byte
    statuses = [r.status for r in deployment.records if r.path == "/v1/messages"][-6:]
    assert statuses == [529, 529, 200, 429, 429, 200]


@pytest.mark.parametrize(
    ("status", "exception", "kind"),
    [
        (529, anthropic.OverloadedError, "overloaded_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (400, anthropic.BadRequestError, "invalid_request_error"),
    ],
)
def test_error_mapping(
    client: anthropic.Anthropic, deployment: Deployment, status: int, exception: type[Exception], kind: str
) -> None:
    with pytest.raises(exception) as caught:
        client.messages.create(
            model=MODEL, max_tokens=16, messages=USER, extra_headers={"x-sim-fault": f"status={status}"}
        )
    error = caught.value
    assert isinstance(error, anthropic.APIStatusError)
    assert error.status_code == status and error.type == kind
    assert error.request_id is not None
    record = deployment.sync_record_for(error.request_id)
    assert record.status == status and record.error_type == kind


def test_mid_stream_error(client: anthropic.Anthropic, deployment: Deployment) -> None:
    fault = {"x-sim-fault": "midstream_error=overloaded_error;after_events=3"}
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        client.messages.stream(model=MODEL, max_tokens=64, messages=USER, extra_headers=fault) as stream,
    ):
        for _ in stream:
            pass
    assert caught.value.status_code == 200 and caught.value.type == "overloaded_error"
    record = deployment.sync_record_for(caught.value.request_id)
    assert record.error_type == "overloaded_error" and not record.is_complete
    assert record.usage is not None  # message_start reported the input tokens


def test_upstream_disconnect_mid_stream(client: anthropic.Anthropic, deployment: Deployment) -> None:
    fault = {"x-sim-fault": "disconnect_after_events=4"}
    with client.messages.stream(model=MODEL, max_tokens=64, messages=USER, extra_headers=fault) as stream:
        try:
            message = stream.get_final_message()
        except anthropic.APIConnectionError:
            message = None
        request_id = stream.request_id
    if message is not None:
        assert message.stop_reason is None
    record = deployment.sync_record_for(request_id)
    assert record.is_stream and not record.is_complete


async def test_caller_disconnect_mid_stream(
    aclient: anthropic.AsyncAnthropic, deployment: Deployment
) -> None:
    slow = {"x-sim-latency": "ttft_ms=0;token_ms=50"}
    async with aclient.messages.stream(
        model=MODEL, max_tokens=512, messages=USER, extra_headers=slow
    ) as stream:
        async for event in stream:
            if event.type == "content_block_delta":
                break
        request_id = stream.request_id
    # Leaving the block closes the response: the proxy must notice and cancel upstream.
    record = await deployment.record_for(request_id)
    assert record.is_client_disconnected and not record.is_complete
