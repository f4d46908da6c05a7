"""POST /v1/route with the real policy: each mode, settings changes, and the deployment's metered
outcomes moving the decision (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.control import payloads

OPUS = "claude-opus-4-6"


def route_request(difficulty: float = 0.01, **overrides: Any) -> dict[str, Any]:
    body = payloads.route_request(requested_model=OPUS)
    body["features"] = {**body["features"], "difficulty": difficulty}
    body.update(overrides)
    return body


@pytest.fixture
async def proxy(new_tenant):
    """(tenant, deployment id, key headers)."""
    tenant = await new_tenant("policy@example.com")
    deployment = await tenant.create_deployment()
    _, secret = await tenant.create_key(deployment)
    return tenant, deployment, {"authorization": f"Bearer {secret}"}


async def put_settings(tenant, deployment: str, **changes: Any) -> dict[str, Any]:
    current = (await tenant.client.get(f"/api/deployments/{deployment}/routing")).json()
    response = await tenant.client.put(
        f"/api/deployments/{deployment}/routing",
        json={**current, **changes},
        headers={"x-csrf-token": tenant.csrf},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def route(client, headers, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await client.post("/v1/route", json=body or route_request(), headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_each_mode_answers_as_documented(client, proxy):
    tenant, deployment, headers = proxy
    on = await route(client, headers)
    assert (on["model"], on["routed"], on["reason"], on["shadow_model"]) == (
        "claude-haiku-5-5",
        True,
        "cheaper_model",
        None,
    )
    assert on["explanation"].startswith("claude-haiku-5-5 meets the 95% target for code requests")

    await put_settings(tenant, deployment, mode="shadow")
    shadow = await route(client, headers)
    assert (shadow["model"], shadow["routed"], shadow["reason"], shadow["shadow_model"]) == (
        OPUS,
        False,
        "shadow",
        "claude-haiku-5-5",
    )

    await put_settings(tenant, deployment, mode="off")
    off = await route(client, headers)
    assert (off["model"], off["routed"], off["reason"], off["shadow_model"]) == (
        OPUS,
        False,
        "routing_disabled",
        None,
    )
    assert off["explanation"] == "routing is off for this deployment"


async def test_settings_changes_apply_to_the_next_decision(client, proxy):
    tenant, deployment, headers = proxy
    await put_settings(tenant, deployment, category_rules={"code": {"action": "never"}})
    assert (await route(client, headers))["reason"] == "category_rule"
    await put_settings(tenant, deployment, category_rules={}, allowed_models=["claude-sonnet-4-6"], pins={})
    assert (await route(client, headers))["model"] == "claude-sonnet-4-6"
    await put_settings(tenant, deployment, allowed_models=None, pins={OPUS: "claude-sonnet-4-6"})
    pinned = await route(client, headers, route_request(0.9))
    assert (pinned["model"], pinned["reason"]) == ("claude-sonnet-4-6", "pinned")


async def test_metered_escalations_move_the_decision_off_a_failing_model(client, proxy, clock):
    _, _, headers = proxy
    assert (await route(client, headers))["model"] == "claude-haiku-5-5"
    rows = [
        payloads.meter_row(requested_model=OPUS, served_model="claude-haiku-5-5", requests=20),
        # Escalated requests are metered under the requested model, which delivered the answer.
        payloads.meter_row(requested_model=OPUS, served_model=OPUS, escalated=True, requests=30),
    ]
    ack = await client.post("/v1/meter", json=payloads.meter_batch(*rows), headers=headers)
    assert ack.status_code == 200, ack.text
    # Outcomes are read at most once per 30 s per process: the next decision is still the cached view.
    assert (await route(client, headers))["model"] == "claude-haiku-5-5"
    clock.advance(31)
    moved = await route(client, headers)
    assert moved["routed"] is True and moved["model"] != "claude-haiku-5-5"
    assert moved["reason"] == "cheaper_model"

    # Enough good outcomes restore trust in the failing model.
    good = payloads.meter_row(requested_model=OPUS, served_model="claude-haiku-5-5", requests=2000)
    assert (
        await client.post("/v1/meter", json=payloads.meter_batch(good), headers=headers)
    ).status_code == 200
    clock.advance(31)
    restored = await route(client, headers)
    assert restored["model"] == "claude-haiku-5-5"
    assert "outcomes)" in restored["explanation"]


async def test_other_deployments_outcomes_do_not_count(client, proxy, new_tenant, clock):
    _, _, headers = proxy
    other = await new_tenant("neighbour@example.com")
    other_deployment = await other.create_deployment()
    _, other_secret = await other.create_key(other_deployment)
    failing = payloads.meter_row(requested_model=OPUS, served_model=OPUS, escalated=True, requests=500)
    response = await client.post(
        "/v1/meter", json=payloads.meter_batch(failing), headers={"authorization": f"Bearer {other_secret}"}
    )
    assert response.status_code == 200
    clock.advance(31)
    assert (await route(client, headers))["model"] == "claude-haiku-5-5"
    assert (await route(client, {"authorization": f"Bearer {other_secret}"}))["model"] != "claude-haiku-5-5"
