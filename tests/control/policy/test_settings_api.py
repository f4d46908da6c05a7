"""GET/PUT /api/deployments/{id}/routing: the console's routing settings, scoped and validated."""

from __future__ import annotations

import pytest

from modelpilot.control.policy.settings import RoutingSettings


async def test_new_deployments_have_default_settings_that_round_trip(new_tenant):
    tenant = await new_tenant("settings@example.com")
    deployment = await tenant.create_deployment()
    response = await tenant.client.get(f"/api/deployments/{deployment}/routing")
    assert response.status_code == 200, response.text
    assert RoutingSettings.model_validate(response.json()) == RoutingSettings()

    wanted = {
        "mode": "shadow",
        "quality_target": 0.9,
        "allowed_models": ["claude-haiku-4-5-20251001", "claude-sonnet-4-6"],
        "category_rules": {"code": {"action": "never"}, "qa": {"action": "route", "quality_target": 0.8}},
        "pins": {"claude-opus-4-5": "claude-sonnet-4-6"},
        "metadata_logs": True,
        "log_retention_days": 7,
    }
    put = await tenant.client.put(
        f"/api/deployments/{deployment}/routing", json=wanted, headers={"x-csrf-token": tenant.csrf}
    )
    assert put.status_code == 200, put.text
    stored = (await tenant.client.get(f"/api/deployments/{deployment}/routing")).json()
    assert stored == put.json()
    assert stored["allowed_models"] == ["claude-haiku-4-5", "claude-sonnet-4-6"]  # aliases canonicalised
    assert stored["category_rules"]["code"] == {"action": "never", "quality_target": None}
    assert stored["mode"] == "shadow"
    listed = (await tenant.client.get(f"/api/deployments/{deployment}")).json()
    assert listed["routing_mode"] == "shadow"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"allowed_models": ["claude-nova-9"]}, "$.allowed_models[0]"),
        ({"pins": {"claude-opus-4-5": "claude-mythos-preview"}}, "$.pins.claude-opus-4-5"),
        ({"log_retention_days": 366}, "$.log_retention_days"),
    ],
)
async def test_settings_that_disagree_with_the_catalog_are_refused(new_tenant, change, path):
    tenant = await new_tenant("invalid@example.com")
    deployment = await tenant.create_deployment()
    body = RoutingSettings().model_dump() | change
    response = await tenant.client.put(
        f"/api/deployments/{deployment}/routing", json=body, headers={"x-csrf-token": tenant.csrf}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert path in [error["path"] for error in response.json()["errors"]]
    assert (await tenant.client.get(f"/api/deployments/{deployment}/routing")).json()["mode"] == "on"


@pytest.mark.parametrize(
    "change", [{"mode": "auto"}, {"quality_target": 0.2}, {"surprise": 1}, {"category_rules": {"poetry": {}}}]
)
async def test_malformed_settings_are_refused_by_schema(new_tenant, change):
    tenant = await new_tenant("schema@example.com")
    deployment = await tenant.create_deployment()
    response = await tenant.client.put(
        f"/api/deployments/{deployment}/routing",
        json=RoutingSettings().model_dump() | change,
        headers={"x-csrf-token": tenant.csrf},
    )
    assert response.status_code == 422


async def test_settings_need_csrf_and_stay_within_the_tenant(new_tenant):
    owner = await new_tenant("owner@example.com")
    other = await new_tenant("other@example.com")
    deployment = await owner.create_deployment()
    body = RoutingSettings(mode="off").model_dump()
    no_csrf = await owner.client.put(f"/api/deployments/{deployment}/routing", json=body)
    assert no_csrf.status_code == 403
    assert (await other.client.get(f"/api/deployments/{deployment}/routing")).status_code == 404
    foreign = await other.client.put(
        f"/api/deployments/{deployment}/routing", json=body, headers={"x-csrf-token": other.csrf}
    )
    assert foreign.status_code == 404
    assert (await owner.client.get(f"/api/deployments/{deployment}/routing")).json()["mode"] == "on"
