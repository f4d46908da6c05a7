"""Issue 16, item 12: the management API. An account's token (``mp_mgmt_...``, shown once, only
its hash stored) does what the console does for that account's deployments, keys, settings and
usage, with no session and no CSRF token; nothing else accepts it, and nothing else is it."""

from __future__ import annotations

import csv
import io
import re

from click.testing import CliRunner
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from modelpilot.cli import main
from modelpilot.control.credentials import sha256_hex
from modelpilot.control.store.engine import create_db_engine
from modelpilot.control.store.tables import Account, ManagementToken
from tests.control import payloads
from tests.control.conftest import Tenant, csrf_from


def bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


async def api_token(tenant: Tenant, name: str = "ci") -> tuple[str, str]:
    response = await tenant.client.post(
        "/api/tokens", json={"name": name}, headers={"x-csrf-token": tenant.csrf}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["token"]["id"]), str(response.json()["secret"])


async def test_a_token_does_what_the_console_does_without_session_or_csrf(new_tenant, make_client, settings):
    owner = await new_tenant("mgmt-owner@example.com")
    _, secret = await api_token(owner)
    assert re.fullmatch(r"mp_mgmt_[0-9A-Za-z]{43}", secret)
    script = make_client(settings)  # no cookie jar of a browser: only the token
    auth = bearer(secret)

    created = await script.post("/api/deployments", json={"name": "from-ci"}, headers=auth)
    assert created.status_code == 201, created.text
    deployment = created.json()["id"]
    assert [d["name"] for d in (await script.get("/api/deployments", headers=auth)).json()] == ["from-ci"]

    key = await script.post(f"/api/deployments/{deployment}/keys", json={"name": "proxy"}, headers=auth)
    assert key.status_code == 201 and key.json()["secret"].startswith("mp_live_")
    key_id, key_secret = key.json()["key"]["id"], key.json()["secret"]
    assert [
        k["id"] for k in (await script.get(f"/api/deployments/{deployment}/keys", headers=auth)).json()
    ] == [key_id]

    routing = (await script.get(f"/api/deployments/{deployment}/routing", headers=auth)).json()
    changed = await script.put(
        f"/api/deployments/{deployment}/routing", json={**routing, "quality_target": 0.9}, headers=auth
    )
    assert changed.status_code == 200 and changed.json()["quality_target"] == 0.9

    metered = await script.post("/v1/meter", json=payloads.meter_batch(), headers=bearer(key_secret))
    assert metered.status_code == 200
    usage = await script.get(f"/api/deployments/{deployment}/usage", headers=auth)
    assert [row["requests"] for row in usage.json()] == [3]
    exported = await script.get(f"/api/deployments/{deployment}/usage.csv", headers=auth)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [row["requests"] for row in rows] == ["3"]

    revoked = await script.delete(f"/api/deployments/{deployment}/keys/{key_id}", headers=auth)
    assert revoked.status_code == 204
    assert (
        await script.post("/v1/meter", json=payloads.meter_batch(), headers=bearer(key_secret))
    ).status_code == 401

    deleted = await script.delete(f"/api/deployments/{deployment}", headers=auth)
    assert deleted.status_code == 204
    assert (await script.get("/api/deployments", headers=auth)).json() == []
    # The browser session sees the same account.
    assert (await owner.client.get("/api/deployments")).json() == []


