"""Issue 16, item 9: every table and chart of the console and the public pages on a phone.

At 375 and 320 px wide, in headless Chromium, against a real control plane on loopback filled
through its own ingestion endpoints (usage, request log, telemetry) and domain functions
(accounts, invoices, status probes): no page scrolls sideways; every cell of every table lies
inside the viewport, shows all of its content, and is labelled with its column's header (the
header row itself, or the label the cell carries when the table reflows into cards); the keys
table's Revoke link is visible and works; every chart axis label lies inside its chart. At
1280 px the same pages keep their tables whole. Screenshots of each page at each width go to
``artifacts/browser/`` (ignored by git).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from jinja2 import Environment, PackageLoader
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy.orm import Session

from modelpilot.control import accounts, billing, deployments, status
from modelpilot.control.app import create_app as create_control
from modelpilot.control.store.engine import create_db_engine, create_session_factory
from modelpilot.control.store.migrate import upgrade
from modelpilot.schema.catalog import load_catalog
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
SHOTS = ROOT / "artifacts" / "browser"
CUSTOMER = "narrow-screens.customer@example-company.com"
ADMIN = "narrow-screens.operator@example-company.com"
PASSWORD = "correct horse battery"
REQUESTED = "claude-sonnet-4-6"
CHEAPER = "claude-haiku-4-5"
DAYS = 30

# Run in the page: every problem a reader of a narrow screen would meet in the tables and charts.
# A cell is labelled when its column's header is on screen, or when the cell carries the header's
# words itself (a ::before label). Row headers title their row; a column whose header is only for
# screen readers (the actions column) needs no label.
LAYOUT_PROBLEMS = """
(width) => {
  const problems = [];
  let cells = 0, chartLabels = 0;
  const say = (what, node) => problems.push(what + ': ' + node.textContent.trim().replace(/\\s+/g, ' ').slice(0, 60));
  const onScreen = (r) => r.width > 2 && r.height > 2 && r.left >= -0.5 && r.right <= width + 0.5;
  const visibleWords = (node) => {
    const copy = node.cloneNode(true);
    copy.querySelectorAll('.visually-hidden').forEach((hidden) => hidden.remove());
    return copy.textContent.trim().replace(/\\s+/g, ' ');
  };
  if (document.documentElement.scrollWidth > width) {
    problems.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + ' px');
  }
  for (const table of document.querySelectorAll('main table')) {
    const headers = [...table.querySelectorAll('thead th')];
    for (const row of table.querySelectorAll('tbody tr')) {
      [...row.cells].forEach((cell, index) => {
        cells += 1;
        const box = cell.getBoundingClientRect();
        if (!onScreen(box)) { say('cell off screen (' + Math.round(box.left) + '..' + Math.round(box.right) + ')', cell); return; }
        if (cell.scrollWidth > cell.clientWidth + 1) say('cell content cut off', cell);
        for (const part of cell.querySelectorAll('a, button, input:not([type=hidden]), select, time, code')) {
          if (!onScreen(part.getBoundingClientRect())) say('control or value off screen', part);
        }
        const header = headers[index];
        if (cell.colSpan > 1 || !header || cell.matches('th[scope=row]')) return;
        const words = visibleWords(header);
        if (!words || onScreen(header.getBoundingClientRect())) return;
        const label = getComputedStyle(cell, '::before').content;
        if (!label.includes(words)) say('cell without its column header "' + words + '"', cell);
      });
    }
  }
  for (const chart of document.querySelectorAll('svg.chart')) {
    const frame = chart.getBoundingClientRect();
    for (const label of chart.querySelectorAll('text')) {
      chartLabels += 1;
      const box = label.getBoundingClientRect();
      if (box.left < frame.left - 0.5 || box.right > frame.right + 0.5 || box.top < frame.top - 0.5 || box.bottom > frame.bottom + 0.5) {
        say('chart label outside its chart ' + chart.id, label);
      }
    }
  }
  return {problems, cells, chartLabels};
}
"""


@dataclass
class World:
    base: str
    deployment_id: str


def _hours_back(now: datetime, days: int) -> list[datetime]:
    """One hour in each of the last ``days`` days (the dashboard shows a point per day)."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    return [hour - timedelta(days=day) for day in range(days)]


def _meter_rows(now: datetime) -> list[dict[str, Any]]:
    rows = []
    for index, hour in enumerate(_hours_back(now, DAYS)):
        # Large sums make the money axis's labels as long as they get ("$20,000.00"); one day
        # routes to a dearer model, so savings go negative and the axis below zero.
        baseline = 1_000_000 * (400 + 37 * index) + 123_456
        actual = baseline // 3 if index % 9 else baseline + 2_500_000_000
        rows.append(
            {
                "hour": hour.isoformat(),
                "category": ("code", "summarization", "creative_writing")[index % 3],
                "requested_model": REQUESTED,
                "served_model": CHEAPER,
                "routed": True,
                "escalated": index % 4 == 0,
                "requests": 1200 + index,
                "input_tokens": 900_000,
                "output_tokens": 120_000,
                "actual_cost_micros": actual,
                "baseline_cost_micros": baseline,
                "judged": 40,
                "acceptable": 38,
                "calibration_cost_micros": 2_500,
            }
        )
    return rows


