"""Why was this routed? The request log shows the decision's reason and the escalation's, in the
console, the JSON API and the CSV export (issue 16, item 11)."""

from __future__ import annotations

import csv
import io
import uuid

from tests.control import payloads
from tests.control.console.conftest import post_form
from tests.control.console.test_settings_and_logs import log_record


async def test_the_request_log_says_why_each_request_was_routed_and_escalated(new_tenant, client):
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
    # Decision ids are only ones this control plane issued to the deployment (closed vocabulary).
    issued = []
    for _ in range(2):
        decided = await client.post(
            "/v1/route", json=payloads.route_request(), headers={"authorization": f"Bearer {secret}"}
        )
        assert decided.status_code == 200, decided.text
        issued.append(decided.json()["decision_id"])
    records = [
        log_record(1, decision_id=issued[0], decision_reason="cheaper_model"),
        log_record(
            2,
            served_model="claude-opus-4-5",
            escalated=True,
            decision_id=issued[1],
            decision_reason="cheaper_model",
            escalation_reason="rate_limited",
        ),
        log_record(3, routed=False, served_model="claude-opus-4-5", decision_reason="category_rule"),
    ]
    sent = await client.post(
        "/v1/logs",
        json={"batch_id": str(uuid.uuid4()), "records": records},
        headers={"authorization": f"Bearer {secret}"},
    )
    assert sent.status_code == 200, sent.text

    page = (await tenant.client.get(f"/console/deployments/{deployment}/logs")).text
    assert '<th scope="col">Why</th><th scope="col">Escalated</th>' in page
    assert (
        page.count('<td data-label="Why">cheaper model</td>') == 2
        and '<td data-label="Why">category rule</td>' in page
    )
    assert '<td data-label="Escalated">yes: rate limited</td>' in page

    listed = (await tenant.client.get(f"/api/deployments/{deployment}/logs")).json()
    reasons = {(r["decision_reason"], r["escalation_reason"]) for r in listed}
    assert reasons == {("cheaper_model", None), ("cheaper_model", "rate_limited"), ("category_rule", None)}

    exported = await tenant.client.get(f"/api/deployments/{deployment}/logs.csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {(r["decision_reason"], r["escalation_reason"]) for r in rows} == {
        ("cheaper_model", ""),
        ("cheaper_model", "rate_limited"),
        ("category_rule", ""),
    }


async def test_a_reason_outside_the_vocabulary_is_refused(new_tenant, client):
    tenant = await new_tenant("a@example.com")
    deployment = await tenant.create_deployment()
    _, secret = await tenant.create_key(deployment)
    sent = await client.post(
        "/v1/logs",
        json={
            "batch_id": str(uuid.uuid4()),
            "records": [log_record(1, escalation_reason="the answer said no")],
        },
        headers={"authorization": f"Bearer {secret}"},
    )
    assert sent.status_code == 422
