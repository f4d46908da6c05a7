"""Routing over real loopback HTTP: the SDK → the proxy → the simulator, with a small stand-in
control plane whose decisions and failures each test chooses, and which records every byte the
proxy sends it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import orjson
import pytest
import trustme
import uvicorn

from modelpilot.proxy.app import ProxyApp, create_app
from modelpilot.proxy.decisions import bucket_key
from modelpilot.proxy.recording import RequestRecord
from modelpilot.proxy.settings import ProxySettings
from modelpilot.schema.wire import RouteRequest
from tests.servers import serve

API_KEY = "sk-ant-test"
CP_KEY = "mp_live_test_deployment_key"
CHEAP = "claude-haiku-4-5"
REQUESTED = "claude-sonnet-4-6"
PLAIN: dict[str, Any] = {"server_header": False, "date_header": False}


@dataclass
class Captured:
    """One request as the stand-in control plane received it."""

    method: str
    path: str
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def raw(self) -> bytes:
        """Everything that crossed the wire, in one blob (for the privacy scan)."""
        head = b"\r\n".join(k + b": " + v for k, v in self.headers)
        return self.method.encode() + b" " + self.path.encode() + b"\r\n" + head + b"\r\n\r\n" + self.body


@dataclass
class StandInControlPlane:
    """``POST /v1/route`` (and a 200 for every other path), answering per ``mode``:

    ``route`` (to ``model``), ``requested`` (routed=false), ``hang`` (until the proxy gives up),
    ``status_500``, ``status_401``, ``invalid_json``, ``wrong_schema``.
    """

    mode: str = "route"
    model: str = CHEAP
    ttl_s: int = 0
    captured: list[Captured] = field(default_factory=list)
    decision_ids: list[str] = field(default_factory=list)

    @property
    def route_calls(self) -> int:
        return sum(1 for c in self.captured if c.path == "/v1/route")

    def route_bodies(self) -> list[bytes]:
        return [c.body for c in self.captured if c.path == "/v1/route"]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        parts = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(parts)
        self.captured.append(Captured(scope["method"], scope["path"], list(scope["headers"]), body))
        if scope["path"] != "/v1/route":
            await _reply(send, 200, acknowledgement(body))
            return
        if self.mode == "hang":
            # Until the proxy drops the connection (its budget ran out), or 5 s.
            with suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await receive()
            return
        if self.mode.startswith("status_"):
            await _reply(send, int(self.mode[7:]), b'{"title": "nope"}')
            return
        if self.mode == "invalid_json":
            await _reply(send, 200, b'{"decision_id": "')
            return
        if self.mode == "wrong_schema":
            await _reply(send, 200, b'{"model": "claude-haiku-4-5", "routed": true}')
            return
        request = RouteRequest.model_validate_json(body)
        decision_id = str(uuid.uuid4())
        self.decision_ids.append(decision_id)
        routed = self.mode == "route"
        decision = {
            "decision_id": decision_id,
            "model": self.model if routed else request.requested_model,
            "routed": routed,
            "reason": "cheaper_model" if routed else "requested_model",
            "ttl_s": self.ttl_s,
            "bucket": bucket_key(request),
        }
        await _reply(send, 200, orjson.dumps(decision))


def acknowledgement(body: bytes) -> bytes:
    """An IngestAck naming the batch and its size, as the real control plane answers a batch (the
    proxy deletes a batch only on such an answer); an empty object for anything else."""
    try:
        batch = orjson.loads(body)
    except orjson.JSONDecodeError:
        return b"{}"
    if not isinstance(batch, dict) or "batch_id" not in batch:
        return b"{}"
    size = len(batch.get("rows") or batch.get("records") or ()) or 1
    return orjson.dumps({"batch_id": batch["batch_id"], "accepted": size, "duplicate": False})


async def _reply(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


@contextmanager
def serve_with_lifespan(app: Any, **config: Any) -> Iterator[str]:
    """Like ``tests.servers.serve`` but running the ASGI lifespan (the meter flusher starts)."""
    cfg = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", **config)
    server = uvicorn.Server(cfg)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def closed_port_url() -> str:
    """An http URL on loopback where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass
class Proxy:
    """A running proxy: its URL, app (for counters), records and SDK clients."""

    url: str
    app: ProxyApp
    records: list[RequestRecord]

    def sdk(self, **headers: str) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            base_url=self.url,
            api_key=API_KEY,
            max_retries=0,
            default_headers=headers or None,
            _strict_response_validation=True,
        )

    def record_for(self, request_id: str | None) -> RequestRecord:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for record in list(self.records):
                if record.request_id == request_id:
                    return record
            time.sleep(0.001)
        raise AssertionError(f"no record for {request_id}")

    def wait_records(self, count: int) -> list[RequestRecord]:
        """The first ``count`` records (each is delivered just after its answer was sent)."""
        deadline = time.monotonic() + 10
        while len(self.records) < count:
            assert time.monotonic() < deadline, f"only {len(self.records)} records"
            time.sleep(0.001)
        return self.records[:count]

    @property
    def counts(self) -> Any:
        assert self.app.router is not None
        return self.app.router.client.counts


