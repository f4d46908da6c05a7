"""Measured quality beside the savings (paired-check verdicts with a 95 % interval against the
deployment's target, calibration spend apart) and shadow mode's "would have saved"."""

from __future__ import annotations

import re

import pytest

from modelpilot.control.http.charts import format_usd
from modelpilot.control.quality import measure, percent, wilson_interval
from tests.control import payloads
from tests.control.console.conftest import post_form
from tests.control.console.test_dashboard import kpi


def calibration_row(judged: int, acceptable: int, cost: int, **overrides):
    return payloads.meter_row(
        requests=0,
        input_tokens=0,
        output_tokens=0,
        actual_cost_micros=0,
        baseline_cost_micros=0,
        judged=judged,
        acceptable=acceptable,
        calibration_cost_micros=cost,
        **overrides,
    )


async def metered(new_tenant, client, *rows, email="q@example.com", name="production"):
    tenant = await new_tenant(email)
    deployment = await tenant.create_deployment(name)
    _, secret = await tenant.create_key(deployment)
    response = await client.post(
        "/v1/meter", json=payloads.meter_batch(*rows), headers={"authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 200, response.text
    return tenant, deployment, {"authorization": f"Bearer {secret}"}


async def set_routing(tenant, deployment, **changes):
    current = (await tenant.client.get(f"/api/deployments/{deployment}/routing")).json()
    response = await tenant.client.put(
        f"/api/deployments/{deployment}/routing",
        json={**current, **changes},
        headers={"x-csrf-token": tenant.csrf},
    )
    assert response.status_code == 200, response.text


def test_wilson_interval_known_values():
    # Textbook values (Wilson 1927; e.g. Newcombe 1998): 81 of 263 -> 0.2553 .. 0.3662.
    low, high = wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(20, 20)
    assert 0.83 < low < 0.84 and high == pytest.approx(1.0)
    assert measure(judged=400, acceptable=396, target=0.95).status == "meets"
    assert measure(judged=400, acceptable=340, target=0.95).status == "below"
    assert measure(judged=20, acceptable=19, target=0.95).status == "unclear"
    assert measure(judged=0, acceptable=0, target=0.95).status == "none"
    assert measure(judged=5, acceptable=5, target=None).status == "no_target"


async def test_the_deployment_dashboard_shows_measured_quality_beside_the_savings(new_tenant, client):
    routed = payloads.meter_row()  # 3 routed requests, saved 12,000 micros
    tenant, deployment, _ = await metered(
        new_tenant,
        client,
        routed,
        calibration_row(150, 141, 40_000),
        calibration_row(50, 49, 10_000, routed=False, category="qa"),
    )
    page = (await tenant.client.get(f"/console/deployments/{deployment}")).text
    expected = measure(judged=200, acceptable=190, target=0.95)
    assert kpi(page, "savings") == format_usd(12_000)  # calibration spend is not in savings
    assert kpi(page, "spend") == format_usd(6_000)
    assert kpi(page, "quality") == percent(190 / 200) == "95.0%"
    assert kpi(page, "quality-share") == "95.0%"
    assert kpi(page, "quality-interval") == f"{percent(expected.low)} to {percent(expected.high)}"
    assert kpi(page, "judged") == "200"
    assert "Not yet conclusive against the 95.0% quality target" in page
    assert kpi(page, "calibration-spend") == format_usd(50_000)
    # Per requested -> served pair: the pair's own verdicts and interval.
    pair = re.search(r'data-pair="claude-sonnet-4-5->claude-haiku-4-5">(.*?)</tr>', page, re.S)
    assert pair is not None
    assert '<td data-label="Judged">200</td>' in pair.group(1) and "95.0% (" in pair.group(1)


async def test_quality_below_the_target_is_said_so(new_tenant, client):
    tenant, deployment, _ = await metered(
        new_tenant, client, payloads.meter_row(), calibration_row(300, 240, 1)
    )
    page = (await tenant.client.get(f"/console/deployments/{deployment}")).text
    assert kpi(page, "quality") == "80.0%"
    assert "Below the 95.0% quality target." in page


async def test_with_nothing_judged_the_page_says_how_to_turn_checks_on(new_tenant, client):
    tenant, deployment, _ = await metered(new_tenant, client, payloads.meter_row())
    page = (await tenant.client.get(f"/console/deployments/{deployment}")).text
    assert kpi(page, "quality") == "not measured"
    assert "Nothing judged in this period." in page
    assert "Quality checks are off" not in page
    await set_routing(tenant, deployment, calibration_rate_bps=0)
    page = (await tenant.client.get(f"/console/deployments/{deployment}")).text
    assert "Quality checks are off" in page
    assert f'href="/console/deployments/{deployment}/settings"' in page


async def test_shadow_mode_leads_with_what_routing_would_have_saved(new_tenant, client):
    shadow = payloads.meter_row(
        served_model="claude-sonnet-4-5",
        routed=False,
        requests=10,
        actual_cost_micros=50_000,
        baseline_cost_micros=50_000,
        shadow_requests=8,
        shadow_cost_micros=12_000,
    )
    tenant, deployment, _ = await metered(new_tenant, client, shadow, calibration_row(40, 39, 3_000))
    await set_routing(tenant, deployment, mode="shadow")
    page = (await tenant.client.get(f"/console/deployments/{deployment}")).text
    # 8 shadow requests at 5,000 each, minus 12,000 on the cheaper model: 28,000 would be saved.
    assert kpi(page, "would-save") == format_usd(28_000)
    assert page.index('data-testid="would-save"') < page.index('data-testid="savings"')
    assert "8 of 10 requests (80.0%) would have gone to a cheaper model" in page
    assert "Measured quality of the cheaper answers: <strong>97.5%</strong>" in page
    assert kpi(page, "savings") == format_usd(0)
    account = (await tenant.client.get("/console")).text
    assert kpi(account, "would-save") == format_usd(28_000)


async def test_shadow_mode_without_checks_says_how_to_measure_quality(new_tenant, client):
    tenant, deployment, _ = await metered(new_tenant, client, payloads.meter_row())
    await set_routing(tenant, deployment, mode="shadow", calibration_rate_bps=0)
    page = (await tenant.client.get(f"/console/deployments/{deployment}")).text
    assert 'data-testid="shadow"' in page
    assert "No quality checks judged yet: they are off for this deployment" in page


async def test_the_account_dashboard_has_quality_per_deployment(new_tenant, client):
    tenant, deployment, _ = await metered(new_tenant, client, payloads.meter_row(), calibration_row(10, 9, 7))
    await set_routing(tenant, deployment, quality_target=0.9)
    idle = await tenant.create_deployment("idle")
    page = (await tenant.client.get("/console")).text
    table = re.search(r'data-testid="deployment-quality">(.*?)</table>', page, re.S)
    assert table is not None
    rows = table.group(1)
    assert "production" in rows and "idle" in rows and idle in rows
    assert "90.0% (" in rows and '<td data-label="Target">90.0%</td>' in rows  # share and its target
    assert kpi(page, "quality") == "90.0%"


async def test_the_settings_form_edits_the_calibration_settings(new_tenant):
    tenant = await new_tenant("cal@example.com")
    deployment = await tenant.create_deployment()
    path = f"/console/deployments/{deployment}/settings"
    page = (await tenant.client.get(path)).text
    assert 'name="calibration_rate_percent"' in page and 'value="2"' in page
    base = {"mode": "on", "quality_target": "0.95", "log_retention_days": "30"}
    saved = await post_form(
        tenant.client, path, **base, calibration_rate_percent="5.5", calibration_daily_cap_usd="2.50"
    )
    assert saved.status_code == 303
    settings = (await tenant.client.get(f"/api/deployments/{deployment}/routing")).json()
    assert (settings["calibration_rate_bps"], settings["calibration_daily_cap_micros"]) == (550, 2_500_000)
    for rate, cap in (("101", "1"), ("-1", "1"), ("abc", "1"), ("0.001", "1"), ("2", "-5"), ("2", "x")):
        response = await post_form(
            tenant.client, path, **base, calibration_rate_percent=rate, calibration_daily_cap_usd=cap
        )
        assert response.status_code == 422, (rate, cap)
        assert "Nothing was saved" in response.text
    settings = (await tenant.client.get(f"/api/deployments/{deployment}/routing")).json()
    assert (settings["calibration_rate_bps"], settings["calibration_daily_cap_micros"]) == (550, 2_500_000)


async def test_the_json_summary_carries_what_the_dashboard_shows(new_tenant, client):
    tenant, deployment, _ = await metered(
        new_tenant, client, payloads.meter_row(), calibration_row(150, 141, 40_000)
    )
    response = await tenant.client.get(f"/api/deployments/{deployment}/summary?period=7d")
    assert response.status_code == 200, response.text
    summary = response.json()
    expected = measure(judged=150, acceptable=141, target=0.95)
    assert (summary["requests"], summary["savings_micros"], summary["calibration_cost_micros"]) == (
        3,
        12_000,
        40_000,
    )
    assert summary["quality"] == {
        "judged": 150,
        "acceptable": 141,
        "acceptable_share": 0.94,
        "interval_low": pytest.approx(expected.low),
        "interval_high": pytest.approx(expected.high),
        "quality_target": 0.95,
        "status": "unclear",
    }
    (route,) = summary["by_route"]
    assert (route["requested_model"], route["served_model"], route["quality"]["judged"]) == (
        "claude-sonnet-4-5",
        "claude-haiku-4-5",
        150,
    )
    assert (summary["routing_mode"], summary["shadow_requests"], summary["would_save_micros"]) == ("on", 0, 0)
    stranger = await new_tenant("stranger@example.com")
    assert (await stranger.client.get(f"/api/deployments/{deployment}/summary")).status_code == 404
    bad = await tenant.client.get(f"/api/deployments/{deployment}/summary?period=custom&start=x")
    assert bad.status_code == 422


async def test_the_billing_page_shows_calibration_spend_apart_from_the_fee(new_tenant, client):
    tenant, _, _ = await metered(new_tenant, client, payloads.meter_row(), calibration_row(10, 9, 31_000))
    page = (await tenant.client.get("/console/billing")).text
    assert kpi(page, "mtd-calibration") == format_usd(31_000)
    assert kpi(page, "mtd-savings") == format_usd(12_000)
    assert kpi(page, "mtd-fee") == format_usd(12_000 * 2000 // 10_000)
