from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelpilot.control.credentials import new_api_key, sha256_hex
from modelpilot.control.store.tables import ApiKey
from tests.control import payloads


def test_keys_are_high_entropy_and_recognisable():
    keys = {new_api_key().secret for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert key.startswith("mp_live_") and len(key) == 51 and key[8:].isalnum()


async def test_a_key_is_shown_once_and_stored_only_as_sha256(new_tenant, engine):
    tenant = await new_tenant("a@example.com")
    deployment = await tenant.create_deployment()
    key_id, secret = await tenant.create_key(deployment, name="laptop")
    listed = (await tenant.client.get(f"/api/deployments/{deployment}/keys")).json()
    assert [(k["id"], k["name"], k["prefix"], k["revoked"]) for k in listed] == [
        (key_id, "laptop", secret[:12], False)
    ]
    assert secret not in str(listed)
    with Session(engine) as session:
        row = session.scalar(select(ApiKey))
        assert row is not None
        assert row.key_hash == sha256_hex(secret)
        assert secret not in {row.key_hash, row.display_prefix, row.name}


async def test_revoked_keys_are_refused(client, new_tenant):
    tenant = await new_tenant("a@example.com")
    deployment = await tenant.create_deployment()
    key_id, secret = await tenant.create_key(deployment)
    _, other_secret = await tenant.create_key(deployment, name="other")
    headers = {"authorization": f"Bearer {secret}"}
    assert (await client.post("/v1/route", json=payloads.route_request(), headers=headers)).status_code == 200
    response = await tenant.client.delete(
        f"/api/deployments/{deployment}/keys/{key_id}", headers={"x-csrf-token": tenant.csrf}
    )
    assert response.status_code == 204
    assert (await client.post("/v1/route", json=payloads.route_request(), headers=headers)).status_code == 401
    other = {"authorization": f"Bearer {other_secret}"}
    assert (await client.post("/v1/route", json=payloads.route_request(), headers=other)).status_code == 200
    listed = (await tenant.client.get(f"/api/deployments/{deployment}/keys")).json()
    assert {k["name"]: k["revoked"] for k in listed} == {"proxy": True, "other": False}


async def test_last_use_is_tracked_at_most_once_a_minute(client, new_tenant, engine, clock):
    tenant = await new_tenant("a@example.com")
    deployment = await tenant.create_deployment()
    _, secret = await tenant.create_key(deployment)
    headers = {"authorization": f"Bearer {secret}"}

    def last_used():
        with Session(engine) as session:
            return session.scalar(select(ApiKey.last_used_at))

    assert last_used() is None
    await client.post("/v1/route", json=payloads.route_request(), headers=headers)
    first = last_used()
    assert first == clock.now
    clock.advance(30)
    await client.post("/v1/route", json=payloads.route_request(), headers=headers)
    assert last_used() == first  # no write within the resolution
    clock.advance(31)
    await client.post("/v1/route", json=payloads.route_request(), headers=headers)
    assert last_used() == clock.now
    listed = (await tenant.client.get(f"/api/deployments/{deployment}/keys")).json()
    assert listed[0]["last_used_at"] is not None
