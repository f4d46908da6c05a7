"""The side calls of a paired check: one non-streaming Messages request through the same
upstream, with the caller's own key and headers, read whole and parsed.

Errors are translated here into :class:`CheckFailedError` with a closed-vocabulary reason; the
caller of a check never sees them.
"""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

from modelpilot.proxy.errors import UpstreamError, UpstreamTimeoutError
from modelpilot.proxy.headers import downstream_response_headers, header_value
from modelpilot.proxy.recording import decode_body
from modelpilot.proxy.upstream import UpstreamClient
from modelpilot.schema.usage import Usage

_MESSAGES = "/v1/messages"
_DROPPED = frozenset({"content-length", "content-encoding", "accept-encoding"})


class CheckFailedError(Exception):
    """A paired check that ends without a verdict. ``reason`` is a closed-vocabulary word (it
    labels a metric); ``cost_micros`` is what was spent before it failed."""

    def __init__(self, reason: str, *, cost_micros: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cost_micros = cost_micros


@dataclass(frozen=True, slots=True)
class SideAnswer:
    """A parsed Messages answer and its usage (None when the upstream reported none)."""

    message: dict[str, Any]
    usage: Usage | None
    served_model: str | None


def side_headers(headers: list[tuple[str, str]], body: bytes) -> list[tuple[str, str]]:
    """The caller's headers for a side call: its key and versions as sent, a plain body of our own
    length, and a plain answer (no content-encoding to undo)."""
    out = [(name, value) for name, value in headers if name.lower() not in _DROPPED]
    out.append(("content-length", str(len(body))))
    return out


async def post_message(
    upstream: UpstreamClient,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    timeout_s: float,
    failure: str,
) -> SideAnswer:
    """POST ``body`` to ``/v1/messages`` and return its answer; CheckFailedError(``failure``, or
    ``<failure>_timeout``) for anything but a 200 with a JSON ``message``."""
    try:
        async with asyncio.timeout(timeout_s):
            response = await upstream.send("POST", _MESSAGES, side_headers(headers, body), body)
            try:
                raw = b"".join([chunk async for chunk in response.iter_chunks()])
            except BaseException:
                response.close()
                raise
            response.release()
    except (TimeoutError, UpstreamTimeoutError) as exc:
        raise CheckFailedError(f"{failure}_timeout") from exc
    except UpstreamError as exc:
        raise CheckFailedError(failure) from exc
    answer_headers = downstream_response_headers(response.raw_headers)
    try:
        document = orjson.loads(decode_body(raw, header_value(answer_headers, b"content-encoding")))
    except (orjson.JSONDecodeError, zlib.error, ValueError) as exc:
        raise CheckFailedError(failure) from exc
    usage = Usage.from_api(document.get("usage")) if isinstance(document, dict) else None
    served = document.get("model") if isinstance(document, dict) else None
    if response.status != 200 or not isinstance(document, dict) or document.get("type") != "message":
        # An error answer is not billed; a 200 that is not a message is malformed.
        raise CheckFailedError(failure)
    return SideAnswer(document, usage, served if isinstance(served, str) else None)


__all__ = ["CheckFailedError", "SideAnswer", "post_message", "side_headers"]