def _log_records(now: datetime) -> list[dict[str, Any]]:
    reasons = ("cheaper_model", "category_rule", "requested_model")
    return [
        {
            "ts": (now - timedelta(minutes=7 * index)).isoformat(),
            "category": ("creative_writing", "summarization", "code")[index % 3],
            "requested_model": REQUESTED,
            "served_model": CHEAPER if index % 3 != 2 else REQUESTED,
            "routed": index % 3 != 2,
            "escalated": index % 5 == 0,
            "escalation_reason": "bad_tool_input" if index % 5 == 0 else None,
            "decision_reason": reasons[index % 3],
            "status": 529 if index == 4 else 200,
            "input_tokens": 123_456,
            "output_tokens": 4_096,
            "cost_micros": 1_234_567 * (index + 1),
            "latency_ms": 12_345 + index,
        }
        for index in range(12)
    ]


def _telemetry(now: datetime, days_back: int) -> dict[str, Any]:
    return {
        "batch_id": str(uuid.uuid4()),
        "window_start": (now - timedelta(days=days_back)).replace(microsecond=0).isoformat(),
        "window_s": 60,
        "counters": {"route_calls": 400, "route_cache_hits": 150, "fail_open_timeouts": days_back % 3},
        "route_latency": {"le_5_ms": 200, "le_10_ms": 150, "le_250_ms": 40, "gt_1000_ms": 10},
    }


def _post(base: str, path: str, body: dict[str, Any], key: str) -> None:
    response = httpx.post(f"{base}{path}", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30)
    assert response.status_code == 200, response.text


@contextmanager
def _world(directory: Path) -> Iterator[World]:
    url = f"sqlite:///{directory / 'narrow-screens.sqlite3'}"
    engine = create_db_engine(url)
    upgrade(engine)
    settings = make_settings(url)
    now = datetime.now(UTC)
    with Session(engine) as db:
        accounts.sign_up(db, settings, email=ADMIN, password=PASSWORD, now=now, is_admin=True)
        customer = accounts.sign_up(db, settings, email=CUSTOMER, password=PASSWORD, now=now)
        production = deployments.create_deployment(
            db, account_id=customer.id, name="production-eu-west-1 (checkout service)", now=now
        )
        deployments.create_deployment(db, account_id=customer.id, name="staging", now=now)
        _, secret = deployments.create_api_key(
            db, account_id=customer.id, deployment_id=production.id, name="laptop proxy", now=now
        )
        old, _ = deployments.create_api_key(
            db, account_id=customer.id, deployment_id=production.id, name="ci-runner-eu-west-1", now=now
        )
        deployments.revoke_api_key(
            db, account_id=customer.id, deployment_id=production.id, key_id=old.id, now=now
        )
        routing = deployments.routing_settings_of(production).model_copy(update={"metadata_logs": True})
        deployments.update_routing_settings(
            db,
            account_id=customer.id,
            deployment_id=production.id,
            settings=routing,
            catalog=load_catalog(),
            max_retention_days=settings.max_log_retention_days,
        )
        deployment_id = str(production.id)
    with ExitStack() as stack:
        base = stack.enter_context(serve(create_control(settings, engine=engine)))
        _post(base, "/v1/meter", {"batch_id": str(uuid.uuid4()), "rows": _meter_rows(now)}, secret)
        # Last month's usage, and its invoice as the invoicing job issues it once the month is over.
        last_month = billing.previous_month(billing.month_of(now))
        _, month_end = billing.month_bounds(last_month)
        row = _meter_rows(month_end - timedelta(hours=1))[0]
        _post(base, "/v1/meter", {"batch_id": str(uuid.uuid4()), "rows": [row]}, secret)
        with Session(engine) as db:
            billing.issue_invoices_for_month(
                db, settings, month=last_month, now=max(now, month_end + billing.INVOICE_GRACE)
            )
        _post(base, "/v1/logs", {"batch_id": str(uuid.uuid4()), "records": _log_records(now)}, secret)
        for days_back in range(6):
            _post(base, "/v1/telemetry", _telemetry(now, days_back), secret)
        templates = Environment(loader=PackageLoader("modelpilot.control", "templates"), autoescape=True)
        for days_back in range(4):
            status.record_probes(
                create_session_factory(engine),
                now=now - timedelta(days=days_back),
                settings=settings,
                catalog=load_catalog(),
                templates=templates,
            )
        yield World(base, deployment_id)
    engine.dispose()


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world for the tests that only read it (they log in and look), built once per worker."""
    with _world(tmp_path_factory.mktemp("narrow-screens")) as world:
        yield world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A world of its own, for a test that changes it (revokes a key)."""
    with _world(tmp_path) as world:
        yield world


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per worker for the module; each test opens its own contexts (no shared state)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _signed_in(browser: Browser, base: str, email: str) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/console")
    state = context.storage_state()
    context.close()
    return state


