"""``GET /v1/config``: what a proxy obeys for its deployment, authenticated exactly like
``/v1/route``, with a version that changes on every change to the routing settings."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from modelpilot.control.credentials import sha256_hex
from modelpilot.schema.wire import DeploymentConfig
from tests.control import payloads
from tests.control.conftest import sign_up
from tests.control.test_route_keys import eventually, replicas  # noqa: F401  (a fixture)
from tests.control.test_suspension import make_admin


@pytest.fixture
async def proxy(new_tenant):
    tenant = await new_tenant("config@example.com")
    deployment = await tenant.create_deployment()
    key_id, secret = await tenant.create_key(deployment)
    return tenant, deployment, key_id, {"authorization": f"Bearer {secret}"}


async def config_of(client, headers) -> DeploymentConfig:
    response = await client.get("/v1/config", headers=headers)
    assert response.status_code == 200, response.text
    return DeploymentConfig.model_validate(response.json())


async def put_routing(tenant, deployment, **changes):
    current = (await tenant.client.get(f"/api/deployments/{deployment}/routing")).json()
    return await tenant.client.put(
        f"/api/deployments/{deployment}/routing",
        json={**current, **changes},
        headers={"x-csrf-token": tenant.csrf},
    )


async def test_a_new_deployment_gets_the_defaults(client, proxy):
    _, _, _, headers = proxy
    config = await config_of(client, headers)
    assert config.model_dump(mode="json") == {
        "version": 1,
        "mode": "on",
        "calibration_rate_bps": 200,
        "calibration_daily_cap_micros": 1_000_000,
        "metadata_logs": False,
    }
    secret = headers["authorization"].removeprefix("Bearer ")
    assert await config_of(client, {"x-modelpilot-key": secret}) == config


@pytest.mark.parametrize(
    "headers", [{}, {"authorization": "Bearer mp_live_" + "x" * 43}, {"x-modelpilot-key": "nope"}]
)
async def test_config_needs_a_valid_key(client, headers):
    response = await client.get("/v1/config", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_every_change_bumps_the_version_and_a_save_without_one_does_not(client, proxy):
    tenant, deployment, _, headers = proxy
    seen = [(await config_of(client, headers)).version]
    for changes in (
        {"mode": "shadow"},
        {"calibration_rate_bps": 0},
        {"calibration_daily_cap_micros": 250_000},
        {"metadata_logs": True},
        {"quality_target": 0.9},  # decisions change: proxies drop what they cached
        {"mode": "off"},
    ):
        response = await put_routing(tenant, deployment, **changes)
        assert response.status_code == 200, response.text
        config = await config_of(client, headers)
        assert config.version > seen[-1], changes
        seen.append(config.version)
    assert config.model_dump(mode="json") == {
        "version": seen[-1],
        "mode": "off",
        "calibration_rate_bps": 0,
        "calibration_daily_cap_micros": 250_000,
        "metadata_logs": True,
    }
    assert (await put_routing(tenant, deployment)).status_code == 200
    assert (await config_of(client, headers)).version == seen[-1]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("calibration_rate_bps", -1),
        ("calibration_rate_bps", 10_001),
        ("calibration_rate_bps", 2.5),
        ("calibration_daily_cap_micros", -1),
        ("calibration_daily_cap_micros", 10**13),
    ],
)
async def test_calibration_settings_are_validated(client, proxy, field, value):
    tenant, deployment, _, headers = proxy
    response = await put_routing(tenant, deployment, **{field: value})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert any(field in error["path"] for error in response.json()["errors"])
    assert (await config_of(client, headers)).version == 1


async def test_revocation_and_suspension_answer_like_route(client, proxy, new_tenant, engine):
    tenant, deployment, key_id, headers = proxy
    _, other_secret = await tenant.create_key(deployment, name="other")
    other = {"authorization": f"Bearer {other_secret}"}
    revoked = await tenant.client.delete(
        f"/api/deployments/{deployment}/keys/{key_id}", headers={"x-csrf-token": tenant.csrf}
    )
    assert revoked.status_code == 204
    assert (await client.get("/v1/config", headers=headers)).status_code == 401
    assert (await config_of(client, other)).mode == "on"

    admin = await new_tenant("config-admin@example.com")
    make_admin(engine, "config-admin@example.com")
    csrf = {"x-csrf-token": admin.csrf}
    await admin.client.post(f"/api/admin/accounts/{tenant.account_id}/suspend", headers=csrf)
    suspended = await client.get("/v1/config", headers=other)
    assert suspended.status_code == 403
    assert (
        suspended.status_code
        == (await client.post("/v1/route", json=payloads.route_request(), headers=other)).status_code
    )
    await admin.client.post(f"/api/admin/accounts/{tenant.account_id}/reinstate", headers=csrf)
    assert (await client.get("/v1/config", headers=other)).status_code == 200


async def test_a_change_on_one_replica_shows_on_the_next_request_of_another(make_client, settings, proxy):
    tenant, deployment, _, headers = proxy
    other_replica = make_client(settings)
    assert (await config_of(other_replica, headers)).version == 1
    assert (await put_routing(tenant, deployment, calibration_rate_bps=500)).status_code == 200
    config = await config_of(other_replica, headers)
    assert (config.version, config.calibration_rate_bps) == (2, 500)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_remembered_grants_are_forgotten_on_a_settings_change(replicas) -> None:  # noqa: F811
    """With listeners running (PostgreSQL), config is answered from memory, and a settings change
    on one replica makes the other read the new version."""
    (a, _), (b, b_keys) = replicas
    tenant = await sign_up(a, "config-live@example.com")
    deployment = await tenant.create_deployment()
    _, secret = await tenant.create_key(deployment)
    headers = {"authorization": f"Bearer {secret}"}
    # The key's own creation is announced too: poll until that notification has come and gone
    # and the grant is remembered (the next poll reads nothing).
    for _ in range(500):
        assert (await config_of(b, headers)).version == 1
        if b_keys.get(sha256_hex(secret)) is not None:
            break
        await asyncio.sleep(0.01)
    assert b_keys.get(sha256_hex(secret)) is not None
    before = b_keys.generation
    assert (await put_routing(tenant, deployment, mode="shadow")).status_code == 200
    await eventually(lambda: b_keys.generation != before, "the change to reach the other replica")
    config = await config_of(b, headers)
    assert (config.version, config.mode) == (2, "shadow")
    uuid.UUID(deployment)


async def test_config_is_in_the_openapi_document(client):
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/v1/config"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/DeploymentConfig"
    )
    assert {"401", "403"} <= set(operation["responses"])
    assert "version" in document["components"]["schemas"]["DeploymentConfig"]["properties"]
