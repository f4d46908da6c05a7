"""One proxied request: read (or stream) the caller's body, send it upstream, relay the answer.

The relay forwards each upstream chunk as it arrives and awaits every ASGI send, so a slow caller
slows the upstream read (backpressure) and nothing is buffered, except the two cases that need the
whole body: the request body of ``/v1/messages`` and ``count_tokens`` (validated as JSON, 32 MiB
cap, as the real API) and the JSON answers of batch endpoints (``results_url`` rewrite).
Usage is read on the side from the bytes relayed. The record is made and handed over (and so
committed to the meter spool) just before the chunk that completes the answer for the caller: the
last chunk of a body, or the one carrying a stream's ``message_stop``. An answer the caller holds
whole is therefore always an answer already metered.

With a :class:`~modelpilot.proxy.routing.Router`, ``POST /v1/messages`` follows its plan: a routed
request goes to the cheaper model first; a JSON answer (or, with checked streaming, a tool-using or
structured stream) is held until it passes the checks of :mod:`modelpilot.proxy.escalation`, and
otherwise the caller's original bytes go to the requested model, whose answer is relayed instead.
A routed stream is relayed live from its first chunk: an error status, or a connection that breaks
off or times out before that chunk, is escalated; after it, nothing is.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson

from modelpilot.proxy import escalation
from modelpilot.proxy.asgi import Receive, Scope, Send, send_response
from modelpilot.proxy.batches import is_batch_object_path, request_origin, rewrite_results_urls
from modelpilot.proxy.calibration.calibrator import CalibrationJob, Calibrator
from modelpilot.proxy.errors import (
    InvalidRequestError,
    ProxyError,
    RequestTooLargeError,
    UpstreamError,
    UpstreamTimeoutError,
    new_request_id,
    render_error,
)
from modelpilot.proxy.headers import (
    downstream_response_headers,
    header_value,
    header_values,
    upstream_request_headers,
)
from modelpilot.proxy.recording import Attempt, MessageTap, RequestRecord, decode_body, price
from modelpilot.proxy.routing import RoutePlan, Router
from modelpilot.proxy.settings import ProxySettings
from modelpilot.proxy.upstream import RequestBody, UpstreamClient, UpstreamResponse
from modelpilot.proxy.watch import ClientDisconnected, DisconnectWatch
from modelpilot.schema.catalog import Catalog

log = logging.getLogger("modelpilot.proxy")

_JSON_BODY_PATHS = frozenset({"/v1/messages", "/v1/messages/count_tokens"})
_RELAY_HEADERS = frozenset({b"request-id", b"content-type", b"content-encoding", b"content-length"})


class Exchange:
    """State of one request from the caller's first byte to the record (see module doc)."""

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        settings: ProxySettings,
        upstream: UpstreamClient,
        catalog: Catalog,
        router: Router | None = None,
        deliver: Callable[[RequestRecord], None] | None = None,
        calibrator: Calibrator | None = None,
    ) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        self._settings = settings
        self._upstream = upstream
        self._catalog = catalog
        self._started = time.perf_counter()
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._watch = DisconnectWatch(receive, task)
        self._response: UpstreamResponse | None = None
        self._response_started = False
        self._response_framed = False  # the answer has a content-length we must honour
        self._tap: MessageTap | None = None
        self._upload_error: Exception | None = None
        self.status = 0
        self.request_id: str | None = None
        self.requested_model: str | None = None
        self.error_type: str | None = None
        self.is_stream = False
        self.is_complete = False
        self.ttfb_ms: float | None = None
        self._router = router
        self._document: dict[str, Any] | None = None
        self._is_encoded = False
        self._plan: RoutePlan | None = None
        self._extra_headers: list[tuple[bytes, bytes]] = []
        self._attempts: list[Attempt] = []
        self.escalation_reason: str | None = None
        self._deliver = deliver
        self._delivered: RequestRecord | None = None
        # A paired check (proxy/calibration): the answer's bytes are kept aside for it.
        self._calibrator = calibrator
        self._job: CalibrationJob | None = None
        self._answer: list[bytes] | None = None
        self._answer_encoding: bytes | None = None
        self._out_headers: list[tuple[str, str]] = []

    # -- the request -------------------------------------------------------------------------
    async def run(self) -> RequestRecord:
        """Handle the request completely and return its record (never raises on our errors)."""
        try:
            await self._forward()
        except ProxyError as exc:
            await self._fail(exc)
        except ClientDisconnected:
            pass  # the caller left while sending its body; nothing to answer
        except asyncio.CancelledError:
            if not self._watch.is_disconnected:
                if self._job is not None and self._calibrator is not None:
                    self._calibrator.release(self._job)
                raise
            # The cancellation was ours (the caller left): absorb it so the record is still made.
            self._task.uncancel()
        finally:
            self._watch.stop()
            if self._response is not None:
                # Unread rest (caller gone, failure): drop the connection rather than drain it.
                self._response.close()
        record = self._commit()
        if self._job is not None and self._calibrator is not None:
            # The caller has its last byte: the check runs from here on, in the background.
            answer = b"".join(self._answer or ())
            self._calibrator.start(
                self._job, record, answer, encoding=self._answer_encoding, headers=self._out_headers
            )
        return record

    def _commit(self) -> RequestRecord:
        """Make the record and hand it to ``deliver`` (which commits it to the meter spool), once.

        Called before the caller's last byte wherever there is one, so that an answer the caller
        holds whole is an answer already metered: a crash in between loses no charge.
        """
        if self._delivered is None:
            self._delivered = self._record()
            if self._router is not None and self._plan is not None:
                self._router.remember(self._delivered.request_id, self._plan)
            if self._deliver is not None:
                self._deliver(self._delivered)
        return self._delivered

    async def _forward(self) -> None:
        scope = self._scope
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        body = await self._request_body(headers)
        raw_path: bytes = scope.get("raw_path") or self.path.encode()
        query: bytes = scope.get("query_string", b"")
        target = raw_path.decode("latin-1")
        if query:
            target += "?" + query.decode("latin-1")
        out_headers = upstream_request_headers(headers, fallback_api_key=self._settings.anthropic_api_key)
        if isinstance(body, bytes) or body is None:
            self._watch.start()
        plan = await self._route(body)
        if plan is not None and self._calibrator is not None:
            assert isinstance(body, bytes)
            self._out_headers = out_headers
            plan = self._sample(plan, body)
        if plan is not None and plan.is_routed:
            assert isinstance(body, bytes)
            await self._forward_routed(plan, target, out_headers, body)
            return
        if plan is not None:
            self._extra_headers = plan.headers(served_model=plan.requested_model, escalated=False)
        await self._relay(await self._send_upstream(target, out_headers, body))

    async def _send_upstream(
        self, target: str, headers: list[tuple[str, str]], body: RequestBody
    ) -> UpstreamResponse:
        try:
            response = await self._upstream.send(self.method, target, headers, body)
        except UpstreamError:
            # The upload generator's own errors reach us wrapped by the HTTP client.
            if self._upload_error is not None:
                raise self._upload_error from None
            raise
        self._response = response
        return response

    # -- routing and escalation --------------------------------------------------------------
    async def _route(self, body: RequestBody) -> RoutePlan | None:
        if self._router is None or self._document is None or not isinstance(body, bytes):
            return None
        if self.path != "/v1/messages" or self.method != "POST":
            return None
        self._plan = await self._router.plan(self._document, body, is_encoded=self._is_encoded)
        return self._plan

    def _sample(self, plan: RoutePlan, body: bytes) -> RoutePlan:
        """Sample for a paired check: a sampled request is answered by the requested model, and
        the candidate answers on the side after it (proxy/calibration)."""
        assert self._calibrator is not None and self._document is not None
        self._job = self._calibrator.sample(plan, self._document, body)
        if self._job is None:
            return plan
        self._answer = []
        if plan.is_routed:
            plan = self._plan = dataclasses.replace(
                plan, routed_model=None, routed_body=None, is_checked_stream=False
            )
        return plan

    async def _forward_routed(
        self, plan: RoutePlan, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        assert plan.routed_body is not None and plan.routed_model is not None and self._router is not None
        routed_headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        routed_headers.append(("content-length", str(len(plan.routed_body))))
        self._extra_headers = plan.headers(served_model=plan.routed_model, escalated=False)
        failure = await self._try_routed(plan, target, routed_headers)
        if failure is None:
            return
        log.info("escalating a request routed to %s: %s", plan.routed_model, failure)
        self.escalation_reason = failure
        self._router.stay_on_requested(plan)
        self._extra_headers = plan.headers(served_model=plan.requested_model, escalated=True)
        await self._relay(await self._send_upstream(target, headers, body))

    async def _try_routed(self, plan: RoutePlan, target: str, headers: list[tuple[str, str]]) -> str | None:
        """Send the routed request; relay its answer and return None, or return why it failed
        (nothing has reached the caller then)."""
        assert plan.routed_body is not None and self._document is not None
        try:
            response = await self._send_upstream(target, headers, plan.routed_body)
        except UpstreamError as exc:
            self._attempts.append(Attempt(served_model=plan.routed_model, usage=None, status=0))
            return _failure_of(exc)
        response_headers = downstream_response_headers(response.raw_headers)
        content_type = header_value(response_headers, b"content-type") or b""
        is_stream = content_type.startswith(b"text/event-stream")
        failure = escalation.failed_status(response.status)
        if failure is None and is_stream and not plan.is_checked_stream:
            return await self._relay_routed_stream(plan, response)
        try:
            chunks = [chunk async for chunk in response.iter_chunks()]
        except UpstreamError:
            chunks, failure = [], failure or "upstream_unavailable"
            response.close()
        else:
            response.release()
        self._response = None
        encoding = header_value(response_headers, b"content-encoding")
        if failure is None:
            failure = _check_answer(self._document, b"".join(chunks), encoding, is_stream=is_stream)
        if failure is None:
            await self._relay(_HeldResponse(response.status, response.raw_headers, chunks))
            return None
        tap = MessageTap()
        for chunk in chunks:
            _feed(tap, chunk, stream=is_stream)
        if not is_stream:
            tap.finish_body(content_encoding=encoding)
        self._attempts.append(
            Attempt(
                served_model=tap.served_model or plan.routed_model, usage=tap.usage, status=response.status
            )
        )
        return failure

    async def _relay_routed_stream(self, plan: RoutePlan, response: UpstreamResponse) -> str | None:
        """Relay a routed stream live from its first chunk; a stream that breaks off or ends
        before it is escalated, since nothing (not even the headers) has reached the caller."""
        chunks = response.iter_chunks()
        try:
            first = await anext(chunks, None)
        except UpstreamError as exc:
            failure = _failure_of(exc)
        else:
            if first is not None:
                await self._relay(_StartedResponse(response, first, chunks))
                return None
            failure = "upstream_unavailable"
        response.close()
        self._response = None
        self._attempts.append(Attempt(served_model=plan.routed_model, usage=None, status=response.status))
        return failure

    async def _request_body(self, headers: list[tuple[bytes, bytes]]) -> RequestBody:
        declared = header_value(headers, b"content-length")
        length = int(declared) if declared is not None and declared.isdigit() else None
        if self.path in _JSON_BODY_PATHS and self.method == "POST":
            body = await self._read_limited(self._settings.max_body_bytes, length)
            await self._check_json(body, header_value(headers, b"content-encoding"))
            return body
        if length is None and header_value(headers, b"transfer-encoding") is None:
            return None  # HTTP/1.1: no length and no chunking means no body
        if length is not None and length > self._settings.max_upload_bytes:
            await self._read_limited(self._settings.max_upload_bytes, length)  # raises, after draining
        if length == 0:
            await self._read_limited(0, 0)
            return b""
        return self._stream_body()

    async def _read_limited(self, limit: int, declared: int | None) -> bytes:
        """The whole body, or RequestTooLargeError once the body (read to its end, so the caller
        can read our answer instead of hitting a reset mid-upload) exceeds ``limit``."""
        too_large = declared is not None and declared > limit
        parts: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._watch.mark_disconnected()
                raise ClientDisconnected
            chunk: bytes = message.get("body", b"")
            more = message.get("more_body", False)
            size += len(chunk)
            if size > limit:
                too_large = True
            if not too_large:
                parts.append(chunk)
        if too_large:
            raise RequestTooLargeError(f"request body exceeds the {limit} byte limit for {self.path}")
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def _check_json(self, body: bytes, content_encoding: bytes | None) -> None:
        decoded = body
        if content_encoding is not None and content_encoding.strip().lower() not in (b"", b"identity"):
            # Inflated in a thread (a big body takes a while) and bounded by the same limit as a
            # plain body: a small gzip bomb must neither stall other callers nor fill memory.
            limit = self._settings.max_body_bytes
            try:
                inflated = await asyncio.to_thread(_inflate_request, body, content_encoding, limit)
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
            self._document = document
            self._is_encoded = (
                content_encoding is not None and content_encoding.strip().lower() != b"identity"
            )
            model = document.get("model")
            self.requested_model = model if isinstance(model, str) else None
            self.is_stream = document.get("stream") is True

    async def _stream_body(self) -> AsyncIterator[bytes]:
        """The caller's upload handed to the upstream chunk by chunk, never held whole."""
        limit = self._settings.max_upload_bytes
        size = 0
        more = True
        while more:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._watch.mark_disconnected()
                self._upload_error = ClientDisconnected()
                raise self._upload_error
            chunk: bytes = message.get("body", b"")
            more = message.get("more_body", False)
            size += len(chunk)
            if size > limit:
                self._upload_error = RequestTooLargeError(f"request body exceeds the {limit} byte limit")
                raise self._upload_error
            if chunk:
                yield chunk
        self._watch.start()

    # -- the answer --------------------------------------------------------------------------
    async def _relay(self, response: UpstreamResponse) -> None:
        headers = downstream_response_headers(response.raw_headers)
        headers.extend(self._extra_headers)
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
            self._tap = MessageTap()
        length = found.get(b"content-length")
        self._response_framed = length is not None
        # A framed answer's last chunk is known when it arrives: it is held back until the charge
        # is committed, then goes out as the final message (which saves the server an empty one).
        unsent = int(length) if length is not None and length.isdigit() else -1
        await self._send({"type": "http.response.start", "status": response.status, "headers": headers})
        self._response_started = True
        send = self._send
        tap = self._tap
        stream = self.is_stream
        last = b""
        answer = self._answer
        self._answer_encoding = encoding
        async for chunk in response.iter_chunks():
            if self.ttfb_ms is None:
                self.ttfb_ms = self._elapsed_ms()
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
                if tap.is_complete and self._delivered is None:
                    self.is_complete = True
                    self._commit()
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            else:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                tap.feed_body(chunk)  # after the send: reading usage never delays the caller's bytes
        self._watch.stop()  # the answer is whole: a disconnect from here on changes nothing
        response.release()
        self._response = None
        if tap is not None:
            if last:
                _feed(tap, last, stream=stream)
            if not stream:
                tap.finish_body(content_encoding=encoding)
        if self._delivered is None:
            self.is_complete = tap.is_complete if tap is not None and stream else True
        self._commit()
        await send({"type": "http.response.body", "body": last, "more_body": False})

    async def _relay_batch_object(
        self, response: UpstreamResponse, headers: list[tuple[bytes, bytes]], encoding: bytes | None
    ) -> None:
        raw = b"".join([chunk async for chunk in response.iter_chunks()])
        response.release()
        self._response = None
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
        self.ttfb_ms = self._elapsed_ms()
        self._watch.stop()
        self.is_complete = True
        self._commit()
        await send_response(self._send, response.status, headers, body)
        self._response_started = True

    # -- failures and the record -------------------------------------------------------------
    async def _fail(self, error: ProxyError) -> None:
        self.error_type = error.kind
        if self._watch.is_disconnected:
            return
        if not self._response_started:
            self.request_id = self.request_id or new_request_id()
            self._watch.stop()
            status, headers, body = render_error(error, self.request_id)
            headers.extend(self._extra_headers)
            self.status = status
            self._commit()
            await send_response(self._send, status, headers, body)
            return
        # The status line is gone: all that is left is to end the answer where it broke off.
        log.warning("upstream failed mid-answer for %s %s: %s", self.method, self.path, error)
        self._watch.stop()
        self._commit()
        if self._response_framed:
            # Ending cleanly would claim a complete body; returning without the final message
            # makes the server drop the connection, so the caller sees the truncation.
            return
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})

    def _elapsed_ms(self) -> float:
        return (time.perf_counter() - self._started) * 1000.0

    def _record(self) -> RequestRecord:
        tap = self._tap
        served = tap.served_model if tap is not None else None
        usage = tap.usage if tap is not None else None
        error_type = self.error_type or (tap.error_type if tap is not None else None)
        return RequestRecord(
            request_id=self.request_id,
            method=self.method,
            path=self.path,
            status=self.status,
            requested_model=self.requested_model,
            served_model=served,
            usage=usage,
            cost=price(usage, served=served, requested=self.requested_model, catalog=self._catalog),
            is_stream=self.is_stream,
            is_complete=self.is_complete and not self._watch.is_disconnected and self.error_type is None,
            is_client_disconnected=self._watch.is_disconnected,
            error_type=error_type,
            stop_reason=tap.stop_reason if tap is not None else None,
            latency_ms=self._elapsed_ms(),
            ttfb_ms=self.ttfb_ms,
            **self._routing_fields(),
        )

    def _routing_fields(self) -> dict[str, Any]:
        plan = self._plan
        if plan is None:
            return {}
        return {
            "category": plan.category.value if plan.category is not None else "other",
            "routed": plan.is_routed,
            "escalated": self.escalation_reason is not None,
            "attempts": tuple(self._attempts),
            "decision_id": plan.decision.decision_id if plan.decision is not None else None,
            "decision_reason": plan.decision.reason.value if plan.decision is not None else None,
            "fail_open_reason": plan.fail_open_reason,
            "escalation_reason": self.escalation_reason,
            "shadow_model": plan.shadow_model,
        }


