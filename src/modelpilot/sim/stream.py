"""Server-sent events for a streamed answer, framed exactly as the API does (anthropic-api.md §5).

Each event is ``event: <name>\\ndata: <compact JSON>\\n\\n``; the ping keeps the API's spaced form.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from modelpilot.sim.reply import Reply

PING = b'event: ping\ndata: {"type": "ping"}\n\n'


def encode_event(name: str, data: dict[str, Any]) -> bytes:
    """One SSE event in the API's framing."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def reply_events(message: dict[str, Any], reply: Reply, *, ping: bool) -> Iterator[tuple[bytes, bool]]:
    """The stream of ``reply``: ``(event bytes, is_delta)``; ``message`` is the message_start
    object (a ``Message`` with empty content, null stop_reason and output_tokens 1)."""
    yield encode_event("message_start", {"type": "message_start", "message": message}), False
    for index, block in enumerate(reply.blocks):
        start = {"type": "content_block_start", "index": index, "content_block": block.start}
        yield encode_event("content_block_start", start), False
        if ping and index == 0:
            yield PING, False
        for delta in block.deltas:
            yield (
                encode_event(
                    "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
                ),
                True,
            )
        yield encode_event("content_block_stop", {"type": "content_block_stop", "index": index}), False
    final: dict[str, Any] = {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence}
    if reply.stop_details is not None:
        final["stop_details"] = reply.stop_details
    usage = {"output_tokens": reply.output_tokens}
    yield encode_event("message_delta", {"type": "message_delta", "delta": final, "usage": usage}), False
    yield encode_event("message_stop", {"type": "message_stop"}), False
