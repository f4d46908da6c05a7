"""Issue 15, item 8: the control plane's pages. Dates at the edge of the calendar get a clear
error instead of a 500, no page can be framed (CSP ``frame-ancestors 'none'``), and an
administrator cannot suspend their own account through the admin API either."""

from __future__ import annotations

import pytest

from tests.control.test_suspension import make_admin
from tests.reliability.scenarios import Scenario, record

BAD_DATES = ["9999-12-31", "0001-01-01", "1999-12-31", "3000-01-01"]


async def test_dates_at_the_edge_of_the_calendar_are_a_clear_error(new_tenant) -> None:
    tenant = await new_tenant("dates@example.com")
    deployment = await tenant.create_deployment()
    answered = 0
    for bad in BAD_DATES:
        for path in (
            f"/console/deployments/{deployment}/logs?until={bad}",
            f"/console/deployments/{deployment}/logs?since={bad}",
            f"/console?period=custom&start=2026-11-01&end={bad}",
            f"/console?period=custom&start={bad}&end={bad}",
            f"/console/deployments/{deployment}?period=custom&start=2026-11-01&end={bad}",
        ):
            response = await tenant.client.get(path)
            assert response.status_code in (400, 422), f"{path}: {response.status_code}"
            answered += 1
    assert (
        await tenant.client.get(f"/console/deployments/{deployment}/logs?until=2999-12-31")
    ).status_code == 200
    record(
        Scenario(
            "bad input: dates at the calendar's edge (console)", answered, answered, 0, note="422, no 500"
        )
    )


@pytest.mark.parametrize("path", ["/login", "/console", "/status", "/security"])
async def test_no_page_can_be_framed(new_tenant, path: str) -> None:
    tenant = await new_tenant("frames@example.com")
    response = await tenant.client.get(path)
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert response.headers["x-frame-options"] == "DENY"


async def test_an_admin_cannot_suspend_their_own_account_through_the_api(new_tenant, engine) -> None:
    admin = await new_tenant("self-suspend@example.com")
    make_admin(engine, "self-suspend@example.com")
    response = await admin.client.post(
        f"/api/admin/accounts/{admin.account_id}/suspend", headers={"x-csrf-token": admin.csrf}
    )
    assert response.status_code == 403
    assert (await admin.client.get("/api/session")).status_code == 200  # still signed in, not suspended


async def test_the_host_header_is_never_reflected(make_client, settings) -> None:
    """Item 7: security.txt and redirects name the configured origin (or none), never the Host."""
    from dataclasses import replace

    attacker = make_client(settings, base_url="http://rebind.attacker.example")
    txt = (await attacker.get("/.well-known/security.txt")).text
    redirect = await attacker.get("/console/", follow_redirects=False)
    assert "attacker" not in txt and "attacker" not in redirect.headers.get("location", "")
    configured = make_client(
        replace(settings, public_url="https://control.example.com"), base_url="http://rebind.attacker.example"
    )
    txt = (await configured.get("/.well-known/security.txt")).text
    assert "Canonical: https://control.example.com/.well-known/security.txt" in txt
    assert "attacker" not in txt
