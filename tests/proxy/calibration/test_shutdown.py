"""The proxy's graceful stop waits a bounded time for paired checks in flight, then cancels them
(their reservation counts in full: what was sent may be billed)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from modelpilot.proxy.app import create_app
from modelpilot.proxy.settings import ProxySettings
from modelpilot.sim import make_prompt
from tests.proxy.calibration.conftest import CHEAP, CP_KEY, REQUESTED, Harness, Proxy, body_for
from tests.proxy.routing.conftest import PLAIN, serve_with_lifespan


def test_a_stop_waits_for_checks_in_flight_only_so_long(harness: Harness, tmp_path: Path) -> None:
    _, cp = harness.control_plane(mode="candidate")
    settings = ProxySettings(
        upstream_url=harness.sim_url,
        routing_budget_ms=2000.0,
        spool_path=str(tmp_path / f"spool-{uuid.uuid4().hex}.sqlite3"),
        control_plane_url=cp,
        control_plane_api_key=CP_KEY,
        calibration_rate_bps=10_000,
        drain_timeout_s=0.2,
    )
    app = create_app(settings)
    calibrator = app.calibrator
    assert calibrator is not None
    with serve_with_lifespan(app, **PLAIN) as url:
        proxy = Proxy(url, app, harness.events)
        # The candidate takes 5 s: far beyond the drain timeout.
        with proxy.sdk(**{"x-sim-fault": f"delay_ms=5000;model={CHEAP}"}) as sdk:
            assert sdk.messages.create(**body_for(make_prompt(0, seed=1))).model == REQUESTED
        deadline = time.monotonic() + 10
        while not [e for e in harness.events if e.kind == "sim" and e.model == CHEAP]:
            assert time.monotonic() < deadline, "the candidate was never asked"
            time.sleep(0.005)
        held = calibrator.ledger.reserved_now()
        assert held > 0 and calibrator.in_flight == 1
    # The server stopped (within its own 10 s join) with the check cancelled, not waited for.
    assert app.metrics.calibration_failures.value("shutdown") == 1
    assert calibrator.in_flight == 0
    assert calibrator.ledger.spent_today() == held
