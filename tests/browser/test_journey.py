"""Issue 6: the customer journey in headless Chromium, against real servers on loopback.

sign up → create a deployment → create a key (shown once, then never again) → send traffic with
the official SDK through a proxy that uses that key → the dashboard shows the metered savings and,
beside them, the measured quality of paired checks (issue 14) → set the share of quality checks
in the settings form → export the usage CSV and check its rows → revoke the key → the proxy stops
routing and still serves → an admin suspends the account → the customer is signed out.

Screenshots of the main pages (desktop and 375 px wide) go to ``artifacts/browser/`` (ignored by
git) and to ``$MODELPILOT_ARTIFACTS`` when set.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anthropic
import httpx2 as httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from modelpilot.control import accounts
from modelpilot.control.app import create_app as create_control
from modelpilot.control.http.charts import format_usd
from modelpilot.control.quality import measure, percent
from modelpilot.control.store.engine import create_db_engine
from modelpilot.control.store.migrate import upgrade
from modelpilot.control.store.tables import Deployment, UsageAggregate
from modelpilot.proxy.app import ProxyApp
from modelpilot.proxy.app import create_app as create_proxy
from modelpilot.proxy.settings import ProxySettings
from modelpilot.sim import SimSettings
from modelpilot.sim import create_app as create_sim
from tests.control.conftest import make_settings
from tests.servers import serve

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
# Read at import: the suite's autouse fixture clears MODELPILOT_* variables before each test.
EXTRA_ARTIFACTS = os.environ.get("MODELPILOT_ARTIFACTS")
EMAIL = "customer@example.com"
ADMIN_EMAIL = "admin@example.com"
PASSWORD = "correct horse battery"
REQUESTED = "claude-sonnet-4-6"
CANDIDATE = "claude-haiku-4-5"
PROMPTS = ("Summarize: the meeting moved to Tuesday.", "Translate 'good morning' to French.", "What is 2+2?")


@contextmanager
def serve_with_lifespan(app: Any) -> Iterator[str]:
    """Serve ``app`` with its ASGI lifespan (the proxy's meter flusher runs in it)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the proxy did not start"
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@dataclass
class Shots:
    """Screenshots of the journey, kept as test artefacts."""

    directory: Path

    def take(self, page: Page, name: str) -> None:
        path = self.directory / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if EXTRA_ARTIFACTS:
            target = Path(EXTRA_ARTIFACTS) / "browser"
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target / path.name)


@dataclass
class World:
    control_url: str
    sim_url: str
    engine: Engine
    stack: ExitStack
    tmp_path: Path

    def start_proxy(self, key: str) -> tuple[ProxyApp, str]:
        settings = ProxySettings(
            upstream_url=self.sim_url,
            control_plane_url=self.control_url,
            control_plane_api_key=key,
            spool_path=str(self.tmp_path / "spool.sqlite3"),
            flush_interval_s=0.2,
            routing_budget_ms=2000.0,  # generous: a loaded CI machine must not fail open by chance
            # The journey sends its paired-check verdicts itself (send_verdicts): the proxy's own
            # 2 % sample would add a check the page's figures do not expect.
            calibration_rate_bps=0,
        )
        app = create_proxy(settings)
        return app, self.stack.enter_context(serve_with_lifespan(app))

    def metered(self, deployment_id: str) -> tuple[int, int, int]:
        """(requests, actual cost, baseline cost) the control plane holds for the deployment."""
        with Session(self.engine) as db:
            row = db.execute(
                select(
                    func.coalesce(func.sum(UsageAggregate.requests), 0),
                    func.coalesce(func.sum(UsageAggregate.actual_cost_micros), 0),
                    func.coalesce(func.sum(UsageAggregate.baseline_cost_micros), 0),
                ).where(UsageAggregate.deployment_id == uuid.UUID(deployment_id))
            ).one()
        return int(row[0]), int(row[1]), int(row[2])

    def verdicts(self, deployment_id: str) -> tuple[int, int, int]:
        """(judged, acceptable, calibration spend) the control plane holds for the deployment."""
        with Session(self.engine) as db:
            row = db.execute(
                select(
                    func.coalesce(func.sum(UsageAggregate.judged), 0),
                    func.coalesce(func.sum(UsageAggregate.acceptable), 0),
                    func.coalesce(func.sum(UsageAggregate.calibration_cost_micros), 0),
                ).where(UsageAggregate.deployment_id == uuid.UUID(deployment_id))
            ).one()
        return int(row[0]), int(row[1]), int(row[2])

    def deployment_ids(self) -> list[str]:
        with Session(self.engine) as db:
            return [str(i) for i in db.scalars(select(Deployment.id))]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    url = f"sqlite:///{tmp_path / 'control.sqlite3'}"
    engine = create_db_engine(url)
    upgrade(engine)
    # No decision caching: the proxy asks on every request, so a revoked key shows at once.
    settings = make_settings(url, route_ttl_s=0, key_last_used_resolution_s=1)
    with Session(engine) as db:
        accounts.sign_up(
            db, settings, email=ADMIN_EMAIL, password=PASSWORD, now=datetime.now(UTC), is_admin=True
        )
    with ExitStack() as stack:
        control_url = stack.enter_context(serve(create_control(settings, engine=engine)))
        sim_url = stack.enter_context(serve(create_sim(SimSettings())))
        yield World(control_url, sim_url, engine, stack, tmp_path)
    engine.dispose()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def shots() -> Shots:
    directory = ROOT / "artifacts" / "browser"
    directory.mkdir(parents=True, exist_ok=True)
    return Shots(directory)