class Harness:
    """Starts a simulator, stand-in control planes and proxies for one test."""

    def __init__(self, stack: ExitStack, tmp_path: Path, sim_url: str) -> None:
        self._stack = stack
        self._tmp_path = tmp_path
        self.sim_url = sim_url

    def serve(self, app: Any) -> str:
        """Serve another ASGI app for this test only."""
        return self._stack.enter_context(serve(app, **PLAIN))

    def control_plane(self, **options: Any) -> tuple[StandInControlPlane, str]:
        app = StandInControlPlane(**options)
        return app, self._stack.enter_context(serve(app, **PLAIN))

    def tls_control_plane(self) -> tuple[StandInControlPlane, str]:
        """An https stand-in whose certificate comes from a CA the proxy does not trust."""
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        key_file = self._tmp_path / "cp.key"
        cert_file = self._tmp_path / "cp.pem"
        cert.private_key_pem.write_to_path(str(key_file))
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        app = StandInControlPlane()
        url = self._stack.enter_context(
            serve(app, ssl_keyfile=str(key_file), ssl_certfile=str(cert_file), **PLAIN)
        )
        return app, url.replace("http://", "https://")

    def proxy(
        self,
        control_plane_url: str | None,
        *,
        lifespan: bool = False,
        app_options: dict[str, Any] | None = None,
        **settings: Any,
    ) -> Proxy:
        records: list[RequestRecord] = []
        values: dict[str, Any] = {
            "upstream_url": self.sim_url,
            "routing_budget_ms": 2000.0,  # generous: loaded CI machines must not fail open by chance
            "spool_path": str(self._tmp_path / f"spool-{uuid.uuid4().hex}.sqlite3"),
            # Paired checks (on by default at 2 %) serve a sampled request by the requested model:
            # off here so that routing tests see every decision applied; tests/proxy/calibration
            # and the tests that pass a rate cover them.
            "calibration_rate_bps": 0,
        }
        if control_plane_url is not None:
            values.update(control_plane_url=control_plane_url, control_plane_api_key=CP_KEY)
        values.update(settings)
        app = create_app(ProxySettings(**values), on_record=records.append, **(app_options or {}))
        server = serve_with_lifespan if lifespan else serve
        url = self._stack.enter_context(server(app, **PLAIN))
        return Proxy(url, app, records)


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    """One simulator per module; its haiku misbehaves on 15 % of requests, by request hash."""
    from modelpilot.sim import SimSettings
    from modelpilot.sim import create_app as create_sim

    with serve(create_sim(SimSettings()), **PLAIN) as url:
        yield url


@pytest.fixture
def harness(tmp_path: Path, sim_url: str) -> Iterator[Harness]:
    with ExitStack() as stack:
        yield Harness(stack, tmp_path, sim_url)


def body_for(prompt: str, **extra: Any) -> dict[str, Any]:
    """A Messages request body asking ``REQUESTED``."""
    return {"model": REQUESTED, "max_tokens": 200, "messages": [{"role": "user", "content": prompt}], **extra}


def cheap_behaves(kind: str, make_body: Any, *, tries: int = 3000) -> Any:
    """The first ``make_body(i)`` that the simulator's haiku answers with behaviour ``kind``
    (deterministic by request hash; the requested model always answers normally)."""
    from modelpilot.sim.reply import compose_reply

    for i in range(tries):
        body = make_body(i)
        if compose_reply({**body, "model": CHEAP}, failure_rate=0.15).behaviour == kind:
            return body
    raise AssertionError(f"no body in {tries} makes haiku answer {kind!r}")


WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["label", "score"],
    "additionalProperties": False,
}


def tool_body(i: int, **extra: Any) -> dict[str, Any]:
    return body_for(f"What is the weather in city number {i}?", tools=[WEATHER_TOOL], **extra)


def structured_body(i: int, **extra: Any) -> dict[str, Any]:
    return body_for(
        f"Classify review {i}: fine product.",
        output_config={"format": {"type": "json_schema", "schema": ANSWER_SCHEMA}},
        **extra,
    )


def plain_body(i: int, **extra: Any) -> dict[str, Any]:
    return body_for(f"Say something short about topic {i}.", **extra)


@pytest.fixture
def client_bytes() -> Any:
    """``post(url, body, headers) -> (status, body)``: raw bytes over a fresh connection."""
    import aiohttp

    def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        async def run() -> tuple[int, bytes]:
            async with aiohttp.ClientSession(
                skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
            ) as session:
                all_headers = {"content-type": "application/json", "x-api-key": API_KEY, **(headers or {})}
                async with session.post(url, data=body, headers=all_headers) as response:
                    return response.status, await response.read()

        return asyncio.run(run())

    return post
