"""The public pages (security, architecture, DPA, subprocessors) and /.well-known/security.txt:
public, accessible, and quoting the real figures of the configuration and the code."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

import httpx2 as httpx
import pytest

from modelpilot.control import disclosures
from modelpilot.control.settings import ControlSettings
from modelpilot.proxy.settings import ProxySettings
from modelpilot.schema import wire

from .conftest import Clock
from .status.accessibility import accessibility_problems

PAGES = ["/security", "/architecture", "/dpa", "/subprocessors", "/status"]


@pytest.fixture
def db_url(tmp_path) -> str:
    # These pages read no tables (the status page's storage is tested on both databases in
    # tests/control/status/): SQLite is enough here.
    return f"sqlite:///{tmp_path / 'control.sqlite3'}"


@pytest.mark.parametrize("path", PAGES)
async def test_public_page_is_public_and_accessible(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert accessibility_problems(response.text) == []
    assert "<script" not in response.text  # works without JavaScript
    for other in PAGES:
        assert f'href="{other}"' in response.text


def test_the_accessibility_checker_finds_what_is_missing() -> None:
    good = '<html lang="en"><title>t</title><h1>a</h1><label>x <input name="a"></label></html>'
    assert accessibility_problems(good) == []
    assert accessibility_problems("<html><h1>a</h1><h1>b</h1><input name='q'></html>") == [
        "<html> has no lang",
        "no <title>",
        "2 <h1> elements, expected 1",
        "<input name='q'> has no label",
    ]


async def test_security_page_quotes_the_configuration(
    make_client: Callable[..., httpx.AsyncClient], settings: ControlSettings
) -> None:
    for changed in (
        settings,
        replace(
            settings,
            password_iterations=654_321,
            session_ttl_s=3 * 3600,
            login_max_failures=7,
            login_max_failures_per_client=42,
            login_window_s=20 * 60,
            max_log_retention_days=123,
            security_contact="mailto:psirt@example.org",
        ),
    ):
        page = (await make_client(changed).get("/security")).text
        assert f"{changed.password_iterations:,} iterations" in page
        assert "PBKDF2-HMAC-SHA256" in page
        assert f"lasts {disclosures.format_duration(changed.session_ttl_s)}" in page
        assert f"after\n  {changed.login_max_failures} failed log-ins" in page
        assert f"{changed.login_max_failures_per_client:,} from one client address" in page
        assert f"for up to {disclosures.format_duration(changed.login_window_s)}" in page
        assert f"up to {changed.max_log_retention_days} days" in page
        assert f'href="{changed.security_contact}"' in page
    assert "for up to 20 minutes" in page and "lasts 3 hours" in page  # the formatting itself


async def test_security_page_quotes_the_proxy_defaults_and_every_wire_field(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get("/security")).text
    proxy = ProxySettings()
    assert f"at most <strong>{disclosures.format_number(proxy.routing_budget_ms)} ms</strong>" in page
    assert (
        f"<strong>{disclosures.format_duration(proxy.breaker_cooldown_s)}</strong> after <strong>{proxy.breaker_failures}</strong>"
        in page
    )
    assert "<strong>off by default</strong>" in page and proxy.metadata_logs is False
    for model in (wire.RouteRequest, wire.Features, wire.MeterRow, wire.TelemetryCounters, wire.LogRecord):
        for name in model.model_fields:
            assert re.search(
                rf"<code>([a-z_\[\]]*\.(<wbr>)?)?{name}(\[?\]?\.(<wbr>)?[a-z_]+)?</code>", page
            ), (
                model.__name__,
                name,
            )
    for category in wire.Category:
        assert category.value in page
    # The firewall examples are the firewall's own verdicts.
    assert re.search(r"<code>prompt</code></td><td>refused: forbidden field name", page)
    assert re.search(r"<code>output_tokens</code></td><td>accepted", page)
    assert re.search(
        r"Summarise this contract for me</code></td><td>refused: value looks like free text", page
    )


def test_proxy_defaults_are_read_from_the_shipped_source_without_importing_it() -> None:
    defaults = disclosures.read_proxy_defaults(disclosures.proxy_settings_source())
    proxy = ProxySettings()
    assert (defaults.routing_budget_ms, defaults.breaker_failures, defaults.breaker_cooldown_s) == (
        proxy.routing_budget_ms,
        proxy.breaker_failures,
        proxy.breaker_cooldown_s,
    )
    assert (defaults.decision_cache_size, defaults.metadata_logs, defaults.spool_max_rows) == (
        proxy.decision_cache_size,
        proxy.metadata_logs,
        proxy.spool_max_rows,
    )
    assert defaults.flush_interval_s == proxy.flush_interval_s
    changed = disclosures.read_proxy_defaults(
        "class ProxySettings:\n    routing_budget_ms: float = 40.0\n    max_body_bytes: int = 32 * MIB\n"
        "    otlp_endpoint: str | None = None\n"
    )
    assert (changed.routing_budget_ms, changed.breaker_failures, changed.otlp_settings) == (
        40.0,
        None,
        ("otlp_endpoint",),
    )


async def test_architecture_quotes_the_routing_budget_and_the_decision_lifetime(
    make_client: Callable[..., httpx.AsyncClient], settings: ControlSettings
) -> None:
    page = (await make_client(settings).get("/architecture")).text
    assert f"within {disclosures.format_number(ProxySettings().routing_budget_ms)} ms" in page
    assert f"({disclosures.format_duration(settings.route_ttl_s)})" in page
    changed = (await make_client(replace(settings, route_ttl_s=90)).get("/architecture")).text
    assert "(90 seconds)" in changed


def test_figures_are_formatted_for_people() -> None:
    assert [disclosures.format_duration(s) for s in (1_209_600, 86_400, 900, 30.0, 90, 1)] == [
        "14 days",
        "1 day",
        "15 minutes",
        "30 seconds",
        "90 seconds",
        "1 second",
    ]
    assert [disclosures.format_number(n) for n in (600_000, 25.0, 2.5, 4096)] == [
        "600,000",
        "25",
        "2.5",
        "4,096",
    ]


async def test_dpa_and_subprocessors_state_what_the_code_does(
    client: httpx.AsyncClient, settings: ControlSettings
) -> None:
    dpa = (await client.get("/dpa")).text
    assert "This is a template, not a signed agreement." in dpa
    assert f"{settings.password_iterations:,} iterations" in dpa
    assert "does <strong>not</strong> process prompts" in dpa
    subprocessors = (await client.get("/subprocessors")).text
    assert "Anthropic</strong> is not our subprocessor" in subprocessors
    assert "chosen by the operator" in subprocessors


async def test_security_txt_follows_rfc_9116(
    make_client: Callable[..., httpx.AsyncClient], settings: ControlSettings, clock: Clock
) -> None:
    client = make_client(
        replace(
            settings, security_contact="https://example.org/report", public_url="https://status.example.org"
        ),
        base_url="https://status.example.org",
    )
    response = await client.get("/.well-known/security.txt")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    fields = dict(line.split(": ", 1) for line in response.text.splitlines())
    assert fields["Contact"] == "https://example.org/report"
    assert fields["Preferred-Languages"] == "en"
    assert fields["Canonical"] == "https://status.example.org/.well-known/security.txt"
    assert fields["Policy"] == "https://status.example.org/security"
    expires = datetime.fromisoformat(fields["Expires"].replace("Z", "+00:00"))
    assert clock.now < expires < clock.now.replace(year=clock.now.year + 1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", fields["Expires"])
    clock.advance(30 * 86400)
    later = (await client.get("/.well-known/security.txt")).text
    assert fields["Expires"] not in later  # computed from the clock on every request


async def test_a_query_string_cannot_choose_the_template(client: httpx.AsyncClient) -> None:
    response = await client.get("/dpa", params={"template": "public/security.html", "state": "x"})
    assert response.status_code == 200
    assert "<h1>Data processing agreement (template)</h1>" in response.text
