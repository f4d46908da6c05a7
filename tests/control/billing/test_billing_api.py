from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from modelpilot.control import billing
from modelpilot.control.http import exports as billing_http
from tests.control import payloads
from tests.control.billing.seed import add_usage
from tests.control.conftest import make_settings

NOV = datetime(2026, 11, 10, 9, tzinfo=UTC)


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
async def tenant(new_tenant, engine):
    """A tenant with two deployments and November usage; another tenant with usage of its own."""
    tenant = await new_tenant("billing@example.com")
    prod = uuid.UUID(await tenant.create_deployment("prod"))
    dev = uuid.UUID(await tenant.create_deployment("dev"))
    add_usage(engine, prod, NOV, actual=1_250_000, baseline=3_000_000, requests=10)
    add_usage(engine, dev, NOV, actual=700_000, baseline=500_000, requests=2, escalated=True)
    add_usage(
        engine,
        dev,
        NOV + timedelta(hours=1),
        actual=400,
        baseline=400,
        requests=4,
        routed=False,
        served="claude-sonnet-4-5",
        shadow_requests=2,
        shadow_cost_micros=40,
    )
    stranger = await new_tenant("stranger@example.com")
    add_usage(engine, uuid.UUID(await stranger.create_deployment("theirs")), NOV, actual=1, baseline=10**9)
    return tenant, prod, dev, stranger


async def test_month_to_date_bill_per_deployment(tenant):
    tenant, prod, dev, _ = tenant
    response = await tenant.client.get("/api/billing")
    assert response.status_code == 200, response.text
    bill = response.json()
    assert (bill["month"], bill["is_final"], bill["fee_share_bps"]) == ("2026-11", False, 2000)
    # net = 1,750,000 - 200,000 + 0 = 1,550,000; fee 20% = 310,000, all on prod (dev lost money).
    assert (bill["requests"], bill["net_savings_micros"], bill["fee_micros"]) == (16, 1_550_000, 310_000)
    lines = {line["deployment_name"]: line for line in bill["lines"]}
    assert (lines["prod"]["fee_micros"], lines["dev"]["fee_micros"]) == (310_000, 0)
    assert lines["dev"]["net_savings_micros"] == -200_000
    # Shadow: 2 of 4 requests, estimated 200 actual - 40 shadow = 160 would-have-saved, not billed.
    assert (bill["shadow_requests"], bill["would_save_micros"]) == (2, 160)
    assert (await tenant.client.get("/api/billing?month=2026-10")).json()["requests"] == 0


