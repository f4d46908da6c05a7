"""``POST /v1/messages``: validate, apply faults, compose the answer, send it as JSON or SSE."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from modelpilot.schema.catalog import Catalog
from modelpilot.sim.asgi import JSON_TYPE, Headers, Request, ResponseHeaders, Send, maybe_gzip, send_body
from modelpilot.sim.errors import DEFAULT_MESSAGES, SimError, error_object, kind_for_status
from modelpilot.sim.faults import Fault, FaultQueue, parse_fault, parse_latency
from modelpilot.sim.ids import new_id
from modelpilot.sim.message import message_object, start_object, usage_object
from modelpilot.sim.profiles import parse_behaviour
from modelpilot.sim.prompt_cache import CacheUse, PromptCache
from modelpilot.sim.reply import compose_reply
from modelpilot.sim.settings import SimSettings
from modelpilot.sim.stream import encode_event, reply_events
from modelpilot.sim.tokens import BASE_TOKENS, count_input_tokens, prompt_segments
from modelpilot.sim.validation import check_against_catalog, check_shape

SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
]


class FaultError(SimError):
    """An injected pre-stream error, with the retry headers the fault asked for."""

    def __init__(self, fault: Fault) -> None:
        assert fault.status is not None
        kind = kind_for_status(fault.status)
        super().__init__(DEFAULT_MESSAGES.get(kind, "Error"), status=fault.status, kind=kind)
        self.headers: Headers = []
        if fault.retry_after_ms is not None:
            self.headers.append((b"retry-after-ms", f"{fault.retry_after_ms:g}".encode()))
            self.headers.append((b"retry-after", f"{fault.retry_after_ms / 1000:g}".encode()))
        if fault.should_retry is not None:
            self.headers.append((b"x-should-retry", b"true" if fault.should_retry else b"false"))


class MessagesEndpoint:
    """The Messages endpoints of one app; holds no state beyond what it is given."""

    def __init__(
        self,
        settings: SimSettings,
        catalog: Catalog,
        cache: PromptCache,
        faults: FaultQueue,
        headers: ResponseHeaders,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.cache = cache
        self.faults = faults
        self.headers = headers

    def batch_message(self, params: dict[str, Any]) -> dict[str, Any]:
        """The ``Message`` a batch request gets: validated here (errors become ``errored``
        results), billed as ``service_tier: batch``, without the prompt cache."""
        check_shape(params)
        model = check_against_catalog(params, self.catalog)
        reply = compose_reply(params, failure_rate=self.settings.failure_rate(model.line), line=model.line)
        use = CacheUse(input_tokens=count_input_tokens(params))
        usage = usage_object(use, reply.output_tokens, service_tier="batch")
        return message_object(new_id("msg_01"), params["model"], reply, usage)

    def count_tokens(self, body: Any) -> dict[str, int]:
        check_shape(body, count_tokens=True)
        check_against_catalog(body, self.catalog, count_tokens=True)
        return {"input_tokens": count_input_tokens(body)}

    def _fault(self, request: Request, model: str) -> Fault | None:
        retry = request.headers.get("x-stainless-retry-count", "0")
        retry_count = int(retry) if retry.isdigit() else 0
        header = request.headers.get("x-sim-fault")
        if header is not None:
            fault = parse_fault(header)
            return fault if fault.applies_to(model, retry_count) else None
        return self.faults.take(model, retry_count)

    async def create(self, request: Request, send: Send, request_id: str, api_key: str) -> None:
        body = check_shape(await request.json(self.settings.max_body_bytes))
        model = check_against_catalog(body, self.catalog)
        fault = self._fault(request, body["model"])
        forced = parse_behaviour(request.headers.get("x-sim-behaviour"))
        ttft_ms, token_ms = self.settings.ttft_ms, self.settings.token_ms
        if "x-sim-latency" in request.headers:
            ttft_ms, token_ms = parse_latency(
                request.headers["x-sim-latency"], ttft_ms=ttft_ms, token_ms=token_ms
            )
        if fault is not None and fault.delay_ms > 0:
            await asyncio.sleep(fault.delay_ms / 1000)
        if fault is not None and fault.status is not None:
            raise FaultError(fault)
        is_stream = body.get("stream") is True
        if fault is not None and fault.disconnect_after_events is not None and not is_stream:
            # Headers promising a body that never comes: the client sees the connection drop.
            headers = [*self.headers.common(request_id), JSON_TYPE, (b"content-length", b"4096")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            return
        reply = compose_reply(
            body, failure_rate=self.settings.failure_rate(model.line), forced=forced, line=model.line
        )
        use = self.cache.use(api_key, model.id, prompt_segments(body), BASE_TOKENS)
        usage = usage_object(use, reply.output_tokens)
        message_id = new_id("msg_01")
        if ttft_ms > 0:
            await asyncio.sleep(ttft_ms / 1000)
        if not is_stream:
            headers = [*self.headers.common(request_id), JSON_TYPE]
            raw = orjson.dumps(message_object(message_id, body["model"], reply, usage))
            s = self.settings
            raw = maybe_gzip(request, raw, headers, enabled=s.gzip, min_bytes=s.gzip_min_bytes)
            await send_body(send, 200, raw, headers)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*self.headers.common(request_id), *SSE_HEADERS],
            }
        )
        start = start_object(message_id, body["model"], usage)
        token_s = token_ms / 1000
        for sent, (event, is_delta) in enumerate(reply_events(start, reply, ping=self.settings.ping)):
            if fault is not None and fault.midstream_error is not None and sent == fault.after_events:
                kind = fault.midstream_error
                error = {"type": "error", "error": error_object(kind, DEFAULT_MESSAGES.get(kind, "Error"))}
                error["request_id"] = request_id
                await send(
                    {"type": "http.response.body", "body": encode_event("error", error), "more_body": True}
                )
                break
            if fault is not None and fault.disconnect_after_events == sent:
                return  # the server closes the connection: no message_stop, no chunked terminator
            if is_delta and token_s > 0:
                await asyncio.sleep(token_s)
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
