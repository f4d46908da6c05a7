"""Builders of Messages request bodies for the feature tests."""

from __future__ import annotations

from typing import Any


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def body(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "claude-opus-4-6", "max_tokens": 1024, "messages": list(messages), **fields}
