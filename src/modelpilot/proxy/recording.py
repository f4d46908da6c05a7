"""What the proxy learns about each request on the side: the ``RequestRecord``, and the taps that
read usage from Messages answers (JSON or SSE) without touching the bytes that are relayed.

The record is the seam for metering: the app hands one to ``on_record`` when a request ends.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

from modelpilot.proxy.sse import SseScanner
from modelpilot.schema.catalog import Catalog
from modelpilot.schema.pricing import CostBreakdown, price_request
from modelpilot.schema.usage import Usage

log = logging.getLogger("modelpilot.proxy")

_STREAM_EVENTS = (b"message_start", b"message_delta", b"message_stop", b"error")
# JSON answers are small; a body beyond this is relayed but not parsed for usage.
_MAX_TAPPED_JSON_BYTES = 8 * 1024 * 1024
_MAX_DECODED_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the proxy saw it. Contains no prompt, answer text or key.

    ``usage``/``cost``/``served_model`` are set for Messages answers that reported usage.
    ``is_complete`` says the answer reached its end (for a stream: ``message_stop`` was seen);
    a stream cut short (upstream failure, caller gone) keeps the usage it reported so far.
    ``error_type`` is the Anthropic error type of a proxy-made error, of an upstream error
    answer, or of an ``event: error`` inside a stream.
    """

    request_id: str | None
    method: str
    path: str
    status: int
    requested_model: str | None
    served_model: str | None
    usage: Usage | None
    cost: CostBreakdown | None
    is_stream: bool
    is_complete: bool
    is_client_disconnected: bool
    error_type: str | None
    stop_reason: str | None
    latency_ms: float
    ttfb_ms: float | None
    # Set by routing and escalation; the defaults describe an unrouted request.
    category: str = "other"
    routed: bool = False
    escalated: bool = False
    attempts: tuple[Attempt, ...] = ()
    # The decision path (proxy/routing.py): the decision applied, why there was none (the
    # control-plane failure kind when the request failed open), why the routed answer was escalated.
    decision_id: str | None = None
    decision_reason: str | None = None
    fail_open_reason: str | None = None
    escalation_reason: str | None = None
    # Shadow mode: the model routing would have chosen while the requested one served.
    shadow_model: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """An upstream answer that was paid for but not delivered (the routed answer that failed its
    check before escalation). ``RequestRecord.attempts`` holds these in order; the delivered answer
    is the record's own ``served_model``/``usage`` and is never repeated there."""

    served_model: str | None
    usage: Usage | None
    status: int = 0


def log_record(record: RequestRecord) -> None:
    """The default ``on_record``: one debug line, without anything secret or textual."""
    log.debug(
        "%s %s -> %s model=%s served=%s stream=%s complete=%s latency_ms=%.1f",
        record.method,
        record.path,
        record.status,
        record.requested_model,
        record.served_model,
        record.is_stream,
        record.is_complete,
        record.latency_ms,
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class MessageTap:
    """Collects model, usage, stop reason and errors from one Messages answer.

    Feed it the relayed chunks: :meth:`feed_stream` for ``text/event-stream``, :meth:`feed_body`
    for anything else (kept aside and parsed once in :meth:`finish_body`).
    """

    __slots__ = (
        "_body",
        "_body_bytes",
        "_scanner",
        "error_type",
        "is_complete",
        "served_model",
        "stop_reason",
        "usage",
    )

    def __init__(self) -> None:
        self._scanner: SseScanner | None = None
        self._body: list[bytes] = []
        self._body_bytes = 0
        self.served_model: str | None = None
        self.usage: Usage | None = None
        self.stop_reason: str | None = None
        self.error_type: str | None = None
        self.is_complete = False

    # -- streams -------------------------------------------------------------------------------
    def feed_stream(self, chunk: bytes) -> None:
        if self._scanner is None:
            self._scanner = SseScanner(_STREAM_EVENTS)
        for event, data in self._scanner.feed(chunk):
            self._on_event(event, data)

    def _on_event(self, event: bytes, data: bytes) -> None:
        if event == b"message_stop":
            self.is_complete = True
            return
        try:
            payload = _dict(orjson.loads(data))
        except orjson.JSONDecodeError:
            log.debug("unparseable %s event in a relayed stream", event.decode("latin-1"))
            return
        if event == b"message_start":
            message = _dict(payload.get("message"))
            self.served_model = _str(message.get("model")) or self.served_model
            self.usage = Usage.from_api(message.get("usage"))
        elif event == b"message_delta":
            self.usage = (self.usage or Usage()).merged_with_stream_delta(payload.get("usage"))
            self.stop_reason = _str(_dict(payload.get("delta")).get("stop_reason")) or self.stop_reason
        else:  # error
            self.error_type = _str(_dict(payload.get("error")).get("type")) or "error"

    # -- JSON answers --------------------------------------------------------------------------
    def feed_body(self, chunk: bytes) -> None:
        self._body_bytes += len(chunk)
        if self._body_bytes <= _MAX_TAPPED_JSON_BYTES:
            self._body.append(chunk)

    def finish_body(self, *, content_encoding: bytes | None) -> None:
        """Parse the kept body (gunzipped on the side if needed) once the relay is done."""
        if self._body_bytes > _MAX_TAPPED_JSON_BYTES or not self._body:
            return
        raw = b"".join(self._body)
        self._body = []
        try:
            if content_encoding is not None:
                raw = _decoded(raw, content_encoding)
            payload = _dict(orjson.loads(raw))
        except (orjson.JSONDecodeError, zlib.error, ValueError):
            log.debug("answer body is not JSON; no usage recorded")
            return
        if payload.get("type") == "error":
            self.error_type = _str(_dict(payload.get("error")).get("type")) or "error"
            return
        self.is_complete = True
        self.served_model = _str(payload.get("model"))
        if "usage" in payload:
            self.usage = Usage.from_api(payload.get("usage"))
        self.stop_reason = _str(payload.get("stop_reason"))


def _decoded(raw: bytes, content_encoding: bytes) -> bytes:
    encoding = content_encoding.strip().lower()
    if encoding in (b"", b"identity"):
        return raw
    if encoding in (b"gzip", b"x-gzip"):
        return _inflate(raw, wbits=47)  # 32 + 15: gzip or zlib header, auto-detected
    if encoding == b"deflate":
        try:
            return _inflate(raw, wbits=15)
        except zlib.error:
            return _inflate(raw, wbits=-15)  # raw deflate, as some servers send it
    raise ValueError(f"cannot decode content-encoding {encoding!r}")


def _inflate(raw: bytes, *, wbits: int) -> bytes:
    # Bounded, so a small hostile body cannot expand into gigabytes on the side.
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(raw, _MAX_DECODED_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError("decoded body is too large to inspect")
    return out


def decode_body(raw: bytes, content_encoding: bytes | None) -> bytes:
    """``raw`` without its content-encoding (gzip/deflate/identity); ValueError otherwise."""
    return raw if content_encoding is None else _decoded(raw, content_encoding)


def price(
    usage: Usage | None, *, served: str | None, requested: str | None, catalog: Catalog
) -> CostBreakdown | None:
    """The cost of a recorded answer, or None when there is nothing to price."""
    if usage is None or served is None:
        return None
    return price_request(usage, served=served, requested=requested or served, catalog=catalog)
