from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from modelpilot.control.store.tables import IngestedBatch, LogRecord, TelemetryReport, UsageAggregate
from modelpilot.schema.catalog import load_catalog
from tests.control import payloads


@pytest.fixture
async def proxy(new_tenant):
    """A tenant with a deployment and a key; yields (tenant, deployment id, key headers)."""
    tenant = await new_tenant("ingest@example.com")
    deployment = await tenant.create_deployment()
    _, secret = await tenant.create_key(deployment)
    return tenant, deployment, {"authorization": f"Bearer {secret}"}


def count(engine: Engine, table: type) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


async def test_route_answers_with_the_final_contract(client, proxy):
    _, _, headers = proxy
    response = await client.post("/v1/route", json=payloads.route_request(), headers=headers)
    assert response.status_code == 200, response.text
    decision = response.json()
    assert set(decision) == {
        "decision_id",
        "model",
        "routed",
        "reason",
        "ttl_s",
        "bucket",
        "explanation",
        "shadow_model",
        "candidate_model",
    }
    # A new deployment routes: this easy code request goes to a cheaper catalog model.
    assert decision["routed"] is True
    assert decision["model"] in load_catalog() and decision["model"] != "claude-sonnet-4-5"
    assert decision["reason"] == "cheaper_model"
    assert decision["model"] in decision["explanation"]
    assert decision["shadow_model"] is None
    assert decision["ttl_s"] == 300
    assert decision["bucket"].startswith("code:")
    uuid.UUID(decision["decision_id"])


async def test_route_reports_unknown_models_without_failing(client, proxy):
    _, _, headers = proxy
    response = await client.post(
        "/v1/route", json=payloads.route_request(requested_model="claude-nova-9"), headers=headers
    )
    assert response.status_code == 200
    assert response.json()["reason"] == "unknown_model"