class _HeldResponse:
    """A routed answer read whole to be checked, relayed like a live one once it passed."""

    def __init__(self, status: int, raw_headers: Sequence[tuple[bytes, bytes]], chunks: list[bytes]) -> None:
        self.status = status
        self.raw_headers = raw_headers
        self._chunks = chunks

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk

    def close(self) -> None:
        pass  # the upstream connection was already released

    def release(self) -> None:
        pass


class _StartedResponse:
    """A live answer whose first chunk was already read, relayed from that chunk on."""

    def __init__(self, response: UpstreamResponse, first: bytes, rest: AsyncIterator[bytes]) -> None:
        self.status = response.status
        self.raw_headers = response.raw_headers
        self._response = response
        self._first = first
        self._rest = rest

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        yield self._first
        async for chunk in self._rest:
            yield chunk

    def close(self) -> None:
        self._response.close()

    def release(self) -> None:
        self._response.release()


def _inflate_request(raw: bytes, content_encoding: bytes, limit: int) -> bytes | None:
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


def _failure_of(exc: UpstreamError) -> str:
    """Why a routed attempt that never answered is escalated."""
    return "upstream_timeout" if isinstance(exc, UpstreamTimeoutError) else "upstream_unavailable"


def _feed(tap: MessageTap, chunk: bytes, *, stream: bool) -> None:
    if stream:
        tap.feed_stream(chunk)
    else:
        tap.feed_body(chunk)


def _check_answer(
    document: dict[str, Any], raw: bytes, encoding: bytes | None, *, is_stream: bool
) -> str | None:
    try:
        decoded = decode_body(raw, encoding)
    except (zlib.error, ValueError):
        return None  # an answer we cannot read is not judged: it is delivered as it came
    if is_stream:
        return escalation.check_stream(document, decoded)
    try:
        answer = orjson.loads(decoded)
    except orjson.JSONDecodeError:
        return "bad_answer"
    return escalation.check_message(document, answer) if isinstance(answer, dict) else "bad_answer"


__all__ = ["Exchange"]
