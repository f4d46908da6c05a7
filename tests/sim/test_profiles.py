"""Behaviour profiles: haiku misbehaves on a deterministic fraction of requests, others never;
``x-sim-behaviour`` forces a kind."""

from __future__ import annotations

from collections import Counter
from typing import Any

import anthropic
import orjson
import pytest

from modelpilot.sim import SimSettings, create_app
from modelpilot.sim.reply import compose_reply
from tests.servers import serve
from tests.sim.schema_check import PERSON_SCHEMA, WEATHER_TOOL, schema_errors


def _body(i: int, model: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 400,
        "messages": [{"role": "user", "content": f"Task number {i}"}],
        **extra,
    }


def _is_bad(message: dict[str, Any]) -> bool:
    content = message["content"]
    if message["stop_reason"] == "refusal" or not content or content == [{"type": "text", "text": ""}]:
        return True
    for block in content:
        if block["type"] == "tool_use" and schema_errors(block["input"], WEATHER_TOOL["input_schema"]):
            return True
    return False


def test_haiku_misbehaves_on_a_fraction_and_sonnet_never(client: anthropic.Anthropic) -> None:
    tools = {"tools": [WEATHER_TOOL], "tool_choice": {"type": "any"}}
    bad: Counter[str] = Counter()
    for i in range(200):
        for model in ("claude-haiku-4-5", "claude-sonnet-4-6"):
            extra = tools if i % 2 else {}
            message = client.messages.create(**_body(i, model, **extra)).model_dump(exclude_none=True)
            if _is_bad(message):
                bad[model] += 1
    assert bad["claude-sonnet-4-6"] == 0
    assert 10 <= bad["claude-haiku-4-5"] <= 60  # ~15 % of 200


def test_failure_kinds_are_drawn_among_the_applicable_ones() -> None:
    kinds: Counter[str] = Counter()
    structured = {"output_config": {"format": {"type": "json_schema", "schema": PERSON_SCHEMA}}}
    for i in range(600):
        kinds[compose_reply(_body(i, "claude-haiku-4-5", **structured), failure_rate=0.15).behaviour] += 1
    assert set(kinds) == {"normal", "refusal", "empty", "bad_json"}
    assert 0.1 < 1 - kinds["normal"] / 600 < 0.2
    plain = Counter(
        compose_reply(_body(i, "claude-haiku-4-5"), failure_rate=0.15).behaviour for i in range(300)
    )
    assert set(plain) == {"normal", "refusal", "empty"}
    assert {compose_reply(_body(i, "claude-haiku-4-5"), failure_rate=0.0).behaviour for i in range(100)} == {
        "normal"
    }


def test_profiles_are_configurable_per_line() -> None:
    settings = SimSettings(profiles={"sonnet": 1.0})
    assert settings.failure_rate("sonnet") == 1.0 and settings.failure_rate("haiku") == 0.0
    with (
        serve(create_app(settings)) as url,
        anthropic.Anthropic(base_url=url, api_key="k", max_retries=0) as sdk,
    ):
        message = sdk.messages.create(**_body(1, "claude-sonnet-4-6"))
        assert _is_bad(message.model_dump(exclude_none=True))
    with pytest.raises(ValueError):
        SimSettings(cheap_failure_rate=1.5)


def test_forced_behaviours(client: anthropic.Anthropic) -> None:
    def ask(behaviour: str, **extra: Any) -> Any:
        return client.messages.create(
            **_body(7, "claude-opus-4-6", **extra), extra_headers={"x-sim-behaviour": behaviour}
        )

    refusal = ask("refusal")
    assert refusal.stop_reason == "refusal"
    assert refusal.stop_details is not None and refusal.stop_details.category == "general_harms"
    assert refusal.content[0].text
    empty = ask("empty")
    assert empty.content in ([], [anthropic.types.TextBlock(type="text", text="")])
    tool = ask("bad_tool_input", tools=[WEATHER_TOOL])
    (call,) = [b for b in tool.content if b.type == "tool_use"]
    assert schema_errors(call.input, WEATHER_TOOL["input_schema"])
    structured = {"output_config": {"format": {"type": "json_schema", "schema": PERSON_SCHEMA}}}
    for i in range(6):
        message = client.messages.create(
            **_body(i, "claude-opus-4-6", **structured), extra_headers={"x-sim-behaviour": "bad_json"}
        )
        text = message.content[0].text
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue  # malformed JSON is one of the two bad_json kinds
        assert schema_errors(value, PERSON_SCHEMA)
    assert ask("bad_json").stop_reason == "end_turn"  # not applicable without a schema: normal
    haiku = {"model": "claude-haiku-4-5", "max_tokens": 400}
    normal = [
        client.messages.create(
            **haiku,
            messages=[{"role": "user", "content": f"n{i}"}],
            extra_headers={"x-sim-behaviour": "normal"},
        )
        for i in range(40)
    ]
    assert all(m.stop_reason == "end_turn" and m.content[0].text for m in normal)
