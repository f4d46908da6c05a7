"""Issue 15, item 1: no field that reaches storage can carry text. Every string stored from
``/v1/meter``, ``/v1/logs`` and ``/v1/telemetry`` comes from a closed vocabulary (catalog model
ids or ``unknown``, hours, timestamps and telemetry windows near now, decision ids the server
issued to that deployment) and every counter is plausible for the requests it counts; anything else is refused whole with 422 and
nothing of it is stored. The proxy folds a model name outside its catalog to ``unknown`` before it
spools or sends anything (docs/privacy.md)."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import anthropic
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from modelpilot.control.store.tables import IngestedBatch, LogRecord, TelemetryReport, UsageAggregate
from modelpilot.proxy.app import create_app
from modelpilot.proxy.settings import ProxySettings
from tests.control import payloads
from tests.proxy.routing.conftest import Harness
from tests.reliability import canaries
from tests.reliability.scenarios import Scenario, record
from tests.servers import serve

SECRET_MODEL = "claude-acme-merger-with-globex-q3"
# An Anthropic key split over two model-id-shaped names (the attack the issue describes).
KEY_HALVES = ("claude-sk-ant-api03-abcdefgh", "claude-ijklmnop-qrstuvwx")


def stored(engine: Engine) -> tuple[int, int, int, int]:
    """Rows of usage, log records, telemetry windows and claimed batch ids."""
    with Session(engine) as session:
        return tuple(  # type: ignore[return-value]
            int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in (UsageAggregate, LogRecord, TelemetryReport, IngestedBatch)
        )


def log_record(**overrides: Any) -> dict[str, Any]:
    return {**payloads.log_batch()["records"][0], **overrides}


def log_batch(*records: dict[str, Any]) -> dict[str, Any]:
    return {"batch_id": str(uuid.uuid4()), "records": list(records)}


def telemetry_batch(**overrides: Any) -> dict[str, Any]:
    """A telemetry window as a proxy sends it (the test clock is 2026-11-28T12:00Z)."""
    return {**payloads.telemetry_batch(), **overrides}


ATTACKS: dict[str, tuple[str, dict[str, Any]]] = {
    "meter: a model name outside the catalog": (
        "/v1/meter",
        payloads.meter_batch(payloads.meter_row(requested_model=SECRET_MODEL)),
    ),
    "meter: a key split over two model names": (
        "/v1/meter",
        payloads.meter_batch(payloads.meter_row(requested_model=KEY_HALVES[0], served_model=KEY_HALVES[1])),
    ),
    "meter: an hour centuries away": (
        "/v1/meter",
        payloads.meter_batch(payloads.meter_row(hour="2999-07-13T05:00:00Z")),
    ),
    "meter: an hour long before any backlog": (
        "/v1/meter",
        payloads.meter_batch(payloads.meter_row(hour="1970-01-01T00:00:00Z")),
    ),
    "meter: tokens no request could use": (
        "/v1/meter",
        payloads.meter_batch(payloads.meter_row(requests=1, input_tokens=987_654_321_012)),
    ),
    "meter: a cost no request could cost": (
        "/v1/meter",
        payloads.meter_batch(payloads.meter_row(requests=1, actual_cost_micros=9_876_543_210_123)),
    ),
    "meter: more acceptable verdicts than judged": (
        "/v1/meter",
        payloads.meter_batch(payloads.meter_row(judged=1, acceptable=4_242_424)),
    ),
    "logs: a model name outside the catalog": (
        "/v1/logs",
        log_batch(log_record(served_model=SECRET_MODEL)),
    ),
    "logs: a timestamp centuries away": (
        "/v1/logs",
        log_batch(log_record(ts="2999-01-01T00:00:00Z")),
    ),
    "logs: a decision id the server never issued": (
        "/v1/logs",
        log_batch(log_record(decision_id="6b657920-736b-2d61-6e74-2d6170693033")),
    ),
    "logs: tokens no request could use": (
        "/v1/logs",
        log_batch(log_record(input_tokens=999_999_999_999)),
    ),
    "telemetry: a window centuries away": (
        "/v1/telemetry",
        telemetry_batch(window_start="2999-07-13T05:00:00Z"),
    ),
    "telemetry: a window long before any backlog": (
        "/v1/telemetry",
        telemetry_batch(window_start="1900-01-01T00:00:00Z"),
    ),
    "telemetry: a window that ends a day from now": (
        "/v1/telemetry",
        telemetry_batch(window_start="2026-11-28T12:00:00Z", window_s=86_400),
    ),
}


@pytest.fixture
async def tenant_with_logs(new_tenant) -> tuple[Any, str, dict[str, str]]:
    tenant = await new_tenant("vocabulary@example.com")
    deployment = await tenant.create_deployment()
    _, secret = await tenant.create_key(deployment)
    canaries.register(secret)
    settings = (await tenant.client.get(f"/api/deployments/{deployment}/routing")).json()
    opted_in = await tenant.client.put(
        f"/api/deployments/{deployment}/routing",
        json={**settings, "metadata_logs": True},
        headers={"x-csrf-token": tenant.csrf},
    )
    assert opted_in.status_code == 200, opted_in.text
    return tenant, deployment, {"authorization": f"Bearer {secret}"}


async def test_values_outside_the_closed_vocabulary_are_refused_and_nothing_is_stored(
    make_client, settings, tenant_with_logs, engine: Engine, new_tenant
) -> None:
    _, _, headers = tenant_with_logs
    client = make_client(settings)
    refused = 0
    for name, (path, body) in ATTACKS.items():
        response = await client.post(path, json=body, headers=headers)
        assert response.status_code == 422, f"{name}: {response.status_code} {response.text[:200]}"
        assert SECRET_MODEL not in response.text and "sk-ant" not in response.text
        if path == "/v1/telemetry":  # the path is named, the value never echoed
            assert "$.window" in response.text and body["window_start"] not in response.text
        refused += 1
    assert stored(engine) == (0, 0, 0, 0)

    # A decision id issued to another deployment does not pass either.
    other = await new_tenant("other-vocabulary@example.com")
    other_deployment = await other.create_deployment()
    _, other_secret = await other.create_key(other_deployment)
    decided = await client.post(
        "/v1/route", json=payloads.route_request(), headers={"authorization": f"Bearer {other_secret}"}
    )
    foreign_id = decided.json()["decision_id"]
    response = await client.post(
        "/v1/logs", json=log_batch(log_record(decision_id=foreign_id)), headers=headers
    )
    assert response.status_code == 422 and "decision_id" in response.text
    refused += 1
    leaked = sum(stored(engine))
    assert leaked == 0

    # What a proxy really sends is accepted: catalog ids, ``unknown``, an issued decision id.
    own = (await client.post("/v1/route", json=payloads.route_request(), headers=headers)).json()
    good_logs = log_batch(log_record(decision_id=own["decision_id"]), log_record(requested_model="unknown"))
    assert (await client.post("/v1/logs", json=good_logs, headers=headers)).status_code == 200
    good_meter = payloads.meter_batch(payloads.meter_row(), payloads.meter_row(requested_model="unknown"))
    assert (await client.post("/v1/meter", json=good_meter, headers=headers)).status_code == 200
    assert (await client.post("/v1/telemetry", json=telemetry_batch(), headers=headers)).status_code == 200
    assert stored(engine)[:3] == (2, 2, 1)
    record(
        Scenario(
            "attack: data in model ids, hours, windows, decision ids, counters (meter, logs, telemetry)",
            sent=refused,
            succeeded=refused,
            lost=leaked,
            note=f"all refused with 422; {leaked} rows stored",
        )
    )


def test_the_proxy_folds_a_model_name_outside_its_catalog_to_unknown(tmp_path: Path, sim_url: str) -> None:
    spool = tmp_path / "spool.sqlite3"
    settings = ProxySettings(
        upstream_url=sim_url,
        # Nothing listens there: the spool keeps what would be sent, which is what we read.
        control_plane_url="http://127.0.0.1:9",
        control_plane_api_key="mp_live_" + "v" * 43,
        spool_path=str(spool),
        metadata_logs=True,
        flush_interval_s=3600,
    )
    with (
        serve(create_app(settings)) as proxy_url,
        anthropic.Anthropic(base_url=proxy_url, api_key=canaries.ANTHROPIC_KEY, max_retries=0) as sdk,
    ):
        with pytest.raises(anthropic.APIStatusError):
            sdk.messages.create(
                model=SECRET_MODEL, max_tokens=8, messages=[{"role": "user", "content": "hi"}]
            )
        sdk.messages.create(
            model="claude-sonnet-4-6", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
    with closing(sqlite3.connect(f"file:{spool}?mode=ro", uri=True)) as db:
        logs = [body for (body,) in db.execute("SELECT body FROM log_pending")]
        dump = "\n".join(db.iterdump())
    assert len(logs) == 2
    assert SECRET_MODEL not in dump and "acme" not in dump
    assert any('"requested_model":"unknown"' in body for body in logs)
    record(
        Scenario(
            "leak: an SDK call with a made-up model name (metadata logs on)",
            sent=2,
            succeeded=2,
            lost=0,
            note="stored and sent as 'unknown'",
        )
    )


def test_a_made_up_model_name_is_never_asked_about(harness: Harness) -> None:
    """The proxy does not send a model name outside its catalog to ``/v1/route`` either: the
    request passes through unrouted (Anthropic answers it) and the control plane hears nothing."""
    control, url = harness.control_plane()
    proxy = harness.proxy(url)
    with (
        proxy.sdk() as sdk,
        pytest.raises(anthropic.NotFoundError),
    ):
        sdk.messages.create(model=SECRET_MODEL, max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert control.route_calls == 0
    assert all(SECRET_MODEL.encode() not in c.raw() for c in control.captured)
