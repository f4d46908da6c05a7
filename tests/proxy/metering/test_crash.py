"""Nothing lost, nothing counted twice: the SDK → a real ``modelpilot proxy`` process → the
simulator, metering into a spool file and flushing to the real control plane (FastAPI on a
SQLite file), through a ``kill -9``, a restart, a control-plane outage and a graceful stop.

Expected totals are computed independently: from the usage in the SDK's responses and the
catalog's rates, rounded half up per request."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import anthropic
import pytest
import uvicorn

pytest.importorskip("sqlalchemy")

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from modelpilot.control import accounts, deployments
from modelpilot.control.app import create_app as create_control_app
from modelpilot.control.settings import ControlSettings
from modelpilot.control.store.engine import create_db_engine
from modelpilot.control.store.tables import Base, LogRecord
from modelpilot.proxy.control_client import ControlPlaneClient, ControlResponse
from modelpilot.proxy.spool import Spool, deployment_fingerprint
from modelpilot.schema.wire import MeterBatch
from modelpilot.sim import SimSettings
from modelpilot.sim import create_app as create_sim
from tests.metering_totals import metered_totals, price
from tests.servers import serve

MODELS = ("claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-6")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eventually(predicate, *, timeout_s: float = 20.0, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class ControlPlane:
    """The real control plane on a fixed loopback port, stoppable and restartable (an outage)."""

    def __init__(self, tmp_path: Path) -> None:
        self.engine: Engine = create_db_engine(f"sqlite:///{tmp_path / 'control.sqlite3'}")
        Base.metadata.create_all(self.engine)
        self.settings = ControlSettings(
            database_url="sqlite://",
            session_secrets=("test-session-secret-0123456789abcdef",),
            password_iterations=1_000,
            allow_weak_password_hashing=True,
        )
        now = datetime.now(UTC)
        with Session(self.engine, expire_on_commit=False) as session:
            account = accounts.sign_up(
                session, self.settings, email="crash@example.com", password="correct horse battery", now=now
            )
            deployment = deployments.create_deployment(session, account_id=account.id, name="prod", now=now)
            deployment.metadata_logs = True  # logs are stored only for deployments that opted in
            session.commit()
            _, self.key = deployments.create_api_key(
                session, account_id=account.id, deployment_id=deployment.id, name="proxy", now=now
            )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        app = create_control_app(self.settings, engine=self.engine)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
        thread.start()
        eventually(lambda: server.started or not thread.is_alive(), what="the control plane to start")
        assert server.started
        self._server, self._thread = server, thread

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def logs(self) -> tuple[int, int]:
        """How many metadata log records arrived, and their total cost."""
        with Session(self.engine) as session:
            count, cost = session.execute(
                select(func.count(), func.coalesce(func.sum(LogRecord.cost_micros), 0))
            ).one()
        return int(count), int(cost)

    def totals(self) -> tuple[int, int, int, int, int]:
        return metered_totals(self.engine)


@pytest.fixture
def control_plane(tmp_path: Path) -> Iterator[ControlPlane]:
    control = ControlPlane(tmp_path)
    control.start()
    yield control
    control.stop()
    control.engine.dispose()


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with serve(create_sim(SimSettings(cheap_failure_rate=0.0))) as url:
        yield url


@dataclass
class Expected:
    """What the completed requests cost, from the SDK's view of them."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    actual_micros: int = 0
    baseline_micros: int = 0
    by_model: dict[str, int] = field(default_factory=dict)

    def add(self, message: anthropic.types.Message, *, requested: str) -> None:
        usage = message.usage
        assert usage.service_tier != "batch" and usage.inference_geo in (None, "global")
        self.requests += 1
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        # Whatever routing chose, the baseline is the requested model on the same usage.
        self.actual_micros += price(usage, message.model)
        self.baseline_micros += price(usage, requested)
        self.by_model[requested] = self.by_model.get(requested, 0) + 1

    @property
    def totals(self) -> tuple[int, int, int, int, int]:
        return (
            self.requests,
            self.input_tokens,
            self.output_tokens,
            self.actual_micros,
            self.baseline_micros,
        )


class ProxyProcess:
    """``modelpilot proxy`` as a child process on one spool file."""

    def __init__(
        self,
        *,
        sim_url: str,
        control: ControlPlane,
        spool: Path,
        flush_interval_s: float,
        extra: tuple[str, ...],
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "MODELPILOT_API_KEY": control.key, "PYTHONUNBUFFERED": "1"}
        command = [
            sys.executable, "-m", "modelpilot.cli", "proxy",
            "--port", str(self.port),
            "--upstream", sim_url,
            "--control-plane", control.url,
            "--spool", str(spool),
            "--flush-interval", str(flush_interval_s),
            *extra,
        ]  # fmt: skip
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        eventually(self._is_listening, what="the proxy to listen")

    def _is_listening(self) -> bool:
        assert self.process.poll() is None, self.process.communicate()[1].decode()
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def metric(self, name: str) -> int:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as response:
            text = response.read().decode()
        return sum(int(float(value)) for value in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))

    def send(self, count: int, expected: Expected) -> None:
        """``count`` requests through the SDK, mixed models, every third one streamed."""
        before = self.metric("modelpilot_requests_total")
        with anthropic.Anthropic(base_url=self.url, api_key="sk-ant-test", max_retries=0) as sdk:
            for index in range(count):
                model = MODELS[(expected.requests + index) % len(MODELS)]
                prompt = [{"role": "user", "content": f"question {expected.requests + index}"}]
                if index % 3 == 2:
                    with sdk.messages.stream(model=model, max_tokens=64, messages=prompt) as stream:
                        message = stream.get_final_message()
                else:
                    message = sdk.messages.create(model=model, max_tokens=64, messages=prompt)
                expected.add(message, requested=model)
        # /metrics counts a request after its spool commit: once it shows them all, they are on disk.
        eventually(lambda: self.metric("modelpilot_requests_total") == before + count, what="spool commits")

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no shutdown, no drain
        self.process.communicate(timeout=10)

    def terminate(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=20)
        assert self.process.returncode == 0, stderr.decode()
        return stderr.decode()

    def stop_quietly(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=10)


