"""The status and public pages in headless Chromium with JavaScript off: an admin posts an
incident with the keyboard alone, the public status page shows it, and at 375 px wide no page
scrolls sideways and the status words keep WCAG AA contrast."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import Engine, select

from modelpilot.control import accounts, status
from modelpilot.control.app import create_app
from modelpilot.control.store.engine import create_db_engine, create_session_factory
from modelpilot.control.store.tables import Base, Incident, StatusProbe
from tests.control.conftest import PASSWORD, make_settings
from tests.servers import serve

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ADMIN = "ops@example.com"
PUBLIC_PAGES = ("/status", "/security", "/architecture", "/dpa", "/subprocessors")

# WCAG 2.x relative luminance and contrast ratio, computed in the page from computed styles.
_CONTRAST_JS = """
(selector) => {
  const lum = (rgb) => {
    const [r, g, b] = rgb.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number).map((c) => {
      c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const bg = getComputedStyle(el).backgroundColor;
      if (bg && !bg.endsWith(", 0)") && bg !== "transparent") return bg;
    }
    return "rgb(255, 255, 255)";
  };
  return [...document.querySelectorAll(selector)].map((el) => {
    const [a, b] = [lum(getComputedStyle(el).color), lum(background(el))];
    return [el.textContent.trim(), (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
  });
}
"""


@contextmanager
def _database(directory: Path) -> Iterator[Engine]:
    engine = create_db_engine(f"sqlite:///{directory / 'control.sqlite3'}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@contextmanager
def _serving(engine: Engine) -> Iterator[str]:
    settings = make_settings(str(engine.url))
    now = datetime.now(UTC)
    with create_session_factory(engine)() as session:
        accounts.sign_up(session, settings, email=ADMIN, password=PASSWORD, now=now, is_admin=True)
        for component in status.COMPONENTS:
            session.add(
                StatusProbe(component=component, checked_at=now, ok=component != "console", latency_ms=7)
            )
        session.commit()
    with serve(create_app(settings, engine=engine)) as url:
        yield url


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with _database(tmp_path) as engine:
        yield engine


@pytest.fixture
def base_url(engine: Engine) -> Iterator[str]:
    with _serving(engine) as url:
        yield url


@pytest.fixture(scope="module")
def public_base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The same control plane as ``base_url``, built once per worker for the tests that only read
    public pages (JavaScript off, GET only): nothing they do changes what the next one sees."""
    with _database(tmp_path_factory.mktemp("public-pages")) as engine, _serving(engine) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def test_an_admin_posts_an_incident_with_the_keyboard_and_no_javascript(
    browser: Browser, base_url: str, engine: Engine
) -> None:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 375, "height": 800})
    page = context.new_page()
    page.goto(f"{base_url}/login")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_label("Password").press("Enter")
    page.goto(f"{base_url}/admin/incidents")

    page.get_by_label("Title").focus()
    page.keyboard.type("Console errors")
    page.keyboard.press("Tab")
    page.keyboard.type("Some console pages fail to load.")
    page.keyboard.press("Tab")  # severity: minor -> major
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")  # the first component (Routing API): skipped
    page.keyboard.press("Tab")  # Metering: skipped
    page.keyboard.press("Tab")  # Console: checked
    page.keyboard.press("Space")
    page.keyboard.press("Tab")  # the submit button
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == f"{base_url}/admin/incidents", page.content()

    with create_session_factory(engine)() as session:
        incident = session.scalars(select(Incident)).one()
        assert (incident.title, incident.body, incident.severity, incident.components) == (
            "Console errors",
            "Some console pages fail to load.",
            "major",
            ["console"],
        )

    page.goto(f"{base_url}/status")
    assert page.get_by_role("heading", name="Console errors").is_visible()
    assert page.get_by_role("img", name="Console, daily uptime for 90 days").count() == 1
    context.close()


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_public_pages_fit_a_narrow_screen_and_keep_contrast(
    browser: Browser, public_base_url: str, path: str
) -> None:
    base_url = public_base_url
    context = browser.new_context(java_script_enabled=False, viewport={"width": 375, "height": 800})
    page = context.new_page()
    page.goto(base_url + path)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    measured = page.evaluate(_CONTRAST_JS, ".st, .days-axis span, main a, main p, main li, main td")
    assert len(measured) > 5
    low = [(text[:40], round(ratio, 2)) for text, ratio in measured if ratio < 4.5]
    assert low == []
    context.close()
