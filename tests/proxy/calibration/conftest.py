"""Paired checks over real loopback HTTP: the SDK -> the proxy -> the simulator, with a stand-in
control plane whose decision names a cheaper candidate, and a recorder in front of the simulator
that logs every Messages request it receives, in order, next to the proxy's own records."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import orjson
import pytest

from modelpilot.proxy.app import ProxyApp, create_app
from modelpilot.proxy.decisions import bucket_key
from modelpilot.proxy.recording import RequestRecord
from modelpilot.proxy.settings import ProxySettings
from modelpilot.schema.wire import MeterBatch, MeterRow, RouteRequest
from modelpilot.sim import SimSettings
from modelpilot.sim import create_app as create_sim
from tests.proxy.routing.conftest import PLAIN, Captured, acknowledgement, serve_with_lifespan
from tests.servers import serve

API_KEY = "sk-ant-test"
CP_KEY = "mp_live_test_deployment_key"
CHEAP = "claude-haiku-4-5"
REQUESTED = "claude-sonnet-4-6"


def is_judge_request(document: dict[str, Any]) -> bool:
    fmt = (document.get("output_config") or {}).get("format") or {}
    return "better" in ((fmt.get("schema") or {}).get("properties") or {})


@dataclass
class Event:
    """What happened, in order: ``sim`` (a Messages request reached the simulator) or ``record``
    (the proxy committed the caller's answer, just before its last byte)."""

    kind: str
    document: dict[str, Any] = field(default_factory=dict)
    record: RequestRecord | None = None

    @property
    def model(self) -> str | None:
        return self.document.get("model")

    @property
    def is_judge(self) -> bool:
        return is_judge_request(self.document)


class Recorder:
    """ASGI middleware in front of the simulator: logs each ``POST /v1/messages`` body."""

    def __init__(self, app: Any, events: list[Event]) -> None:
        self._app = app
        self._events = events

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/messages":
            await self._app(scope, receive, send)
            return
        parts, more = [], True
        while more:
            message = await receive()
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(parts)
        self._events.append(Event("sim", orjson.loads(body)))
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self._app(scope, replay, send)


@dataclass
class StandInControlPlane:
    """``POST /v1/route`` naming ``model`` as ``mode``: ``route`` (routed to it), ``candidate``
    (unrouted, ``candidate_model``), ``shadow`` (unrouted, ``shadow_model``), ``none`` (no cheaper
    model); a 200 for every other path. Records every request."""

    mode: str = "route"
    model: str = CHEAP
    captured: list[Captured] = field(default_factory=list)

    def meter_rows(self) -> list[MeterRow]:
        """The rows of every meter batch received, a redelivered batch counted once (as the real
        control plane counts it)."""
        batches = {}
        for c in self.captured:
            if c.path == "/v1/meter":
                batch = MeterBatch.model_validate_json(c.body)
                batches[batch.batch_id] = batch
        return [row for batch in batches.values() for row in batch.rows]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        parts, more = [], True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(parts)
        self.captured.append(Captured(scope["method"], scope["path"], list(scope["headers"]), body))
        if scope["path"] != "/v1/route":
            answer = acknowledgement(body)
        else:
            request = RouteRequest.model_validate_json(body)
            routed = self.mode == "route"
            decision: dict[str, Any] = {
                "decision_id": str(uuid.uuid4()),
                "model": self.model if routed else request.requested_model,
                "routed": routed,
                "reason": "cheaper_model" if routed else "requested_model",
                "ttl_s": 0,
                "bucket": bucket_key(request),
            }
            if self.mode == "candidate":
                decision["candidate_model"] = self.model
            if self.mode == "shadow":
                decision.update(shadow_model=self.model, reason="shadow")
            answer = orjson.dumps(decision)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer, "more_body": False})


@dataclass
class Proxy:
    url: str
    app: ProxyApp
    events: list[Event]

    def sdk(self, **headers: str) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            base_url=self.url,
            api_key=API_KEY,
            max_retries=0,
            default_headers=headers or None,
            _strict_response_validation=True,
        )

    @property
    def metrics(self) -> Any:
        return self.app.metrics

    def settle(self, checks: int) -> None:
        """Wait until ``checks`` paired checks have started and none is in flight."""
        calibrator = self.app.calibrator
        assert calibrator is not None
        deadline = time.monotonic() + 20
        while self.metrics.calibration_checks.value() < checks or calibrator.in_flight:
            assert time.monotonic() < deadline, f"{self.metrics.calibration_checks.value()} checks so far"
            time.sleep(0.005)

    def sim_requests(self) -> list[Event]:
        return [e for e in self.events if e.kind == "sim"]

    def verdicts(self, source: str, acceptable: bool) -> int:
        return int(self.metrics.calibration_verdicts.value(source, "true" if acceptable else "false"))


class Harness:
    """A simulator (no random misbehaviour), a stand-in control plane and proxies, per test."""

    def __init__(self, stack: ExitStack, tmp_path: Path) -> None:
        self._stack = stack
        self._tmp_path = tmp_path
        self.events: list[Event] = []
        self._lock = threading.Lock()
        sim = Recorder(create_sim(SimSettings(cheap_failure_rate=0)), self.events)
        self.sim_url = stack.enter_context(serve(sim, **PLAIN))

    def serve(self, app: Any) -> str:
        return self._stack.enter_context(serve(app, **PLAIN))

    def control_plane(self, **options: Any) -> tuple[StandInControlPlane, str]:
        app = StandInControlPlane(**options)
        return app, self.serve(app)

    def proxy(self, control_plane_url: str, *, lifespan: bool = False, **settings: Any) -> Proxy:
        values: dict[str, Any] = {
            "upstream_url": self.sim_url,
            "routing_budget_ms": 2000.0,
            "spool_path": str(self._tmp_path / f"spool-{uuid.uuid4().hex}.sqlite3"),
            "control_plane_url": control_plane_url,
            "control_plane_api_key": CP_KEY,
            "calibration_rate_bps": 10_000,
            "calibration_daily_cap_micros": 10_000_000,
        }
        values.update(settings)

        def on_record(record: RequestRecord) -> None:
            self.events.append(Event("record", record=record))

        app = create_app(ProxySettings(**values), on_record=on_record)
        server = serve_with_lifespan if lifespan else serve
        url = self._stack.enter_context(server(app, **PLAIN))
        return Proxy(url, app, self.events)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with ExitStack() as stack:
        yield Harness(stack, tmp_path)


def body_for(prompt: str, **extra: Any) -> dict[str, Any]:
    return {"model": REQUESTED, "max_tokens": 300, "messages": [{"role": "user", "content": prompt}], **extra}
