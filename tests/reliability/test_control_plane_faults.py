"""Issue 9, item 1: control-plane faults. Whatever the control plane does (stopped, hanging,
slow beyond the routing budget, 500s, invalid JSON, a certificate the proxy does not trust,
flapping), every request through the proxy succeeds. Each fault runs with the circuit breaker held
closed (every request pays the fault) and free to open (it caps the cost at ``breaker_failures``
calls); the added latency per request of each goes into the scenario table.

Single-request checks of each failure kind live in tests/proxy/routing/test_fail_open.py; the
benchmark with more requests is ``python -m bench.routing_faults``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anthropic
import pytest

from tests.proxy.routing.conftest import (
    REQUESTED,
    Harness,
    StandInControlPlane,
    closed_port_url,
    plain_body,
)
from tests.reliability import canaries
from tests.reliability.scenarios import Scenario, record

REQUESTS = 12
BUDGET_MS = 100.0  # generous for a loaded 2-core CI machine; the faults are far beyond it
SLOW_S = 0.4
OPEN_AFTER = 2


@dataclass
class FaultyControlPlane(StandInControlPlane):
    """The stand-in, with the mode of each ``/v1/route`` call chosen by ``pattern(call number)``
    and an optional delay before it answers."""

    pattern: Callable[[int], str] = field(default=lambda _n: "route")
    delay_s: float = 0.0
    calls: int = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] != "/v1/route":
            await super().__call__(scope, receive, send)
            return
        self.calls += 1
        self.mode = self.pattern(self.calls)
        if not self.delay_s:
            await super().__call__(scope, receive, send)
            return

        async def late(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                await asyncio.sleep(self.delay_s)
            await send(message)

        await super().__call__(scope, receive, late)


def flapping(call: int) -> str:
    return "route" if call % 2 else "status_500"


FAULTS: dict[str, dict[str, Any]] = {
    "stopped": {},
    "hanging": {"pattern": lambda _n: "hang"},
    f"slow ({SLOW_S * 1000:.0f} ms, budget {BUDGET_MS:.0f} ms)": {"delay_s": SLOW_S},
    "500s": {"pattern": lambda _n: "status_500"},
    "invalid JSON": {"pattern": lambda _n: "invalid_json"},
    "TLS failure (untrusted certificate)": {},
    "flapping (every other call a 500)": {"pattern": flapping},
}


def control_plane(harness: Harness, fault: str) -> tuple[FaultyControlPlane | None, str]:
    if fault == "stopped":
        return None, closed_port_url()
    if fault.startswith("TLS"):
        _, url = harness.tls_control_plane()
        return None, url
    app = FaultyControlPlane(**FAULTS[fault])
    return app, harness.serve(app)


def send(url: str, count: int, tag: str) -> tuple[list[float], list[Any]]:
    """``count`` sequential requests (each its own conversation) through the SDK, after one
    warm-up request: their latencies in ms and their raw responses."""
    latencies, responses = [], []
    with anthropic.Anthropic(base_url=url, api_key=canaries.ANTHROPIC_KEY, max_retries=0) as sdk:
        for i in range(count + 1):
            started = time.perf_counter()
            raw = sdk.messages.with_raw_response.create(**plain_body(i, metadata={"user_id": tag}))
            elapsed = (time.perf_counter() - started) * 1000
            if i:
                latencies.append(elapsed)
                responses.append(raw)
            assert raw.status_code == 200 and raw.parse().content
    return latencies, responses


@pytest.fixture(scope="module")
def baseline_ms(sim_url: str, tmp_path_factory: pytest.TempPathFactory) -> float:
    """The median latency of the same requests through a proxy without a control plane."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        harness = Harness(stack, tmp_path_factory.mktemp("baseline"), sim_url)
        proxy = harness.proxy(None)
        latencies, _ = send(proxy.url, REQUESTS, "baseline")
    scenario = Scenario("control plane: none (baseline)", REQUESTS, REQUESTS, 0, latencies)
    assert scenario.median_ms is not None
    scenario.baseline_ms = scenario.median_ms
    record(scenario)
    return scenario.median_ms


@pytest.mark.parametrize("breaker", ["held closed", "free to open"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_request_succeeds_whatever_the_control_plane_does(
    harness: Harness, baseline_ms: float, fault: str, breaker: str
) -> None:
    app, url = control_plane(harness, fault)
    threshold = OPEN_AFTER if breaker == "free to open" else 10**9
    proxy = harness.proxy(
        url, routing_budget_ms=BUDGET_MS, breaker_failures=threshold, breaker_cooldown_s=3600
    )
    latencies, responses = send(proxy.url, REQUESTS, f"{fault}/{breaker}")
    served = [r.headers["x-modelpilot-served-model"] for r in responses]
    counts = proxy.counts
    failures = sum(
        v for k, v in counts.items() if k.startswith("fail_open:") and k != "fail_open:circuit_open"
    )
    calls = 1 + REQUESTS  # the warm-up request counts too
    if fault.startswith("flapping"):
        # A success between two failures resets the count: the breaker never opens, and every
        # other request is routed.
        assert counts["fail_open:circuit_open"] == 0
        assert failures == calls // 2
        assert sum(r.headers["x-modelpilot-routed"] == "true" for r in responses) == REQUESTS // 2
    elif breaker == "held closed":
        assert failures == calls and counts["fail_open:circuit_open"] == 0
        assert served == [REQUESTED] * REQUESTS
    else:
        # The breaker caps what the outage costs: after OPEN_AFTER failures nobody waits for it.
        assert failures == OPEN_AFTER
        assert counts["fail_open:circuit_open"] == calls - OPEN_AFTER
        assert served == [REQUESTED] * REQUESTS
    if app is not None and not fault.startswith("flapping"):
        assert app.calls == (calls if breaker == "held closed" else OPEN_AFTER)
    scenario = Scenario(f"control plane {fault}, breaker {breaker}", REQUESTS, len(responses), 0, latencies)
    scenario.baseline_ms = baseline_ms
    scenario.note = " ".join(f"{k}={v}" for k, v in sorted(counts.items()) if k.startswith("fail_open:"))
    record(scenario)
