"""POST /v1/messages (non-streaming) through the official SDK in strict mode, and raw HTTP."""

from __future__ import annotations

import gzip
import re

import aiohttp
import anthropic
import orjson
import pytest

from modelpilot.sim import SimSettings, create_app, make_prompt
from tests.servers import serve
from tests.sim.conftest import API_KEY
from tests.sim.schema_check import PERSON_SCHEMA, WEATHER_TOOL, schema_errors

HELLO = [{"role": "user", "content": "Hello there"}]


def test_text_answer_has_the_message_shape(client: anthropic.Anthropic) -> None:
    raw = client.messages.with_raw_response.create(model="claude-sonnet-4-6", max_tokens=200, messages=HELLO)
    message = raw.parse()
    assert message.id.startswith("msg_01") and message.type == "message" and message.role == "assistant"
    assert message.model == "claude-sonnet-4-6"
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.content[0].type == "text" and message.content[0].text
    assert message.usage.input_tokens > 0 and 0 < message.usage.output_tokens <= 200
    assert message.usage.service_tier == "standard" and message.usage.cache_read_input_tokens == 0
    assert re.fullmatch(r"req_011C\w{20}", raw.headers["request-id"])
    assert message._request_id == raw.headers["request-id"]
    assert raw.headers["anthropic-organization-id"]
    for bucket in ("requests", "tokens", "input-tokens", "output-tokens"):
        assert int(raw.headers[f"anthropic-ratelimit-{bucket}-limit"]) > 0
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", raw.headers[f"anthropic-ratelimit-{bucket}-reset"]
        )


def test_answers_are_deterministic_per_request_and_model(client: anthropic.Anthropic) -> None:
    def ask(model: str, prompt: str = "Hello there") -> str:
        message = client.messages.create(
            model=model, max_tokens=300, messages=[{"role": "user", "content": prompt}]
        )
        return "".join(b.text for b in message.content if b.type == "text")

    assert ask("claude-sonnet-4-6") == ask("claude-sonnet-4-6")
    # Latent difficulty (sim/difficulty.py): models that answer a prompt well give the same strong
    # answer; a prompt too hard for a model gets it an answer of its own.
    assert ask("claude-sonnet-4-6") == ask("claude-opus-4-6")
    hardest = make_prompt(2)
    assert ask("claude-sonnet-4-6", hardest) != ask("claude-opus-4-6", hardest)
    assert ask("claude-sonnet-4-6") != ask("claude-sonnet-4-6", "Something else")


def test_request_ids_are_unique(client: anthropic.Anthropic) -> None:
    ids = {
        client.messages.create(model="claude-sonnet-4-6", max_tokens=5, messages=HELLO)._request_id
        for _ in range(5)
    }
    assert len(ids) == 5


@pytest.mark.parametrize("choice", [{"type": "any"}, {"type": "tool", "name": "get_weather"}])
def test_forced_tool_use_input_follows_the_schema(
    client: anthropic.Anthropic, choice: dict[str, str]
) -> None:
    for city in ("Paris", "Lima", "Oslo", "Pune", "Cairo"):
        message = client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=500,
            tools=[WEATHER_TOOL],
            tool_choice=choice,
            messages=[{"role": "user", "content": f"Weather in {city}?"}],
        )
        assert message.stop_reason == "tool_use"
        (block,) = message.content  # a forced tool call has no preamble
        assert block.type == "tool_use" and block.name == "get_weather" and block.id.startswith("toolu_01")
        assert schema_errors(block.input, WEATHER_TOOL["input_schema"]) == []


def test_auto_tool_choice_sometimes_calls_and_answers_tool_results_with_text(
    client: anthropic.Anthropic,
) -> None:
    stops = set()
    for i in range(30):
        message = client.messages.create(
            model="claude-opus-4-6",
            max_tokens=500,
            tools=[WEATHER_TOOL],
            messages=[{"role": "user", "content": f"Question {i}"}],
        )
        stops.add(message.stop_reason)
        if message.stop_reason == "tool_use":
            assert [b.type for b in message.content] == ["text", "tool_use"]
    assert stops == {"tool_use", "end_turn"}
    answered = client.messages.create(
        model="claude-opus-4-6",
        max_tokens=500,
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "12C"}],
            },
        ],
    )
    assert answered.stop_reason == "end_turn"
    no_tools = client.messages.create(
        model="claude-opus-4-6",
        max_tokens=500,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "none"},
        messages=HELLO,
    )
    assert no_tools.stop_reason == "end_turn"


