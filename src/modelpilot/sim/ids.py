"""Object ids in the shapes the real API uses (``msg_01…``, ``toolu_01…``, ``req_011C…``)."""

from __future__ import annotations

import os
import random

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _base62(raw: bytes, length: int) -> str:
    number = int.from_bytes(raw, "big")
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def new_id(prefix: str, length: int = 22) -> str:
    """A fresh random id, e.g. ``new_id("msg_01")``."""
    return prefix + _base62(os.urandom(20), length)


def seeded_id(prefix: str, rng: random.Random, length: int = 22) -> str:
    """A deterministic id drawn from ``rng`` (tool_use ids, so equal requests give equal answers)."""
    return prefix + "".join(rng.choice(_ALPHABET) for _ in range(length))


def new_request_id() -> str:
    return new_id("req_011C", 20)
