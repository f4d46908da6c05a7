"""One pass over an Anthropic Messages request body: counts, token estimates and bounded text.

The walk touches every block once but never copies or scans long strings: sizes come from
``len()``, and only bounded slices of the last user turn and the system prompt are kept, for the
local classifiers. Nothing here leaves the process; :mod:`.extract` turns it into numbers.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

# Roughly 3.5 characters per token for English prose under Claude's tokenizers; the estimate only
# needs to be good enough for bucketing and for pricing the alternatives alike.
_CHARS_PER_TOKEN_X2 = 7
# Anthropic bills an image at about (width * height) / 750 tokens, capped near 1,600 by the
# default downscaling; the size is unknown here without decoding, so take the cap.
_IMAGE_TOKENS = 1_600
# A PDF page costs roughly 1,500-3,000 tokens (text plus a page image); base64 PDFs average a
# few tens of KB per page, so ~1 token per 25 decoded bytes, with a one-page floor.
_PDF_BYTES_PER_TOKEN = 25
_DOCUMENT_FLOOR_TOKENS = 1_500
# Server tools (web search, code execution, ...) add a fixed system-prompt overhead.
_SERVER_TOOL_TOKENS = 300
# Bounded text kept for the classifiers: the instruction is nearly always near the start or the
# end of a turn, so the head and the tail of the last user text, and the head of the system.
USER_HEAD_CHARS = 800
USER_TAIL_CHARS = 250
SYSTEM_HEAD_CHARS = 400
# How far back to look for the last user turn that carries text (agent loops end in tool
# results); bounded so that a 10,000-message conversation costs no more than a short one.
_TEXT_LOOKBACK_MESSAGES = 24
# A follow-up turn ("make it ignore case", "and its inradius?") leaves its task to the first user
# turn ("Write a Python function ...", a triangle's area): that turn's excerpt is kept too, when it
# is not the last text turn, looked for among the first few messages only. It is the excerpt the
# conversation's first request had as its last turn, so its analysis is usually already kept
# (``inputs.text_inputs``) and a follow-up costs no more text analysis than a first turn.
_FIRST_TURN_LOOKAHEAD_MESSAGES = 4


# Agent harnesses (Claude Code) resend the same tool definitions, tens of KB of JSON schemas, on
# every turn; their tally is kept for the last few distinct tool lists, keyed by their exact JSON
# (so a hit has exactly the same tally). Bounded in entries and in the size of a key; it holds
# what the request itself held, in this process only, and is never sent or written anywhere.
_TOOLS_CACHE_ENTRIES = 32
_TOOLS_CACHE_MAX_KEY_BYTES = 256 * 1024
# JSON nested deeper than this counts as nothing (bounds the recursion).
_MAX_JSON_DEPTH = 32


def tokens_for_chars(chars: int) -> int:
    """Estimated tokens of ``chars`` characters of text."""
    return (chars * 2 + _CHARS_PER_TOKEN_X2 - 1) // _CHARS_PER_TOKEN_X2


@dataclass(slots=True)
class Tally:
    """Running totals of one walk over content (characters, media, flags)."""

    chars: int = 0
    media_tokens: int = 0
    images: int = 0
    documents: int = 0
    tool_results: int = 0
    tool_uses: int = 0
    has_cache_control: bool = False

    @property
    def tokens(self) -> int:
        return tokens_for_chars(self.chars) + self.media_tokens


@dataclass(frozen=True, slots=True)
class RequestShape:
    """What one walk over a request body finds. ``user_text`` and ``system_text`` are bounded
    excerpts for the local classifiers and never leave the process."""

    prompt_tokens: int
    system_tokens: int
    last_user_tokens: int
    message_count: int
    user_turns: int
    tool_count: int
    server_tool_count: int
    image_count: int
    document_count: int
    tool_result_count: int
    tool_use_count: int
    has_cache_control: bool
    user_text: str
    system_text: str
    user_text_chars: int
    #: The excerpt of the first user turn with text (bounded as ``user_text`` is) when the last
    #: one with text is a later turn, else "": where a conversation's follow-ups find their task.
    first_user_text: str = ""


def _json_chars(value: Any, depth: int = 0) -> int:
    """Characters of strings (keys and values) in JSON-like data, a proxy for its token size:
    a string counts its length, a key 2 more, a list item 1 more, a number or a boolean 4."""
    if isinstance(value, str):
        return len(value)
    if depth > _MAX_JSON_DEPTH:  # pathological nesting: stop rather than recurse without bound
        return 0
    if isinstance(value, dict):
        total = 0
        for key, item in value.items():
            total += len(key) + 2 + (len(item) if isinstance(item, str) else _item_chars(item, depth))
        return total
    if isinstance(value, list):
        total = len(value)
        for item in value:
            total += len(item) if isinstance(item, str) else _item_chars(item, depth)
        return total
    return 4 if value is not None else 0


def _item_chars(item: Any, depth: int) -> int:
    """:func:`_json_chars` of a non-string item of a container at ``depth``. Tool schemas are
    tens of KB of small dicts and lists on an agent's first turn: strings, the most common
    items, are counted inline by the caller, and scalars here, without a call each."""
    if isinstance(item, (dict, list)):
        return _json_chars(item, depth + 1)
    return 4 if item is not None and depth < _MAX_JSON_DEPTH else 0


def _source_tokens(block: dict[str, Any], tally: Tally) -> None:
    source = block.get("source")
    if not isinstance(source, dict):
        tally.media_tokens += _DOCUMENT_FLOOR_TOKENS
        return
    kind = source.get("type")
    data = source.get("data")
    if kind == "text" and isinstance(data, str):
        tally.chars += len(data)
    elif kind == "content":
        _walk_content(source.get("content"), tally)
    elif kind == "base64" and isinstance(data, str):
        decoded_bytes = len(data) * 3 // 4
        tally.media_tokens += max(_DOCUMENT_FLOOR_TOKENS, decoded_bytes // _PDF_BYTES_PER_TOKEN)
    else:  # url or file id: the size is unknown locally
        tally.media_tokens += _DOCUMENT_FLOOR_TOKENS


def _walk_block(block: Any, tally: Tally) -> None:
    if isinstance(block, str):
        tally.chars += len(block)
        return
    if not isinstance(block, dict):
        return
    if "cache_control" in block:
        tally.has_cache_control = True
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        tally.chars += len(text) if isinstance(text, str) else 0
    elif kind == "image":
        tally.images += 1
        tally.media_tokens += _IMAGE_TOKENS
    elif kind == "document":
        tally.documents += 1
        _source_tokens(block, tally)
    elif kind == "tool_result":
        tally.tool_results += 1
        _walk_content(block.get("content"), tally)
    elif kind in ("tool_use", "server_tool_use"):
        tally.tool_uses += 1
        tally.chars += _json_chars(block.get("input")) + _json_chars(block.get("name"))
    elif kind == "thinking":
        thinking = block.get("thinking")
        tally.chars += len(thinking) if isinstance(thinking, str) else 0
    elif kind == "redacted_thinking":
        data = block.get("data")
        tally.chars += len(data) // 4 if isinstance(data, str) else 0
    elif kind == "search_result":
        _walk_content(block.get("content"), tally)
        tally.chars += _json_chars(block.get("title"))
    else:  # *_tool_result of server tools and future block types: size of their JSON
        tally.chars += _json_chars({k: v for k, v in block.items() if k != "cache_control"})


def _walk_content(content: Any, tally: Tally) -> None:
    if isinstance(content, str):
        tally.chars += len(content)
    elif isinstance(content, list):
        for block in content:
            _walk_block(block, tally)


def _text_of(content: Any) -> str:
    """The text blocks of one turn, joined, bounded to head + tail. Tool results are left out:
    they are data the model reads, not the instruction."""
    if isinstance(content, str):
        return _bounded(content)
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    size = 0
    for block in content:
        if isinstance(block, dict) and block.get("type") == "text":
            text = block.get("text")
            if isinstance(text, str):
                parts.append(text)
                size += len(text)
    if size > 4 * (USER_HEAD_CHARS + USER_TAIL_CHARS):
        # Join only the ends so that a turn with a 1 MB pasted file costs no more than a short one.
        return _bounded(parts[0][:USER_HEAD_CHARS] + "\n" + parts[-1][-USER_TAIL_CHARS:])
    return _bounded("\n".join(parts))


def _bounded(text: str) -> str:
    if len(text) <= USER_HEAD_CHARS + USER_TAIL_CHARS:
        return text
    return text[:USER_HEAD_CHARS] + "\n" + text[-USER_TAIL_CHARS:]


def _system_text(system: Any) -> str:
    if isinstance(system, str):
        return system[:SYSTEM_HEAD_CHARS]
    if isinstance(system, list):
        for block in system:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                return str(block["text"])[:SYSTEM_HEAD_CHARS]
    return ""


def _content_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    total = 0
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
                total += len(block["text"])
    return total


def _walk_tools(tool_list: list[Any]) -> tuple[Tally, int]:
    """The size of the tool definitions, and how many are server tools."""
    tool_tally = Tally()
    server_tools = 0
    for tool in tool_list:
        if not isinstance(tool, dict):
            continue
        if "cache_control" in tool:
            tool_tally.has_cache_control = True
        kind = tool.get("type")
        if isinstance(kind, str) and kind not in ("custom", ""):
            server_tools += 1
            tool_tally.media_tokens += _SERVER_TOOL_TOKENS
        else:
            tool_tally.chars += _json_chars(tool)
    return tool_tally, server_tools


class ToolTallies:
    """:func:`_walk_tools` with the results of the last ``entries`` distinct tool lists kept
    (least recently used out). Safe across threads."""

    def __init__(
        self, entries: int = _TOOLS_CACHE_ENTRIES, max_key_bytes: int = _TOOLS_CACHE_MAX_KEY_BYTES
    ) -> None:
        self._entries = entries
        self._max_key_bytes = max_key_bytes
        self._kept: OrderedDict[bytes, tuple[int, int, bool, int]] = OrderedDict()
        self._lock = threading.Lock()

    def tally(self, tool_list: list[Any]) -> tuple[Tally, int]:
        if not tool_list:
            return Tally(), 0
        try:
            key = orjson.dumps(tool_list)
        except (TypeError, orjson.JSONEncodeError):
            return _walk_tools(tool_list)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
        if kept is not None:
            chars, media_tokens, has_cache_control, server_tools = kept
            return Tally(
                chars=chars, media_tokens=media_tokens, has_cache_control=has_cache_control
            ), server_tools
        tool_tally, server_tools = _walk_tools(tool_list)
        if len(key) <= self._max_key_bytes:
            with self._lock:
                self._kept[key] = (
                    tool_tally.chars,
                    tool_tally.media_tokens,
                    tool_tally.has_cache_control,
                    server_tools,
                )
                while len(self._kept) > self._entries:
                    self._kept.popitem(last=False)
        return tool_tally, server_tools

    def __len__(self) -> int:
        return len(self._kept)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


TOOL_TALLIES = ToolTallies()


def walk_request(body: dict[str, Any]) -> RequestShape:
    """Walk ``body`` once and return its :class:`RequestShape`."""
    system = Tally()
    _walk_content(body.get("system"), system)

    tools = body.get("tools")
    tool_list = tools if isinstance(tools, list) else []
    tool_tally, server_tools = TOOL_TALLIES.tally(tool_list)

    messages = body.get("messages")
    message_list = messages if isinstance(messages, list) else []
    conversation = Tally()
    user_turns = 0
    last_user_tokens = 0
    for message in message_list:
        if not isinstance(message, dict):
            continue
        if message.get("role") == "user":
            before = conversation.tokens
            _walk_content(message.get("content"), conversation)
            user_turns += 1
            last_user_tokens = conversation.tokens - before
        else:
            _walk_content(message.get("content"), conversation)

    user_text = ""
    user_text_chars = 0
    user_text_at = -1
    for index in range(len(message_list) - 1, max(-1, len(message_list) - 1 - _TEXT_LOOKBACK_MESSAGES), -1):
        message = message_list[index]
        if isinstance(message, dict) and message.get("role") == "user":
            text = _text_of(message.get("content"))
            if text.strip():
                user_text = text
                user_text_chars = _content_chars(message.get("content"))
                user_text_at = index
                break
    first_user_text = _first_user_text(message_list, user_text_at)

    return RequestShape(
        prompt_tokens=system.tokens + tool_tally.tokens + conversation.tokens,
        system_tokens=system.tokens,
        last_user_tokens=last_user_tokens,
        message_count=len(message_list),
        user_turns=user_turns,
        tool_count=len(tool_list),
        server_tool_count=server_tools,
        image_count=conversation.images + system.images,
        document_count=conversation.documents + system.documents,
        tool_result_count=conversation.tool_results,
        tool_use_count=conversation.tool_uses,
        has_cache_control=(
            "cache_control" in body
            or system.has_cache_control
            or tool_tally.has_cache_control
            or conversation.has_cache_control
        ),
        user_text=user_text,
        system_text=_system_text(body.get("system")),
        user_text_chars=user_text_chars,
        first_user_text=first_user_text,
    )


def _first_user_text(message_list: list[Any], last_at: int) -> str:
    """The excerpt of the first user turn with text among the first few messages, if it comes
    before ``last_at`` (the last user turn with text), else ""."""
    for message in message_list[: min(_FIRST_TURN_LOOKAHEAD_MESSAGES, max(last_at, 0))]:
        if isinstance(message, dict) and message.get("role") == "user":
            text = _text_of(message.get("content"))
            if text.strip():
                return text
    return ""
