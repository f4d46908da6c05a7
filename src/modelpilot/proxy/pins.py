"""Conversation pins: a conversation stays on its first decision (DESIGN.md §3), for a while.

A conversation is recognised by a keyed hash of its model, system prompt and first user turn (the
key is random per process and never leaves it). A pin lasts ``max_age_s`` from when it was made
and at most ``max_entries`` are kept (least recently used first out); :meth:`clear` drops them all
when the deployment's settings change, its key is revoked or its account suspended
(:mod:`modelpilot.proxy.config_watch`), so a switch to Off or shadow is obeyed within a poll, not
after the proxy's lifetime.

>>> pins = ConversationPins(max_age_s=60)
>>> key = pins.key_of({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
>>> pins.get(key) is None
True
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson

from modelpilot.schema.wire import RouteDecision

#: How long a conversation keeps its first decision: long enough for an interactive session, short
#: enough that templated one-shot prompts (same system prompt and first turn) are decided afresh.
DEFAULT_MAX_AGE_S = 900.0
DEFAULT_MAX_ENTRIES = 10_000


def _first_user_turn(messages: Any) -> Any:
    if not isinstance(messages, list):
        return None
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "user":
            return message.get("content")
    return None


class ConversationPins:
    """The first decision of each recent conversation, by an in-memory keyed hash, bounded in
    time (``max_age_s`` from the pin) and size (``max_entries``, LRU)."""

    def __init__(
        self,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._secret = secrets.token_bytes(32)
        self._max_entries = max_entries
        self._max_age_s = max_age_s
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, RouteDecision]] = OrderedDict()

    def key_of(self, document: dict[str, Any]) -> bytes | None:
        """The conversation key of a request (None when it has no user turn)."""
        first = _first_user_turn(document.get("messages"))
        if first is None:
            return None
        try:
            material = orjson.dumps(
                [document.get("model"), document.get("system"), first], option=orjson.OPT_SORT_KEYS
            )
        except TypeError:
            return None
        return hashlib.blake2b(material, key=self._secret, digest_size=16).digest()

    def get(self, key: bytes) -> RouteDecision | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, decision = entry
        if self._clock() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return decision

    def put(self, key: bytes, decision: RouteDecision) -> None:
        """Pin ``decision``; re-pinning a conversation (after an escalation) keeps its expiry."""
        previous = self._entries.get(key)
        expires_at = previous[0] if previous is not None else self._clock() + self._max_age_s
        self._entries[key] = (expires_at, decision)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every pin (the deployment's settings changed)."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


__all__ = ["DEFAULT_MAX_AGE_S", "ConversationPins"]
