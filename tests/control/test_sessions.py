from __future__ import annotations

import pytest

from tests.control.conftest import PASSWORD, SECRET, csrf_from, log_in, make_settings, sign_up


def replace_session_cookie(client, value: str) -> None:
    client.cookies.clear()
    client.cookies.set("mp_session", value)


def session_set_cookie(response) -> str:
    (header,) = [h for h in response.headers.get_list("set-cookie") if h.startswith("mp_session=")]
    return header


async def test_session_cookie_flags_over_plain_http(make_client, settings):
    client = make_client(settings)
    page = await client.get("/signup")
    response = await client.post(
        "/signup", data={"email": "a@example.com", "password": PASSWORD, "csrf_token": csrf_from(page.text)}
    )
    header = session_set_cookie(response).lower()
    assert "httponly" in header
    assert "samesite=lax" in header
    assert "max-age=1209600" in header
    assert "secure" not in header


async def test_session_cookie_is_secure_over_tls(make_client, settings):
    client = make_client(settings, base_url="https://control.example")
    page = await client.get("/signup")
    response = await client.post(
        "/signup", data={"email": "a@example.com", "password": PASSWORD, "csrf_token": csrf_from(page.text)}
    )
    assert "; secure" in session_set_cookie(response).lower()


async def test_log_out_revokes_the_session_server_side(new_tenant):
    tenant = await new_tenant("a@example.com")
    stolen = tenant.client.cookies["mp_session"]
    page = await tenant.client.get("/account")
    response = await tenant.client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    assert response.status_code == 303
    replace_session_cookie(tenant.client, stolen)
    assert (await tenant.client.get("/api/session")).status_code == 401


async def test_password_change_revokes_every_other_session(make_client, settings, new_tenant):
    tenant = await new_tenant("a@example.com")
    other_browser = make_client(settings)
    assert (await log_in(other_browser, "a@example.com")).status_code == 303
    assert (await other_browser.get("/api/session")).status_code == 200

    page = await tenant.client.get("/account")
    response = await tenant.client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a much better one",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert response.status_code == 303
    assert (await other_browser.get("/api/session")).status_code == 401
    assert (await tenant.client.get("/api/session")).status_code == 200  # the changer got a new session
    assert (await log_in(make_client(settings), "a@example.com", "a much better one")).status_code == 303
    assert (await log_in(make_client(settings), "a@example.com")).status_code == 401


async def test_password_change_needs_the_current_password(new_tenant):
    tenant = await new_tenant("a@example.com")
    page = await tenant.client.get("/account")
    response = await tenant.client.post(
        "/account/password",
        data={
            "current_password": "wrong password",
            "new_password": "a much better one",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert response.status_code == 401


async def test_tampered_cookie_is_refused(new_tenant):
    tenant = await new_tenant("a@example.com")
    token, _, signature = tenant.client.cookies["mp_session"].partition(".")
    replace_session_cookie(tenant.client, f"{token}.{'0' * len(signature)}")
    assert (await tenant.client.get("/api/session")).status_code == 401
    replace_session_cookie(tenant.client, token)
    assert (await tenant.client.get("/api/session")).status_code == 401


async def test_sessions_expire(new_tenant, clock):
    tenant = await new_tenant("a@example.com")
    clock.advance(14 * 24 * 3600 + 1)
    assert (await tenant.client.get("/api/session")).status_code == 401


async def test_secret_rotation_keeps_sessions_signed_with_the_previous_secret(
    make_client, db_url, new_tenant
):
    tenant = await new_tenant("a@example.com")
    cookie = tenant.client.cookies["mp_session"]
    rotated = make_client(make_settings(db_url, session_secrets=("new-secret-" + "x" * 32, SECRET)))
    rotated.cookies.set("mp_session", cookie)
    assert (await rotated.get("/api/session")).status_code == 200
    retired = make_client(make_settings(db_url, session_secrets=("new-secret-" + "x" * 32,)))
    retired.cookies.set("mp_session", cookie)
    assert (await retired.get("/api/session")).status_code == 401


async def test_signing_up_twice_is_a_conflict(make_client, settings):
    await sign_up(make_client(settings), "a@example.com")
    client = make_client(settings)
    page = await client.get("/signup")
    response = await client.post(
        "/signup", data={"email": "A@example.com ", "password": PASSWORD, "csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 409
    assert "text/html" in response.headers["content-type"]


@pytest.mark.parametrize(("email", "password"), [("not-an-address", PASSWORD), ("b@example.com", "short")])
async def test_sign_up_validates_input(make_client, settings, email, password):
    client = make_client(settings)
    page = await client.get("/signup")
    response = await client.post(
        "/signup", data={"email": email, "password": password, "csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("a" * 64 + "@" + "b" * 189 + "." + "c" * 63, PASSWORD),
        ("nul\x00@example.com", PASSWORD),
        ("c@example.com", PASSWORD + "\x00"),
    ],
)
async def test_sign_up_refuses_what_the_database_would_choke_on(make_client, settings, email, password):
    client = make_client(settings)
    page = await client.get("/signup")
    response = await client.post(
        "/signup", data={"email": email, "password": password, "csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 422
    assert (await log_in(client, email, password)).status_code == 401
