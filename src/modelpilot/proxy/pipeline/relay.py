"""Stage 5, relay: the answer to the caller, and the one place that commits the charge.

The relay forwards each upstream chunk as it arrives and awaits every ASGI send, so a slow caller
slows the upstream read (backpressure) and nothing is buffered, except the JSON answers of batch
endpoints (``results_url`` rewrite). Usage is read on the side from the bytes relayed.

:meth:`Relay.commit` makes the request's record and hands it over (``deliver`` commits it to the
meter spool), once. The relay calls it just before the message that completes the answer for the
caller: the last chunk of a body, the one carrying a stream's ``message_stop``, or an error answer
of our own. An answer the caller holds whole is therefore always an answer already metered; the
exchange calls it last for requests that ended with no answer (the caller left).
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable

from modelpilot.proxy.asgi import Scope, Send, send_response
from modelpilot.proxy.batches import is_batch_object_path, request_origin, rewrite_results_urls
from modelpilot.proxy.errors import ProxyError, new_request_id, render_error
from modelpilot.proxy.headers import downstream_response_headers, header_value, header_values
from modelpilot.proxy.recording import MessageTap, RequestRecord, decode_body
from modelpilot.proxy.settings import ProxySettings
from modelpilot.proxy.upstream import UpstreamResponse
from modelpilot.proxy.watch import DisconnectWatch

log = logging.getLogger("modelpilot.proxy")

_RELAY_HEADERS = frozenset({b"request-id", b"content-type", b"content-encoding", b"content-length"})


class Relay:
    """Sends one request's answer to the caller and holds what the record needs of it.

    ``make_record`` builds the record when :meth:`commit` first runs; ``deliver`` receives it.
    ``extra_headers`` (routing's ``x-modelpilot-*``) go out with the answer. With ``answer`` set
    to a list, the answer's chunks are kept in it (for a paired check).

    >>> relay = Relay(scope, send, watch, settings, started=t0, make_record=..., deliver=...)  # doctest: +SKIP
    >>> await relay.relay(await upstream.send(...))  # doctest: +SKIP
    """

    __slots__ = (
        "_deliver",
        "_is_framed",
        "_make_record",
        "_scope",
        "_send",
        "_settings",
        "_started",
        "_watch",
        "answer",
        "answer_encoding",
        "delivered",
        "error_type",
        "extra_headers",
        "is_complete",
        "is_started",
        "is_stream",
        "method",
        "path",
        "request_id",
        "response",
        "status",
        "tap",
        "ttfb_ms",
    )

    def __init__(
        self,
        scope: Scope,
        send: Send,
        watch: DisconnectWatch,
        settings: ProxySettings,
        *,
        started: float,
        make_record: Callable[[], RequestRecord],
        deliver: Callable[[RequestRecord], None] | None,
    ) -> None:
        self._scope = scope
        self._send = send
        self._watch = watch
        self._settings = settings
        self._started = started
        self._make_record: Callable[[], RequestRecord] | None = make_record
        self._deliver = deliver
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.delivered: RequestRecord | None = None
        #: The upstream answer being relayed, until it is read whole (closed if the caller leaves).
        self.response: UpstreamResponse | None = None
        self.is_started = False  # the status line is gone
        self._is_framed = False  # the answer has a content-length we must honour
        self.extra_headers: list[tuple[bytes, bytes]] = []
        self.status = 0
        self.request_id: str | None = None
        self.error_type: str | None = None
        self.is_stream = False
        self.is_complete = False
        self.ttfb_ms: float | None = None
        self.tap: MessageTap | None = None
        self.answer: list[bytes] | None = None
        self.answer_encoding: bytes | None = None

    def commit(self) -> RequestRecord:
        """Make the record and hand it to ``deliver`` (which commits it to the meter spool), once.

        Called before the caller's last byte wherever there is one, so that an answer the caller
        holds whole is an answer already metered: a crash in between loses no charge.
        """
        if self.delivered is None:
            assert self._make_record is not None, "commit after detach"
            self.delivered = self._make_record()
            if self._deliver is not None:
                self._deliver(self.delivered)
        return self.delivered

    def detach(self) -> None:
        """Drop ``make_record`` once the request is over: it is usually a method of the object
        that holds this relay, and the cycle would leave each request to the cyclic GC."""
        self._make_record = None

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self._started) * 1000.0

    async def relay(self, response: UpstreamResponse) -> None:
        """Relay ``response`` to the caller, committing the charge before its last byte."""
        self.response = response
        headers = downstream_response_headers(response.raw_headers)
        headers.extend(self.extra_headers)
        self.status = response.status
        found = header_values(headers, _RELAY_HEADERS)
        request_id = found.get(b"request-id")
        self.request_id = request_id.decode("latin-1") if request_id is not None else None
        content_type = found.get(b"content-type", b"")
        encoding = found.get(b"content-encoding")
        self.is_stream = content_type.startswith(b"text/event-stream")
        if is_batch_object_path(self.path) and content_type.startswith(b"application/json"):
            await self._relay_batch_object(response, headers, encoding)
            return
        if self.path == "/v1/messages" and self.method == "POST":
            self.tap = MessageTap()
        length = found.get(b"content-length")
        self._is_framed = length is not None
        # A framed answer's last chunk is known when it arrives: it is held back until the charge
        # is committed, then goes out as the final message (which saves the server an empty one).
        unsent = int(length) if length is not None and length.isdigit() else -1
        await self._send({"type": "http.response.start", "status": response.status, "headers": headers})
        self.is_started = True
        send = self._send
        tap = self.tap
        stream = self.is_stream
        last = b""
        answer = self.answer
        self.answer_encoding = encoding
        async for chunk in response.iter_chunks():
            if self.ttfb_ms is None:
                self.ttfb_ms = self.elapsed_ms()
            if answer is not None:
                answer.append(chunk)
            unsent -= len(chunk)
            if unsent == 0:
                last = chunk
                continue
            if tap is None:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            elif stream:
                # The chunk that completes the message (message_stop) is where an SDK's stream
                # ends for the caller, so its charge is committed before it goes out.
                tap.feed_stream(chunk)
                if tap.is_complete and self.delivered is None:
                    self.is_complete = True
                    self.commit()
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            else:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                tap.feed_body(chunk)  # after the send: reading usage never delays the caller's bytes
        self._watch.stop()  # the answer is whole: a disconnect from here on changes nothing
        response.release()
        self.response = None
        if tap is not None:
            if last:
                if stream:
                    tap.feed_stream(last)
                else:
                    tap.feed_body(last)
            if not stream:
                tap.finish_body(content_encoding=encoding)
        if self.delivered is None:
            self.is_complete = tap.is_complete if tap is not None and stream else True
        self.commit()
        await send({"type": "http.response.body", "body": last, "more_body": False})

    async def _relay_batch_object(
        self, response: UpstreamResponse, headers: list[tuple[bytes, bytes]], encoding: bytes | None
    ) -> None:
        raw = b"".join([chunk async for chunk in response.iter_chunks()])
        response.release()
        self.response = None
        body = raw
        origin = request_origin(
            self._scope.get("scheme", "http"),
            header_value(self._scope["headers"], b"host"),
            self._settings.public_base_url,
        )
        if origin is not None and (encoding is not None or b"results_url" in raw):
            try:
                decoded = decode_body(raw, encoding)
            except (zlib.error, ValueError):
                log.warning("cannot decode a %s batch answer; results_url left as sent", encoding)
                decoded = None
            if decoded is not None and origin is not None:
                rewritten = rewrite_results_urls(decoded, origin=origin)
                if rewritten != decoded:
                    body = rewritten
                    # The body is now ours: plain bytes with their own length.
                    headers = [
                        (name, value)
                        for name, value in headers
                        if name not in (b"content-length", b"content-encoding")
                    ]
                    headers.append((b"content-length", str(len(body)).encode()))
        self.ttfb_ms = self.elapsed_ms()
        self._watch.stop()
        self.is_complete = True
        self.commit()
        await send_response(self._send, response.status, headers, body)
        self.is_started = True

    async def fail(self, error: ProxyError) -> None:
        """Answer ``error`` in the Anthropic envelope, or, once the status line is gone, end the
        answer where it broke off."""
        self.error_type = error.kind
        if self._watch.is_disconnected:
            return
        if not self.is_started:
            self.request_id = self.request_id or new_request_id()
            self._watch.stop()
            status, headers, body = render_error(error, self.request_id)
            headers.extend(self.extra_headers)
            self.status = status
            self.commit()
            await send_response(self._send, status, headers, body)
            return
        log.warning("upstream failed mid-answer for %s %s: %s", self.method, self.path, error)
        self._watch.stop()
        self.commit()
        if self._is_framed:
            # Ending cleanly would claim a complete body; returning without the final message
            # makes the server drop the connection, so the caller sees the truncation.
            return
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})


__all__ = ["Relay"]
