"""Issue 16, item 12: the management API does "the same operations as the console". Renaming a
deployment (a console form) is ``PATCH /api/deployments/{id}``, by session with its CSRF token or
by management token; every console form is paired with its JSON twin or says why it has none; and
docs/management-api.md lists exactly the operations the OpenAPI document gives a token."""

from __future__ import annotations

import re
from pathlib import Path

from modelpilot.control.app import create_app
from tests.control.conftest import Tenant, csrf_from
from tests.reliability.routes import endpoints

ROOT = Path(__file__).resolve().parents[2]


def bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


async def api_token(tenant: Tenant, name: str = "ci") -> str:
    response = await tenant.client.post(
        "/api/tokens", json={"name": name}, headers={"x-csrf-token": tenant.csrf}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["secret"])


async def test_a_deployment_is_renamed_by_token_or_by_session(new_tenant, make_client, settings):
    owner = await new_tenant("rename-owner@example.com")
    deployment = await owner.create_deployment("staging")
    _, key = await owner.create_key(deployment)
    before = (await owner.client.get(f"/api/deployments/{deployment}")).json()
    script = make_client(settings)  # a script: only the token, no cookie
    token = bearer(await api_token(owner))

    renamed = await script.patch(
        f"/api/deployments/{deployment}", json={"name": "  production "}, headers=token
    )
    assert renamed.status_code == 200, renamed.text
    # Stored stripped, as the console form stores it; nothing else about the deployment changed.
    assert renamed.json() == {**before, "name": "production"}
    assert (await script.get(f"/api/deployments/{deployment}", headers=token)).json()["name"] == "production"
    # The console shows the new name, and the deployment's key still works.
    page = await owner.client.get(f"/console/deployments/{deployment}/settings")
    assert "<h1>production</h1>" in page.text
    assert (await script.get("/v1/config", headers=bearer(key))).status_code == 200

    # A session needs its CSRF token for it, as for every change.
    path = f"/api/deployments/{deployment}"
    assert (await owner.client.patch(path, json={"name": "forged"})).status_code == 403
    by_session = await owner.client.patch(path, json={"name": "prod"}, headers={"x-csrf-token": owner.csrf})
    assert by_session.status_code == 200 and by_session.json()["name"] == "prod"


async def test_a_bad_name_is_refused_and_the_old_one_kept(new_tenant, make_client, settings):
    owner = await new_tenant("rename-bad@example.com")
    deployment = await owner.create_deployment("kept")
    token = bearer(await api_token(owner))
    script = make_client(settings)
    for body in ({"name": ""}, {"name": "   "}, {"name": "a\nb"}, {"name": "x" * 101}, {}, {"name": 3}):
        response = await script.patch(f"/api/deployments/{deployment}", json=body, headers=token)
        assert response.status_code == 422, (body, response.status_code)
        assert response.headers["content-type"] == "application/problem+json"
    # Only the name: a field the rename does not take is refused, not silently dropped.
    extra = await script.patch(
        f"/api/deployments/{deployment}", json={"name": "n", "routing_mode": "off"}, headers=token
    )
    assert extra.status_code == 422
    assert (await script.get(f"/api/deployments/{deployment}", headers=token)).json()["name"] == "kept"


async def test_another_accounts_deployment_cannot_be_renamed(new_tenant, make_client, settings):
    alice = await new_tenant("rename-alice@example.com")
    mallory = await new_tenant("rename-mallory@example.com")
    deployment = await alice.create_deployment("alice-prod")
    script = make_client(settings)
    path = f"/api/deployments/{deployment}"
    by_token = await script.patch(path, json={"name": "pwned"}, headers=bearer(await api_token(mallory)))
    by_session = await mallory.client.patch(
        path, json={"name": "pwned"}, headers={"x-csrf-token": mallory.csrf}
    )
    missing = await mallory.client.patch(
        "/api/deployments/00000000-0000-4000-8000-000000000000",
        json={"name": "pwned"},
        headers={"x-csrf-token": mallory.csrf},
    )
    assert (by_token.status_code, by_session.status_code, missing.status_code) == (404, 404, 404)
    # The same answer as for a deployment that does not exist.
    assert by_session.json() == missing.json()
    assert (await alice.client.get(path)).json()["name"] == "alice-prod"


