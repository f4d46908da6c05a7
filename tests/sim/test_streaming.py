"""Streaming answers: SDK helpers, raw iteration, and the SSE bytes themselves (§5, §5.2, §5.3)."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import anthropic
import orjson

from modelpilot.sim import create_app
from modelpilot.sim.message import start_object, usage_object
from modelpilot.sim.prompt_cache import CacheUse
from modelpilot.sim.reply import Block, Reply
from modelpilot.sim.stream import reply_events
from tests.sim.conftest import API_KEY
from tests.sim.schema_check import WEATHER_TOOL, schema_errors

HELLO = [{"role": "user", "content": "Hello there"}]
EVENT = re.compile(rb"event: (\w+)\ndata: ([^\n]+)\n\n")


def _content(message: Any) -> list[dict[str, Any]]:
    return [block.model_dump(exclude_none=True, exclude={"parsed_output"}) for block in message.content]


def test_stream_helper_final_message_equals_the_json_answer(client: anthropic.Anthropic) -> None:
    params: dict[str, Any] = {"model": "claude-sonnet-4-6", "max_tokens": 400, "messages": HELLO}
    answer = client.messages.create(**params)
    with client.messages.stream(**params) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert _content(final) == _content(answer) and text == answer.content[0].text
    assert final.stop_reason == answer.stop_reason and final.usage.output_tokens == answer.usage.output_tokens
    assert final.usage.input_tokens == answer.usage.input_tokens
    assert stream.request_id is not None and stream.request_id.startswith("req_011C")


def test_tool_use_stream_accumulates_to_the_same_tool_call(client: anthropic.Anthropic) -> None:
    params: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 600,
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
    }
    answer = client.messages.create(**params)
    events = list(client.messages.create(stream=True, **params))
    fragments = [e.delta.partial_json for e in events if e.type == "content_block_delta"]
    assert fragments[0] == "" and len(fragments) > 2
    start = next(e for e in events if e.type == "content_block_start")
    assert start.content_block.type == "tool_use" and start.content_block.input == {}
    assert orjson.loads("".join(fragments)) == answer.content[0].input
    with client.messages.stream(**params) as stream:
        final = stream.get_final_message()
    assert _content(final) == _content(answer) and final.stop_reason == "tool_use"
    assert schema_errors(final.content[0].input, WEATHER_TOOL["input_schema"]) == []


def test_thinking_stream_sends_thinking_then_signature(client: anthropic.Anthropic) -> None:
    params: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 4000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": HELLO,
    }
    answer = client.messages.create(**params)
    assert [b.type for b in answer.content] == ["thinking", "text"]
    deltas = [
        e.delta.type
        for e in client.messages.create(stream=True, **params)
        if e.type == "content_block_delta" and e.index == 0
    ]
    assert set(deltas[:-1]) == {"thinking_delta"} and deltas[-1] == "signature_delta"
    with client.messages.stream(**params) as stream:
        final = stream.get_final_message()
    assert _content(final) == _content(answer) and final.content[0].signature
    adaptive = client.messages.create(
        model="claude-opus-4-6", max_tokens=2000, thinking={"type": "adaptive"}, messages=HELLO
    )
    assert adaptive.content[0].type == "thinking"


async def test_async_stream(aclient: anthropic.AsyncAnthropic) -> None:
    async with aclient.messages.stream(model="claude-haiku-4-5", max_tokens=200, messages=HELLO) as stream:
        final = await stream.get_final_message()
    answer = await aclient.messages.create(model="claude-haiku-4-5", max_tokens=200, messages=HELLO)
    assert _content(final) == _content(answer)


async def test_sse_bytes_follow_the_wire_format(http: aiohttp.ClientSession, sim_url: str) -> None:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": HELLO, "stream": True}
    async with http.post(f"{sim_url}/v1/messages", json=body, headers={"x-api-key": API_KEY}) as response:
        assert response.status == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["request-id"].startswith("req_011C")
        raw = await response.read()
    events = EVENT.findall(raw)
    assert b"".join(b"event: %s\ndata: %s\n\n" % e for e in events) == raw  # nothing but well-framed events
    names = [name.decode() for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-4:] == ["content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    assert events[2][1] == b'{"type": "ping"}'
    payloads = [orjson.loads(data) for _, data in events]
    assert all(p["type"] == name for p, name in zip(payloads, names, strict=True))
    start = payloads[0]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["usage"]["output_tokens"] == 1
    assert set(start["usage"]) >= {"input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"}
    assert payloads[1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    delta = payloads[-2]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert list(delta["usage"]) == ["output_tokens"] and delta["usage"]["output_tokens"] > 1
    assert b" " not in raw.replace(b'{"type": "ping"}', b"").split(b"data: ", 1)[1].split(b"\n")[0][:20]


async def test_each_event_is_one_asgi_send() -> None:
    app = create_app()
    body = orjson.dumps({"model": "claude-sonnet-4-6", "max_tokens": 50, "messages": HELLO, "stream": True})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/messages",
        "query_string": b"",
        "headers": [(b"x-api-key", API_KEY.encode()), (b"content-type", b"application/json")],
    }
    await app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start"
    chunks = [m["body"] for m in sent[1:-1]]
    assert all(len(EVENT.findall(chunk)) == 1 and EVENT.fullmatch(chunk) for chunk in chunks)
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


def test_refusal_and_empty_stream_cleanly(client: anthropic.Anthropic) -> None:
    for behaviour in ("refusal", "empty"):
        with client.messages.stream(
            model="claude-sonnet-4-6",
            max_tokens=100,
            messages=HELLO,
            extra_headers={"x-sim-behaviour": behaviour},
        ) as stream:
            final = stream.get_final_message()
        answer = client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=100,
            messages=HELLO,
            extra_headers={"x-sim-behaviour": behaviour},
        )
        assert _content(final) == _content(answer) and final.stop_reason == answer.stop_reason
    assert final.stop_reason == "end_turn"


def test_omitted_thinking_streams_only_the_signature(client: anthropic.Anthropic) -> None:
    params: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 1024, "display": "omitted"},
        "messages": HELLO,
    }
    deltas = [
        e.delta.type
        for e in client.messages.create(stream=True, **params)
        if e.type == "content_block_delta" and e.index == 0
    ]
    assert deltas == ["signature_delta"]
    answer = client.messages.create(**params)
    assert answer.content[0].type == "thinking" and answer.content[0].thinking == ""
    assert answer.usage.output_tokens > len(answer.content[1].text.split())  # thinking is still billed


SECTION_5_2 = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01SimText0000000000000001",'
    b'"type":"message","role":"assistant","model":"claude-sonnet-4-6","content":[],"stop_reason":null,'
    b'"stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":0,'
    b'"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,'
    b'"ephemeral_1h_input_tokens":0},"output_tokens":1,"service_tier":"standard"}}}\n\n'
    b"event: content_block_start\n"
    b'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
    b'event: ping\ndata: {"type": "ping"}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there!"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b"event: message_delta\n"
    b'data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},'
    b'"usage":{"output_tokens":6}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


def test_encoder_reproduces_the_reference_stream_byte_for_byte() -> None:
    deltas = ({"type": "text_delta", "text": "Hello"}, {"type": "text_delta", "text": " there!"})
    block = Block({"type": "text", "text": ""}, deltas, {"type": "text", "text": "Hello there!"})
    reply = Reply((block,), "end_turn", None, None, 6, "normal")
    usage = usage_object(CacheUse(input_tokens=12), 6)
    start = start_object("msg_01SimText0000000000000001", "claude-sonnet-4-6", usage)
    assert b"".join(event for event, _ in reply_events(start, reply, ping=True)) == SECTION_5_2
