"""The simulator as a pairwise judge: it recognises the proxy's judge request and answers it
from the latent difficulty (:mod:`modelpilot.sim.difficulty`), the way a careful judge would.

A judge request is a Messages request with structured output (``output_config.format`` json_schema)
whose schema has a ``better`` property with the enum ``A``, ``B``, ``tie``, and whose last user
turn holds ``<answer_a>...</answer_a>`` and ``<answer_b>...</answer_b>`` (the shape of
``modelpilot.proxy.calibration.judge``). The verdict: an answer that starts with the weak marker,
or is empty, is worse than one that is not; otherwise ``tie``.
"""

from __future__ import annotations

import re
from typing import Any

from modelpilot.sim.difficulty import WEAK_MARKER

_ANSWER = {
    "A": re.compile(r"<answer_a>(.*?)</answer_a>", re.DOTALL),
    "B": re.compile(r"<answer_b>(.*?)</answer_b>", re.DOTALL),
}


def _last_user_text(body: dict[str, Any]) -> str | None:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(
                    b["text"]
                    for b in content
                    if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
                )
            return None
    return None


def _has_verdict_schema(body: dict[str, Any]) -> bool:
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    schema = fmt.get("schema") if isinstance(fmt, dict) else None
    properties = schema.get("properties") if isinstance(schema, dict) else None
    better = properties.get("better") if isinstance(properties, dict) else None
    enum = better.get("enum") if isinstance(better, dict) else None
    return isinstance(enum, list) and {"A", "B", "tie"} <= set(e for e in enum if isinstance(e, str))


def _is_weak(answer: str) -> bool:
    text = answer.strip()
    return not text or text.startswith(WEAK_MARKER)


def judge_verdict(body: dict[str, Any]) -> str | None:
    """``A``, ``B`` or ``tie`` for a judge request (module doc); None for any other request."""
    if not _has_verdict_schema(body):
        return None
    text = _last_user_text(body)
    if text is None:
        return None
    found = {letter: pattern.search(text) for letter, pattern in _ANSWER.items()}
    a, b = found["A"], found["B"]
    if a is None or b is None:
        return None
    weak_a, weak_b = _is_weak(a.group(1)), _is_weak(b.group(1))
    if weak_a == weak_b:
        return "tie"
    return "B" if weak_a else "A"


__all__ = ["judge_verdict"]
