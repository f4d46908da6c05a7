"""Issue 16: the new user's path through `modelpilot up`, in headless Chromium, following what
the README, the banner and the console say, against a real `modelpilot up` process.

a wrong password comes back on the form → "Forgot your password?" says how → `modelpilot admin
reset-password` (as the page shows it) gives a new password that works → turning the request log
on in the console is all it takes under `up`: traffic sent with the SDK shows up in it → a new
key's page shows the exact proxy command with this control plane's URL, and a reload creates no
second key → a wrong delete confirmation comes back on the form → no page asks for an icon that
is not there. The request log says why each request was routed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from modelpilot.schema.wire import DecisionReason
from modelpilot.stack import DATABASE_FILE, STATE_FILE, read_state
from tests.stack_process import FAST_ITERATIONS, UpProcess, start_up

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
EMAIL = "you@modelpilot.local"


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def up(tmp_path: Path) -> Iterator[UpProcess]:
    process = start_up(tmp_path, "--flush-interval", "0.5")
    try:
        yield process
    finally:
        assert process.stop() == 0, process.output


def log_in(page: Page, base: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_the_operator_journey_through_up(up: UpProcess, browser: Browser, tmp_path: Path) -> None:
    base = up.console_url.rstrip("/")
    state = read_state(tmp_path / STATE_FILE)
    assert state is not None
    deployment = f"{base}/console/deployments/{state.deployment_id}"
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)

    # A wrong password: the form again, with the reason and the email kept (item 7).
    log_in(page, base, "not the password")
    expect(page.get_by_role("alert")).to_contain_text("wrong email address or password")
    expect(page.get_by_label("Email")).to_have_value(EMAIL)

    # Forgotten: the page says how, and the command it shows works (item 6).
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Forgot your password?")
    shown = page.locator("pre code").filter(has_text=EMAIL).inner_text()
    assert shown == f"modelpilot admin reset-password {EMAIL}"
    reset = subprocess.run(
        [sys.executable, "-m", "modelpilot.cli", "admin", "--database-url",
         f"sqlite:///{tmp_path / DATABASE_FILE}", *shown.split()[2:]],
        capture_output=True, text=True, timeout=60,
        env={"MODELPILOT_PASSWORD_ITERATIONS": FAST_ITERATIONS, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert reset.returncode == 0, reset.stderr
    log_in(page, base, reset.stdout.strip())
    expect(page).to_have_url(f"{base}/console")

    # Under `up`, the console's switch is all the request log needs (item 2).
    page.goto(f"{deployment}/logs")
    expect(page.get_by_text("The request log is off")).to_be_visible()
    expect(page.get_by_text("start the proxy")).to_have_count(0)
    page.goto(f"{deployment}/settings")
    page.get_by_label(re.compile("Keep a metadata record")).check()
    page.get_by_role("button", name="Save settings").click()
    # The proxy sees the new setting within one poll of GET /v1/config (a few seconds): requests
    # sent before that are not logged, so keep sending until one is.
    deadline = time.monotonic() + 30
    while True:
        with anthropic.Anthropic(base_url=up.base_url, api_key="sk-ant-local", max_retries=0) as client:
            client.messages.create(
                model="claude-sonnet-4-6", max_tokens=32, messages=[{"role": "user", "content": "Log me"}]
            )
        time.sleep(0.5)
        page.goto(f"{deployment}/logs")
        if page.get_by_test_id("log").locator("tbody tr").filter(has_text="claude-sonnet-4-6").count():
            break
        assert time.monotonic() < deadline, "the request never reached the request log"
        time.sleep(0.25)
    # Why was it routed (or not)? The decision's reason, and an Escalated column (item 11).
    log = page.get_by_test_id("log")
    expect(log.locator("thead")).to_contain_text("Why")
    expect(log.locator("thead")).to_contain_text("Escalated")
    why = log.locator("tbody tr").first.locator("td").nth(4).inner_text()
    assert why.replace(" ", "_") in {reason.value for reason in DecisionReason}, why

    # A new key: the exact command with this control plane's URL; a reload makes no second key (4, 7).
    page.goto(f"{deployment}/keys")
    page.get_by_label("Name").fill("laptop proxy")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("new-secret").input_value()
    expect(page.get_by_test_id("proxy-command")).to_have_text(
        f"MODELPILOT_API_KEY={secret} modelpilot proxy --control-plane {base}"
    )
    page.reload()
    expect(page.get_by_test_id("new-secret")).to_have_count(0)
    keys = page.get_by_test_id("keys").locator("tbody tr")
    expect(keys).to_have_count(2)  # up's own key and this one
    expect(keys.filter(has_text="laptop proxy")).to_contain_text("active")

    # A wrong delete confirmation: the settings page again, with the reason (item 7).
    page.goto(f"{deployment}/settings")
    page.get_by_label(re.compile("to confirm")).fill("not its name")
    page.get_by_role("button", name="Delete the deployment").click()
    expect(page.get_by_role("alert")).to_contain_text("name exactly")
    page.goto(f"{base}/console/deployments")
    expect(page.get_by_role("main")).to_contain_text("local")

    # No page asked for something that is not there, the icon included (item 9).
    assert missing == []
