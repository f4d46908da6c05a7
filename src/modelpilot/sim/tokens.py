"""Token estimates for a request, split into the prompt's cacheable segments.

The real tokenizer is not public; ~4 characters per token is close enough for cost tests. Images
count a fixed 1,600 tokens, PDFs by size. The prompt is read in the API's cache order: tools,
then system, then messages; each tool, system block and message content block is one segment, and
carries a chained digest of everything up to it so prompt-cache prefixes can be looked up.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

RawJSON = Any

IMAGE_TOKENS = 1_600
TOOLS_OVERHEAD_TOKENS = 300  # the tool-use system prompt the API adds when tools are present
MESSAGE_OVERHEAD_TOKENS = 4
BASE_TOKENS = 4


@dataclass(frozen=True, slots=True)
class Segment:
    """One cacheable unit of the prompt: its tokens, the digest of the prompt up to and including
    it, and the TTL of its ``cache_control`` breakpoint if it carries one."""

    tokens: int
    digest: bytes
    ttl: str | None


def text_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def _pdf_tokens(data: str) -> int:
    return max(100, len(data) * 3 // 4 // 40)


def _source_tokens(source: RawJSON) -> int:
    if not isinstance(source, dict):
        return IMAGE_TOKENS
    kind = source.get("type")
    if kind == "text" and isinstance(source.get("data"), str):
        return text_tokens(source["data"])
    if kind == "base64" and isinstance(source.get("data"), str):
        return _pdf_tokens(source["data"])
    if kind == "content":
        return content_tokens(source.get("content"))
    return IMAGE_TOKENS


def block_tokens(block: RawJSON) -> int:
    """Tokens of one input content block."""
    if isinstance(block, str):
        return text_tokens(block)
    if not isinstance(block, dict):
        return 0
    kind = block.get("type")
    if kind == "text":
        return text_tokens(str(block.get("text", "")))
    if kind == "image":
        return IMAGE_TOKENS
    if kind == "document":
        return _source_tokens(block.get("source")) + text_tokens(str(block.get("title") or ""))
    if kind == "tool_use":
        return text_tokens(str(block.get("name", ""))) + text_tokens(
            orjson.dumps(block.get("input", {})).decode()
        )
    if kind == "tool_result":
        return 3 + content_tokens(block.get("content"))
    if kind == "thinking":
        return text_tokens(str(block.get("thinking", "")))
    if kind == "redacted_thinking":
        return text_tokens(str(block.get("data", "")))
    return text_tokens(orjson.dumps(block).decode())


def content_tokens(content: RawJSON) -> int:
    if isinstance(content, str):
        return text_tokens(content)
    if isinstance(content, list):
        return sum(block_tokens(block) for block in content)
    return 0


def _tool_tokens(tool: RawJSON) -> int:
    if not isinstance(tool, dict):
        return 0
    described = {k: v for k, v in tool.items() if k != "cache_control"}
    return text_tokens(orjson.dumps(described).decode())


def _ttl(block: RawJSON) -> str | None:
    control = block.get("cache_control") if isinstance(block, dict) else None
    if not isinstance(control, dict):
        return None
    return "1h" if control.get("ttl") == "1h" else "5m"


def _canonical(block: RawJSON) -> bytes:
    if isinstance(block, dict) and "cache_control" in block:
        block = {k: v for k, v in block.items() if k != "cache_control"}
    return orjson.dumps(block, option=orjson.OPT_SORT_KEYS)


def prompt_segments(body: dict[str, Any]) -> list[Segment]:
    """The request's prompt as cacheable segments, in cache-prefix order."""
    units: list[tuple[int, bytes, str | None]] = []
    tools = body.get("tools") or []
    for i, tool in enumerate(tools):
        overhead = TOOLS_OVERHEAD_TOKENS if i == 0 else 0
        units.append((overhead + _tool_tokens(tool), b"T" + _canonical(tool), _ttl(tool)))
    system = body.get("system")
    if isinstance(system, str) and system:
        units.append((text_tokens(system), b"S" + _canonical(system), None))
    elif isinstance(system, list):
        units.extend((block_tokens(b), b"S" + _canonical(b), _ttl(b)) for b in system)
    for message in body.get("messages") or []:
        role = str(message.get("role", "")).encode()
        content = message.get("content")
        blocks = [content] if isinstance(content, str) else content if isinstance(content, list) else []
        for j, block in enumerate(blocks):
            overhead = MESSAGE_OVERHEAD_TOKENS if j == 0 else 0
            units.append((overhead + block_tokens(block), role + _canonical(block), _ttl(block)))
    top = _ttl(body)
    if top is not None and units:
        # Top-level cache_control marks the last cacheable block (a breakpoint already there wins).
        tokens, raw, ttl = units[-1]
        units[-1] = (tokens, raw, ttl or top)
    segments: list[Segment] = []
    digest = b""
    for tokens, raw, ttl in units:
        digest = hashlib.blake2b(digest + raw, digest_size=16).digest()
        segments.append(Segment(tokens, digest, ttl))
    return segments


def count_input_tokens(body: dict[str, Any]) -> int:
    """All input tokens of a request (cached or not): what ``count_tokens`` answers."""
    return BASE_TOKENS + sum(segment.tokens for segment in prompt_segments(body))