async def test_only_a_live_token_of_a_live_account_gets_in(new_tenant, make_client, settings, engine, clock):
    owner = await new_tenant("mgmt-live@example.com")
    token_id, secret = await api_token(owner)
    script = make_client(settings)
    assert (await script.get("/api/deployments", headers=bearer(secret))).status_code == 200

    # A session changes need its CSRF token; a token's do not (no browser sends it on its own).
    assert (await owner.client.post("/api/deployments", json={"name": "x"})).status_code == 403

    with Session(engine) as db:
        db.execute(update(Account).where(Account.email == owner.email).values(suspended_at=clock()))
        db.commit()
    suspended = await script.get("/api/deployments", headers=bearer(secret))
    assert suspended.status_code == 403 and suspended.headers["content-type"] == "application/problem+json"
    with Session(engine) as db:
        db.execute(update(Account).where(Account.email == owner.email).values(suspended_at=None))
        db.commit()
    assert (await script.get("/api/deployments", headers=bearer(secret))).status_code == 200

    # Revoked (by the session; a token cannot manage tokens): refused from the next request.
    assert (await script.delete(f"/api/tokens/{token_id}", headers=bearer(secret))).status_code == 401
    assert (
        await owner.client.delete(f"/api/tokens/{token_id}", headers={"x-csrf-token": owner.csrf})
    ).status_code == 204
    refused = await script.get("/api/deployments", headers=bearer(secret))
    assert refused.status_code == 401 and refused.json()["detail"] == "a valid management token is required"
    # A bad token is a 401 even beside a good session cookie: the token is what was meant.
    assert (await owner.client.get("/api/deployments", headers=bearer(secret))).status_code == 401


async def test_tokens_and_deployment_keys_are_not_interchangeable(new_tenant, make_client, settings):
    owner = await new_tenant("mgmt-kinds@example.com")
    _, secret = await api_token(owner)
    deployment = await owner.create_deployment()
    _, key = await owner.create_key(deployment)
    script = make_client(settings)

    assert (await script.get("/api/deployments", headers=bearer(key))).status_code == 401
    assert (
        await script.get(f"/api/deployments/{deployment}/keys", headers={"x-modelpilot-key": key})
    ).status_code == 401
    for path, payload in (("/v1/route", payloads.route_request()), ("/v1/meter", payloads.meter_batch())):
        assert (await script.post(path, json=payload, headers=bearer(secret))).status_code == 401, path
        assert (
            await script.post(path, json=payload, headers={"x-modelpilot-key": secret})
        ).status_code == 401
    assert (await script.get("/v1/config", headers=bearer(secret))).status_code == 401
    # Neither the session endpoint, token management nor administration takes a token.
    for method, path in (("GET", "/api/session"), ("GET", "/api/tokens"), ("POST", "/api/tokens")):
        response = await script.request(method, path, headers=bearer(secret), json={"name": "x"})
        assert response.status_code == 401, path


async def test_a_token_reaches_only_its_own_account(new_tenant, make_client, settings):
    alice = await new_tenant("mgmt-alice@example.com")
    mallory = await new_tenant("mgmt-mallory@example.com")
    deployment = await alice.create_deployment()
    key_id, _ = await alice.create_key(deployment)
    _, stolen_elsewhere = await api_token(mallory)
    script = make_client(settings)
    auth = bearer(stolen_elsewhere)
    assert (await script.get("/api/deployments", headers=auth)).json() == []
    for method, path in (
        ("GET", f"/api/deployments/{deployment}"),
        ("GET", f"/api/deployments/{deployment}/keys"),
        ("POST", f"/api/deployments/{deployment}/keys"),
        ("DELETE", f"/api/deployments/{deployment}/keys/{key_id}"),
        ("GET", f"/api/deployments/{deployment}/routing"),
        ("GET", f"/api/deployments/{deployment}/usage"),
        ("GET", f"/api/deployments/{deployment}/usage.csv"),
        ("DELETE", f"/api/deployments/{deployment}"),
    ):
        response = await script.request(method, path, headers=auth, json={"name": "x"})
        assert response.status_code == 404, f"{method} {path}"
    assert [d["id"] for d in (await alice.client.get("/api/deployments")).json()] == [deployment]


