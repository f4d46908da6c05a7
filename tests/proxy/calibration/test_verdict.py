"""Verdicts without a judge: exact comparison where it is meaningful, then the answer checks."""

from __future__ import annotations

from typing import Any

import pytest

from modelpilot.proxy.calibration.verdict import (
    ReferenceFailedError,
    Verdict,
    compare_exact,
    normalise,
    settle_without_judge,
)

TOOL = {
    "name": "lookup",
    "input_schema": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
}
SCHEMA = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}
PLAIN: dict[str, Any] = {"max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
TOOLS = {**PLAIN, "tools": [TOOL]}
STRUCTURED = {**PLAIN, "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}}}


def text(value: str, stop: str = "end_turn") -> dict[str, Any]:
    return {"type": "message", "content": [{"type": "text", "text": value}], "stop_reason": stop}


def call(*calls: tuple[str, Any]) -> dict[str, Any]:
    blocks = [
        {"type": "tool_use", "id": f"toolu_{i}", "name": n, "input": a} for i, (n, a) in enumerate(calls)
    ]
    return {
        "type": "message",
        "content": [{"type": "text", "text": "Let me look."}, *blocks],
        "stop_reason": "tool_use",
    }


def test_short_answers_compare_after_normalisation() -> None:
    assert normalise("  Paris!\n") == normalise("paris") == "paris"
    assert compare_exact(PLAIN, text("Paris."), text("  PARIS ")) == Verdict(
        True, "exact", "same_short_answer"
    )
    assert compare_exact(PLAIN, text("Paris."), text("Lyon.")) == Verdict(
        False, "exact", "different_short_answer"
    )
    long = " ".join(["word"] * 30)
    assert compare_exact(PLAIN, text(long), text(long + " more")) is None  # goes to the judge


def acceptable(request: dict[str, Any], reference: dict[str, Any], candidate: dict[str, Any]) -> bool:
    verdict = compare_exact(request, reference, candidate)
    assert verdict is not None and verdict.source == "exact"
    return verdict.is_acceptable


def test_tool_calls_compare_by_name_and_json_arguments() -> None:
    assert acceptable(TOOLS, call(("lookup", {"id": 1, "x": [1.0]})), call(("lookup", {"x": [1], "id": 1.0})))
    assert not acceptable(TOOLS, call(("lookup", {"id": 1})), call(("lookup", {"id": 2})))
    assert not acceptable(TOOLS, call(("lookup", {"id": 1})), call(("other", {"id": 1})))
    assert not acceptable(TOOLS, call(("lookup", {"id": 1})), text("It is 1."))
    assert not acceptable(TOOLS, call(("lookup", {"f": True})), call(("lookup", {"f": 1})))
    assert not acceptable(
        TOOLS, call(("lookup", {"id": 1})), call(("lookup", {"id": 1}), ("lookup", {"id": 1}))
    )


def test_structured_output_compares_parsed() -> None:
    same = compare_exact(STRUCTURED, text('{"label": "ok"}'), text('{ "label" : "ok" }'))
    assert same == Verdict(True, "exact", "same_structured_output")
    assert not acceptable(STRUCTURED, text('{"label": "ok"}'), text('{"label": "no"}'))
    assert not acceptable(STRUCTURED, text('{"label": "ok"}'), text("{oops"))


def test_the_checks_fail_a_candidate_outright_after_the_exact_comparison() -> None:
    long = " ".join(["word"] * 30)
    refusal = text("I can't help with that request.", stop="refusal")
    assert settle_without_judge(PLAIN, text(long), refusal) == Verdict(False, "check", "refusal")
    assert settle_without_judge(PLAIN, text(long), text("")) == Verdict(False, "check", "empty")
    bad = call(("lookup", {"id": "one"}))
    assert settle_without_judge(TOOLS, call(("lookup", {"id": 1})), bad) == Verdict(
        False, "check", "bad_tool_input"
    )
    assert settle_without_judge(STRUCTURED, text('{"label": "ok"}'), text("{oops")).reason == "bad_json"  # type: ignore[union-attr]
    assert settle_without_judge(PLAIN, text(long), text(long + " other")) is None
    # An answer the requested model refused too is the same answer: acceptable.
    assert settle_without_judge(PLAIN, refusal, refusal) == Verdict(True, "exact", "same_short_answer")
    with pytest.raises(ReferenceFailedError):
        settle_without_judge(PLAIN, text(""), text(long))
