"""What feature extraction keeps between requests (agent harnesses resend the same tools, system
prompt and instruction every turn): the tally of a tool list and the analysis of the text
excerpts. A request's shape, features and model inputs are the same whether kept or computed,
and what is kept is bounded."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from modelpilot.proxy.features import shape
from modelpilot.proxy.features.extract import analyse_request
from modelpilot.proxy.features.inputs import text_inputs
from modelpilot.proxy.features.shape import ToolTallies, walk_request

LIVE_SHAPED = Path(__file__).parent / "data" / "live_shaped.jsonl"


def agent_request(turns: int, *, tools: int = 12) -> dict[str, Any]:
    """A Claude Code-shaped request: many tools, a server tool, cache_control, tool loops."""
    tool_list: list[dict[str, Any]] = [
        {
            "name": f"tool_{i}",
            "description": f"Tool {i} reads and writes files. " * 5,
            "input_schema": {
                "type": "object",
                "properties": {f"arg_{j}": {"type": "string", "description": "a path"} for j in range(5)},
                "required": ["arg_0"],
            },
        }
        for i in range(tools)
    ]
    tool_list.append({"type": "web_search_20250305", "name": "web_search", "max_uses": 3})
    tool_list[0]["cache_control"] = {"type": "ephemeral"}
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Fix the failing test."}]
    for turn in range(turns):
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": f"t{turn}", "name": "tool_1", "input": {"arg_0": "a.py"}}
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": f"t{turn}", "content": "ok\n" * turn}],
            }
        )
    return {"model": "claude-sonnet-4-5", "max_tokens": 4096, "tools": tool_list, "messages": messages}


def bodies() -> list[dict[str, Any]]:
    live = [
        json.loads(line)["request"] for line in LIVE_SHAPED.read_text("utf-8").splitlines() if line.strip()
    ]
    weird: list[dict[str, Any]] = [
        {"messages": [], "tools": ["not a tool", 3, None]},
        {"messages": [], "tools": [{"name": "t", "input_schema": {"type": "object"}, "type": "custom"}]},
        {"messages": [], "tools": [{"name": "big", "n": 10**30}]},  # orjson cannot write it: walked
    ]
    return [*live, *(agent_request(turns) for turns in (0, 1, 5, 30)), *weird]


@pytest.fixture(autouse=True)
def _empty_kept_tallies() -> None:
    shape.TOOL_TALLIES.clear()
    text_inputs.cache_clear()


def uncached_shape(body: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> shape.RequestShape:
    with monkeypatch.context() as patch:
        patch.setattr(shape, "TOOL_TALLIES", ToolTallies(entries=0))
        return walk_request(body)


def test_a_kept_tally_gives_the_same_shape_as_a_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    cases = bodies()
    assert any(body.get("tools") for body in cases)
    expected = [uncached_shape(body, monkeypatch) for body in cases]
    first = [walk_request(body) for body in cases]  # fills the kept tallies
    again = [walk_request(copy.deepcopy(body)) for body in cases]  # equal tools, new objects: kept
    assert first == expected
    assert again == expected


def test_a_conversation_that_grows_keeps_one_tally_and_its_shape_follows_the_turns() -> None:
    shapes = [walk_request(agent_request(turns)) for turns in range(6)]
    assert len(shape.TOOL_TALLIES) == 1
    assert [s.message_count for s in shapes] == [1 + 2 * turns for turns in range(6)]
    assert len({(s.tool_count, s.server_tool_count, s.has_cache_control) for s in shapes}) == 1
    assert shapes[0].server_tool_count == 1 and shapes[0].has_cache_control


def test_what_is_kept_is_bounded_in_entries_and_key_size() -> None:
    tallies = ToolTallies(entries=3, max_key_bytes=300)
    for tools in range(1, 8):
        tallies.tally(agent_request(0, tools=tools)["tools"][:tools])
    assert len(tallies) == 0  # every list of these is over 300 bytes of JSON
    small = [[{"name": f"t{i}", "input_schema": {"type": "object"}}] for i in range(5)]
    for tool_list in small:
        tallies.tally(tool_list)
    assert len(tallies) == 3


def test_kept_text_analysis_gives_the_same_features_and_inputs() -> None:
    cases = bodies()
    expected = []
    for body in cases:
        text_inputs.cache_clear()
        shape.TOOL_TALLIES.clear()
        expected.append(analyse_request(body))
    first = [analyse_request(body) for body in cases]
    again = [analyse_request(copy.deepcopy(body)) for body in cases]
    assert text_inputs.cache_info().hits > 0
    assert first == expected
    assert again == expected


def test_an_agent_loop_analyses_its_instruction_once_and_each_request_gets_its_own_hashes() -> None:
    analyses = [analyse_request(agent_request(turns)) for turns in range(2, 7)]
    assert text_inputs.cache_info().misses == 1  # the same instruction on every turn
    assert len({a.features.category for a in analyses}) == 1
    analyses[0].inputs.word_hashes.append(1)  # a caller changing its list changes no other
    assert analyses[1].inputs.word_hashes == list(text_inputs("Fix the failing test.", "", True).word_hashes)


def test_kept_text_analysis_is_bounded() -> None:
    for number in range(300):
        text_inputs(f"question {number}", "", False)
    assert text_inputs.cache_info().currsize <= 256
