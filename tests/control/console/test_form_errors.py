"""A refused form comes back with its reason beside it (issue 16, item 7): no dead-end error page
that says "use your browser's back button"."""

from __future__ import annotations

from tests.control.conftest import PASSWORD, csrf_from, log_in
from tests.control.console.conftest import post_form
from tests.control.console.test_keys_and_deployments import create_deployment

DEAD_END = "back button"


async def test_a_wrong_password_at_log_in_shows_the_form_again(new_tenant, make_client, settings):
    await new_tenant("a@example.com")
    browser = make_client(settings)
    page = await log_in(browser, "a@example.com", "not the password", next_path="/account")
    assert page.status_code == 401
    assert "wrong email address or password" in page.text and DEAD_END not in page.text
    assert 'action="/login"' in page.text and 'value="a@example.com"' in page.text
    assert 'name="next" value="/account"' in page.text
    # The form on that page works: the right password now logs in and goes where it was going.
    retry = await browser.post(
        "/login",
        data={
            "email": "a@example.com",
            "password": PASSWORD,
            "csrf_token": csrf_from(page.text),
            "next": "/account",
        },
    )
    assert retry.status_code == 303 and retry.headers["location"] == "/account"


async def test_a_taken_email_at_sign_up_shows_the_form_again(new_tenant, make_client, settings):
    await new_tenant("a@example.com")
    browser = make_client(settings)
    form = await browser.get("/signup")
    page = await browser.post(
        "/signup", data={"email": "a@example.com", "password": PASSWORD, "csrf_token": csrf_from(form.text)}
    )
    assert page.status_code == 409
    assert "already exists" in page.text and 'action="/signup"' in page.text and DEAD_END not in page.text


async def test_a_wrong_current_password_shows_the_account_page_again(new_tenant):
    tenant = await new_tenant("a@example.com")
    page = await post_form(
        tenant.client, "/account/password", current_password="wrong one!", new_password="a new password 1"
    )
    assert page.status_code == 401
    assert "the current password is wrong" in page.text and DEAD_END not in page.text
    assert 'action="/account/password"' in page.text
    # Still signed in: nothing was changed or revoked.
    assert (await tenant.client.get("/account")).status_code == 200


async def test_a_wrong_delete_confirmation_keeps_the_account_and_says_why(new_tenant):
    tenant = await new_tenant("a@example.com")
    page = await post_form(
        tenant.client, "/account/delete", confirmation_email="b@example.com", password=PASSWORD
    )
    assert page.status_code == 422
    assert "email address exactly to delete it" in page.text and 'action="/account/delete"' in page.text
    assert (await tenant.client.get("/account")).status_code == 200


async def test_a_wrong_deployment_name_keeps_the_deployment_and_says_why(new_tenant):
    tenant = await new_tenant("a@example.com")
    deployment_id = await create_deployment(tenant, "production")
    page = await post_form(tenant.client, f"/console/deployments/{deployment_id}/delete", confirmation="prod")
    assert page.status_code == 422
    assert "name exactly to delete it" in page.text and DEAD_END not in page.text
    assert f'action="/console/deployments/{deployment_id}/delete"' in page.text
    assert "production" in (await tenant.client.get("/console/deployments")).text


async def test_after_deleting_the_account_the_sign_up_page_says_so(new_tenant):
    tenant = await new_tenant("a@example.com")
    deleted = await post_form(
        tenant.client, "/account/delete", confirmation_email="a@example.com", password=PASSWORD
    )
    assert deleted.status_code == 303 and deleted.headers["location"] == "/signup?deleted=1"
    page = await tenant.client.get("/signup?deleted=1")
    assert "Your account and all its data were deleted." in page.text
