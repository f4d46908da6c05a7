"""Account security (sign out everywhere, delete the account with everything it owns), the admin
pages, billing, the static files and the basics of accessible pages."""

from __future__ import annotations

from html.parser import HTMLParser

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelpilot.control.store.tables import Account, ApiKey, Deployment, UsageAggregate
from tests.control import payloads
from tests.control.conftest import log_in
from tests.control.console.conftest import csrf_of, post_form, signed_out
from tests.control.test_suspension import make_admin


async def test_sign_out_everywhere_ends_every_session(new_tenant, make_client, settings):
    tenant = await new_tenant("a@example.com")
    laptop = make_client(settings)
    assert (await log_in(laptop, "a@example.com")).status_code == 303
    response = await post_form(tenant.client, "/account/sign-out-everywhere")
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert (await laptop.get("/api/session")).status_code == 401
    assert signed_out(await tenant.client.get("/console"))


async def test_deleting_the_account_needs_its_email_and_password_and_removes_everything(
    new_tenant, client, engine
):
    tenant = await new_tenant("a@example.com")
    keep = await new_tenant("b@example.com")
    await keep.create_deployment()
    deployment = await tenant.create_deployment()
    _, secret = await tenant.create_key(deployment)
    key = {"authorization": f"Bearer {secret}"}
    assert (await client.post("/v1/meter", json=payloads.meter_batch(), headers=key)).status_code == 200

    wrong_email = await post_form(
        tenant.client, "/account/delete", confirmation_email="b@example.com", password="correct horse battery"
    )
    assert wrong_email.status_code == 422
    wrong_password = await post_form(
        tenant.client, "/account/delete", confirmation_email="a@example.com", password="nope"
    )
    assert wrong_password.status_code == 401
    assert (await tenant.client.get("/api/session")).status_code == 200

    deleted = await post_form(
        tenant.client,
        "/account/delete",
        confirmation_email="A@example.com ",
        password="correct horse battery",
    )
    assert deleted.status_code == 303
    assert signed_out(await tenant.client.get("/console"))
    assert (await log_in(client, "a@example.com")).status_code == 401
    assert (await client.post("/v1/route", json=payloads.route_request(), headers=key)).status_code == 401
    with Session(engine) as db:
        assert db.scalar(select(func.count()).select_from(Account)) == 1
        assert db.scalar(select(func.count()).select_from(Deployment)) == 1  # b's
        assert db.scalar(select(func.count()).select_from(ApiKey)) == 0
        assert db.scalar(select(func.count()).select_from(UsageAggregate)) == 0


async def test_admins_suspend_and_reinstate_from_the_console(new_tenant, make_client, settings, engine):
    admin = await new_tenant("admin@example.com")
    make_admin(engine, "admin@example.com")
    customer = await new_tenant("customer@example.com")
    page = await admin.client.get("/console/admin/accounts")
    assert page.status_code == 200 and "customer@example.com" in page.text
    customer_id = customer.account_id
    suspended = await post_form(admin.client, f"/console/admin/accounts/{customer_id}/suspend")
    assert suspended.status_code == 303
    assert signed_out(await customer.client.get("/console"))
    assert (await log_in(make_client(settings), "customer@example.com")).status_code == 403
    assert "suspended" in (await admin.client.get("/console/admin/accounts")).text
    assert (
        await post_form(admin.client, f"/console/admin/accounts/{customer_id}/reinstate")
    ).status_code == 303
    assert (await log_in(make_client(settings), "customer@example.com")).status_code == 303
    # Admins cannot lock themselves out.
    assert (
        await post_form(admin.client, f"/console/admin/accounts/{admin.account_id}/suspend")
    ).status_code == 403


async def test_the_admin_pages_are_forbidden_to_customers(new_tenant):
    customer = await new_tenant("customer@example.com")
    other = await new_tenant("other@example.com")
    # One administrator check everywhere (http.dependencies.require_admin): 403, page or JSON.
    assert (await customer.client.get("/console/admin/accounts")).status_code == 403
    token = await csrf_of(customer.client)
    response = await customer.client.post(
        f"/console/admin/accounts/{other.account_id}/suspend", data={"csrf_token": token}
    )
    assert response.status_code == 403
    assert (await other.client.get("/api/session")).status_code == 200
    assert "/console/admin" not in (await customer.client.get("/console")).text


async def test_billing_shows_the_month_so_far_and_the_fee(new_tenant, client, settings):
    tenant = await new_tenant("a@example.com")
    deployment = await tenant.create_deployment()
    _, secret = await tenant.create_key(deployment)
    row = payloads.meter_row()
    await client.post(
        "/v1/meter", json=payloads.meter_batch(row), headers={"authorization": f"Bearer {secret}"}
    )
    page = (await tenant.client.get("/console/billing")).text
    from modelpilot.control.http.charts import format_usd

    savings = row["baseline_cost_micros"] - row["actual_cost_micros"]
    assert f'data-testid="mtd-savings">{format_usd(savings)}<' in page
    assert f'data-testid="mtd-fee">{format_usd(savings * settings.fee_share_bps // 10_000)}<' in page
    assert "/api/billing/invoices.csv" in page


async def test_static_files_are_cached_by_version(client):
    page = (await client.get("/login")).text
    assert "/static/console.css?v=" in page
    url = page.split('href="', 2)[1].split('"')[0] if "stylesheet" in page else ""
    versioned = await client.get(url)
    assert versioned.status_code == 200 and "immutable" in versioned.headers["cache-control"]
    assert versioned.headers["content-type"].startswith("text/css")
    assert "immutable" not in (await client.get("/static/console.css")).headers["cache-control"]
    assert (await client.get("/static/../app.py")).status_code == 404
    assert (await client.get("/static/nothing.css")).status_code == 404


class PageAudit(HTMLParser):
    """Collects what the accessibility checks need: landmarks, inputs and labels."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.label_for: set[str] = set()
        self.inputs: list[dict[str, str | None]] = []
        self.open_labels = 0
        self.skip_link = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append(tag)
        if tag == "label":
            self.open_labels += 1
            if attributes.get("for"):
                self.label_for.add(attributes["for"])
        if tag == "a" and attributes.get("href") == "#main":
            self.skip_link = True
        if tag in {"input", "select", "textarea"} and attributes.get("type") != "hidden":
            self.inputs.append({**attributes, "wrapped": "yes" if self.open_labels else None})

    def handle_endtag(self, tag):
        if tag == "label":
            self.open_labels -= 1


async def test_every_page_has_landmarks_a_skip_link_and_labelled_inputs(new_tenant, engine):
    tenant = await new_tenant("a@example.com")
    make_admin(engine, "a@example.com")
    deployment = await tenant.create_deployment()
    key_id, _ = await tenant.create_key(deployment)
    base = f"/console/deployments/{deployment}"
    for path in (
        "/console",
        "/console/deployments",
        "/console/billing",
        "/console/admin/accounts",
        "/account",
        base,
        f"{base}/keys",
        f"{base}/settings",
        f"{base}/logs",
        f"{base}/keys/{key_id}/revoke",
    ):
        response = await tenant.client.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-store"
        audit = PageAudit()
        audit.feed(response.text)
        assert {"header", "nav", "main", "footer", "h1"} <= set(audit.tags), path
        assert audit.skip_link, path
        assert '<html lang="en">' in response.text and 'name="viewport"' in response.text
        for field in audit.inputs:
            assert field["wrapped"] or field.get("id") in audit.label_for, (path, field)
