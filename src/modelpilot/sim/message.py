"""The ``Message`` object and its ``usage``, as the API renders them (anthropic-api.md §4)."""

from __future__ import annotations

from typing import Any

from modelpilot.sim.prompt_cache import CacheUse
from modelpilot.sim.reply import Reply


def usage_object(use: CacheUse, output_tokens: int, *, service_tier: str = "standard") -> dict[str, Any]:
    """``usage``: ``input_tokens`` counts only the uncached part of the prompt."""
    return {
        "input_tokens": use.input_tokens,
        "cache_creation_input_tokens": use.cache_creation_tokens,
        "cache_read_input_tokens": use.cache_read_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": use.cache_write_5m_tokens,
            "ephemeral_1h_input_tokens": use.cache_write_1h_tokens,
        },
        "output_tokens": output_tokens,
        "service_tier": service_tier,
    }


def message_object(message_id: str, model: str, reply: Reply, usage: dict[str, Any]) -> dict[str, Any]:
    """The complete non-streaming ``Message``."""
    message: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": reply.content,
        "stop_reason": reply.stop_reason,
        "stop_sequence": reply.stop_sequence,
    }
    if reply.stop_details is not None:
        message["stop_details"] = reply.stop_details
    message["usage"] = usage
    return message


def start_object(message_id: str, model: str, usage: dict[str, Any]) -> dict[str, Any]:
    """The ``message`` of a ``message_start`` event: no content yet, one output token."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 1},
    }