async def test_the_console_form_and_the_api_rename_alike(new_tenant):
    owner = await new_tenant("rename-form@example.com")
    deployment = await owner.create_deployment("one")
    page = await owner.client.get(f"/console/deployments/{deployment}/settings")
    form = await owner.client.post(
        f"/console/deployments/{deployment}/rename",
        data={"name": " two ", "csrf_token": csrf_from(page.text)},
    )
    assert form.status_code == 303
    assert (await owner.client.get(f"/api/deployments/{deployment}")).json()["name"] == "two"


# -- every console form has its JSON twin, or says why it has none ---------------------------------
#: Console form -> the JSON API operation that does the same.
TWINS = {
    "POST /console/deployments": "POST /api/deployments",
    "POST /console/deployments/{deployment_id}/rename": "PATCH /api/deployments/{deployment_id}",
    "POST /console/deployments/{deployment_id}/delete": "DELETE /api/deployments/{deployment_id}",
    "POST /console/deployments/{deployment_id}/settings": "PUT /api/deployments/{deployment_id}/routing",
    "POST /console/deployments/{deployment_id}/keys": "POST /api/deployments/{deployment_id}/keys",
    "POST /console/deployments/{deployment_id}/keys/{key_id}/revoke": (
        "DELETE /api/deployments/{deployment_id}/keys/{key_id}"
    ),
    # Session only on both sides: a token cannot mint or revoke tokens.
    "POST /account/tokens": "POST /api/tokens",
    "POST /account/tokens/{token_id}/revoke": "DELETE /api/tokens/{token_id}",
    # An administrator's session only on both sides.
    "POST /console/admin/accounts/{account_id}/suspend": "POST /api/admin/accounts/{account_id}/suspend",
    "POST /console/admin/accounts/{account_id}/reinstate": "POST /api/admin/accounts/{account_id}/reinstate",
}
#: Forms with no JSON twin, each with the reason.
NO_TWIN = {
    "POST /login": "starts a browser session (a script uses a token)",
    "POST /signup": "creates an account and its browser session",
    "POST /logout": "ends the browser session",
    "POST /account/password": "the account's password: never within a token's reach",
    "POST /account/sign-out-everywhere": "ends the account's browser sessions",
    "POST /account/delete": "closes the account: typed password and confirmation in the browser",
    "POST /console/admin/accounts/{account_id}/reset-password": (
        "administration (not the management API); shows a password once, in the browser"
    ),
    "POST /admin/incidents": "administration of the public status page (not the management API)",
    "POST /admin/incidents/{incident_id}": "administration of the public status page",
    "POST /admin/incidents/{incident_id}/resolve": "administration of the public status page",
}


def test_every_console_form_has_a_json_twin_or_a_reason(settings, engine, clock):
    found = endpoints(create_app(settings, engine=engine, clock=clock))
    by_name = {str(e): e for e in found}
    # Every POST off the JSON APIs is a form (the settings form reads its fields itself).
    forms = {str(e) for e in found if e.method == "POST" and not e.path.startswith(("/api/", "/v1/"))}
    assert forms == set(TWINS) | set(NO_TWIN), "a console form was added or removed: pair it here"
    assert not set(TWINS) & set(NO_TWIN)
    for form, twin in TWINS.items():
        assert twin in by_name, f"{form}: its twin {twin} is not served"
        # A deployment's forms are the management API's: their twins take a management token.
        if form.startswith("POST /console/deployments"):
            assert by_name[twin].accepts_token, f"{twin} does not take a management token"
        else:
            assert not by_name[twin].accepts_token, f"{twin} must not take a management token"


# -- the doc's operation list is the OpenAPI document's ---------------------------------------------
def _normal(operation: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", operation)


async def test_the_doc_lists_exactly_the_operations_a_token_can_do(client):
    document = (await client.get("/openapi.json")).json()
    with_token = {
        _normal(f"{method.upper()} {path}")
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if any("ManagementToken" in requirement for requirement in operation.get("security", []))
    }
    assert "PATCH /api/deployments/{}" in with_token
    doc = (ROOT / "docs" / "management-api.md").read_text("utf-8")
    section = doc.split("## What a token can do", 1)[1].split("\n## ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    documented = {_normal(m) for m in re.findall(r"`((?:GET|POST|PUT|PATCH|DELETE) /api/[^`\s]+)`", table)}
    assert with_token - documented == set(), "the OpenAPI document's token operations missing from the doc"
    assert documented - with_token == set(), "the doc lists operations a token cannot do"
