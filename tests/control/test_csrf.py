from __future__ import annotations

from tests.control.conftest import PASSWORD, csrf_from, sign_up


async def test_sign_up_without_csrf_token_is_refused(make_client, settings):
    client = make_client(settings)
    await client.get("/signup")
    response = await client.post(
        "/signup", data={"email": "a@example.com", "password": PASSWORD, "csrf_token": "x"}
    )
    assert response.status_code == 403


async def test_log_in_form_needs_the_nonce_cookie_it_was_issued_with(make_client, settings):
    await sign_up(make_client(settings), "a@example.com")
    attacker = make_client(settings)
    token = csrf_from((await attacker.get("/login")).text)
    victim = make_client(settings)  # a different browser: no mp_csrf cookie
    response = await victim.post(
        "/login", data={"email": "a@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 403


async def test_form_posts_need_the_session_csrf_token(new_tenant):
    tenant = await new_tenant("a@example.com")
    for path, data in [
        ("/logout", {}),
        ("/account/password", {"current_password": PASSWORD, "new_password": "another long one"}),
    ]:
        assert (await tenant.client.post(path, data={**data, "csrf_token": "forged"})).status_code == 403
    assert (await tenant.client.get("/api/session")).status_code == 200


async def test_json_api_changes_need_the_csrf_header(new_tenant):
    tenant = await new_tenant("a@example.com")
    deployment = await tenant.create_deployment()
    key_id, _ = await tenant.create_key(deployment)
    attempts = [
        tenant.client.post("/api/deployments", json={"name": "x"}),
        tenant.client.post(
            f"/api/deployments/{deployment}/keys", json={"name": "x"}, headers={"x-csrf-token": "f"}
        ),
        tenant.client.delete(f"/api/deployments/{deployment}/keys/{key_id}"),
    ]
    for attempt in attempts:
        assert (await attempt).status_code == 403


async def test_another_sessions_csrf_token_does_not_work(new_tenant):
    a = await new_tenant("a@example.com")
    b = await new_tenant("b@example.com")
    response = await b.client.post("/api/deployments", json={"name": "x"}, headers={"x-csrf-token": a.csrf})
    assert response.status_code == 403
