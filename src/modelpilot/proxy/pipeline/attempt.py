"""Stage 4, attempt: send a routed request to the cheaper model and judge its answer.

:func:`attempt_routed` answers either an upstream response for the relay stage (a JSON answer,
or with checked streaming a tool-using or structured stream, read whole and passed by the checks
of :mod:`modelpilot.proxy.escalation`; or a live stream whose first chunk has arrived), or an
:class:`Escalation`: why the attempt failed and what it cost, with nothing sent to the caller.
The caller then sends its original bytes to the requested model. A routed stream is relayed live
from its first chunk: an error status, or a connection that breaks off or times out before that
chunk, is escalated; after it, nothing is.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from modelpilot.proxy import escalation
from modelpilot.proxy.errors import UpstreamError, UpstreamTimeoutError
from modelpilot.proxy.headers import downstream_response_headers, header_value
from modelpilot.proxy.recording import Attempt, MessageTap, decode_body
from modelpilot.proxy.routing import RoutePlan
from modelpilot.proxy.upstream import UpstreamClient, UpstreamResponse


@dataclass(frozen=True, slots=True)
class Escalation:
    """A routed attempt that failed: ``reason`` (an escalation reason), and the ``attempt`` paid
    for but not delivered."""

    reason: str
    attempt: Attempt


async def attempt_routed(
    upstream: UpstreamClient,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    plan: RoutePlan,
    document: dict[str, Any],
) -> UpstreamResponse | Escalation:
    """Send ``plan.routed_body``: the answer to relay, or why to escalate (see module doc)."""
    body = plan.routed_body
    assert body is not None
    routed_headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    routed_headers.append(("content-length", str(len(body))))
    try:
        response = await upstream.send(method, target, routed_headers, body)
    except UpstreamError as exc:
        return Escalation(failure_of(exc), Attempt(served_model=plan.routed_model, usage=None, status=0))
    try:
        return await _judge(plan, document, response)
    except BaseException:
        response.close()  # the caller left while we read: drop the connection rather than drain it
        raise


async def _judge(
    plan: RoutePlan, document: dict[str, Any], response: UpstreamResponse
) -> UpstreamResponse | Escalation:
    response_headers = downstream_response_headers(response.raw_headers)
    content_type = header_value(response_headers, b"content-type") or b""
    is_stream = content_type.startswith(b"text/event-stream")
    failure = escalation.failed_status(response.status)
    if failure is None and is_stream and not plan.is_checked_stream:
        return await _first_chunk(plan, response)
    try:
        chunks = [chunk async for chunk in response.iter_chunks()]
    except UpstreamError:
        chunks, failure = [], failure or "upstream_unavailable"
        response.close()
    else:
        response.release()
    encoding = header_value(response_headers, b"content-encoding")
    if failure is None:
        failure = check_answer(document, b"".join(chunks), encoding, is_stream=is_stream)
    if failure is None:
        return HeldResponse(response.status, response.raw_headers, chunks)
    tap = MessageTap()
    for chunk in chunks:
        if is_stream:
            tap.feed_stream(chunk)
        else:
            tap.feed_body(chunk)
    if not is_stream:
        tap.finish_body(content_encoding=encoding)
    served = tap.served_model or plan.routed_model
    return Escalation(failure, Attempt(served_model=served, usage=tap.usage, status=response.status))


async def _first_chunk(plan: RoutePlan, response: UpstreamResponse) -> UpstreamResponse | Escalation:
    """A routed stream, live from its first chunk; one that breaks off or ends before it is
    escalated, since nothing (not even the headers) has reached the caller."""
    chunks = response.iter_chunks()
    try:
        first = await anext(chunks, None)
    except UpstreamError as exc:
        failure = failure_of(exc)
    else:
        if first is not None:
            return StartedResponse(response, first, chunks)
        failure = "upstream_unavailable"
    response.close()
    return Escalation(failure, Attempt(served_model=plan.routed_model, usage=None, status=response.status))


def check_answer(
    document: dict[str, Any], raw: bytes, encoding: bytes | None, *, is_stream: bool
) -> str | None:
    """Why a routed answer (whole, as received) fails its checks, or None if it passes."""
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


def failure_of(exc: UpstreamError) -> str:
    """Why a routed attempt that never answered is escalated."""
    return "upstream_timeout" if isinstance(exc, UpstreamTimeoutError) else "upstream_unavailable"


class HeldResponse:
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


class StartedResponse:
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


__all__ = ["Escalation", "HeldResponse", "StartedResponse", "attempt_routed", "check_answer", "failure_of"]