async def test_the_key_may_come_in_x_modelpilot_key(client, proxy):
    _, _, headers = proxy
    secret = headers["authorization"].removeprefix("Bearer ")
    response = await client.post(
        "/v1/route", json=payloads.route_request(), headers={"x-modelpilot-key": secret}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers", [{}, {"authorization": "Bearer mp_live_" + "x" * 43}, {"x-modelpilot-key": "nope"}]
)
async def test_ingestion_needs_a_valid_key(client, headers):
    response = await client.post("/v1/route", json=payloads.route_request(), headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_meter_is_idempotent_on_batch_id(client, proxy, engine):
    tenant, deployment, headers = proxy
    batch = payloads.meter_batch(
        payloads.meter_row(), payloads.meter_row(requests=2, actual_cost_micros=1000)
    )
    first = await client.post("/v1/meter", json=batch, headers=headers)
    again = await client.post("/v1/meter", json=batch, headers=headers)
    assert first.json() == {"batch_id": batch["batch_id"], "accepted": 2, "duplicate": False}
    assert again.json() == {"batch_id": batch["batch_id"], "accepted": 0, "duplicate": True}
    usage = (await tenant.client.get(f"/api/deployments/{deployment}/usage")).json()
    assert len(usage) == 1
    assert usage[0]["requests"] == 5
    assert usage[0]["actual_cost_micros"] == 7000
    assert usage[0]["savings_micros"] == 36000 - 7000
    assert count(engine, IngestedBatch) == 1


async def test_meter_batches_add_up_in_the_same_bucket(client, proxy):
    tenant, deployment, headers = proxy
    for _ in range(3):
        assert (
            await client.post("/v1/meter", json=payloads.meter_batch(), headers=headers)
        ).status_code == 200
    await client.post(
        "/v1/meter", json=payloads.meter_batch(payloads.meter_row(escalated=True)), headers=headers
    )
    usage = (await tenant.client.get(f"/api/deployments/{deployment}/usage")).json()
    assert sorted(row["requests"] for row in usage) == [3, 9]


async def test_telemetry_and_logs_are_stored_once(client, proxy, engine):
    tenant, deployment, headers = proxy
    settings = (await tenant.client.get(f"/api/deployments/{deployment}/routing")).json()
    opted_in = await tenant.client.put(
        f"/api/deployments/{deployment}/routing",
        json={**settings, "metadata_logs": True},
        headers={"x-csrf-token": tenant.csrf},
    )
    assert opted_in.status_code == 200, opted_in.text
    telemetry, logs = payloads.telemetry_batch(), payloads.log_batch()
    for _ in range(2):
        assert (await client.post("/v1/telemetry", json=telemetry, headers=headers)).status_code == 200
        assert (await client.post("/v1/logs", json=logs, headers=headers)).status_code == 200
    assert count(engine, TelemetryReport) == 1
    listed = (await tenant.client.get(f"/api/deployments/{deployment}/logs")).json()
    assert [(r["served_model"], r["latency_ms"]) for r in listed] == [("claude-sonnet-4-5", 840)]


@pytest.mark.parametrize(
    ("path", "body", "offending_path"),
    [
        ("/v1/route", payloads.route_request(prompt="x"), "$.prompt"),
        (
            "/v1/meter",
            payloads.meter_batch(payloads.meter_row(), payloads.meter_row(messages=[])),
            "$.rows[1].messages",
        ),
        ("/v1/logs", {**payloads.log_batch(), "note": "please summarise this contract"}, "$.note"),
        (
            "/v1/telemetry",
            {**payloads.telemetry_batch(), "window_start": "sk-ant-api03-abcdefghijkl"},
            "$.window_start",
        ),
    ],
)
async def test_the_firewall_refuses_content_before_anything_else(
    client, proxy, engine, path, body, offending_path
):
    _, _, headers = proxy
    before = [count(engine, t) for t in (IngestedBatch, UsageAggregate, LogRecord, TelemetryReport)]
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert problem["errors"][0]["path"] == offending_path
    assert "summarise" not in response.text and "sk-ant" not in response.text
    assert [count(engine, t) for t in (IngestedBatch, UsageAggregate, LogRecord, TelemetryReport)] == before


async def test_the_firewall_runs_before_authentication(client):
    response = await client.post("/v1/route", json=payloads.route_request(system="you are a pirate"))
    assert response.status_code == 422
    assert response.json()["errors"] == [{"path": "$.system", "reason": "forbidden field name"}]


async def test_schema_errors_never_echo_the_value(client, proxy):
    _, _, headers = proxy
    body = payloads.route_request(category="classification-of-contracts")
    response = await client.post("/v1/route", json=body, headers=headers)
    assert response.status_code == 422
    assert "contracts" not in response.text
    assert response.json()["errors"][0]["path"] == "$.category"


async def test_invalid_json_is_a_problem(client, proxy):
    _, _, headers = proxy
    response = await client.post(
        "/v1/meter", content=b"{not json", headers={**headers, "content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_aggregates_saturate_instead_of_overflowing(client, proxy):
    tenant, deployment, headers = proxy
    huge = payloads.meter_row(requests=10_000_000, actual_cost_micros=10**13, baseline_cost_micros=10**13)
    batch_rows = [huge] * 1000
    for _ in range(3):
        response = await client.post("/v1/meter", json=payloads.meter_batch(*batch_rows), headers=headers)
        assert response.status_code == 200
    usage = (await tenant.client.get(f"/api/deployments/{deployment}/usage")).json()
    assert usage[0]["actual_cost_micros"] == 3 * 1000 * 10**13


async def test_a_full_bucket_stays_at_the_maximum(client, proxy, engine):
    tenant, deployment, headers = proxy
    await client.post("/v1/meter", json=payloads.meter_batch(), headers=headers)
    with Session(engine) as session:
        row = session.scalar(select(UsageAggregate))
        assert row is not None
        row.actual_cost_micros = 2**63 - 10
        session.commit()
    response = await client.post("/v1/meter", json=payloads.meter_batch(), headers=headers)
    assert response.status_code == 200
    usage = (await tenant.client.get(f"/api/deployments/{deployment}/usage")).json()
    assert usage[0]["actual_cost_micros"] == 2**63 - 1
    assert usage[0]["requests"] == 6


def calibration_row(**overrides):
    """A paired-check row: no request of its own, verdicts on the candidate and their spend."""
    row = payloads.meter_row(
        requests=0,
        input_tokens=0,
        output_tokens=0,
        actual_cost_micros=0,
        baseline_cost_micros=0,
        judged=4,
        acceptable=3,
        calibration_cost_micros=900,
    )
    row.update(overrides)
    return row


async def test_verdicts_and_calibration_spend_are_summed_once(client, proxy, engine):
    tenant, deployment, headers = proxy
    # A calibration row shares its bucket with the routed requests it checked, and one with
    # routed=False (the policy had not chosen the candidate) has its own.
    batch = payloads.meter_batch(payloads.meter_row(), calibration_row(), calibration_row(routed=False))
    first = await client.post("/v1/meter", json=batch, headers=headers)
    again = await client.post("/v1/meter", json=batch, headers=headers)
    more = await client.post(
        "/v1/meter", json=payloads.meter_batch(calibration_row(judged=2, acceptable=2)), headers=headers
    )
    assert [r.status_code for r in (first, again, more)] == [200, 200, 200]
    assert again.json()["duplicate"] is True
    usage = (await tenant.client.get(f"/api/deployments/{deployment}/usage")).json()
    by_routed = {row["routed"]: row for row in usage}
    routed, unrouted = by_routed[True], by_routed[False]
    assert (routed["requests"], routed["judged"], routed["acceptable"]) == (3, 6, 5)
    assert routed["calibration_cost_micros"] == 1800
    # Calibration spend is never actual or baseline cost.
    assert (routed["actual_cost_micros"], routed["baseline_cost_micros"]) == (6000, 18000)
    assert (unrouted["requests"], unrouted["judged"], unrouted["acceptable"]) == (0, 4, 3)
    assert (unrouted["actual_cost_micros"], unrouted["savings_micros"]) == (0, 0)
    assert count(engine, UsageAggregate) == 2


async def test_more_acceptable_than_judged_is_refused(client, proxy, engine):
    """Counters must be plausible (closed vocabulary, issue 15): nothing of the batch is stored."""
    _, _, headers = proxy
    batch = payloads.meter_batch(calibration_row(judged=1, acceptable=2))
    response = await client.post("/v1/meter", json=batch, headers=headers)
    assert response.status_code == 422, response.text
    assert count(engine, UsageAggregate) == 0


@pytest.mark.parametrize("field", ["judged", "acceptable", "calibration_cost_micros"])
@pytest.mark.parametrize("value", [-1, 10**14, 1.5, None])
async def test_verdict_counters_are_checked_like_every_counter(client, proxy, engine, field, value):
    _, _, headers = proxy
    row = calibration_row(judged=5, acceptable=5)
    row[field] = value
    response = await client.post("/v1/meter", json=payloads.meter_batch(row), headers=headers)
    assert response.status_code == 422
    assert any(error["path"].endswith(field) for error in response.json()["errors"])
    assert count(engine, UsageAggregate) == 0


async def test_the_firewall_refuses_content_beside_verdicts(client, proxy, engine):
    _, _, headers = proxy
    row = calibration_row(judge_rationale="The candidate's answer was as good because it said hello")
    response = await client.post("/v1/meter", json=payloads.meter_batch(row), headers=headers)
    assert response.status_code == 422
    assert "hello" not in response.text
    assert count(engine, UsageAggregate) == 0


async def test_a_batch_counted_before_is_a_duplicate_even_once_its_hour_left_the_window(
    client, proxy, clock, engine
):
    # A proxy whose acknowledgement was lost resends the same batch after a long outage: it was
    # counted, so it is acknowledged as a duplicate rather than refused for its (now old) hour.
    _, _, headers = proxy
    batch = payloads.meter_batch(payloads.meter_row(hour="2026-11-28T11:00:00Z"))
    assert (await client.post("/v1/meter", json=batch, headers=headers)).json()["accepted"] == 1
    clock.advance(63 * 86_400)
    again = await client.post("/v1/meter", json=batch, headers=headers)
    assert again.status_code == 200
    assert again.json() == {"batch_id": batch["batch_id"], "accepted": 0, "duplicate": True}
    # The same rows under a new batch id are new, and their hour is now outside the window.
    fresh = await client.post("/v1/meter", json={**batch, "batch_id": str(uuid.uuid4())}, headers=headers)
    assert fresh.status_code == 422
    with Session(engine) as session:
        assert session.scalars(select(UsageAggregate.requests)).all() == [3]
    assert count(engine, IngestedBatch) == 1


async def test_a_refused_batch_names_every_refused_row_and_stores_none(client, proxy, engine):
    _, _, headers = proxy
    bad = [i for i in range(30) if i % 5 != 2]  # 24 of 30 rows: more than any first-few list
    rows = [
        payloads.meter_row(hour="1970-01-01T00:00:00Z" if i in bad else "2026-11-28T11:00:00Z")
        for i in range(30)
    ]
    batch = payloads.meter_batch(*rows)
    response = await client.post("/v1/meter", json=batch, headers=headers)
    assert response.status_code == 422
    paths = [error["path"] for error in response.json()["errors"]]
    assert paths == [f"$.rows[{i}].hour" for i in bad]
    assert count(engine, UsageAggregate) == 0
    # Nothing of it was claimed either: the good rows sent later under this id are counted.
    good = {**batch, "rows": [row for i, row in enumerate(rows) if i not in bad]}
    accepted = await client.post("/v1/meter", json=good, headers=headers)
    assert accepted.json() == {"batch_id": batch["batch_id"], "accepted": 6, "duplicate": False}
