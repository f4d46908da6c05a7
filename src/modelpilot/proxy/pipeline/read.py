"""Stage 1, read: the caller's request body, through one loop over its ASGI messages.

The bodies of ``POST /v1/messages`` and ``count_tokens`` are read whole (32 MiB cap, as the real
API), inflated if gzip/deflate-encoded (bounded by the same cap) and checked to be JSON; any other
body is handed upstream chunk by chunk as it arrives (``max_upload_bytes`` cap), never held whole.
A body over its cap is read to its end before the error is raised, so the caller can read our
answer instead of hitting a reset mid-upload (except a streamed upload, already on its way).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from typing import Any

import orjson

from modelpilot.proxy.asgi import Receive
from modelpilot.proxy.errors import InvalidRequestError, RequestTooLargeError
from modelpilot.proxy.headers import header_value
from modelpilot.proxy.settings import ProxySettings
from modelpilot.proxy.upstream import RequestBody
from modelpilot.proxy.watch import ClientDisconnected, DisconnectWatch

JSON_BODY_PATHS = frozenset({"/v1/messages", "/v1/messages/count_tokens"})


class RequestReader:
    """Reads one request's body (:meth:`read`) and what the JSON says about it.

    After :meth:`read`: ``document`` is the parsed JSON object of a Messages/count_tokens body
    (None otherwise), ``is_encoded`` whether it came content-encoded, ``requested_model`` and
    ``is_stream`` what it asks for. ``upload_error`` is set when a streamed upload failed on our
    side (the HTTP client then reports it wrapped; the exchange raises this instead).

    >>> reader = RequestReader(receive, watch, settings, method="POST", path="/v1/messages")  # doctest: +SKIP
    >>> body = await reader.read(scope["headers"])  # doctest: +SKIP
    """

    __slots__ = (
        "_limits",
        "_more",
        "_receive",
        "_size",
        "_too_large",
        "_watch",
        "document",
        "is_encoded",
        "is_stream",
        "method",
        "path",
        "requested_model",
        "upload_error",
    )

    def __init__(
        self, receive: Receive, watch: DisconnectWatch, settings: ProxySettings, *, method: str, path: str
    ) -> None:
        self._receive = receive
        self._watch = watch
        self._limits = settings
        self.method = method
        self.path = path
        self.document: dict[str, Any] | None = None
        self.is_encoded = False
        self.requested_model: str | None = None
        self.is_stream = False
        self.upload_error: Exception | None = None
        self._more = True  # the caller has more body messages to send
        self._size = 0
        self._too_large = False

    async def read(self, headers: list[tuple[bytes, bytes]]) -> RequestBody:
        """The body to send upstream: bytes, a stream of chunks, or None (no body at all)."""
        declared = header_value(headers, b"content-length")
        length = int(declared) if declared is not None and declared.isdigit() else None
        limits = self._limits
        if self.path in JSON_BODY_PATHS and self.method == "POST":
            body = await self._read_whole(limits.max_body_bytes, length)
            await self._check_json(body, header_value(headers, b"content-encoding"))
            return body
        if length is None and header_value(headers, b"transfer-encoding") is None:
            return None  # HTTP/1.1: no length and no chunking means no body
        if length is not None and length > limits.max_upload_bytes:
            await self._read_whole(limits.max_upload_bytes, length)  # raises, after draining
        if length == 0:
            await self._read_whole(0, 0)
            return b""
        return self._upload(limits.max_upload_bytes)

    async def _pull(self, limit: int, *, drain: bool) -> bytes | None:
        """The next non-empty chunk of the caller's body, or None at its end: the one loop over
        its ASGI messages. Beyond ``limit`` bytes (or a declared length beyond it): with
        ``drain``, read on to the end and then raise; without, raise at once."""
        while self._more:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._watch.mark_disconnected()
                raise ClientDisconnected
            chunk: bytes = message.get("body", b"")
            self._more = message.get("more_body", False)
            self._size += len(chunk)
            if self._size > limit:
                self._too_large = True
                if not drain:
                    raise RequestTooLargeError(f"request body exceeds the {limit} byte limit")
            if chunk and not self._too_large:
                return chunk
        if self._too_large:
            raise RequestTooLargeError(f"request body exceeds the {limit} byte limit for {self.path}")
        return None

    async def _read_whole(self, limit: int, declared: int | None) -> bytes:
        self._too_large = declared is not None and declared > limit
        first = await self._pull(limit, drain=True)
        if first is None:
            return b""
        parts = [first]
        # A chunk returned means the body is within its limit: with no more messages, it is whole.
        while self._more and (chunk := await self._pull(limit, drain=True)) is not None:
            parts.append(chunk)
        return first if len(parts) == 1 else b"".join(parts)

    async def _upload(self, limit: int) -> AsyncIterator[bytes]:
        """The caller's upload handed to the upstream chunk by chunk, never held whole."""
        try:
            while (chunk := await self._pull(limit, drain=False)) is not None:
                yield chunk
        except (ClientDisconnected, RequestTooLargeError) as exc:
            self.upload_error = exc
            raise
        self._watch.start()

    async def _check_json(self, body: bytes, content_encoding: bytes | None) -> None:
        decoded = body
        if content_encoding is not None and content_encoding.strip().lower() not in (b"", b"identity"):
            # Inflated in a thread (a big body takes a while) and bounded by the same limit as a
            # plain body: a small gzip bomb must neither stall other callers nor fill memory.
            limit = self._limits.max_body_bytes
            try:
                inflated = await asyncio.to_thread(inflate_request, body, content_encoding, limit)
            except (zlib.error, ValueError) as exc:
                raise InvalidRequestError(f"The request body is not valid JSON: {exc}") from exc
            if inflated is None:
                raise RequestTooLargeError(
                    f"request body inflates beyond the {limit} byte limit for {self.path}"
                )
            decoded = inflated
        try:
            document: Any = orjson.loads(decoded)
        except (orjson.JSONDecodeError, zlib.error, ValueError) as exc:
            raise InvalidRequestError(f"The request body is not valid JSON: {exc}") from exc
        if isinstance(document, dict):
            self.document = document
            self.is_encoded = content_encoding is not None and content_encoding.strip().lower() != b"identity"
            model = document.get("model")
            self.requested_model = model if isinstance(model, str) else None
            self.is_stream = document.get("stream") is True


def inflate_request(raw: bytes, content_encoding: bytes, limit: int) -> bytes | None:
    """``raw`` without its gzip/deflate encoding, or None if it inflates beyond ``limit`` bytes
    (never holding more than ``limit`` + 1 of them); ValueError for another encoding."""
    encoding = content_encoding.strip().lower()
    if encoding in (b"gzip", b"x-gzip"):
        wbits = 47  # 32 + 15: gzip or zlib header, auto-detected
    elif encoding == b"deflate":
        wbits = 15 if raw[:1] == b"\x78" else -15  # zlib-wrapped, or raw deflate
    else:
        raise ValueError(f"cannot decode content-encoding {encoding!r}")
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(raw, limit + 1)
    if len(out) > limit:
        return None
    return out


__all__ = ["JSON_BODY_PATHS", "RequestReader", "inflate_request"]
