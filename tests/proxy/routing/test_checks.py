"""The escalation checks, as plain functions: the JSON Schema subset, answers, held streams."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelpilot.proxy.escalation import (
    assemble_stream,
    check_message,
    check_stream,
    failed_status,
    find_violation,
)
from modelpilot.sim.generate import value_for_schema, violate_schema
from modelpilot.sim.message import start_object
from modelpilot.sim.reply import compose_reply
from modelpilot.sim.stream import reply_events
from tests.proxy.routing.conftest import ANSWER_SCHEMA, WEATHER_TOOL, structured_body, tool_body

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
        "address": {
            "type": "object",
            "properties": {"zip": {"type": ["string", "null"]}},
            "required": ["zip"],
            "additionalProperties": False,
        },
    },
    "required": ["name"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"name": "x", "age": 3, "tags": ["a"], "address": {"zip": None}}, None),
        ({"name": "x", "age": 3.0}, None),  # 3.0 is an integer in JSON Schema
        ({}, "$: missing required property 'name'"),
        ({"name": 1}, "$.name: expected string"),
        ({"name": "x", "age": True}, "$.age: expected integer"),
        ({"name": "x", "age": 2.5}, "$.age: expected integer"),
        ({"name": "x", "tags": ["c"]}, "$.tags[0]: not one of the enum values"),
        ({"name": "x", "tags": "a"}, "$.tags: expected array"),
        ({"name": "x", "extra": 1}, "$.extra: additional property not allowed"),
        ({"name": "x", "address": {}}, "$.address: missing required property 'zip'"),
        (
            {"name": "x", "address": {"zip": "1", "city": "y"}},
            "$.address.city: additional property not allowed",
        ),
        ({"name": "x", "address": {"zip": 5}}, "$.address.zip: expected string|null"),
        ([], "$: expected object"),
    ],
)
def test_find_violation_reports_the_first_broken_place(value: Any, where: str | None) -> None:
    assert find_violation(value, PERSON) == where


def test_enum_uses_json_equality() -> None:
    assert find_violation(True, {"enum": [1]}) is not None
    assert find_violation(1, {"enum": [1.0]}) is None
    assert find_violation(1, {"const": 1}) is None


def test_refs_combinators_and_unknown_keywords() -> None:
    schema = {
        "$defs": {"id": {"type": "integer"}},
        "type": "object",
        "properties": {
            "id": {"$ref": "#/$defs/id"},
            "either": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "both": {"allOf": [{"type": "number"}, {"minimum": 5}]},
            "remote": {"$ref": "https://example.com/schema.json"},
            "pair": {"prefixItems": [{"type": "string"}], "items": {"type": "integer"}},
        },
        "additionalProperties": {"type": "boolean"},
    }
    assert (
        find_violation({"id": 1, "either": None, "both": 1, "remote": 3, "pair": ["a", 1], "x": True}, schema)
        is None
    )
    assert find_violation({"id": "1"}, schema) == "$.id: expected integer"
    assert find_violation({"either": 1}, schema) == "$.either: matches none of anyOf"
    assert find_violation({"pair": ["a", "b"]}, schema) == "$.pair[1]: expected integer"
    assert find_violation({"x": 1}, schema) == "$.x: expected boolean"


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32), schema=st.sampled_from([PERSON, ANSWER_SCHEMA, WEATHER_TOOL["input_schema"]])
)
def test_the_simulators_values_conform_and_its_violations_do_not(seed: int, schema: dict[str, Any]) -> None:
    rng = random.Random(seed)
    value = value_for_schema(rng, schema)
    assert find_violation(value, schema) is None
    assert find_violation(violate_schema(rng, value, schema), schema) is not None


def message(content: list[dict[str, Any]], stop_reason: str = "end_turn") -> dict[str, Any]:
    return {"type": "message", "role": "assistant", "content": content, "stop_reason": stop_reason}


def test_check_message_kinds() -> None:
    plain = {"max_tokens": 10, "messages": []}
    assert check_message(plain, message([{"type": "text", "text": "Hi."}])) is None
    assert check_message(plain, message([{"type": "text", "text": "No."}], "refusal")) == "refusal"
    assert check_message(plain, message([])) == "empty"
    assert check_message(plain, message([{"type": "text", "text": "  "}])) == "empty"
    assert (
        check_message(plain, message([{"type": "thinking", "thinking": "hm", "signature": "s"}])) == "empty"
    )
    assert check_message({**plain, "max_tokens": 0}, message([], "max_tokens")) is None
    assert check_message(plain, message([], "max_tokens")) is None  # cut short, not a bad model

    tools = tool_body(0)
    call = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
    assert check_message(tools, message([call], "tool_use")) is None
    assert check_message(tools, message([{**call, "input": {}}], "tool_use")) == "bad_tool_input"
    assert check_message(tools, message([{**call, "name": "nope"}], "tool_use")) == "bad_tool_input"

    structured = structured_body(0)
    good = orjson.dumps({"label": "ok", "score": 3}).decode()
    assert check_message(structured, message([{"type": "text", "text": good}])) is None
    assert check_message(structured, message([{"type": "text", "text": good[:-1]}])) == "bad_json"
    assert check_message(structured, message([{"type": "text", "text": '{"label": "ok"}'}])) == "bad_json"


@pytest.mark.parametrize("behaviour", ["normal", "refusal", "empty", "bad_tool_input", "bad_json"])
@pytest.mark.parametrize("make", [tool_body, structured_body])
def test_simulated_answers_are_judged_as_the_simulator_meant(behaviour: str, make: Any) -> None:
    for i in range(20):
        body = make(i)
        reply = compose_reply(body, failure_rate=0.0, forced=behaviour)  # type: ignore[arg-type]
        if reply.behaviour != behaviour:
            continue  # the kind does not apply to this body (e.g. bad_json when a tool is called)
        answer = message(reply.content, reply.stop_reason)
        expected = None if behaviour == "normal" else behaviour
        assert check_message(body, answer) == expected
        start = start_object("msg_01x", body["model"], {"input_tokens": 1, "output_tokens": 1})
        stream = b"".join(event for event, _ in reply_events(start, reply, ping=True))
        assert check_stream(body, stream) == expected
        assembled = assemble_stream(stream)
        assert assembled is not None and assembled["content"] == reply.content


def test_broken_streams_fail() -> None:
    body = tool_body(0)
    reply = compose_reply(body, failure_rate=0.0, forced="normal")
    start = start_object("msg_01x", body["model"], {"input_tokens": 1, "output_tokens": 1})
    events = [event for event, _ in reply_events(start, reply, ping=True)]
    assert check_stream(body, b"".join(events[:-1])) == "stream_error"  # no message_stop
    error = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"x"}}\n\n'
    assert check_stream(body, b"".join(events[:3]) + error) == "stream_error"
    assert check_stream(body, b"event: message_stop\ndata: {}\n\n") == "stream_error"


def test_every_error_status_fails() -> None:
    assert failed_status(200) is None
    assert [failed_status(s) for s in (400, 429, 500, 529)] == [
        "status_400",
        "status_429",
        "status_500",
        "status_529",
    ]


def test_calls_of_tools_without_a_schema_are_not_judged() -> None:
    request = {"max_tokens": 10, "tools": [{"type": "bash_20250124", "name": "bash"}], "messages": []}
    call = {"type": "tool_use", "id": "toolu_1", "name": "bash", "input": {"command": "ls"}}
    assert check_message(request, message([call], "tool_use")) is None
    assert check_message(request, message([{**call, "input": "ls"}], "tool_use")) == "bad_tool_input"
