"""Issue 15, item 8: the control plane's pages. Dates at the edge of the calendar get a clear
error instead of a 500, no page can be framed (CSP ``frame-ancestors 'none'``), and an
administrator cannot suspend their own account through the admin API either. Item 7: no page
reflects the request's Host header (security.txt, redirects, the commands the console shows)."""

from __future__ import annotations

from dataclasses import replace

import httpx2 as httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelpilot.control.store.tables import Account
from tests.control import payloads
from tests.control.console.conftest import post_form, secret_in
from tests.control.test_suspension import make_admin
from tests.reliability.scenarios import Scenario, record

BAD_DATES = ["9999-12-31", "0001-01-01", "1999-12-31", "3000-01-01"]


async def test_dates_at_the_edge_of_the_calendar_are_a_clear_error(new_tenant, make_client, settings) -> None:
    """A day outside 2000-01-01..2999-12-31 is a 400/422 on the console's pages and a problem
    detail on the JSON API (the summary takes a custom period; ``/api/deployments/{id}/usage``
    and ``/logs`` take no dates). The CSV exports take any calendar day as an open end
    (``to=9999-12-31``: everything from ``from`` on), so there it is a 200 with the CSV; a day
    that is not a date is a problem detail. None of them is ever a 500."""
    tenant = await new_tenant("dates@example.com")
    deployment = await tenant.create_deployment()
    _, key = await tenant.create_key(deployment)
    script = make_client(settings)
    metered = await script.post(
        "/v1/meter", json=payloads.meter_batch(), headers={"authorization": f"Bearer {key}"}
    )
    assert metered.status_code == 200, metered.text
    api = f"/api/deployments/{deployment}"
    statuses: list[int] = []
    for bad in BAD_DATES:
        for path in (
            f"/console/deployments/{deployment}/logs?until={bad}",
            f"/console/deployments/{deployment}/logs?since={bad}",
            f"/console?period=custom&start=2026-11-01&end={bad}",
            f"/console?period=custom&start={bad}&end={bad}",
            f"/console/deployments/{deployment}?period=custom&start=2026-11-01&end={bad}",
        ):
            response = await tenant.client.get(path)
            statuses.append(response.status_code)
            assert response.status_code in (400, 422), f"{path}: {response.status_code}"
        for path in (
            f"{api}/summary?period=custom&start=2026-11-01&end={bad}",
            f"{api}/summary?period=custom&start={bad}&end={bad}",
            f"{api}/usage.csv?to={bad[:5]}13-01",  # the same year, but no such day
            f"{api}/logs.csv?from={bad[:5]}02-30",
        ):
            response = await tenant.client.get(path)
            statuses.append(response.status_code)
            assert response.status_code in (400, 422), f"{path}: {response.status_code}"
            assert response.headers["content-type"] == "application/problem+json", path
            assert response.json()["status"] == response.status_code
        for path, rows in (
            (f"{api}/usage.csv?from=2026-11-01&to={bad}", int(bad > "2026-11-28")),
            (f"{api}/usage.csv?from={bad}", int(bad < "2026-11-28")),
            (f"{api}/logs.csv?from={bad}&to={bad}", 0),
        ):
            response = await tenant.client.get(path)
            statuses.append(response.status_code)
            assert response.status_code == 200, f"{path}: {response.status_code}"
            assert response.headers["content-type"].startswith("text/csv")
            assert len(response.text.splitlines()) == 1 + rows, path  # the header, then the rows
    assert (
        await tenant.client.get(f"/console/deployments/{deployment}/logs?until=2999-12-31")
    ).status_code == 200
    errors = sum(status >= 500 for status in statuses)
    record(
        Scenario(
            "bad input: dates at the calendar's edge (console, JSON API, CSV)",
            sent=len(statuses),
            succeeded=len(statuses) - errors,
            lost=errors,
            note=f"{sum(s in (400, 422) for s in statuses)} refused, {statuses.count(200)} CSV open-ended, "
            f"{errors} answered 500",
        )
    )


FRAMED_PAGES = ["/login", "/console", "/status", "/security"]


def is_unframeable(response: httpx.Response) -> bool:
    policy = response.headers.get("content-security-policy", "")
    return (
        "frame-ancestors 'none'" in policy
        and "script-src 'self'" in policy
        and response.headers.get("x-frame-options") == "DENY"
    )


async def test_no_page_can_be_framed(new_tenant) -> None:
    tenant = await new_tenant("frames@example.com")
    responses = {path: await tenant.client.get(path) for path in FRAMED_PAGES}
    for path, response in responses.items():
        assert response.status_code == 200, path
    framable = [path for path, response in responses.items() if not is_unframeable(response)]
    record(
        Scenario(
            "attack: framing a console page (clickjacking)",
            sent=len(responses),
            succeeded=len(responses) - len(framable),
            lost=len(framable),
            note=f"frame-ancestors 'none' and X-Frame-Options DENY on {len(responses) - len(framable)} pages",
        )
    )
    assert framable == []


