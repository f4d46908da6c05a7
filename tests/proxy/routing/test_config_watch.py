"""The config watcher against a loopback server serving the documented ``GET /v1/config``
contract (a DeploymentConfig, 401 on a revoked key, 403 on a suspension), changed between polls."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest

from modelpilot.proxy.config_watch import ConfigWatcher
from modelpilot.proxy.control_client import ControlPlaneClient
from modelpilot.proxy.pins import ConversationPins
from modelpilot.schema.wire import DeploymentConfig, RouteDecision, RoutingMode
from tests.servers import serve

KEY = "mp_live_" + "c" * 43


class ConfigServer:
    """``GET /v1/config``: ``status`` and ``config`` (or raw ``body``) as set by the test."""

    def __init__(self) -> None:
        self.status = 200
        self.config: DeploymentConfig | None = DeploymentConfig(version=1, mode=RoutingMode.ON)
        self.body: bytes | None = None
        self.keys: list[str] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        with self._lock:
            self.keys.append(dict(scope["headers"]).get(b"authorization", b"").decode())
            if scope["method"] != "GET" or scope["path"] != "/v1/config":
                status, body = 404, b'{"title": "Not found"}'
            elif self.body is not None:
                status, body = self.status, self.body
            elif self.status == 200 and self.config is not None:
                status, body = 200, self.config.model_dump_json().encode()
            else:
                status, body = self.status, orjson.dumps({"title": "refused"})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def server() -> Iterator[tuple[ConfigServer, str]]:
    app = ConfigServer()
    with serve(app) as url:
        yield app, url


@pytest.fixture
async def client(server) -> AsyncIterator[ControlPlaneClient]:
    _, url = server
    client = ControlPlaneClient(url, api_key=KEY, timeout_s=5)
    yield client
    await client.aclose()


def decision() -> RouteDecision:
    return RouteDecision(
        decision_id="00000000-0000-4000-8000-000000000001",
        model="claude-haiku-4-5",
        routed=True,
        reason="cheaper_model",
        ttl_s=300,
        bucket="code:t0:d0",
    )


async def test_a_new_version_drops_pins_and_off_stops_routing(server, client) -> None:
    app, _ = server
    pins = ConversationPins()
    key = pins.key_of({"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "hi"}]})
    assert key is not None
    watcher = ConfigWatcher(client, interval_s=3, on_reset=pins.clear)
    assert watcher.is_routing_allowed and watcher.config is None

    pins.put(key, decision())
    await watcher.poll()
    assert watcher.config == app.config and watcher.is_routing_allowed
    assert watcher.resets == 1 and len(pins) == 0  # the first answer resets what was cached before it
    assert app.keys == [f"Bearer {KEY}"]

    pins.put(key, decision())
    await watcher.poll()  # same version: nothing to drop
    assert watcher.resets == 1 and len(pins) == 1

    app.config = DeploymentConfig(version=2, mode=RoutingMode.OFF, metadata_logs=True)
    await watcher.poll()
    assert watcher.resets == 2 and len(pins) == 0
    assert not watcher.is_routing_allowed
    assert watcher.config is not None and watcher.config.metadata_logs

    app.config = DeploymentConfig(version=3, mode=RoutingMode.SHADOW)
    await watcher.poll()
    assert watcher.is_routing_allowed and watcher.resets == 3


@pytest.mark.parametrize("status", [401, 403])
async def test_a_revoked_key_or_a_suspension_drops_everything_and_stops_routing(
    server, client, status
) -> None:
    app, _ = server
    pins = ConversationPins()
    watcher = ConfigWatcher(client, interval_s=3, on_reset=pins.clear)
    await watcher.poll()
    pins.put(b"k" * 16, decision())
    app.status = status
    await watcher.poll()
    assert not watcher.is_routing_allowed and watcher.refused_status == status
    assert len(pins) == 0 and watcher.resets == 2
    await watcher.poll()  # still refused: logged and reset once
    assert watcher.resets == 2
    app.status = 200  # the key works again (same version): routing resumes, from scratch
    await watcher.poll()
    assert watcher.is_routing_allowed and watcher.resets == 3


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b'{"title": "oops"}'),
        (404, b'{"title": "Not found"}'),  # an older control plane without the endpoint
        (200, b"<html>maintenance</html>"),
        (200, b'{"accepted": 0, "duplicate": false}'),
        (200, b'{"version": 9, "mode": "sideways"}'),
    ],
)
async def test_anything_else_changes_nothing(server, client, status, body) -> None:
    app, _ = server
    app.config = DeploymentConfig(version=1, mode=RoutingMode.OFF)
    watcher = ConfigWatcher(client, interval_s=3, on_reset=lambda: None)
    await watcher.poll()
    assert not watcher.is_routing_allowed
    app.status, app.body = status, body
    await watcher.poll()
    assert not watcher.is_routing_allowed and watcher.resets == 1
    assert watcher.config is not None and watcher.config.version == 1


async def test_an_unreachable_control_plane_changes_nothing() -> None:
    client = ControlPlaneClient("http://127.0.0.1:9", api_key=KEY, timeout_s=2)
    try:
        watcher = ConfigWatcher(client, interval_s=3, on_reset=lambda: None)
        await watcher.poll()
        assert watcher.is_routing_allowed and watcher.config is None and watcher.resets == 0
    finally:
        await client.aclose()


def test_pins_expire_and_stay_bounded() -> None:
    now = [0.0]
    pins = ConversationPins(max_entries=2, max_age_s=60, clock=lambda: now[0])
    pins.put(b"a" * 16, decision())
    now[0] = 59.0
    assert pins.get(b"a" * 16) is not None
    pins.put(b"a" * 16, decision())  # re-pinned after an escalation: the expiry does not move
    now[0] = 60.0
    assert pins.get(b"a" * 16) is None
    for name in (b"b", b"c", b"d"):
        pins.put(name * 16, decision())
    assert len(pins) == 2 and pins.get(b"b" * 16) is None
