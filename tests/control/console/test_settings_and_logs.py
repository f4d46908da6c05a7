"""Routing settings through the form, and the opt-in request log's filters and pagination."""

from __future__ import annotations

import re
import uuid

from modelpilot.control.request_log import PAGE_SIZE
from tests.control import payloads
from tests.control.console.conftest import post_form


async def test_the_settings_form_saves_every_setting(new_tenant):
    tenant = await new_tenant("a@example.com")
    deployment = await tenant.create_deployment()
    path = f"/console/deployments/{deployment}/settings"
    page = await tenant.client.get(path)
    assert page.status_code == 200 and 'value="on" checked' in page.text
    response = await tenant.client.post(
        path,
        data={
            "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1),
            "mode": "shadow",
            "quality_target": "0.9",
            "allowed_models": ["claude-haiku-4-5", "claude-sonnet-4-6"],
            "rule_code": "never",
            "rule_qa": "route",
            "target_qa": "0.97",
            "rule_chat": "default",
            "metadata_logs": "on",
            "log_retention_days": "60",
        },
    )
    assert response.status_code == 303
    saved = (await tenant.client.get(f"/api/deployments/{deployment}/routing")).json()
    assert saved["mode"] == "shadow" and saved["quality_target"] == 0.9
    assert saved["allowed_models"] == ["claude-haiku-4-5", "claude-sonnet-4-6"]
    assert saved["category_rules"] == {
        "code": {"action": "never", "quality_target": None},
        "qa": {"action": "route", "quality_target": 0.97},
    }
    assert saved["metadata_logs"] is True and saved["log_retention_days"] == 60
    again = await tenant.client.get(response.headers["location"])
    assert "Saved." in again.text and 'value="shadow" checked' in again.text


async def test_invalid_settings_are_explained_and_not_saved(new_tenant, settings):
    tenant = await new_tenant("a@example.com")
    deployment = await tenant.create_deployment()
    path = f"/console/deployments/{deployment}/settings"
    too_long = str(settings.max_log_retention_days + 1)
    for data in (
        {"mode": "on", "quality_target": "0.95", "log_retention_days": too_long},
        {"mode": "sometimes", "quality_target": "0.95", "log_retention_days": "30"},
        {"mode": "on", "quality_target": "2", "log_retention_days": "30"},
        {"mode": "on", "quality_target": "high", "log_retention_days": "30"},
        {"mode": "on", "quality_target": "0.95", "log_retention_days": "30", "allowed_models": "gpt-4o"},
    ):
        response = await post_form(tenant.client, path, **data)
        assert response.status_code == 422, data
        assert "Nothing was saved" in response.text
    assert (await tenant.client.get(f"/api/deployments/{deployment}/routing")).json()["mode"] == "on"


def log_record(i: int, **overrides):
    record = payloads.log_batch()["records"][0]
    record.update(ts=f"2026-11-28T10:{i // 60:02d}:{i % 60:02d}Z", **overrides)
    return record


async def test_the_request_log_filters_and_pages(new_tenant, client):
    tenant = await new_tenant("a@example.com")
    deployment = await tenant.create_deployment()
    _, secret = await tenant.create_key(deployment)
    opted_in = await post_form(
        tenant.client,
        f"/console/deployments/{deployment}/settings",
        mode="on",
        quality_target="0.95",
        metadata_logs="on",
        log_retention_days="30",
    )
    assert opted_in.status_code == 303
    records = [log_record(i) for i in range(PAGE_SIZE + 5)]
    records += [log_record(100 + i, category="code", status=500) for i in range(3)]
    response = await client.post(
        "/v1/logs",
        json={"batch_id": str(uuid.uuid4()), "records": records},
        headers={"authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 200, response.text
    path = f"/console/deployments/{deployment}/logs"

    first = (await tenant.client.get(path)).text
    assert (
        first.count('<td data-label="Category">qa</td>') + first.count('<td data-label="Category">code</td>')
        == PAGE_SIZE
    )
    assert 'rel="next" href="?page=2"' in first
    second = (await tenant.client.get(path + "?page=2")).text
    assert (
        second.count('<td data-label="Category">qa</td>')
        + second.count('<td data-label="Category">code</td>')
        == len(records) - PAGE_SIZE
    )
    assert 'rel="next"' not in second and 'rel="prev"' in second

    code = (await tenant.client.get(path + "?category=code")).text
    assert (
        code.count('<td data-label="Category">code</td>') == 3
        and '<td data-label="Category">qa</td>' not in code
    )
    errors = (await tenant.client.get(path + "?errors=on&since=2026-11-28&until=2026-11-28")).text
    assert (
        errors.count('<td data-label="Status">500</td>') == 3
        and '<td data-label="Status">200</td>' not in errors
    )
    assert (await tenant.client.get(path + "?since=2026-11-29")).text.count("No records match.") == 1
    assert (await tenant.client.get(path + "?since=yesterday")).status_code == 422
