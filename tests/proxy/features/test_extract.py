"""extract_features on every request shape, and the privacy contract of Features."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

from modelpilot.proxy.features import Category, Features, extract_features
from tests.proxy.features.bodies import body, user

CANARY = "CANARYq7x"


def test_plain_string_request() -> None:
    f = extract_features(body(user("What is the capital of France?"), max_tokens=64))
    assert f.message_count == 1
    assert f.turn_count == 1
    assert f.max_tokens == 64
    assert f.input_tokens_estimate == f.last_user_tokens_estimate > 0
    assert f.system_tokens_estimate == 0
    assert not (f.has_tools or f.thinking or f.streaming or f.cache_control or f.has_response_schema)


def test_system_as_string_and_as_blocks_count_alike() -> None:
    text = "You are a terse assistant. " * 20
    as_str = extract_features(body(user("hello there, how is it going?"), system=text))
    as_blocks = extract_features(
        body(user("hello there, how is it going?"), system=[{"type": "text", "text": text}])
    )
    assert as_str.system_tokens_estimate == as_blocks.system_tokens_estimate > 100
    assert as_str.input_tokens_estimate == as_blocks.input_tokens_estimate


def test_block_content_and_turns() -> None:
    f = extract_features(
        body(
            user([{"type": "text", "text": "First question about tax law"}]),
            {"role": "assistant", "content": [{"type": "text", "text": "An answer."}]},
            user([{"type": "text", "text": "And a follow-up?"}]),
        )
    )
    assert (f.message_count, f.turn_count) == (3, 2)


def test_images_and_documents() -> None:
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0" * 1000}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0" * 20_000},
        },
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "plain text " * 700},
        },
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
        {"type": "text", "text": "Compare these."},
    ]
    f = extract_features(body(user(content)))
    assert f.image_count == 2
    assert f.document_count == 3
    # base64 payloads are priced as media, not as characters of text
    assert 2 * 1_600 + 1_500 * 2 < f.input_tokens_estimate < 60_000


def test_tools_tool_use_and_tool_results() -> None:
    tools = [
        {"name": "get_weather", "description": "Weather for a city", "input_schema": {"type": "object"}},
        {"type": "web_search_20250305", "name": "web_search"},
    ]
    f = extract_features(
        body(
            user("What's the weather in Paris?"),
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}}
                ],
            },
            user(
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "text", "text": "18C, cloudy"}],
                    }
                ]
            ),
            tools=tools,
            tool_choice={"type": "auto"},
        )
    )
    assert f.has_tools and f.tool_count == 2
    assert f.tool_result_count == 1
    assert not f.tool_choice_forced
    assert f.category is Category.AGENTIC


def test_forced_tool_choice() -> None:
    tools = [{"name": "record", "input_schema": {"type": "object"}}]
    for choice, forced in (
        ({"type": "tool", "name": "record"}, True),
        ({"type": "any"}, True),
        ({"type": "none"}, False),
    ):
        assert (
            extract_features(body(user("Some text"), tools=tools, tool_choice=choice)).tool_choice_forced
            is forced
        )


def test_thinking_structured_output_streaming() -> None:
    assert extract_features(body(user("x"), thinking={"type": "enabled", "budget_tokens": 2048})).thinking
    assert extract_features(body(user("x"), thinking={"type": "adaptive"})).thinking
    assert not extract_features(body(user("x"), thinking={"type": "disabled"})).thinking
    schema = {"format": {"type": "json_schema", "schema": {"type": "object"}}}
    assert extract_features(body(user("x"), output_config=schema)).has_response_schema
    assert not extract_features(body(user("x"), output_config={"effort": "low"})).has_response_schema
    assert extract_features(body(user("x"), stream=True)).streaming
    assert not extract_features(body(user("x"), stream=False)).streaming


def test_thinking_blocks_in_history_count_as_tokens() -> None:
    plain = extract_features(body(user("q"), {"role": "assistant", "content": "a"}, user("q2")))
    with_thinking = extract_features(
        body(
            user("q"),
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm " * 500, "signature": "s"},
                    {"type": "text", "text": "a"},
                ],
            },
            user("q2"),
        )
    )
    assert with_thinking.input_tokens_estimate > plain.input_tokens_estimate + 400


def test_cache_control_anywhere() -> None:
    cc = {"type": "ephemeral"}
    assert not extract_features(body(user("x"))).cache_control
    assert extract_features(body(user("x"), cache_control=cc)).cache_control
    assert extract_features(
        body(user("x"), system=[{"type": "text", "text": "s", "cache_control": cc}])
    ).cache_control
    assert extract_features(body(user([{"type": "text", "text": "x", "cache_control": cc}]))).cache_control
    tools = [{"name": "t", "input_schema": {"type": "object"}, "cache_control": cc}]
    assert extract_features(body(user("x"), tools=tools)).cache_control
    nested = [
        {
            "type": "tool_result",
            "tool_use_id": "t",
            "content": [{"type": "text", "text": "r", "cache_control": cc}],
        }
    ]
    assert extract_features(body(user(nested))).cache_control


def test_malformed_bodies_do_not_raise() -> None:
    for raw in (
        {},
        {"messages": "nope"},
        {"messages": [None, 3, {"role": "user", "content": 7}]},
        {"system": 5, "tools": "x"},
    ):
        f = extract_features(raw)
        assert 0.0 <= f.difficulty <= 1.0


def test_huge_request_is_counted_but_not_read() -> None:
    page = "lorem ipsum dolor sit amet " * 40_000  # ~1 MB, ~300k tokens
    f = extract_features(
        body(user([{"type": "text", "text": page}, {"type": "text", "text": "Summarize the above."}]))
    )
    assert f.input_tokens_estimate > 250_000
    assert f.category is Category.SUMMARIZATION


def _canary_body() -> dict[str, object]:
    c = CANARY
    return {
        "model": "claude-opus-4-6",
        "max_tokens": 512,
        "system": [{"type": "text", "text": f"system {c}", "cache_control": {"type": "ephemeral"}}],
        "metadata": {"user_id": f"user-{c}"},
        "stop_sequences": [f"stop{c}"],
        "tools": [
            {
                "name": f"tool{c}",
                "description": f"desc {c}",
                "input_schema": {"type": "object", "properties": {c: {"type": "string"}}},
            }
        ],
        "tool_choice": {"type": "tool", "name": f"tool{c}"},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "output_config": {"format": {"type": "json_schema", "schema": {"title": c}}},
        "messages": [
            {"role": "user", "content": f"user text {c} def f(): return 1 + 2"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": f"thinking {c}", "signature": c},
                    {"type": "text", "text": f"assistant {c}"},
                    {"type": "tool_use", "id": f"id{c}", "name": f"tool{c}", "input": {"q": c}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": f"id{c}", "content": f"result {c}"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": c}},
                    {"type": "image", "source": {"type": "url", "url": f"https://{c}.example/a.png"}},
                    {
                        "type": "document",
                        "title": c,
                        "context": c,
                        "source": {"type": "text", "media_type": "text/plain", "data": c},
                    },
                    {"type": "text", "text": f"final question {c}?"},
                ],
            },
        ],
    }


def test_features_hold_no_text_from_the_request() -> None:
    f = extract_features(_canary_body())
    for field in dataclasses.fields(Features):
        value = getattr(f, field.name)
        assert isinstance(value, (int, float, bool, Category)), field.name
        if isinstance(value, str):  # only the enum is a str, and only its fixed values
            assert value in {c.value for c in Category}
    rendered = repr(f) + json.dumps(dataclasses.asdict(f), default=str)
    values = " ".join(str(v) for v in dataclasses.asdict(f).values())
    for fragment in (CANARY, CANARY[:5], CANARY[-5:]):
        assert fragment.lower() not in rendered.lower()
    for fragment in ("user text", "final question", "assistant", "result", "example", "desc", "system"):
        assert fragment not in values


def test_extraction_is_deterministic_across_processes() -> None:
    # Python's str hash is salted per process; the features must not depend on it.
    script = (
        "import json, sys; from modelpilot.proxy.features import extract_features\n"
        "f = extract_features(json.loads(sys.argv[1])); print(f.category.value, repr(f.difficulty))\n"
    )
    request = json.dumps(_canary_body())
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script, request],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert extract_features(_canary_body()) == extract_features(_canary_body())


def test_importing_the_package_does_not_load_the_weights() -> None:
    probe = (
        "import modelpilot.proxy.features as f, sys\n"
        "assert f.load_router_model.cache_info().currsize == 0\n"
        "assert 'numpy' not in sys.modules\n"
        "f.extract_features({'messages': [{'role': 'user', 'content': 'hi'}]})\n"
        "assert 'numpy' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
