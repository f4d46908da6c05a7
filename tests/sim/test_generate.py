"""Pure units: values generated from JSON Schemas validate, and violations do not."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelpilot.sim.generate import is_violable, value_for_schema, violate_schema
from modelpilot.sim.reply import compose_reply
from tests.sim.schema_check import PERSON_SCHEMA, WEATHER_TOOL, schema_errors

SCHEMAS: list[dict[str, Any]] = [
    WEATHER_TOOL["input_schema"],
    PERSON_SCHEMA,
    {"type": "object", "properties": {"q": {"type": "string", "maxLength": 5}}, "required": ["q"]},
    {
        "type": "object",
        "properties": {"n": {"type": "number", "minimum": 0.5, "maximum": 0.6}},
        "required": ["n"],
    },
    {
        "type": "object",
        "properties": {"v": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
        "required": ["v"],
    },
    {
        "type": "object",
        "properties": {
            "k": {"const": "fixed"},
            "m": {
                "type": "array",
                "items": {"type": "object", "properties": {"x": {"type": "boolean"}}, "required": ["x"]},
                "minItems": 2,
            },
        },
        "required": ["k", "m"],
    },  # fmt: skip
]


@pytest.mark.parametrize("schema", SCHEMAS)
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_generated_values_validate_and_violations_do_not(schema: dict[str, Any], seed: int) -> None:
    rng = random.Random(seed)
    value = value_for_schema(rng, schema)
    assert schema_errors(value, schema) == []
    assert is_violable(schema)
    assert schema_errors(violate_schema(rng, value, schema), schema)


def test_stream_deltas_rebuild_the_final_blocks() -> None:
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 2000,
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "adaptive"},
        "messages": [{"role": "user", "content": "x"}],
    }
    for i in range(20):
        body["messages"] = [{"role": "user", "content": f"prompt {i}"}]
        reply = compose_reply(body, failure_rate=0)
        for block in reply.blocks:
            kind = block.final["type"]
            if kind == "text":
                assert "".join(d["text"] for d in block.deltas) == block.final["text"]
            elif kind == "thinking":
                assert "".join(d.get("thinking", "") for d in block.deltas) == block.final["thinking"]
                assert block.deltas[-1] == {"type": "signature_delta", "signature": block.final["signature"]}
            else:
                assert orjson.loads("".join(d["partial_json"] for d in block.deltas)) == block.final["input"]


@given(
    max_tokens=st.integers(min_value=1, max_value=3000),
    prompt=st.text(min_size=1, max_size=30),
    tools=st.booleans(),
    choice=st.sampled_from(["auto", "any", "none"]),
    thinking=st.sampled_from([None, "enabled", "adaptive"]),
    structured=st.booleans(),
    stops=st.lists(st.sampled_from(["e", "the", "}", "zzz"]), max_size=2),
    rate=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_replies_keep_their_invariants(
    max_tokens: int,
    prompt: str,
    tools: bool,
    choice: str,
    thinking: str | None,
    structured: bool,
    stops: list[str],
    rate: float,
) -> None:
    body: dict[str, Any] = {
        "model": "claude-haiku-4-5",
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": prompt}],
        "stop_sequences": stops,
    }
    if tools:
        body["tools"] = [WEATHER_TOOL]
        body["tool_choice"] = {"type": choice}
    if thinking == "enabled" and max_tokens > 1024 and not (tools and choice == "any"):
        body["thinking"] = {"type": "enabled", "budget_tokens": 1024}
    elif thinking == "adaptive" and not (tools and choice == "any"):
        body["thinking"] = {"type": "adaptive"}
    if structured:
        body["output_config"] = {"format": {"type": "json_schema", "schema": PERSON_SCHEMA}}
    reply = compose_reply(body, failure_rate=rate)
    assert 1 <= reply.output_tokens <= max_tokens
    assert reply.stop_reason in {"end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal"}
    assert (reply.stop_sequence is not None) == (reply.stop_reason == "stop_sequence")
    types = [block.final["type"] for block in reply.blocks]
    assert (reply.stop_reason == "tool_use") == (types[-1:] == ["tool_use"])
    for block in reply.blocks:
        if block.final["type"] == "tool_use" and reply.behaviour != "bad_tool_input":
            assert schema_errors(block.final["input"], WEATHER_TOOL["input_schema"]) == []
    if (
        structured
        and reply.behaviour == "normal"
        and reply.stop_reason == "end_turn"
        and "tool_use" not in types
    ):
        assert schema_errors(orjson.loads(reply.blocks[-1].final["text"]), PERSON_SCHEMA) == []
    if rate == 0.0:
        assert reply.behaviour == "normal"