def test_structured_output_is_json_matching_the_schema(client: anthropic.Anthropic) -> None:
    for i in range(5):
        message = client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=1000,
            messages=[{"role": "user", "content": f"Person {i}"}],
            output_config={"format": {"type": "json_schema", "schema": PERSON_SCHEMA}},
        )
        assert message.stop_reason == "end_turn"
        value = orjson.loads(message.content[0].text)
        assert schema_errors(value, PERSON_SCHEMA) == []


def test_max_tokens_and_stop_sequences(client: anthropic.Anthropic) -> None:
    short = client.messages.create(model="claude-sonnet-4-6", max_tokens=3, messages=HELLO)
    assert short.stop_reason == "max_tokens" and short.usage.output_tokens <= 3
    stopped = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=300, messages=HELLO, stop_sequences=["e"]
    )
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "e"
    text = "".join(b.text for b in stopped.content if b.type == "text")
    assert "e" not in text
    warm = client.messages.create(model="claude-sonnet-4-6", max_tokens=0, messages=HELLO)
    assert warm.content == [] and warm.stop_reason == "max_tokens"


def test_sampling_params_and_unknown_fields_are_accepted(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=20,
        messages=HELLO,
        metadata={"user_id": "u1"},
        extra_body={"temperature": 0.2, "top_k": 5, "some_future_field": {"x": 1}},
    )
    assert message.stop_reason in ("end_turn", "max_tokens")


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"max_tokens": 10, "messages": HELLO}, 400, "model: Field required"),
        ({"model": "claude-sonnet-4-6", "messages": HELLO}, 400, "max_tokens: Field required"),
        ({"model": "claude-sonnet-4-6", "max_tokens": 10}, 400, "messages: Field required"),
        ({"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": []}, 400, "at least one message"),
        ({"model": "claude-sonnet-4-6", "max_tokens": "10", "messages": HELLO}, 400, "valid integer"),
        (
            {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "bot", "content": "x"}]},
            400,
            "role",
        ),
        (
            {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": ""}]},
            400,
            "non-empty",
        ),
        ({"model": "claude-nope-1", "max_tokens": 10, "messages": HELLO}, 404, "model: claude-nope-1"),
        ({"model": "claude-haiku-4-5", "max_tokens": 64001, "messages": HELLO}, 400, "64001 > 64000"),
        (
            {
                "model": "claude-sonnet-4-6",
                "max_tokens": 2000,
                "messages": HELLO,
                "thinking": {"type": "enabled", "budget_tokens": 10},
            },
            400,
            "greater than or equal to 1024",
        ),
    ],
)
async def test_invalid_requests_get_the_error_envelope(
    http: aiohttp.ClientSession, sim_url: str, body: dict[str, object], status: int, message: str
) -> None:
    async with http.post(f"{sim_url}/v1/messages", json=body, headers={"x-api-key": API_KEY}) as response:
        assert response.status == status
        assert response.headers["content-type"] == "application/json"
        payload = orjson.loads(await response.read())
    kind = "not_found_error" if status == 404 else "invalid_request_error"
    assert payload["type"] == "error" and payload["error"]["type"] == kind
    assert message in payload["error"]["message"]
    assert payload["request_id"] == response.headers["request-id"]


async def test_invalid_json_unknown_path_and_too_large(http: aiohttp.ClientSession, sim_url: str) -> None:
    headers = {"x-api-key": API_KEY, "content-type": "application/json"}
    async with http.post(f"{sim_url}/v1/messages", data=b"{not json", headers=headers) as response:
        assert response.status == 400
        assert orjson.loads(await response.read())["error"]["type"] == "invalid_request_error"
    for path in ("/v1/nothing/here", "/v1/models/a/b", "/elsewhere"):
        async with http.get(f"{sim_url}{path}") as response:  # no key needed to learn it does not exist
            assert response.status == 404
            assert orjson.loads(await response.read())["error"]["type"] == "not_found_error"
    with serve(create_app(SimSettings(max_body_bytes=1000))) as url:
        big = {
            "model": "claude-sonnet-4-6",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "x" * 2000}],
        }
        async with http.post(f"{url}/v1/messages", json=big, headers=headers) as response:
            assert response.status == 413
            assert orjson.loads(await response.read())["error"]["type"] == "request_too_large"


