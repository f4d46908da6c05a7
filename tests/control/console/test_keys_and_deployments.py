"""Deployments and keys through the console's forms: create, rename, delete; a key's secret is
shown once; revocation asks first and is refused from the next request on."""

from __future__ import annotations

from tests.control import payloads
from tests.control.conftest import log_in
from tests.control.console.conftest import csrf_of, post_form, secret_in


async def create_deployment(tenant, name: str = "production") -> str:
    response = await post_form(tenant.client, "/console/deployments", name=name)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/console/deployments/") and location.endswith("/keys")
    return location.split("/")[3]


async def test_a_new_deployment_is_listed_and_leads_to_its_keys(new_tenant):
    tenant = await new_tenant("a@example.com")
    deployment_id = await create_deployment(tenant, "production")
    listing = await tenant.client.get("/console/deployments")
    assert "production" in listing.text and f"/console/deployments/{deployment_id}" in listing.text
    keys = await tenant.client.get(f"/console/deployments/{deployment_id}/keys")
    assert keys.status_code == 200 and "No keys yet." in keys.text


async def test_a_key_secret_is_shown_once_and_then_only_its_prefix(new_tenant, client):
    tenant = await new_tenant("a@example.com")
    deployment_id = await create_deployment(tenant)
    keys_path = f"/console/deployments/{deployment_id}/keys"
    posted = await post_form(tenant.client, keys_path, name="laptop")
    # POST, redirect, GET: the page that shows the secret can be reloaded without creating a key.
    assert posted.status_code == 303 and posted.headers["location"] == keys_path
    assert secret_in(posted.text) is None
    created = await tenant.client.get(keys_path)
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    secret = secret_in(created.text)
    assert secret is not None and "shown only this once" in created.text
    # The command that starts a proxy routing and metering through this control plane. This
    # client asks for "test": neither the configured origin (MODELPILOT_PUBLIC_URL, unset here)
    # nor loopback, so the command holds a placeholder and the page says how to fill it in.
    command = (
        f"MODELPILOT_API_KEY={secret} modelpilot proxy --control-plane https://&lt;your control plane&gt;"
    )
    assert command in created.text and "MODELPILOT_PUBLIC_URL" in created.text
    headers = {"authorization": f"Bearer {secret}"}
    assert (await client.post("/v1/route", json=payloads.route_request(), headers=headers)).status_code == 200

    again = await tenant.client.get(f"/console/deployments/{deployment_id}/keys")
    assert secret not in again.text and secret_in(again.text) is None
    assert secret[:12] in again.text and "laptop" in again.text
    api_listing = (await tenant.client.get(f"/api/deployments/{deployment_id}/keys")).json()
    assert api_listing[0]["last_used_at"] is not None
    assert "never" not in again.text.split("laptop", 1)[1].split("</tr>", 1)[0]


async def test_revoking_asks_first_and_then_refuses_the_key(new_tenant, client):
    tenant = await new_tenant("a@example.com")
    deployment_id = await create_deployment(tenant)
    await post_form(tenant.client, f"/console/deployments/{deployment_id}/keys", name="laptop")
    secret = secret_in((await tenant.client.get(f"/console/deployments/{deployment_id}/keys")).text)
    key_id = (await tenant.client.get(f"/api/deployments/{deployment_id}/keys")).json()[0]["id"]
    confirm = await tenant.client.get(f"/console/deployments/{deployment_id}/keys/{key_id}/revoke")
    assert confirm.status_code == 200 and "fail open" in confirm.text
    revoked = await post_form(tenant.client, f"/console/deployments/{deployment_id}/keys/{key_id}/revoke")
    assert revoked.status_code == 303
    headers = {"authorization": f"Bearer {secret}"}
    assert (await client.post("/v1/route", json=payloads.route_request(), headers=headers)).status_code == 401
    listing = await tenant.client.get(f"/console/deployments/{deployment_id}/keys")
    assert "revoked" in listing.text
    # A revoked key has no revoke page any more.
    gone = await tenant.client.get(f"/console/deployments/{deployment_id}/keys/{key_id}/revoke")
    assert gone.status_code == 404


async def test_rename_and_delete_a_deployment(new_tenant):
    tenant = await new_tenant("a@example.com")
    deployment_id = await create_deployment(tenant, "staging")
    renamed = await post_form(tenant.client, f"/console/deployments/{deployment_id}/rename", name="prod-eu")
    assert renamed.status_code == 303
    assert "prod-eu" in (await tenant.client.get("/console/deployments")).text

    wrong = await post_form(
        tenant.client, f"/console/deployments/{deployment_id}/delete", confirmation="staging"
    )
    assert wrong.status_code == 422
    assert (await tenant.client.get(f"/console/deployments/{deployment_id}")).status_code == 200

    deleted = await post_form(
        tenant.client, f"/console/deployments/{deployment_id}/delete", confirmation="prod-eu"
    )
    assert deleted.status_code == 303
    assert (await tenant.client.get(f"/console/deployments/{deployment_id}")).status_code == 404
    assert (await tenant.client.get("/api/deployments")).json() == []


async def test_blank_names_are_refused(new_tenant):
    tenant = await new_tenant("a@example.com")
    response = await post_form(tenant.client, "/console/deployments", name="   ")
    assert response.status_code == 422
    assert (await tenant.client.get("/api/deployments")).json() == []
    assert await csrf_of(tenant.client, "/console/deployments")


async def test_reloading_the_new_key_page_creates_no_second_key(new_tenant):
    tenant = await new_tenant("a@example.com")
    deployment_id = await create_deployment(tenant)
    keys_path = f"/console/deployments/{deployment_id}/keys"
    await post_form(tenant.client, keys_path, name="laptop")
    shown = await tenant.client.get(keys_path)
    reloaded = await tenant.client.get(keys_path)
    assert secret_in(shown.text) is not None and secret_in(reloaded.text) is None
    assert len((await tenant.client.get(f"/api/deployments/{deployment_id}/keys")).json()) == 1
    # The keys table says a live key is active; revoking is its own column.
    row = reloaded.text.split("laptop", 1)[1].split("</tr>", 1)[0]
    assert ">active<" in row and "Revoke" in row


async def test_a_new_secret_is_shown_only_to_the_session_that_created_it(new_tenant, make_client, settings):
    alice = await new_tenant("a@example.com")
    deployment_id = await create_deployment(alice)
    keys_path = f"/console/deployments/{deployment_id}/keys"
    posted = await post_form(alice.client, keys_path, name="laptop")
    cookie = posted.cookies.get("mp_new_key")
    assert cookie is not None
    # The same cookie replayed in another session of the same account (another browser).
    other = make_client(settings)
    assert (await log_in(other, "a@example.com")).status_code == 303
    other.cookies.set("mp_new_key", cookie, path=keys_path)
    page = await other.get(keys_path)
    assert page.status_code == 200 and "laptop" in page.text
    assert secret_in(page.text) is None
