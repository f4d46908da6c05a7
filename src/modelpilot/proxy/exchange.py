"""One proxied request, run through the stages of :mod:`modelpilot.proxy.pipeline` in order:
read the caller's body, plan and decide the route (``POST /v1/messages`` with a router), attempt a
routed request and escalate it if it fails, relay the answer (committing its charge before the
caller's last byte), and meter it (through ``deliver``).

With a :class:`~modelpilot.proxy.routing.Router`, a routed request goes to the cheaper model first
(:mod:`~modelpilot.proxy.pipeline.attempt`); when that attempt fails, the caller's original bytes
go to the requested model, whose answer is relayed instead. With a calibrator, a sampled request is
answered by the requested model and checked against the candidate afterwards (proxy/calibration).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from modelpilot.proxy.asgi import Receive, Scope, Send
from modelpilot.proxy.calibration.calibrator import CalibrationJob, Calibrator
from modelpilot.proxy.errors import ProxyError, UpstreamError
from modelpilot.proxy.headers import upstream_request_headers
from modelpilot.proxy.pipeline.attempt import Escalation, attempt_routed
from modelpilot.proxy.pipeline.read import RequestReader
from modelpilot.proxy.pipeline.relay import Relay
from modelpilot.proxy.recording import Attempt, RequestRecord, price
from modelpilot.proxy.routing import RoutePlan, Router
from modelpilot.proxy.settings import ProxySettings
from modelpilot.proxy.upstream import RequestBody, UpstreamClient, UpstreamResponse
from modelpilot.proxy.watch import ClientDisconnected, DisconnectWatch
from modelpilot.schema.catalog import Catalog

log = logging.getLogger("modelpilot.proxy")


class Exchange:
    """One request from the caller's first byte to its record (see module doc).

    >>> record = await Exchange(scope, receive, send, settings=s, upstream=u, catalog=c).run()  # doctest: +SKIP
    """

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
        self._settings = settings
        self._upstream = upstream
        self._catalog = catalog
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._watch = watch = DisconnectWatch(receive, task)
        self._reader = RequestReader(receive, watch, settings, method=self.method, path=self.path)
        self._relay = Relay(
            scope,
            send,
            watch,
            settings,
            started=time.perf_counter(),
            make_record=self._make_record,
            deliver=deliver,
        )
        self._router = router
        self._plan: RoutePlan | None = None
        self._attempts: list[Attempt] = []
        self.escalation_reason: str | None = None
        # A paired check (proxy/calibration): the answer's bytes are kept aside for it.
        self._calibrator = calibrator
        self._job: CalibrationJob | None = None
        self._out_headers: list[tuple[str, str]] = []

    async def run(self) -> RequestRecord:
        """Handle the request completely and return its record (never raises on our errors)."""
        relay = self._relay
        try:
            try:
                await self._forward()
            except ProxyError as exc:
                await relay.fail(exc)
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
                if relay.response is not None:
                    # Unread rest (caller gone, failure): drop the connection rather than drain it.
                    relay.response.close()
            record = relay.commit()  # already done, unless the request ended with no answer
        finally:
            relay.detach()
        if self._job is not None and self._calibrator is not None:
            # The caller has its last byte: the check runs from here on, in the background.
            answer = b"".join(relay.answer or ())
            self._calibrator.start(
                self._job, record, answer, encoding=relay.answer_encoding, headers=self._out_headers
            )
        return record

    async def _forward(self) -> None:
        scope = self._scope
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        body = await self._reader.read(headers)
        self._relay.is_stream = self._reader.is_stream  # what was asked; the answer's type wins
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
        relay = self._relay
        if plan is not None and plan.is_routed:
            assert isinstance(body, bytes) and plan.routed_model is not None
            assert self._reader.document is not None and self._router is not None
            relay.extra_headers = plan.headers(served_model=plan.routed_model, escalated=False)
            outcome = await attempt_routed(
                self._upstream, self.method, target, out_headers, plan, self._reader.document
            )
            if not isinstance(outcome, Escalation):
                await relay.relay(outcome)
                return
            log.info("escalating a request routed to %s: %s", plan.routed_model, outcome.reason)
            self._attempts.append(outcome.attempt)
            self.escalation_reason = outcome.reason
            self._router.stay_on_requested(plan)
            relay.extra_headers = plan.headers(
                served_model=plan.requested_model, escalated=True, escalation_reason=outcome.reason
            )
        elif plan is not None:
            relay.extra_headers = plan.headers(served_model=plan.requested_model, escalated=False)
        await relay.relay(await self._send_upstream(target, out_headers, body))

    async def _send_upstream(
        self, target: str, headers: list[tuple[str, str]], body: RequestBody
    ) -> UpstreamResponse:
        try:
            return await self._upstream.send(self.method, target, headers, body)
        except UpstreamError:
            # The upload generator's own errors reach us wrapped by the HTTP client.
            if self._reader.upload_error is not None:
                raise self._reader.upload_error from None
            raise

    # -- plan and decide ---------------------------------------------------------------------
    async def _route(self, body: RequestBody) -> RoutePlan | None:
        document = self._reader.document
        if self._router is None or document is None or not isinstance(body, bytes):
            return None
        if self.path != "/v1/messages" or self.method != "POST":
            return None
        self._plan = await self._router.plan(document, body, is_encoded=self._reader.is_encoded)
        return self._plan

    def _sample(self, plan: RoutePlan, body: bytes) -> RoutePlan:
        """Sample for a paired check: a sampled request is answered by the requested model, and
        the candidate answers on the side after it (proxy/calibration)."""
        assert self._calibrator is not None and self._reader.document is not None
        self._job = self._calibrator.sample(plan, self._reader.document, body)
        if self._job is None:
            return plan
        self._relay.answer = []
        if plan.is_routed:
            plan = self._plan = dataclasses.replace(
                plan, routed_model=None, routed_body=None, is_checked_stream=False
            )
        return plan

    # -- the record --------------------------------------------------------------------------
    def _make_record(self) -> RequestRecord:
        record = self._record()
        if self._router is not None and self._plan is not None:
            self._router.remember(record.request_id, self._plan)
        return record

    def _record(self) -> RequestRecord:
        relay = self._relay
        tap = relay.tap
        served = tap.served_model if tap is not None else None
        usage = tap.usage if tap is not None else None
        error_type = relay.error_type or (tap.error_type if tap is not None else None)
        reader = self._reader
        requested = reader.requested_model
        is_disconnected = self._watch.is_disconnected
        return RequestRecord(
            request_id=relay.request_id,
            method=self.method,
            path=self.path,
            status=relay.status,
            requested_model=requested,
            served_model=served,
            usage=usage,
            cost=price(usage, served=served, requested=requested, catalog=self._catalog),
            is_stream=relay.is_stream,
            is_complete=relay.is_complete and not is_disconnected and relay.error_type is None,
            is_client_disconnected=is_disconnected,
            error_type=error_type,
            stop_reason=tap.stop_reason if tap is not None else None,
            latency_ms=relay.elapsed_ms(),
            ttfb_ms=relay.ttfb_ms,
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


__all__ = ["Exchange"]