def send_traffic(proxy_url: str, prompts: tuple[str, ...]) -> list[anthropic.types.Message]:
    client = anthropic.Anthropic(base_url=proxy_url, api_key="sk-ant-test", max_retries=0)
    try:
        return [
            client.messages.create(
                model=REQUESTED, max_tokens=64, messages=[{"role": "user", "content": prompt}]
            )
            for prompt in prompts
        ]
    finally:
        client.close()


def send_verdicts(control_url: str, key: str) -> None:
    """Paired-check verdicts as a proxy meters them (counts only, no request of their own)."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    row = {
        "hour": hour.isoformat(),
        "category": "summarization",
        "requested_model": REQUESTED,
        "served_model": CANDIDATE,
        "routed": False,
        "escalated": False,
        "requests": 0,
        "actual_cost_micros": 0,
        "baseline_cost_micros": 0,
        "judged": 40,
        "acceptable": 39,
        "calibration_cost_micros": 2_500,
    }
    response = httpx.post(
        f"{control_url}/v1/meter",
        json={"batch_id": str(uuid.uuid4()), "rows": [row]},
        headers={"authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_the_customer_journey(world: World, browser: Browser, shots: Shots) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    base = world.control_url

    # Sign up.
    page.goto(f"{base}/signup")
    shots.take(page, "01-signup")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(f"{base}/console")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.get_by_role("navigation", name="Console")).to_contain_text("Deployments")

    # Create a deployment.
    page.get_by_role("link", name="Deployments").first.click()
    page.get_by_label("Name").fill("production")
    page.get_by_role("button", name="Create deployment").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("production")
    (deployment_id,) = world.deployment_ids()
    assert page.url == f"{base}/console/deployments/{deployment_id}/keys"

    # Create a key: shown once, with a copy button and a warning...
    page.get_by_label("Name").fill("laptop proxy")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("new-secret").input_value()
    assert re.fullmatch(r"mp_live_[0-9A-Za-z]{43}", secret)
    expect(page.get_by_text("shown only this once")).to_be_visible()
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    shots.take(page, "02-key-created")
    # ... and never again: a fresh load of the keys page lists the prefix only.
    page.goto(f"{base}/console/deployments/{deployment_id}/keys")
    assert secret not in page.content()
    expect(page.get_by_test_id("keys")).to_contain_text(secret[:12])
    expect(page.get_by_test_id("new-secret")).to_have_count(0)

    # Send traffic through a proxy using that key.
    proxy, proxy_url = world.start_proxy(secret)
    answers = send_traffic(proxy_url, PROMPTS)
    assert all(answer.content for answer in answers)
    wait_for(
        lambda: world.metered(deployment_id)[0] == len(PROMPTS),
        "the proxy's meter to reach the control plane",
    )
    requests, actual, baseline = world.metered(deployment_id)

    # The dashboard shows the metered savings.
    page.goto(f"{base}/console/deployments/{deployment_id}?period=7d")
    expect(page.get_by_test_id("requests")).to_have_text(str(requests))
    expect(page.get_by_test_id("savings")).to_have_text(format_usd(baseline - actual))
    expect(page.get_by_test_id("spend")).to_have_text(format_usd(actual))
    expect(page.locator("svg.chart")).to_have_count(2)
    shots.take(page, "03-deployment-dashboard")

    # Paired checks arrive as counts: the measured quality shows beside the savings, with its
    # interval against the deployment's 95 % target, and their spend apart from it.
    send_verdicts(base, secret)
    judged, acceptable, calibration = world.verdicts(deployment_id)
    assert judged >= 40
    measured = measure(judged=judged, acceptable=acceptable, target=0.95)
    page.goto(f"{base}/console/deployments/{deployment_id}?period=7d")
    kpis = page.locator("dl.kpis")
    expect(kpis.get_by_test_id("savings")).to_have_text(format_usd(baseline - actual))
    expect(kpis.get_by_test_id("quality")).to_have_text(percent(acceptable / judged))
    expect(page.get_by_test_id("quality-interval")).to_have_text(
        f"{percent(measured.low)} to {percent(measured.high)}"
    )
    expect(page.get_by_test_id("judged")).to_have_text(f"{judged:,}")
    expect(page.get_by_test_id("quality-status")).to_contain_text("95.0% quality target")
    expect(page.get_by_test_id("calibration-spend")).to_have_text(format_usd(calibration))
    expect(page.locator(f'tr[data-pair="{REQUESTED}->{CANDIDATE}"]')).to_contain_text(f"{judged:,}")
    shots.take(page, "03b-measured-quality")

    # The share of quality checks is a routing setting like the others.
    page.goto(f"{base}/console/deployments/{deployment_id}/settings")
    page.get_by_label("Share of routable requests checked").fill("5")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("Saved.")
    expect(page.get_by_label("Share of routable requests checked")).to_have_value("5")
    page.goto(f"{base}/console")
    expect(page.get_by_test_id("savings")).to_have_text(format_usd(baseline - actual))
    shots.take(page, "04-account-dashboard")
    # The keyboard reaches the skip link first, and it moves focus to the content.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    for name, path in (("04b-billing", "/console/billing"), ("04c-account", "/account")):
        page.goto(base + path)
        shots.take(page, name)

    # Export the usage CSV and check its rows against the metered figures.
    page.goto(f"{base}/console/deployments/{deployment_id}")
    with page.expect_download() as download_info:
        page.get_by_test_id("usage-csv").click()
    text = Path(download_info.value.path()).read_text("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows, text
    assert sum(int(row["requests"]) for row in rows) == requests
    assert sum(int(row["actual_cost_micros"]) for row in rows) == actual
    assert {row["requested_model"] for row in rows} == {REQUESTED}

    # Revoke the key (the console asks first).
    page.goto(f"{base}/console/deployments/{deployment_id}/keys")
    page.get_by_role("link", name="Revoke laptop proxy").click()
    shots.take(page, "05-revoke-confirm")
    page.get_by_role("button", name="Revoke the key").click()
    expect(page.get_by_test_id("keys")).to_contain_text("revoked")

    # The proxy notices the revocation (its config poll, every 3 s) and stops routing; requests are
    # still served, unrouted, by the model the caller asked for.
    assert proxy.config_watcher is not None and proxy.router is not None
    watcher = proxy.config_watcher
    wait_for(lambda: watcher.refused_status == 401, "the proxy's config poll to see the revoked key")
    calls_before = proxy.router.client.counts["calls"]
    (answer,) = send_traffic(proxy_url, ("Still there?",))
    assert answer.content and answer.model == REQUESTED
    assert proxy.router.client.counts["calls"] == calls_before, "a refused key must not be asked for routes"

    # Reading works without JavaScript: the figures and charts are server-rendered.
    plain = browser.new_context(java_script_enabled=False, storage_state=context.storage_state())
    plain_page = plain.new_page()
    plain_page.goto(f"{base}/console/deployments/{deployment_id}")
    expect(plain_page.get_by_test_id("savings")).to_have_text(format_usd(baseline - actual))
    expect(plain_page.locator("svg.chart")).to_have_count(2)
    plain.close()

    # Narrow screens: the main pages at 375 px.
    phone = browser.new_context(viewport={"width": 375, "height": 800}, storage_state=context.storage_state())
    narrow = phone.new_page()
    for name, path in (
        ("06-narrow-dashboard", f"/console/deployments/{deployment_id}"),
        ("07-narrow-keys", f"/console/deployments/{deployment_id}/keys"),
        ("08-narrow-settings", f"/console/deployments/{deployment_id}/settings"),
    ):
        narrow.goto(base + path)
        width = narrow.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} scrolls sideways on a narrow screen ({width} px)"
        shots.take(narrow, name)
    phone.close()

    # An admin suspends the account...
    admin = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    admin.goto(f"{base}/login")
    admin.get_by_label("Email").fill(ADMIN_EMAIL)
    admin.get_by_label("Password").fill(PASSWORD)
    admin.get_by_role("button", name="Log in").click()
    admin.get_by_role("link", name="Admin").click()
    shots.take(admin, "09-admin-accounts")
    admin.get_by_role("button", name=f"Suspend {EMAIL}").click()
    expect(admin.get_by_test_id("accounts")).to_contain_text("suspended")

    # ... and the customer is signed out: the next page load asks them to log in, and logging in
    # again is refused.
    page.goto(f"{base}/console")
    expect(page).to_have_url(f"{base}/login?next=%2Fconsole")
    expect(page.get_by_role("navigation", name="Console")).to_have_count(0)
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("suspended")
    shots.take(page, "10-suspended")
    context.close()