async def test_an_admin_cannot_suspend_their_own_account_through_the_api(new_tenant, engine) -> None:
    admin = await new_tenant("self-suspend@example.com")
    make_admin(engine, "self-suspend@example.com")
    response = await admin.client.post(
        f"/api/admin/accounts/{admin.account_id}/suspend", headers={"x-csrf-token": admin.csrf}
    )
    still_signed_in = (await admin.client.get("/api/session")).status_code == 200
    with Session(engine) as db:
        account = db.scalar(select(Account).where(Account.email == "self-suspend@example.com"))
        is_suspended = account is not None and account.suspended_at is not None
    record(
        Scenario(
            "attack: an administrator suspends their own account (API)",
            sent=1,
            succeeded=int(response.status_code == 403 and not is_suspended),
            lost=int(is_suspended),
            note=f"HTTP {response.status_code}; still signed in: {still_signed_in}",
        )
    )
    assert response.status_code == 403
    assert not is_suspended and still_signed_in


ATTACKER_HOST = {"host": "rebind.attacker.example"}
PLACEHOLDER = "https://&lt;your control plane&gt;"  # as the page's HTML writes it


async def commands_shown(tenant, headers: dict[str, str]) -> tuple[httpx.Response, httpx.Response]:
    """The keys page right after a key was made and the tokens page right after a token was made
    (the two pages that show a command naming the control plane), fetched with ``headers``."""
    deployment = await tenant.create_deployment()
    keys_page = f"/console/deployments/{deployment}/keys"
    assert (await post_form(tenant.client, keys_page, name="laptop")).status_code == 303
    keys = await tenant.client.get(keys_page, headers=headers)
    assert (await post_form(tenant.client, "/account/tokens", name="ci")).status_code == 303
    tokens = await tenant.client.get("/account/tokens", headers=headers)
    assert keys.status_code == tokens.status_code == 200
    return keys, tokens


def proxy_command(keys: httpx.Response, control_plane: str) -> str:
    return (
        f"MODELPILOT_API_KEY={secret_in(keys.text)} modelpilot proxy --control-plane {control_plane}</code>"
    )


async def test_the_host_header_is_never_reflected(make_client, settings, new_tenant) -> None:
    """Item 7: security.txt, redirects and the commands the console shows with a new key or
    management token name the configured origin (or loopback as asked for, or a placeholder),
    never a foreign Host."""
    hostile: list[httpx.Response] = []
    attacker = make_client(settings, base_url="http://rebind.attacker.example")
    hostile.append(txt := await attacker.get("/.well-known/security.txt"))
    hostile.append(redirect := await attacker.get("/console/", follow_redirects=False))
    assert "attacker" not in txt.text and "attacker" not in redirect.headers.get("location", "")
    configured_settings = replace(settings, public_url="https://control.example.com")
    configured = make_client(configured_settings, base_url="http://rebind.attacker.example")
    hostile.append(txt := await configured.get("/.well-known/security.txt"))
    assert "Canonical: https://control.example.com/.well-known/security.txt" in txt.text

    # Unconfigured: a placeholder and how to fill it in, never the Host.
    keys, tokens = await commands_shown(await new_tenant("host-unset@example.com"), ATTACKER_HOST)
    hostile += [keys, tokens]
    assert proxy_command(keys, PLACEHOLDER) in keys.text
    assert f"{PLACEHOLDER}/api/deployments</code>" in tokens.text
    assert "MODELPILOT_PUBLIC_URL" in keys.text and "MODELPILOT_PUBLIC_URL" in tokens.text
    # Configured (as `modelpilot up` does): the configured origin, whatever the Host.
    tenant = await new_tenant("host-set@example.com", client_settings=configured_settings)
    keys, tokens = await commands_shown(tenant, ATTACKER_HOST)
    hostile += [keys, tokens]
    assert proxy_command(keys, "https://control.example.com") in keys.text
    assert "https://control.example.com/api/deployments</code>" in tokens.text
    # Unconfigured on loopback: the address asked for (a rebound name is never loopback).
    loopback = {"host": "127.0.0.1:8000"}
    keys, tokens = await commands_shown(await new_tenant("host-loopback@example.com"), loopback)
    assert proxy_command(keys, "http://127.0.0.1:8000") in keys.text
    assert "http://127.0.0.1:8000/api/deployments</code>" in tokens.text

    reflected = [
        r.request.url.path
        for r in hostile
        if "attacker" in r.text or "attacker" in r.headers.get("location", "")
    ]
    record(
        Scenario(
            "attack: Host header reflection (security.txt, redirect, key and token commands)",
            sent=len(hostile),
            succeeded=len(hostile) - len(reflected),
            lost=len(reflected),
            note=f"pages naming the attacker's Host: {len(reflected)}",
        )
    )
    assert reflected == []
