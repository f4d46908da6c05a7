"""Issue 15, item 9: decisions expire and obey the switch. A templated one-shot prompt (same
model, system prompt and first user turn) keeps its conversation pin only until the deployment's
settings change: switching to Off, revoking the key or suspending the account reaches the proxy
within one config poll, and from then on no answer is routed.

Here the control plane is a stand-in serving ``POST /v1/route`` (routing to haiku, decisions
cached for 5 minutes) and the ``GET /v1/config`` contract. The same scenario against the real
control plane is ``test_switch_to_off_under_traffic_through_the_real_control_plane`` below."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from modelpilot.schema.wire import DeploymentConfig, RoutingMode
from tests.proxy.routing.conftest import Harness, StandInControlPlane, _reply, body_for
from tests.reliability import canaries
from tests.reliability.scenarios import Scenario, record
from tests.servers import serve

TEMPLATE = body_for("Classify this ticket: the printer is on fire.", system="You are a ticket classifier.")
REQUESTS = 20


@dataclass
class ConfiguredControlPlane(StandInControlPlane):
    """The routing stand-in, plus ``GET /v1/config`` answering ``config`` (or ``config_status``)."""

    config: DeploymentConfig = field(default_factory=lambda: DeploymentConfig(version=1, mode=RoutingMode.ON))
    config_status: int = 200

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/v1/config" and scope["method"] == "GET":
            if self.config_status != 200:
                await _reply(send, self.config_status, b'{"title": "refused"}')
            else:
                await _reply(send, 200, self.config.model_dump_json().encode())
            return
        await super().__call__(scope, receive, send)


def eventually(predicate: Any, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def routed_answers(proxy: Any, count: int) -> int:
    routed = 0
    with proxy.sdk() as sdk:
        for _ in range(count):
            response = sdk.messages.with_raw_response.create(**TEMPLATE)
            routed += response.headers.get("x-modelpilot-routed") == "true"
    return routed


def test_switching_to_off_under_traffic_stops_routing_within_a_poll(harness: Harness) -> None:
    control = ConfiguredControlPlane(ttl_s=300)
    url = harness._stack.enter_context(serve(control))
    proxy = harness.proxy(url, lifespan=True, config_poll_interval_s=0.05)
    watcher = proxy.app.config_watcher
    assert watcher is not None
    eventually(lambda: watcher.config is not None, "the first config poll")

    warmed = control.route_calls  # the start-up warm-up call
    assert routed_answers(proxy, REQUESTS) == REQUESTS  # pinned, cached, routed to haiku
    assert control.route_calls == warmed + 1

    control.config = DeploymentConfig(version=2, mode=RoutingMode.OFF)
    eventually(lambda: watcher.config is not None and watcher.config.version == 2, "the switch to Off")
    after_off = routed_answers(proxy, REQUESTS)

    control.config = DeploymentConfig(version=3, mode=RoutingMode.ON)
    eventually(lambda: watcher.config is not None and watcher.config.version == 3, "the switch back on")
    calls_before = control.route_calls
    assert routed_answers(proxy, 1) == 1 and control.route_calls == calls_before + 1  # decided afresh

    control.config_status = 401  # the key is revoked
    eventually(lambda: watcher.refused_status == 401, "the revocation")
    after_revocation = routed_answers(proxy, REQUESTS)
    control.config_status = 403  # the account is suspended
    eventually(lambda: watcher.refused_status == 403, "the suspension")
    after_suspension = routed_answers(proxy, REQUESTS)

    assert (after_off, after_revocation, after_suspension) == (0, 0, 0)
    record(
        Scenario(
            "switch to Off / revoke / suspend under traffic (stand-in control plane)",
            sent=3 * REQUESTS,
            succeeded=3 * REQUESTS,
            lost=0,
            note=f"routed after the switch: {after_off + after_revocation + after_suspension}",
        )
    )


# -- against the real control plane ---------------------------------------------------------------
@dataclass
class Served:
    """A tenant's deployment behind the real control plane, and a proxy polling it every 50 ms
    that has seen its first config."""

    tenant: Any
    deployment: str
    key_id: str
    proxy: Any

    @property
    def watcher(self) -> Any:
        return self.proxy.app.config_watcher


@pytest.fixture
def stop_before_engine(harness: Harness, engine: Any) -> Iterator[None]:
    """Stops the harness's servers (the real control plane on ``engine`` among them, and the proxy
    polling it) before ``engine`` is disposed: a fixture that needs ``engine`` is torn down first.
    Otherwise the control plane kept answering the proxy's polls on a disposed engine, whose new
    pool's PostgreSQL connections were then never closed (ResourceWarnings in later tests)."""
    yield
    harness._stack.close()


