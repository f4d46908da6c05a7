"""Whether a candidate's answer is acceptable where the requested model's is, without a judge.

:func:`settle_without_judge` applies, in order:

1. an exact comparison where one is meaningful (source ``exact``):

   * the reference calls tools: acceptable iff the candidate calls the same tools, in order, with
     equal arguments (JSON equality; key order and number spelling do not matter);
   * the request asks for structured output (``output_config.format`` json_schema): acceptable
     iff the parsed outputs are equal;
   * the reference is a short answer (at most :data:`SHORT_ANSWER_WORDS` words): acceptable iff
     the normalised texts (case-folded, punctuation and extra whitespace removed) are equal. A
     longer answer is not compared exactly (two good essays differ), so it goes to the judge.

2. the answer checks of :mod:`modelpilot.proxy.escalation` on the candidate's answer: a refusal,
   an empty answer, tool input that violates its schema or structured output that does not
   parse fail outright (source ``check``). A reference answer that fails these checks itself
   gives no verdict: the question is whether the candidate is acceptable where the requested
   model's answer is.

``None`` means neither applies and the judge decides. Pure functions over parsed JSON.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from modelpilot.proxy import escalation

RawJSON = Any
VerdictSource = Literal["check", "exact", "judge", "evaluator"]

SHORT_ANSWER_WORDS = 8
_PUNCTUATION = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Verdict:
    """Is the candidate's answer acceptable, and what said so (``reason`` is a closed-vocabulary
    word, never answer text)."""

    is_acceptable: bool
    source: VerdictSource
    reason: str


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def answer_text(message: dict[str, Any]) -> str:
    """The concatenated text blocks of a message (thinking excluded)."""
    return "".join(
        b["text"] for b in _blocks(message) if b.get("type") == "text" and isinstance(b.get("text"), str)
    )


def tool_calls(message: dict[str, Any]) -> list[tuple[Any, Any]]:
    """``(name, input)`` of each tool call, in order."""
    return [(b.get("name"), b.get("input")) for b in _blocks(message) if b.get("type") == "tool_use"]


def normalise(text: str) -> str:
    """Case-folded, accents and punctuation kept apart from letters, whitespace collapsed."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _PUNCTUATION.sub(" ", folded)).strip()


def _canonical(value: RawJSON) -> RawJSON:
    # Numbers compare as JSON numbers (1 == 1.0), booleans stay apart from numbers.
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return ("number", float(value))
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return sorted((str(k), _canonical(v)) for k, v in value.items())
    return repr(value)


def is_json_equal(left: RawJSON, right: RawJSON) -> bool:
    """Equality of two JSON values, key order and number spelling aside."""
    return bool(_canonical(left) == _canonical(right))


def _response_schema(request: dict[str, Any]) -> RawJSON | None:
    config = request.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        return fmt["schema"]
    return None


def _structured(message: dict[str, Any]) -> tuple[bool, RawJSON]:
    try:
        return True, orjson.loads(answer_text(message))
    except orjson.JSONDecodeError:
        return False, None


def compare_exact(
    request: dict[str, Any], reference: dict[str, Any], candidate: dict[str, Any]
) -> Verdict | None:
    """The exact comparison of the module doc, or None where none is meaningful."""
    reference_calls = tool_calls(reference)
    if reference_calls:
        candidate_calls = tool_calls(candidate)
        same = len(candidate_calls) == len(reference_calls) and all(
            name == other_name and is_json_equal(args, other_args)
            for (name, args), (other_name, other_args) in zip(reference_calls, candidate_calls, strict=True)
        )
        return Verdict(same, "exact", "same_tool_calls" if same else "different_tool_calls")
    if _response_schema(request) is not None:
        is_parsed, expected = _structured(reference)
        if is_parsed:
            is_candidate_parsed, got = _structured(candidate)
            same = is_candidate_parsed and is_json_equal(expected, got)
            return Verdict(same, "exact", "same_structured_output" if same else "different_structured_output")
        return None
    text = normalise(answer_text(reference))
    if text and len(text.split(" ")) <= SHORT_ANSWER_WORDS:
        same = normalise(answer_text(candidate)) == text
        return Verdict(same, "exact", "same_short_answer" if same else "different_short_answer")
    return None


class ReferenceFailedError(ValueError):
    """The requested model's own answer fails the answer checks: there is nothing to compare with."""


def settle_without_judge(
    request: dict[str, Any], reference: dict[str, Any], candidate: dict[str, Any]
) -> Verdict | None:
    """The exact comparison, then the checks (module doc); None when the judge must decide.
    ReferenceFailedError when the reference itself fails the checks and differs from the candidate."""
    exact = compare_exact(request, reference, candidate)
    if exact is not None and exact.is_acceptable:
        return exact
    if escalation.check_message(request, reference) is not None:
        raise ReferenceFailedError(escalation.check_message(request, reference))
    failure = escalation.check_message(request, candidate)
    if failure is not None:
        return Verdict(False, "check", failure)
    return exact


__all__ = [
    "SHORT_ANSWER_WORDS",
    "ReferenceFailedError",
    "Verdict",
    "VerdictSource",
    "answer_text",
    "compare_exact",
    "is_json_equal",
    "normalise",
    "settle_without_judge",
    "tool_calls",
]