def _pages(deployment_id: str) -> dict[str, tuple[str, str]]:
    """name: (who, path)."""
    deployment = f"/console/deployments/{deployment_id}"
    return {
        "account-dashboard": ("customer", "/console?period=30d"),
        "deployments": ("customer", "/console/deployments"),
        "dashboard": ("customer", f"{deployment}?period=30d"),
        "dashboard-7d": ("customer", f"{deployment}?period=7d"),
        "keys": ("customer", f"{deployment}/keys"),
        "settings": ("customer", f"{deployment}/settings"),
        "logs": ("customer", f"{deployment}/logs"),
        "performance": ("customer", f"{deployment}/performance"),
        "billing": ("customer", "/console/billing"),
        "account": ("customer", "/account"),
        "admin-accounts": ("admin", "/console/admin/accounts"),
        "admin-incidents": ("admin", "/admin/incidents"),
        "status": ("nobody", "/status"),
        "security": ("nobody", "/security"),
        "subprocessors": ("nobody", "/subprocessors"),
        "architecture": ("nobody", "/architecture"),
    }


def _check(page: Page, width: int, name: str) -> list[str]:
    page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    found = page.evaluate(LAYOUT_PROBLEMS, width)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"narrow-{width}-{name}.png"), full_page=True)
    # The pages with tables and charts had some to check.
    if name not in {"account", "admin-incidents", "architecture"}:
        assert found["cells"] > 0, name
    if name in {"account-dashboard", "dashboard", "dashboard-7d", "performance"}:
        assert found["chartLabels"] >= 2 * 5, name
    return [f"{name} at {width} px: {problem}" for problem in found["problems"]]


@pytest.fixture(scope="module")
def shared_states(shared_world: World, browser: Browser) -> dict[str, Any]:
    """Who looks at the shared world: the signed-in browser state of each (cookies only, read by
    each test into contexts of its own), signed in once for the module."""
    return {
        "customer": _signed_in(browser, shared_world.base, CUSTOMER),
        "admin": _signed_in(browser, shared_world.base, ADMIN),
        "nobody": None,
    }


@pytest.mark.parametrize("width", [375, 320, 1280])
def test_every_table_and_chart_fits_the_screen(
    shared_world: World, shared_states: dict[str, Any], browser: Browser, width: int
) -> None:
    world, states = shared_world, shared_states
    problems: list[str] = []
    for name, (who, path) in _pages(world.deployment_id).items():
        context = browser.new_context(viewport={"width": width, "height": 800}, storage_state=states[who])
        page = context.new_page()
        response = page.goto(world.base + path)
        assert response is not None and response.status == 200, (name, path)
        problems += _check(page, width, name)
        if name == "logs":
            expect(page.get_by_test_id("log").locator("tbody tr")).to_have_count(12)
        if name.startswith("dashboard") or name == "performance":
            expect(page.locator("svg.chart")).to_have_count(2)
        context.close()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("width", [375, 320])
def test_revoke_is_on_screen_and_works(world: World, browser: Browser, width: int) -> None:
    state = _signed_in(browser, world.base, CUSTOMER)
    context = browser.new_context(viewport={"width": width, "height": 800}, storage_state=state)
    page = context.new_page()
    page.goto(f"{world.base}/console/deployments/{world.deployment_id}/keys")
    revoke = page.get_by_role("link", name="Revoke laptop proxy")
    expect(revoke).to_be_visible()
    # Where it is without scrolling anything sideways (only the page scrolls, down to it).
    box = revoke.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
    assert page.evaluate("window.scrollX") == 0
    keys = page.get_by_test_id("keys")
    expect(keys.locator("tbody tr").filter(has_text="laptop proxy")).to_contain_text("active")
    expect(keys.locator("tbody tr").filter(has_text="ci-runner-eu-west-1")).to_contain_text("revoked")
    revoke.click()
    expect(page).to_have_url(re.compile(r"/keys/[0-9a-f-]+/revoke$"))
    page.get_by_role("button", name="Revoke the key").click()
    expect(keys.locator("tbody tr").filter(has_text="laptop proxy")).to_contain_text("revoked")
    context.close()
