"""One tenant cannot read, change or even detect another's deployments, keys, aggregates or logs."""

from __future__ import annotations

import uuid

from tests.control import payloads


async def test_tenants_cannot_see_or_touch_each_other(client, new_tenant):
    alice = await new_tenant("alice@example.com")
    mallory = await new_tenant("mallory@example.com")
    deployment = await alice.create_deployment("alice-prod")
    key_id, secret = await alice.create_key(deployment)
    headers = {"authorization": f"Bearer {secret}"}
    routing = (await alice.client.get(f"/api/deployments/{deployment}/routing")).json()
    opted_in = await alice.client.put(
        f"/api/deployments/{deployment}/routing",
        json={**routing, "metadata_logs": True},
        headers={"x-csrf-token": alice.csrf},
    )
    assert opted_in.status_code == 200
    await client.post("/v1/meter", json=payloads.meter_batch(), headers=headers)
    await client.post("/v1/logs", json=payloads.log_batch(), headers=headers)
    nonexistent = str(uuid.uuid4())

    assert (await mallory.client.get("/api/deployments")).json() == []
    for target in (deployment, nonexistent):
        reads = [
            f"/api/deployments/{target}",
            f"/api/deployments/{target}/keys",
            f"/api/deployments/{target}/usage",
            f"/api/deployments/{target}/logs",
            f"/api/deployments/{target}/performance",
        ]
        bodies = []
        for path in reads:
            response = await mallory.client.get(path)
            assert response.status_code == 404, path
            bodies.append(response.json())
        csrf = {"x-csrf-token": mallory.csrf}
        created = await mallory.client.post(
            f"/api/deployments/{target}/keys", json={"name": "x"}, headers=csrf
        )
        revoked = await mallory.client.delete(f"/api/deployments/{target}/keys/{key_id}", headers=csrf)
        assert (created.status_code, revoked.status_code) == (404, 404)
        bodies += [created.json(), revoked.json()]
        if target == deployment:
            seen_for_real = bodies
        else:
            # The answers for Alice's deployment and for one that does not exist are identical.
            assert bodies == seen_for_real

    # Mallory's own key cannot reach Alice's data either: ingestion is scoped to the key's deployment.
    own = await mallory.create_deployment()
    _, mallory_secret = await mallory.create_key(own)
    await client.post(
        "/v1/meter", json=payloads.meter_batch(), headers={"authorization": f"Bearer {mallory_secret}"}
    )
    alice_usage = (await alice.client.get(f"/api/deployments/{deployment}/usage")).json()
    assert [row["requests"] for row in alice_usage] == [3]
    assert (await alice.client.get(f"/api/deployments/{deployment}/keys")).json()[0]["revoked"] is False
    assert len((await alice.client.get(f"/api/deployments/{deployment}/logs")).json()) == 1


async def test_the_same_batch_id_from_two_deployments_counts_for_each(client, new_tenant):
    alice = await new_tenant("alice@example.com")
    bob = await new_tenant("bob@example.com")
    batch = payloads.meter_batch()
    for tenant in (alice, bob):
        deployment = await tenant.create_deployment()
        _, secret = await tenant.create_key(deployment)
        response = await client.post("/v1/meter", json=batch, headers={"authorization": f"Bearer {secret}"})
        assert response.json()["duplicate"] is False