@pytest.mark.slow
def test_a_crash_a_restart_and_an_outage_lose_nothing_and_count_nothing_twice(
    tmp_path: Path, sim_url: str, control_plane: ControlPlane
) -> None:
    spool = tmp_path / "state" / "spool.sqlite3"
    expected = Expected()
    proxies: list[ProxyProcess] = []

    def start(flush_interval_s: float = 0.05, *extra: str) -> ProxyProcess:
        proxies.append(
            ProxyProcess(
                sim_url=sim_url,
                control=control_plane,
                spool=spool,
                flush_interval_s=flush_interval_s,
                extra=extra,
            )
        )
        return proxies[-1]

    try:
        # 1. Requests spooled (the next flush is an hour away), then kill -9.
        first = start(flush_interval_s=3600)
        first.send(12, expected)
        first.kill()
        # Widen the worst crash window by hand: the dead proxy had formed a batch and sent it,
        # but died before recording the acknowledgement.
        leftover = Spool.open(spool, deployment=deployment_fingerprint(control_plane.key))
        try:
            outgoing = leftover.take_batch()
        finally:
            leftover.close()
        assert outgoing is not None
        delivered = asyncio.run(post(control_plane, outgoing.batch))
        assert delivered.json["duplicate"] is False
        assert control_plane.totals()[0] == sum(row.requests for row in outgoing.batch.rows) > 0

        # 2. A restart on the same spool resends that batch under its id (counted once) and
        #    flushes every 50 ms; kill -9 again while it does.
        second = start()
        second.send(9, expected)
        second.kill()

        # 3. The control plane goes away: requests still succeed, usage waits in the spool.
        third = start()
        third.send(3, expected)
        control_plane.stop()
        third.send(9, expected)
        eventually(lambda: third.metric("modelpilot_flush_failures_total") > 0, what="a failed flush")
        assert third.metric("modelpilot_spool_backlog_rows") > 0

        # 4. It comes back: the backlog drains by itself.
        control_plane.start()
        eventually(lambda: control_plane.totals()[0] == expected.requests, what="the backlog to drain")
        assert control_plane.totals() == expected.totals
        eventually(lambda: third.metric("modelpilot_spool_backlog_rows") == 0, what="an empty spool")
        third.kill()

        # 5. A graceful stop drains what is spooled even though the next flush is an hour away,
        #    opt-in metadata logs included.
        before = expected.actual_micros
        fourth = start(3600, "--metadata-logs")
        fourth.send(6, expected)
        assert control_plane.totals()[0] == expected.requests - 6
        fourth.terminate()
        assert control_plane.totals() == expected.totals
        assert control_plane.logs() == (6, expected.actual_micros - before)
        assert expected.requests == 39 and len(expected.by_model) == 3
        drained = Spool.open(spool, deployment=deployment_fingerprint(control_plane.key))
        try:
            assert drained.rows == 0
        finally:
            drained.close()
    finally:
        for proxy in proxies:
            proxy.stop_quietly()


async def post(control: ControlPlane, batch: MeterBatch) -> ControlResponse:
    client = ControlPlaneClient(control.url, api_key=control.key, timeout_s=10)
    try:
        return await client.post_json("/v1/meter", batch.model_dump(mode="json"))
    finally:
        await client.aclose()


async def test_the_same_batch_delivered_twice_counts_once(control_plane: ControlPlane) -> None:
    batch = MeterBatch.model_validate(
        {
            "batch_id": "0f0e0d0c-0b0a-4908-8706-050403020100",
            "rows": [
                {
                    "hour": "2026-11-28T10:00:00Z",
                    "category": "code",
                    "requested_model": "claude-sonnet-4-5",
                    "served_model": "claude-haiku-4-5",
                    "routed": True,
                    "escalated": False,
                    "requests": 4,
                    "input_tokens": 4000,
                    "output_tokens": 400,
                    "actual_cost_micros": 6000,
                    "baseline_cost_micros": 18000,
                }
            ],
        }
    )
    first = await post(control_plane, batch)
    again = await post(control_plane, batch)
    assert (first.status, first.json["duplicate"]) == (200, False)
    assert (again.status, again.json["duplicate"]) == (200, True)
    assert control_plane.totals() == (4, 4000, 400, 6000, 18000)