async def test_both_auth_styles_and_missing_key(http: aiohttp.ClientSession, sim_url: str) -> None:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": HELLO}
    for headers in ({"x-api-key": API_KEY}, {"authorization": f"Bearer {API_KEY}"}):
        async with http.post(f"{sim_url}/v1/messages", json=body, headers=headers) as response:
            assert response.status == 200
    async with http.post(f"{sim_url}/v1/messages", json=body) as response:
        assert response.status == 401
        error = orjson.loads(await response.read())["error"]
        assert error == {"type": "authentication_error", "message": "x-api-key header is required"}


def test_configured_keys_reject_others() -> None:
    with serve(create_app(SimSettings(api_keys=frozenset({"sk-ant-good"})))) as url:
        with anthropic.Anthropic(base_url=url, api_key="sk-ant-good", max_retries=0) as good:
            assert good.messages.create(model="claude-sonnet-4-6", max_tokens=5, messages=HELLO).content
        with (
            anthropic.Anthropic(base_url=url, api_key="sk-ant-bad", max_retries=0) as bad,
            pytest.raises(anthropic.AuthenticationError) as caught,
        ):
            bad.messages.create(model="claude-sonnet-4-6", max_tokens=5, messages=HELLO)
    assert caught.value.status_code == 401 and caught.value.type == "authentication_error"
    assert "invalid x-api-key" in str(caught.value)


def test_count_tokens_matches_the_messages_estimate(client: anthropic.Anthropic) -> None:
    params = {
        "model": "claude-sonnet-4-6",
        "system": "You are terse.",
        "tools": [WEATHER_TOOL],
        "messages": [{"role": "user", "content": "What is the weather in Paris, in celsius please?"}],
    }
    counted = client.messages.count_tokens(**params)
    answered = client.messages.create(max_tokens=50, tool_choice={"type": "none"}, **params)
    assert counted.input_tokens == answered.usage.input_tokens > 300  # tools add their system prompt
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    with_image = client.messages.count_tokens(
        model="claude-sonnet-4-6",
        messages=[{"role": "user", "content": [image, {"type": "text", "text": "What?"}]}],
    )
    assert with_image.input_tokens >= 1600


async def test_large_json_answers_are_gzipped_when_accepted(http: aiohttp.ClientSession) -> None:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 300, "messages": HELLO}
    with serve(create_app(SimSettings(gzip_min_bytes=100))) as url:
        headers = {"x-api-key": API_KEY, "accept-encoding": "gzip"}
        async with http.post(f"{url}/v1/messages", json=body, headers=headers) as response:
            assert response.headers["content-encoding"] == "gzip"
            raw = await response.read()
        message = orjson.loads(gzip.decompress(raw))
        assert message["type"] == "message"
        plain = {"x-api-key": API_KEY, "accept-encoding": "identity"}
        async with http.post(f"{url}/v1/messages", json=body, headers=plain) as response:
            assert "content-encoding" not in response.headers
            assert orjson.loads(await response.read())["content"] == message["content"]
        with anthropic.Anthropic(
            base_url=url, api_key=API_KEY, max_retries=0, _strict_response_validation=True
        ) as sdk:
            assert sdk.messages.create(**body).model_dump(exclude_none=True)["content"] == message["content"]
    with serve(create_app(SimSettings(gzip=False, gzip_min_bytes=100))) as url:
        async with http.post(
            f"{url}/v1/messages", json=body, headers={"x-api-key": API_KEY, "accept-encoding": "gzip"}
        ) as response:
            assert "content-encoding" not in response.headers


def test_count_tokens_validates_like_create(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError):
        client.messages.count_tokens(model="claude-nope", messages=HELLO)
    with pytest.raises(anthropic.BadRequestError, match="at least one message"):
        client.messages.count_tokens(model="claude-sonnet-4-6", messages=[])
