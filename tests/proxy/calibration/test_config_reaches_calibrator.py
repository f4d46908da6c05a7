"""The deployment's paired-check rate and daily cap, and its metadata-log switch, set through the
console's API of the real control plane (SQLite, on loopback), reach a running proxy through its
config watcher (``GET /v1/config`` -> ``ProxyApp.apply_config``) and change what it samples; a
local setting (``modelpilot proxy --calibration-rate``, ``--no-metadata-logs``) wins over them.

The simulator is the upstream; the official SDK is the caller. The control plane decides every
request (mode ``on``, Sonnet and Haiku allowed), so every request names Haiku as its candidate."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anthropic
import httpx2 as httpx
import pytest
from sqlalchemy.orm import Session

from modelpilot.control import tokens
from modelpilot.proxy.app import ProxyApp, create_app
from modelpilot.proxy.calibration import CalibrationLimits, Calibrator
from modelpilot.proxy.settings import ProxySettings
from modelpilot.sim import SimSettings, make_prompt
from modelpilot.sim import create_app as create_sim
from tests.proxy.calibration.cli_settings import settings_from_cli
from tests.proxy.seeded_control_plane import seeded_control_plane
from tests.servers import serve

REQUESTED = "claude-sonnet-4-6"
CHEAP = "claude-haiku-4-5"
POLL_S = 0.05
PLAIN: dict[str, Any] = {"server_header": False, "date_header": False}


@dataclass
class ControlPlane:
    url: str
    deployment_id: uuid.UUID
    key: str  # the deployment key (mp_live_...)
    token: str  # a management token of the account (mp_mgmt_...)

    def routing(self, **changes: Any) -> int:
        """Change the deployment's routing settings through ``PUT /api/deployments/{id}/routing``
        (as the console and Terraform do); returns the config version the proxy will see."""
        path = f"/api/deployments/{self.deployment_id}/routing"
        auth = {"authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url) as client:
            current = client.get(path, headers=auth)
            assert current.status_code == 200, current.text
            saved = client.put(path, json={**current.json(), **changes}, headers=auth)
            assert saved.status_code == 200, saved.text
            config = client.get("/v1/config", headers={"authorization": f"Bearer {self.key}"})
            assert config.status_code == 200, config.text
            for name, value in changes.items():
                if name in config.json():
                    assert config.json()[name] == value, name
            version: int = config.json()["version"]
            return version


@pytest.fixture
def control_plane(tmp_path: Path) -> Iterator[ControlPlane]:
    with seeded_control_plane(tmp_path, email="calibration@example.com", **PLAIN) as seeded:
        with Session(seeded.engine) as session:
            _, token = tokens.create_token(
                session, account_id=seeded.account_id, name="ops", now=datetime.now(UTC)
            )
        cp = ControlPlane(url=seeded.url, deployment_id=seeded.deployment_id, key=seeded.key, token=token)
        cp.routing(allowed_models=[REQUESTED, CHEAP])  # one cheaper candidate for every request
        yield cp


@pytest.fixture
def sim_url() -> Iterator[str]:
    # No random refusals or empty answers: checks end in a verdict, never in a failure.
    with serve(create_sim(SimSettings(cheap_failure_rate=0.0)), **PLAIN) as url:
        yield url


@pytest.fixture
def running() -> Iterator[Callable[[ProxySettings], tuple[str, ProxyApp]]]:
    """Serve a proxy built from settings, with its lifespan (the config watcher and the flusher run)."""
    with ExitStack() as stack:

        def start(settings: ProxySettings) -> tuple[str, ProxyApp]:
            app = create_app(settings)
            return stack.enter_context(serve(app, lifespan="on", **PLAIN)), app

        yield start


def eventually(predicate: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def calibrator_of(app: ProxyApp) -> Calibrator:
    assert app.calibrator is not None and app.config_watcher is not None
    return app.calibrator


def send(proxy_url: str, count: int, *, first_seed: int) -> None:
    """``count`` distinct requests through the official SDK; each one answered by some model."""
    with anthropic.Anthropic(base_url=proxy_url, api_key="sk-ant-test", max_retries=0) as sdk:
        for seed in range(first_seed, first_seed + count):
            message = sdk.messages.create(
                model=REQUESTED,
                max_tokens=200,
                messages=[{"role": "user", "content": f"{make_prompt(seed % 2, seed=seed)} (ticket {seed})"}],
            )
            assert message.content


def settled(app: ProxyApp, checks: int) -> None:
    """Wait until ``checks`` paired checks have started in all and none is still running."""
    calibrator = calibrator_of(app)
    eventually(
        lambda: app.metrics.calibration_checks.value() >= checks and calibrator.in_flight == 0,
        f"{checks} paired checks",
    )


def test_the_deployments_rate_cap_and_log_switch_reach_the_running_proxy(
    control_plane: ControlPlane, sim_url: str, running: Any, tmp_path: Path
) -> None:
    proxy_url, app = running(
        ProxySettings(
            upstream_url=sim_url,
            control_plane_url=control_plane.url,
            control_plane_api_key=control_plane.key,
            spool_path=str(tmp_path / "spool.sqlite3"),
            routing_budget_ms=2000.0,  # a loaded machine must not fail open by chance
            config_poll_interval_s=POLL_S,
            metadata_logs=True,  # this proxy allows metadata logs; the deployment decides
        )
    )
    calibrator = calibrator_of(app)
    # The first poll: the deployment has not opted into metadata logs, so none leave, and its
    # paired checks run at the defaults (2 %, $1 a day).
    eventually(lambda: not app.metadata_logs, "the deployment's metadata-log switch")
    assert calibrator.limits.current() == CalibrationLimits(rate_bps=200, daily_cap_micros=1_000_000)

    # Every routable request checked, up to $7 a day, and metadata logs on.
    control_plane.routing(
        calibration_rate_bps=10_000, calibration_daily_cap_micros=7_000_000, metadata_logs=True
    )
    wanted = CalibrationLimits(rate_bps=10_000, daily_cap_micros=7_000_000)
    eventually(lambda: calibrator.limits.current() == wanted, "the new rate and cap")
    assert app.metadata_logs
    send(proxy_url, 4, first_seed=0)
    assert calibrator.sampler.routable == calibrator.sampler.sampled == 4
    settled(app, 4)
    assert app.metrics.calibration_checks.value() == 4
    spent = calibrator.ledger.spent_today()
    assert 0 < spent <= 7_000_000 and calibrator.ledger.reserved_now() == 0

    # A cap below what has been spent today (one micro-dollar): the next sampled request is
    # refused by the cap the deployment set, not by the proxy's own default.
    control_plane.routing(calibration_daily_cap_micros=1, metadata_logs=False)
    eventually(lambda: calibrator.limits.current().daily_cap_micros == 1, "the new cap")
    assert not app.metadata_logs
    send(proxy_url, 1, first_seed=10)
    assert app.metrics.calibration_skipped.value("daily_cap") == 1
    assert app.metrics.calibration_checks.value() == 4 and calibrator.ledger.spent_today() == spent

    # Rate 0 in the console turns paired checks off: nothing is even counted toward a sample.
    control_plane.routing(calibration_rate_bps=0, calibration_daily_cap_micros=7_000_000)
    eventually(lambda: calibrator.limits.current().rate_bps == 0, "rate 0")
    assert calibrator.limits.current().is_off
    routable = calibrator.sampler.routable
    send(proxy_url, 3, first_seed=20)
    time.sleep(10 * POLL_S)  # a check would start right after each answer
    assert calibrator.sampler.routable == routable
    assert app.metrics.calibration_checks.value() == 4
    assert app.metrics.calibration_skipped.value("daily_cap") == 1


@pytest.mark.parametrize(
    ("local", "deployment", "in_force", "checks"),
    [
        # Checks on locally (100 %) while the console says 0: local wins; the cap is the console's.
        (
            ["--calibration-rate", "100", "--metadata-logs"],
            {"calibration_rate_bps": 0, "calibration_daily_cap_micros": 7_000_000, "metadata_logs": True},
            CalibrationLimits(rate_bps=10_000, daily_cap_micros=7_000_000),
            3,
        ),
        # Checks off locally while the console asks for all of them; logs off locally too.
        (
            ["--calibration-rate", "0", "--no-metadata-logs"],
            {
                "calibration_rate_bps": 10_000,
                "calibration_daily_cap_micros": 7_000_000,
                "metadata_logs": True,
            },
            CalibrationLimits(rate_bps=0, daily_cap_micros=7_000_000),
            0,
        ),
        # A local cap below one check's worst case, against the console's $7.
        (
            ["--calibration-daily-cap-usd", "0.000001"],
            {"calibration_rate_bps": 10_000, "calibration_daily_cap_micros": 7_000_000},
            CalibrationLimits(rate_bps=10_000, daily_cap_micros=1),
            0,
        ),
    ],
    ids=["rate-on-locally", "rate-off-locally", "tiny-cap-locally"],
)
def test_local_settings_win_over_the_deployments(
    control_plane: ControlPlane,
    sim_url: str,
    running: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    local: list[str],
    deployment: dict[str, Any],
    in_force: CalibrationLimits,
    checks: int,
) -> None:
    settings = settings_from_cli(
        monkeypatch,
        [
            "--upstream",
            sim_url,
            "--control-plane",
            control_plane.url,
            "--spool",
            str(tmp_path / "spool.sqlite3"),
            "--routing-budget-ms",
            "2000",
            "--config-poll-interval",
            str(POLL_S),
            *local,
        ],  # fmt: skip
        env={"MODELPILOT_API_KEY": control_plane.key},
    )
    proxy_url, app = running(settings)
    calibrator = calibrator_of(app)
    watcher = app.config_watcher
    assert watcher is not None
    eventually(lambda: watcher.config is not None, "the first config")
    # The console changes the deployment's settings while the proxy runs: once the proxy has
    # applied the new version, what is in force is the local value where there is one.
    version = control_plane.routing(**deployment)
    eventually(lambda: watcher.config is not None and watcher.config.version == version, "the new version")
    eventually(lambda: calibrator.limits.current() == in_force, f"{in_force}")
    assert app.metadata_logs is ("--metadata-logs" in local)
    send(proxy_url, 3, first_seed=100)
    settled(app, checks)
    time.sleep(10 * POLL_S)
    assert app.metrics.calibration_checks.value() == checks
    assert calibrator.sampler.sampled == checks
    if in_force.daily_cap_micros == 1:
        assert app.metrics.calibration_skipped.value("daily_cap") == 3