async def test_invoices_json_and_csv(tenant, engine, clock):
    tenant, _, _, stranger = tenant
    with Session(engine) as db:
        billing.issue_due_invoices(db, make_settings("sqlite://"), now=datetime(2026, 12, 3, tzinfo=UTC))
    clock.now = datetime(2026, 12, 3, tzinfo=UTC)
    listed = (await tenant.client.get("/api/billing/invoices")).json()
    assert [(i["month"], i["fee_micros"]) for i in listed] == [("2026-11", 310_000)]
    invoice_id = listed[0]["id"]
    one = (await tenant.client.get(f"/api/billing/invoices/{invoice_id}")).json()
    assert sorted((line["deployment_name"], line["fee_micros"]) for line in one["lines"]) == [
        ("dev", 0),
        ("prod", 310_000),
    ]
    final = (await tenant.client.get("/api/billing?month=2026-11")).json()
    assert (final["is_final"], final["invoice_id"]) == (True, invoice_id)

    response = await tenant.client.get(f"/api/billing/invoices/{invoice_id}.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = rows_of(response.text)
    assert [row["deployment_name"] for row in rows] == ["dev", "prod", "TOTAL"]
    total = rows[-1]
    assert (total["fee_usd"], total["fee_micros"], total["net_savings_usd"]) == (
        "0.310000",
        "310000",
        "1.550000",
    )
    assert rows[0]["net_savings_usd"] == "-0.200000"
    every = rows_of((await tenant.client.get("/api/billing/invoices.csv")).text)
    assert every == rows

    # Another tenant sees a 404 problem, not the invoice.
    for path in (f"/api/billing/invoices/{invoice_id}", f"/api/billing/invoices/{invoice_id}.csv"):
        refused = await stranger.client.get(path)
        assert refused.status_code == 404
        assert refused.headers["content-type"] == "application/problem+json"


async def test_usage_csv_is_filtered_and_paged(tenant, engine, monkeypatch):
    tenant, prod, _, _ = tenant
    for day in range(1, 8):
        add_usage(engine, prod, datetime(2026, 10, day, 5, tzinfo=UTC), actual=day, baseline=10 * day)
    monkeypatch.setattr(billing_http, "_PAGE", 2)  # several pages of two rows each
    response = await tenant.client.get(f"/api/deployments/{prod}/usage.csv?from=2026-10-02&to=2026-10-06")
    assert response.status_code == 200, response.text
    rows = rows_of(response.text)
    assert [row["hour"][:10] for row in rows] == [f"2026-10-0{d}" for d in range(2, 7)]
    assert [(row["actual_cost_micros"], row["actual_cost_usd"]) for row in rows][0] == ("2", "0.000002")
    assert all(int(r["net_savings_micros"]) == 9 * int(r["actual_cost_micros"]) for r in rows)
    everything = rows_of((await tenant.client.get(f"/api/deployments/{prod}/usage.csv")).text)
    assert len(everything) == 8
    assert tuple(everything[0]) == billing_http.USAGE_COLUMNS


async def test_csv_exports_refuse_bad_dates_and_strangers(tenant):
    tenant, prod, _, stranger = tenant
    backwards = await tenant.client.get(f"/api/deployments/{prod}/usage.csv?from=2026-11-11&to=2026-11-01")
    assert (backwards.status_code, rows_of(backwards.text)) == (200, [])
    bad = await tenant.client.get(f"/api/deployments/{prod}/usage.csv?from=yesterday")
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    for path in (f"/api/deployments/{prod}/usage.csv", f"/api/deployments/{prod}/logs.csv"):
        assert (await stranger.client.get(path)).status_code == 404
    assert (await tenant.client.get("/api/billing?month=2026-13")).status_code == 422


async def test_logs_are_stored_only_when_the_deployment_opted_in(tenant, client):
    tenant, prod, _, _ = tenant
    _, secret = await tenant.create_key(str(prod))
    headers = {"authorization": f"Bearer {secret}"}
    off = await client.post("/v1/logs", json=payloads.log_batch(), headers=headers)
    assert off.status_code == 200
    assert (off.json()["accepted"], off.json()["duplicate"]) == (0, False)
    assert rows_of((await tenant.client.get(f"/api/deployments/{prod}/logs.csv")).text) == []

    enabled = await tenant.client.put(
        f"/api/deployments/{prod}/routing",
        json={"metadata_logs": True},
        headers={"x-csrf-token": tenant.csrf},
    )
    assert enabled.status_code == 200, enabled.text
    on = await client.post("/v1/logs", json=payloads.log_batch(), headers=headers)
    assert on.json()["accepted"] == 1
    rows = rows_of((await tenant.client.get(f"/api/deployments/{prod}/logs.csv")).text)
    assert [(r["served_model"], r["status"], r["cost_usd"], r["latency_ms"]) for r in rows] == [
        ("claude-sonnet-4-5", "200", "0.000700", "840")
    ]
    assert tuple(rows[0]) == billing_http.LOG_COLUMNS


def test_dollars_are_exact():
    assert billing_http.dollars(0) == "0.000000"
    assert billing_http.dollars(-1_500_000) == "-1.500000"
    assert billing_http.dollars(2**63 - 1) == "9223372036854.775807"


def test_free_text_cells_are_defused_for_spreadsheets():
    assert billing_http.spreadsheet_safe('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert billing_http.spreadsheet_safe("@SUM(A1)") == "'@SUM(A1)"
    assert billing_http.spreadsheet_safe("prod") == "prod"


async def test_bill_json_and_usage_csv_carry_verdicts_and_calibration_spend_apart(tenant, engine):
    tenant, prod, _, _ = tenant
    before = (await tenant.client.get("/api/billing")).json()
    add_usage(
        engine,
        prod,
        NOV,
        actual=0,
        baseline=0,
        requests=0,
        routed=False,
        judged=40,
        acceptable=38,
        calibration_cost_micros=123_456,
    )
    bill = (await tenant.client.get("/api/billing")).json()
    assert (bill["judged"], bill["acceptable"], bill["calibration_cost_micros"]) == (40, 38, 123_456)
    for money in ("actual_cost_micros", "baseline_cost_micros", "net_savings_micros", "fee_micros"):
        assert bill[money] == before[money]
    lines = {line["deployment_name"]: line for line in bill["lines"]}
    assert (lines["prod"]["judged"], lines["prod"]["calibration_cost_micros"]) == (40, 123_456)
    exported = rows_of((await tenant.client.get(f"/api/deployments/{prod}/usage.csv")).text)
    calibration = [row for row in exported if row["requests"] == "0"]
    assert len(calibration) == 1
    row = calibration[0]
    assert (row["judged"], row["acceptable"]) == ("40", "38")
    assert (row["calibration_cost_usd"], row["calibration_cost_micros"]) == ("0.123456", "123456")
    assert (row["actual_cost_micros"], row["net_savings_micros"]) == ("0", "0")
