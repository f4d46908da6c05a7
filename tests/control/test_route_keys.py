"""/v1/route remembers keys between changes (PostgreSQL): every committed change to a key, a
deployment or an account is announced with NOTIFY, every app listening forgets what it knew,
and a dropped listener means no memory until it is back. The end-to-end "next request on every
replica" contract with real server processes is tests/control/test_replicas.py."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import httpx2 as httpx
import pytest
from sqlalchemy import Engine, text

from modelpilot.control.app import create_app
from modelpilot.control.credentials import sha256_hex
from modelpilot.control.route_keys import RouteKeys
from modelpilot.control.settings import ControlSettings
from modelpilot.control.store.engine import create_session_factory
from modelpilot.control.store.queries import accounts as account_queries
from modelpilot.control.store.queries import deployments as deployment_queries
from tests.control import payloads
from tests.control.conftest import sign_up

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


async def eventually(predicate: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


@pytest.fixture
async def replicas(
    engine: Engine, settings: ControlSettings
) -> AsyncIterator[list[tuple[httpx.AsyncClient, RouteKeys]]]:
    """Two apps on one database with their lifespans running (so each listens), as two replicas."""
    async with AsyncExitStack() as stack:
        running = []
        for _ in range(2):
            app = create_app(settings, engine=engine)
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
            await stack.enter_async_context(client)
            keys = app.state.control.route_keys
            running.append((client, keys))
        for _, keys in running:
            await eventually(lambda keys=keys: keys.is_live, "the key-change listener")
        yield running


async def route(client: httpx.AsyncClient, secret: str) -> int:
    response = await client.post(
        "/v1/route", json=payloads.route_request(), headers={"authorization": f"Bearer {secret}"}
    )
    return response.status_code


async def test_a_revocation_on_one_replica_clears_the_other(replicas) -> None:
    (a, a_keys), (b, b_keys) = replicas
    tenant = await sign_up(a, "keys@example.com")
    deployment = await tenant.create_deployment()
    key_id, secret = await tenant.create_key(deployment)
    _, other = await tenant.create_key(deployment, name="other")
    # The keys' own creations are announced too, and on a loaded machine a NOTIFY may land after
    # the first decision: decide until the grant is remembered (the next decision reads nothing).
    for _ in range(500):
        assert await route(b, secret) == 200
        if b_keys.get(sha256_hex(secret)) is not None:
            break
        await asyncio.sleep(0.01)
    assert b_keys.get(sha256_hex(secret)) is not None
    assert await route(b, secret) == 200

    before = b_keys.generation
    revoked = await a.delete(
        f"/api/deployments/{deployment}/keys/{key_id}", headers={"x-csrf-token": tenant.csrf}
    )
    assert revoked.status_code == 204
    await eventually(lambda: b_keys.generation != before, "the revocation to reach the other replica")
    assert b_keys.get(sha256_hex(secret)) is None
    assert await route(b, secret) == 401
    assert await route(b, other) == 200

    before = a_keys.generation
    suspended = await b.post(f"/api/admin/accounts/{tenant.account_id}/suspend")  # not an admin
    assert suspended.status_code in (401, 403)
    assert a_keys.generation == before  # a refused request changed nothing


async def test_a_suspension_made_outside_any_app_reaches_both(replicas, engine: Engine) -> None:
    (a, a_keys), (b, b_keys) = replicas
    tenant = await sign_up(a, "cli@example.com")
    deployment = await tenant.create_deployment()
    _, secret = await tenant.create_key(deployment)
    assert (await route(a, secret), await route(b, secret)) == (200, 200)
    generations = (a_keys.generation, b_keys.generation)
    # As ``modelpilot admin suspend`` does it: a session of its own, in another "process".
    with create_session_factory(engine)() as session:
        account_queries.set_suspended(
            session, account_id=uuid.UUID(tenant.account_id), suspended_at=datetime.now(UTC)
        )
        session.commit()
    await eventually(
        lambda: (
            (a_keys.generation, b_keys.generation) != generations
            and a_keys.generation != generations[0]
            and b_keys.generation != generations[1]
        ),
        "the suspension to reach both apps",
    )
    assert (await route(a, secret), await route(b, secret)) == (403, 403)


async def test_bookkeeping_rolled_back_and_other_schemas_changes_clear_nothing(
    replicas, engine: Engine
) -> None:
    (a, a_keys), _ = replicas
    tenant = await sign_up(a, "quiet@example.com")
    deployment = await tenant.create_deployment()
    key_id, secret = await tenant.create_key(deployment)
    # The key's own creation is announced too, and on a loaded machine its NOTIFY may land after
    # the first decision: decide until the grant is remembered, then measure the quiet.
    for _ in range(500):
        assert await route(a, secret) == 200
        if a_keys.get(sha256_hex(secret)) is not None:
            break
        await asyncio.sleep(0.01)
    before = a_keys.generation
    sessions = create_session_factory(engine)
    with sessions() as session:
        now = datetime.now(UTC)
        deployment_queries.touch_api_key(session, key_id=uuid.UUID(key_id), now=now, older_than=now)
        session.commit()
    with sessions() as session:
        account_queries.set_suspended(session, account_id=uuid.UUID(tenant.account_id), suspended_at=now)
        session.rollback()
    with engine.connect() as connection:  # another install's change, in another schema of this database
        connection.execute(text("SELECT pg_notify('modelpilot_keys', 'another_schema')"))
        connection.commit()
    # A NOTIFY arrives within milliseconds; a quarter of a second of silence means none was sent.
    await asyncio.sleep(0.25)
    assert a_keys.generation == before
    assert a_keys.get(sha256_hex(secret)) is not None


async def test_a_dropped_listener_stops_the_memory_until_it_reconnects(replicas, engine: Engine) -> None:
    (a, a_keys), _ = replicas
    tenant = await sign_up(a, "drop@example.com")
    deployment = await tenant.create_deployment()
    _, secret = await tenant.create_key(deployment)
    assert await route(a, secret) == 200
    assert a_keys.listener_pid is not None
    with engine.connect() as connection:  # only ours: other tests' apps listen on this server too
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": a_keys.listener_pid})
    await eventually(lambda: not a_keys.is_live, "the listener to notice")
    assert a_keys.get(sha256_hex(secret)) is None  # nothing is trusted while deaf
    assert await route(a, secret) == 200  # read from the database instead
    await eventually(lambda: a_keys.is_live, "the listener to reconnect")
    assert await route(a, secret) == 200
