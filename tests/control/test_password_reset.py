"""Password recovery without mail (issue 16, item 6): `modelpilot admin reset-password`, the
console's "forgot your password" page, and an administrator's reset from the console."""

from __future__ import annotations

import re

from click.testing import CliRunner

from modelpilot.cli import main
from tests.control.conftest import PASSWORD, log_in
from tests.control.console.conftest import post_form, signed_out
from tests.control.test_suspension import make_admin


def _admin(db_url: str, *args: str, stdin: str | None = None):
    return CliRunner().invoke(
        main,
        ["admin", "--database-url", db_url, "--no-migrate", *args],
        input=stdin,
        env={"MODELPILOT_PASSWORD_ITERATIONS": "200000"},
    )


async def test_the_admin_command_sets_a_new_password_and_signs_out_everywhere(
    new_tenant, make_client, settings, db_url
):
    tenant = await new_tenant("a@example.com")
    result = _admin(db_url, "reset-password", "a@example.com")
    assert result.exit_code == 0, result.output
    password = result.stdout.strip()
    assert len(password) >= 10 and "signed out" in result.stderr
    # The session open before the reset is over; the old password no longer works, the new one does.
    assert signed_out(await tenant.client.get("/console"))
    browser = make_client(settings)
    assert (await log_in(browser, "a@example.com", PASSWORD)).status_code == 401
    assert (await log_in(browser, "a@example.com", password)).status_code == 303


async def test_the_admin_command_takes_a_chosen_password(new_tenant, make_client, settings, db_url):
    await new_tenant("a@example.com")
    result = _admin(
        db_url, "reset-password", "a@example.com", "--password-stdin", stdin="chosen password 1\n"
    )
    assert result.exit_code == 0 and result.stdout == ""
    assert (await log_in(make_client(settings), "a@example.com", "chosen password 1")).status_code == 303
    too_short = _admin(db_url, "reset-password", "a@example.com", "--password-stdin", stdin="short\n")
    assert too_short.exit_code == 1 and "Traceback" not in too_short.output
    unknown = _admin(db_url, "reset-password", "nobody@example.com")
    assert unknown.exit_code == 1 and "no such account" in unknown.output


async def test_the_log_in_page_leads_to_how_to_recover_a_password(client):
    login = await client.get("/login")
    assert 'href="/password-reset"' in login.text
    page = await client.get("/password-reset")
    assert page.status_code == 200
    assert "modelpilot admin reset-password" in page.text and "Reset password" in page.text


async def test_an_administrator_resets_a_password_from_the_console(new_tenant, make_client, settings, engine):
    admin = await new_tenant("admin@example.com")
    make_admin(engine, "admin@example.com")
    customer = await new_tenant("c@example.com")
    # Only administrators: a customer gets a 403, as on every admin page and API.
    refused = await post_form(customer.client, f"/console/admin/accounts/{admin.account_id}/reset-password")
    assert refused.status_code == 403
    page = await post_form(admin.client, f"/console/admin/accounts/{customer.account_id}/reset-password")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    match = re.search(r'data-testid="new-password"', page.text)
    assert match is not None and "shown only this once" in page.text
    password = re.search(r'id="new-password" class="secret" value="([^"]+)"', page.text)
    assert password is not None
    assert signed_out(await customer.client.get("/console"))
    assert (await log_in(make_client(settings), "c@example.com", password.group(1))).status_code == 303