async def served(harness: Harness, settings: Any, engine: Any, new_tenant: Any, email: str) -> Served:
    from modelpilot.control.app import create_app as create_control

    control_url = harness._stack.enter_context(serve(create_control(settings, engine=engine)))
    tenant = await new_tenant(email)
    deployment = await tenant.create_deployment()
    key_id, secret = await tenant.create_key(deployment)
    canaries.register(secret)
    proxy = harness.proxy(
        control_url, lifespan=True, config_poll_interval_s=0.05, control_plane_api_key=secret
    )
    watcher = proxy.app.config_watcher
    assert watcher is not None
    eventually(lambda: watcher.config is not None, "the first config poll")
    return Served(tenant, deployment, key_id, proxy)


async def test_switch_to_off_under_traffic_through_the_real_control_plane(
    harness: Harness, settings: Any, engine: Any, new_tenant: Any, stop_before_engine: None
) -> None:
    """The real control plane (uvicorn on loopback, on the test's database), a real proxy polling
    it every 50 ms, the official SDK: routed answers before; none in shadow mode (which serves the
    requested model); none after the switch to Off; none after the key is revoked."""
    stack = await served(harness, settings, engine, new_tenant, "switch@example.com")
    tenant, deployment, proxy, watcher = stack.tenant, stack.deployment, stack.proxy, stack.watcher
    before = routed_answers(proxy, REQUESTS)

    async def switch_to(mode: str) -> int:
        """Routed answers after the proxy has seen the deployment switched to ``mode``."""
        assert watcher.config is not None
        version = watcher.config.version
        current = (await tenant.client.get(f"/api/deployments/{deployment}/routing")).json()
        switched = await tenant.client.put(
            f"/api/deployments/{deployment}/routing",
            json={**current, "mode": mode},
            headers={"x-csrf-token": tenant.csrf},
        )
        assert switched.status_code == 200, switched.text
        eventually(lambda: watcher.config is not None and watcher.config.version != version, f"the {mode}")
        return routed_answers(proxy, REQUESTS)

    after_shadow = await switch_to("shadow")
    after_off = await switch_to("off")

    revoked = await tenant.client.delete(
        f"/api/deployments/{deployment}/keys/{stack.key_id}", headers={"x-csrf-token": tenant.csrf}
    )
    assert revoked.status_code in (200, 204), revoked.text
    eventually(lambda: watcher.refused_status == 401, "the revocation")
    after_revocation = routed_answers(proxy, REQUESTS)

    assert before > 0 and (after_shadow, after_off, after_revocation) == (0, 0, 0)
    record(
        Scenario(
            "switch to shadow, Off, then revoke, under traffic (real proxy, real control plane)",
            sent=4 * REQUESTS,
            succeeded=4 * REQUESTS,
            lost=0,
            note=(
                f"routed before: {before}; after shadow: {after_shadow}; after Off: {after_off}; "
                f"after revocation: {after_revocation}"
            ),
        )
    )


async def test_a_suspension_through_the_real_control_plane_stops_routing(
    harness: Harness, settings: Any, engine: Any, new_tenant: Any, stop_before_engine: None
) -> None:
    """An administrator suspends the account through the real control plane's admin API while its
    proxy serves: the proxy's next config poll gets 403 and nothing is routed after it."""
    from tests.control.test_suspension import make_admin

    stack = await served(harness, settings, engine, new_tenant, "suspended-under-traffic@example.com")
    tenant, proxy, watcher = stack.tenant, stack.proxy, stack.watcher
    before = routed_answers(proxy, REQUESTS)

    admin = await new_tenant("suspension-admin@example.com")
    make_admin(engine, "suspension-admin@example.com")
    suspended = await admin.client.post(
        f"/api/admin/accounts/{tenant.account_id}/suspend", headers={"x-csrf-token": admin.csrf}
    )
    assert suspended.status_code in (200, 204), suspended.text
    eventually(lambda: watcher.refused_status == 403, "the suspension")
    after = routed_answers(proxy, REQUESTS)

    assert before > 0 and after == 0
    record(
        Scenario(
            "suspend the account under traffic (real proxy, real control plane)",
            sent=2 * REQUESTS,
            succeeded=2 * REQUESTS,
            lost=0,
            note=f"routed before: {before}; after the suspension: {after}",
        )
    )