async def test_the_console_page_creates_shows_once_lists_and_revokes(
    new_tenant, make_client, settings, engine
):
    owner = await new_tenant("mgmt-page@example.com")
    account = await owner.client.get("/account")
    assert 'href="/account/tokens"' in account.text
    page = await owner.client.get("/account/tokens")
    assert page.status_code == 200 and "No tokens yet." in page.text
    created = await owner.client.post(
        "/account/tokens", data={"name": "terraform", "csrf_token": csrf_from(page.text)}
    )
    assert (created.status_code, created.headers["location"]) == (303, "/account/tokens")
    shown = await owner.client.get("/account/tokens")
    secret = re.search(r'data-testid="new-token"', shown.text) and re.search(
        r'value="(mp_mgmt_\w+)"', shown.text
    )
    assert secret, shown.text
    again = await owner.client.get("/account/tokens")  # a reload shows it no more, creates nothing
    assert secret.group(1) not in again.text and "terraform" in again.text
    with Session(engine) as db:
        rows = db.scalars(select(ManagementToken)).all()
        assert [(r.name, r.token_hash) for r in rows] == [("terraform", sha256_hex(secret.group(1)))]
        token_id = rows[0].id

    script = make_client(settings)
    assert (await script.get("/api/deployments", headers=bearer(secret.group(1)))).status_code == 200
    forged = await owner.client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    revoked = await owner.client.post(
        f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf_from(again.text)}
    )
    assert revoked.status_code == 303
    assert "revoked" in (await owner.client.get("/account/tokens")).text
    assert (await script.get("/api/deployments", headers=bearer(secret.group(1)))).status_code == 401


def test_the_admin_cli_creates_lists_and_revokes_tokens(db_url):
    def admin(*args: str, stdin: str | None = None) -> str:
        result = CliRunner().invoke(
            main, ["admin", "--database-url", db_url, *args], input=stdin, catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        return result.stdout.strip()

    admin("create-account", "mgmt-cli@example.com", "--password-stdin", stdin="long enough password\n")
    secret = admin("create-token", "mgmt-cli@example.com", "ci")
    assert secret.startswith("mp_mgmt_")
    listing = admin("list-tokens", "mgmt-cli@example.com")
    assert secret[:12] in listing and "ci" in listing and "active" in listing and secret not in listing
    token_id = listing.split("\t")[0]
    assert admin("revoke-token", "mgmt-cli@example.com", token_id) == "revoked"
    assert "revoked" in admin("list-tokens", "mgmt-cli@example.com")
    engine = create_db_engine(db_url)
    try:
        with Session(engine) as db:
            assert db.scalar(select(ManagementToken.token_hash)) == sha256_hex(secret)
    finally:
        engine.dispose()


async def test_the_openapi_document_describes_the_token_and_its_operations(client):
    document = (await client.get("/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["ManagementToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["ManagementToken"]["description"],
    }
    assert "mp_mgmt_" in schemes["ManagementToken"]["description"]

    def schemes_of(method: str, path: str) -> set[str]:
        return {name for requirement in document["paths"][path][method]["security"] for name in requirement}

    for method, path in (
        ("get", "/api/deployments"),
        ("post", "/api/deployments"),
        ("patch", "/api/deployments/{deployment_id}"),
        ("delete", "/api/deployments/{deployment_id}"),
        ("get", "/api/deployments/{deployment_id}/keys"),
        ("post", "/api/deployments/{deployment_id}/keys"),
        ("delete", "/api/deployments/{deployment_id}/keys/{key_id}"),
        ("get", "/api/deployments/{deployment_id}/routing"),
        ("put", "/api/deployments/{deployment_id}/routing"),
        ("get", "/api/deployments/{deployment_id}/usage"),
        ("get", "/api/deployments/{deployment_id}/usage.csv"),
    ):
        assert "ManagementToken" in schemes_of(method, path), f"{method} {path}"
    for method, path in (("get", "/api/session"), ("post", "/api/tokens"), ("post", "/v1/meter")):
        assert "ManagementToken" not in schemes_of(method, path), f"{method} {path}"
