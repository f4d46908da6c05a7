from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelpilot.control.store.tables import Account
from tests.control import payloads
from tests.control.conftest import log_in


def make_admin(engine, email: str) -> None:
    with Session(engine) as session:
        account = session.scalar(select(Account).where(Account.email == email))
        assert account is not None
        account.is_admin = True
        session.commit()


async def test_suspension_refuses_sessions_and_keys_from_the_next_request(
    client, make_client, settings, new_tenant, engine
):
    admin = await new_tenant("admin@example.com")
    make_admin(engine, "admin@example.com")
    customer = await new_tenant("customer@example.com")
    deployment = await customer.create_deployment()
    _, secret = await customer.create_key(deployment)
    headers = {"authorization": f"Bearer {secret}"}
    assert (await client.post("/v1/route", json=payloads.route_request(), headers=headers)).status_code == 200

    csrf = {"x-csrf-token": admin.csrf}
    response = await admin.client.post(f"/api/admin/accounts/{customer.account_id}/suspend", headers=csrf)
    assert response.json() == {"account_id": customer.account_id, "suspended": True}

    assert (await client.post("/v1/route", json=payloads.route_request(), headers=headers)).status_code == 403
    assert (await customer.client.get("/api/session")).status_code == 401  # sessions were revoked
    assert (await log_in(make_client(settings), "customer@example.com")).status_code == 403

    await admin.client.post(f"/api/admin/accounts/{customer.account_id}/reinstate", headers=csrf)
    assert (await client.post("/v1/route", json=payloads.route_request(), headers=headers)).status_code == 200
    assert (await log_in(make_client(settings), "customer@example.com")).status_code == 303


async def test_only_admins_suspend(new_tenant):
    customer = await new_tenant("customer@example.com")
    other = await new_tenant("other@example.com")
    response = await other.client.post(
        f"/api/admin/accounts/{customer.account_id}/suspend", headers={"x-csrf-token": other.csrf}
    )
    assert response.status_code == 403
