"""Every console page and action is scoped to the signed-in account, and every POST needs the
session's CSRF token."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.control.conftest import log_in
from tests.control.console.conftest import csrf_of, signed_out

DEPLOYMENT_PAGES = ("", "/keys", "/settings", "/logs", "/performance", "/keys/{key_id}/revoke")
DEPLOYMENT_ACTIONS = {
    "/rename": {"name": "mine now"},
    "/delete": {"confirmation": "production"},
    "/keys": {"name": "stolen"},
    "/keys/{key_id}/revoke": {},
    "/settings": {"mode": "off", "quality_target": "0.9", "log_retention_days": "30"},
}
ACCOUNT_ACTIONS = {
    "/console/deployments": {"name": "x"},
    "/account/password": {"current_password": "correct horse battery", "new_password": "another long one"},
    "/account/sign-out-everywhere": {},
    "/account/delete": {"confirmation_email": "a@example.com", "password": "correct horse battery"},
    "/logout": {},
}


async def victim_and_attacker(new_tenant):
    victim = await new_tenant("a@example.com")
    deployment = await victim.create_deployment("production")
    key_id, _ = await victim.create_key(deployment)
    attacker = await new_tenant("b@example.com")
    return victim, attacker, deployment, key_id


async def test_another_accounts_deployment_is_not_found(new_tenant):
    victim, attacker, deployment, key_id = await victim_and_attacker(new_tenant)
    base = f"/console/deployments/{deployment}"
    for page in DEPLOYMENT_PAGES:
        path = base + page.format(key_id=key_id)
        assert (await attacker.client.get(path)).status_code == 404, path
        assert (await victim.client.get(path)).status_code == 200, path
    token = await csrf_of(attacker.client)
    for action, data in DEPLOYMENT_ACTIONS.items():
        path = base + action.format(key_id=key_id)
        response = await attacker.client.post(path, data={"csrf_token": token, **data})
        assert response.status_code == 404, path
    # Nothing changed for the victim.
    keys = (await victim.client.get(f"/api/deployments/{deployment}/keys")).json()
    assert [(k["name"], k["revoked"]) for k in keys] == [("proxy", False)]
    assert (await victim.client.get(f"/api/deployments/{deployment}")).json()["name"] == "production"
    assert (await victim.client.get(f"/api/deployments/{deployment}/routing")).json()["mode"] == "on"


@pytest.mark.parametrize("token", ["", "forged"])
async def test_every_post_needs_the_csrf_token(new_tenant, token):
    victim, _, deployment, key_id = await victim_and_attacker(new_tenant)
    base = f"/console/deployments/{deployment}"
    paths = {base + a.format(key_id=key_id): d for a, d in DEPLOYMENT_ACTIONS.items()} | ACCOUNT_ACTIONS
    for path, data in paths.items():
        response = await victim.client.post(path, data={"csrf_token": token, **data} if token else data)
        assert response.status_code == 403, path
    keys = (await victim.client.get(f"/api/deployments/{deployment}/keys")).json()
    assert [(k["name"], k["revoked"]) for k in keys] == [("proxy", False)]
    assert (await victim.client.get("/api/session")).status_code == 200


async def test_signed_out_visitors_are_sent_to_log_in_and_back(client):
    for path in (
        "/console",
        "/console/deployments",
        "/console/billing?month=2026-11",
        "/console/admin/accounts",
        "/account",
    ):
        response = await client.get(path)
        assert signed_out(response), path
        assert response.headers["location"] == f"/login?{urlencode({'next': path})}"
        assert "/console" not in response.text  # nothing of the page itself
    assert (await client.get("/api/deployments")).status_code == 401  # the JSON API does not redirect


async def test_logging_in_returns_to_the_page_asked_for(client, new_tenant, make_client, settings):
    await new_tenant("back@example.com")
    asked = await client.get("/console/billing")
    form = await client.get(asked.headers["location"])
    assert 'name="next" value="/console/billing"' in form.text
    response = await log_in(client, "back@example.com", next_path="/console/billing")
    assert response.status_code == 303 and response.headers["location"] == "/console/billing"
    assert (await client.get("/console/billing")).status_code == 200


@pytest.mark.parametrize(
    "next_path",
    [
        "https://evil.example/",
        "//evil.example/console",
        "/\\evil.example",
        "/login",
        "/signup",
        "console",
        "",
    ],
)
async def test_logging_in_never_returns_anywhere_else(make_client, settings, new_tenant, next_path):
    await new_tenant("stay@example.com")
    browser = make_client(settings)
    form = await browser.get("/login", params={"next": next_path})
    assert 'name="next"' not in form.text
    response = await log_in(browser, "stay@example.com", next_path=next_path)
    assert response.status_code == 303 and response.headers["location"] == "/console"
