"""Issue 9, item 5: the authorization matrix. Every route the control plane serves (found by
walking the app, so console pages and APIs added later are covered too) refuses every kind of bad
credential; another tenant's resources are out of reach; every change needs its CSRF token.
Issue 16, item 12: the management API's operations (the routes that take a management token)
answer a session, the account's token, a deployment key and another account's token each as
they must, and every other route refuses a valid token.

Routes that are public on purpose are the explicit allow-list ``routes.PUBLIC``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx
from sqlalchemy import update
from sqlalchemy.orm import Session

from modelpilot.control.app import create_app
from modelpilot.control.store.tables import Account
from tests.control import payloads
from tests.control.conftest import Tenant, csrf_from, sign_up
from tests.reliability import canaries
from tests.reliability.routes import UNSAFE_METHODS, Endpoint, endpoints, request_kwargs

INGESTION_PAYLOADS = {
    "/v1/route": payloads.route_request,
    "/v1/meter": payloads.meter_batch,
    "/v1/logs": payloads.log_batch,
    "/v1/telemetry": payloads.telemetry_batch,
}
# Path parameters that name a tenant's own resources; filled with the victim's.
VICTIM_PARAMS = ("deployment_id", "key_id", "account_id")


@dataclass
class Credentials:
    """What one column of the matrix presents: headers, a session cookie and its CSRF token."""

    headers: dict[str, str] = field(default_factory=dict)
    cookie: str | None = None
    csrf: str = ""


@dataclass
class World:
    """Two tenants and every kind of spoiled credential, made through the app itself."""

    endpoints: list[Endpoint]
    victim: Tenant
    victim_key: str
    victim_token: str
    ids: dict[str, str]
    attacker: Tenant
    attacker_key: str
    attacker_token: str
    columns: dict[str, Credentials]


def session_cookie(tenant: Tenant) -> str:
    cookie = tenant.client.cookies["mp_session"]
    canaries.register(cookie.partition(".")[0])
    return str(cookie)


async def tenant(make_client: Any, settings: Any, email: str) -> tuple[Tenant, str]:
    """A signed-up tenant with a deployment and a key: ``(tenant, key)``."""
    joined = await sign_up(make_client(settings), email, canaries.PASSWORD)
    deployment = await joined.create_deployment()
    _, key = await joined.create_key(deployment)
    return joined, canaries.register(key)


async def management_token(joined: Tenant, name: str = "ci") -> tuple[str, str]:
    """A management token of ``joined``'s account, made through the API: ``(id, secret)``."""
    response = await joined.client.post(
        "/api/tokens", json={"name": name}, headers={"x-csrf-token": joined.csrf}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["token"]["id"]), canaries.register(str(response.json()["secret"]))


def bearer(secret: str) -> Credentials:
    return Credentials(headers={"authorization": f"Bearer {secret}"})


def tamper(secret: str) -> str:
    return secret[:-1] + ("A" if secret[-1] != "A" else "B")


async def build_world(make_client: Any, settings: Any, engine: Any, clock: Any) -> World:
    victim, victim_key = await tenant(make_client, settings, "victim@example.com")
    attacker, attacker_key = await tenant(make_client, settings, "attacker@example.com")
    key_id = (await victim.client.get(f"/api/deployments/{victim.deployments[0]}/keys")).json()[0]["id"]
    ids = {"deployment_id": victim.deployments[0], "key_id": key_id, "account_id": victim.account_id}

    revoked_id, revoked_key = await victim.create_key(victim.deployments[0], "to revoke")
    canaries.register(revoked_key)
    response = await victim.client.delete(
        f"/api/deployments/{victim.deployments[0]}/keys/{revoked_id}", headers={"x-csrf-token": victim.csrf}
    )
    assert response.status_code == 204

    _, victim_token = await management_token(victim)
    _, attacker_token = await management_token(attacker)
    revoked_token_id, revoked_token = await management_token(victim, "to revoke")
    response = await victim.client.delete(
        f"/api/tokens/{revoked_token_id}", headers={"x-csrf-token": victim.csrf}
    )
    assert response.status_code == 204

    gone, _ = await tenant(make_client, settings, "gone@example.com")
    gone_cookie = session_cookie(gone)
    page = await gone.client.get("/account")
    assert (await gone.client.post("/logout", data={"csrf_token": csrf_from(page.text)})).status_code == 303

    # Suspended with its session still live: the SuspendedError path, not a revoked session.
    suspended, suspended_key = await tenant(make_client, settings, "suspended@example.com")
    _, suspended_token = await management_token(suspended)
    with Session(engine) as db:
        db.execute(update(Account).where(Account.email == suspended.email).values(suspended_at=clock()))
        db.commit()

    good_cookie = session_cookie(victim)
    token, _, signature = good_cookie.partition(".")
    columns = {
        "no credentials": Credentials(),
        "malformed key": Credentials(
            headers={"authorization": "Bearer not-a-key", "x-modelpilot-key": "mp_live_!!"}
        ),
        "malformed session": Credentials(cookie="garbage", csrf="garbage"),
        "tampered key": Credentials(headers={"authorization": f"Bearer {tamper(victim_key)}"}),
        "tampered session signature": Credentials(cookie=f"{token}.{'0' * len(signature)}", csrf=victim.csrf),
        "unsigned session token": Credentials(cookie=token, csrf=victim.csrf),
        "session signed with another secret": Credentials(
            cookie=f"{token}.{tamper(signature)}", csrf=victim.csrf
        ),
        "revoked key": Credentials(headers={"authorization": f"Bearer {revoked_key}"}),
        "session replayed after log-out": Credentials(cookie=gone_cookie, csrf=gone.csrf),
        "suspended account's key": Credentials(headers={"x-modelpilot-key": suspended_key}),
        "suspended account's session": Credentials(cookie=session_cookie(suspended), csrf=suspended.csrf),
        "deployment key on a session route": Credentials(headers={"authorization": f"Bearer {victim_key}"}),
        "session on a key route": Credentials(cookie=good_cookie, csrf=victim.csrf),
        "malformed management token": bearer("mp_mgmt_!!"),
        "tampered management token": bearer(tamper(victim_token)),
        "revoked management token": bearer(revoked_token),
        "suspended account's management token": bearer(suspended_token),
        "management token off the management API": bearer(victim_token),
        "management token as a deployment key": Credentials(headers={"x-modelpilot-key": victim_token}),
    }
    app = create_app(settings, engine=engine, clock=clock)
    return World(
        endpoints(app), victim, victim_key, victim_token, ids, attacker, attacker_key, attacker_token, columns
    )


async def call(
    client: httpx.AsyncClient, endpoint: Endpoint, credentials: Credentials, ids: dict[str, str]
) -> httpx.Response:
    client.cookies.clear()
    headers = dict(credentials.headers)
    if credentials.cookie is not None:
        headers["cookie"] = f"mp_session={credentials.cookie}"
    if credentials.csrf:
        headers["x-csrf-token"] = credentials.csrf
    payload = INGESTION_PAYLOADS.get(endpoint.path, lambda: {"name": "placeholder"})()
    return await client.request(
        endpoint.method,
        endpoint.url(ids),
        headers=headers,
        **request_kwargs(endpoint, csrf=credentials.csrf, payload=payload),
    )


def refused(response: httpx.Response) -> bool:
    """401/403, or (for pages) a redirect to the log-in page."""
    if response.status_code in (401, 403):
        return True
    location = response.headers.get("location", "")
    return response.status_code in (302, 303, 307) and location.startswith("/login")


def applies(column: str, endpoint: Endpoint) -> bool:
    """The two cross-kind columns are only bad credentials for the other kind of route."""
    if column == "deployment key on a session route":
        return not endpoint.is_ingestion
    if column == "session on a key route":
        return endpoint.is_ingestion
    if column == "management token off the management API":
        return not endpoint.accepts_token
    return True


async def test_every_route_refuses_every_bad_credential(make_client, settings, engine, clock):
    world = await build_world(make_client, settings, engine, clock)
    protected = [e for e in world.endpoints if not e.is_public]
    # The walk found the app's routes: everything in the OpenAPI document, and the console pages.
    client = make_client(settings)
    document = (await client.get("/openapi.json")).json()
    documented = {f"{m.upper()} {p}" for p, ops in document["paths"].items() for m in ops}
    assert documented <= {str(e) for e in world.endpoints}
    assert {"GET /account", "POST /logout", "GET /api/session", "POST /v1/route"} <= {
        str(e) for e in protected
    }

    holes = []
    cells = 0
    for endpoint in protected:
        for column, credentials in world.columns.items():
            if not applies(column, endpoint):
                continue
            response = await call(client, endpoint, credentials, world.ids)
            cells += 1
            if not refused(response):
                holes.append(f"{endpoint} with {column}: {response.status_code}")
    assert holes == [], "\n".join(holes)
    assert cells >= len(protected) * (len(world.columns) - 2)

    # The same requests with good credentials do get through (the matrix is not vacuous).
    good = Credentials(headers={"authorization": f"Bearer {world.victim_key}"})
    for path in ("/v1/route", "/v1/meter"):
        endpoint = next(e for e in protected if e.path == path)
        assert (await call(client, endpoint, good, world.ids)).status_code == 200
    session = Credentials(cookie=session_cookie(world.victim), csrf=world.victim.csrf)
    for path in ("/api/session", "/api/deployments/{deployment_id}/keys", "/account"):
        endpoint = next(e for e in protected if e.path == path and e.method == "GET")
        assert (await call(client, endpoint, session, world.ids)).status_code == 200


async def test_public_routes_answer_without_credentials_and_never_fail(make_client, settings, engine, clock):
    world = await build_world(make_client, settings, engine, clock)
    client = make_client(settings)
    public = [e for e in world.endpoints if e.is_public]
    assert {"GET /healthz", "GET /login", "GET /signup"} <= {str(e) for e in public}
    for endpoint in public:
        response = await call(client, endpoint, Credentials(), world.ids)
        assert response.status_code < 500, f"{endpoint}: {response.status_code}"


async def test_another_tenants_resources_are_out_of_reach(make_client, settings, engine, clock):
    world = await build_world(make_client, settings, engine, clock)
    client = make_client(settings)
    attackers = {
        "session and key": Credentials(
            headers={"authorization": f"Bearer {world.attacker_key}"},
            cookie=session_cookie(world.attacker),
            csrf=world.attacker.csrf,
        ),
        "management token": bearer(world.attacker_token),
    }
    targeted = [e for e in world.endpoints if set(e.params) & set(VICTIM_PARAMS)]
    assert len(targeted) >= 7
    holes = []
    for name, attacker in attackers.items():
        for endpoint in targeted:
            response = await call(client, endpoint, attacker, world.ids)
            # 422: a body this generic test cannot fill in for a route added later; never a 2xx.
            # (Off the management API a token is no credential: a 401, or a page's log-in.)
            ok = response.status_code in (403, 404, 422)
            if name == "management token" and not endpoint.accepts_token:
                ok = ok or refused(response)
            if not ok:
                holes.append(f"{endpoint} with the attacker's {name}: {response.status_code}")
    assert holes == [], "\n".join(holes)

    # Nothing of the victim's changed: the key still works, the deployment keeps its name (no
    # rename), the account is not suspended.
    victim = world.victim.client
    keys = (await victim.get(f"/api/deployments/{world.ids['deployment_id']}/keys")).json()
    assert [k["revoked"] for k in keys if k["id"] == world.ids["key_id"]] == [False]
    assert (await victim.get(f"/api/deployments/{world.ids['deployment_id']}")).json()["name"] == "prod"
    assert (await victim.get("/api/session")).status_code == 200
    route = await client.post(
        "/v1/route",
        json=payloads.route_request(),
        headers={"authorization": f"Bearer {world.victim_key}"},
    )
    assert route.status_code == 200


async def test_every_change_needs_its_csrf_token(make_client, settings, engine, clock):
    world = await build_world(make_client, settings, engine, clock)
    client = make_client(settings)
    cookie = session_cookie(world.attacker)
    changes = [
        e for e in world.endpoints if e.method in UNSAFE_METHODS and not e.is_public and not e.is_ingestion
    ]
    assert {"POST /logout", "POST /api/deployments", "POST /account/password"} <= {str(e) for e in changes}
    own = {
        "deployment_id": world.attacker.deployments[0],
        "account_id": world.attacker.account_id,
    }
    holes = []
    for endpoint in changes:
        for csrf in ("", "forged", world.victim.csrf):  # none, made up, another session's
            response = await call(client, endpoint, Credentials(cookie=cookie, csrf=csrf), own)
            # A form posted without its csrf_token field fails validation (422) before the check.
            allowed = {403, 422} if endpoint.form_fields and not csrf else {403}
            if response.status_code not in allowed:
                holes.append(f"{endpoint} with CSRF token {csrf[:8]!r}: {response.status_code}")
    assert holes == [], "\n".join(holes)
    # The attacker's session survived every attempt (the log-out above was refused too).
    assert (
        await call(client, Endpoint("GET", "/api/session", (), False), Credentials(cookie=cookie), own)
    ).status_code == 200


def _granted(response: httpx.Response, endpoint: Endpoint, ids: dict[str, str]) -> bool:
    """Let through and served: a 2xx, or a 404 for a path parameter the matrix cannot name (an
    invoice that does not exist)."""
    if 200 <= response.status_code < 300:
        return True
    return response.status_code == 404 and not set(endpoint.params) <= set(ids)


async def test_every_management_operation_by_kind_of_credential(make_client, settings, engine, clock):
    """Each operation of the management API x {session with CSRF, session without it, the
    account's token, its deployment key, another account's token}. Each granted cell runs on a
    fresh deployment and key of the account (a DELETE must not spoil the next cell)."""
    world = await build_world(make_client, settings, engine, clock)
    client = make_client(settings)
    operations = [e for e in world.endpoints if e.accepts_token]
    assert {
        "GET /api/deployments",
        "POST /api/deployments",
        "PATCH /api/deployments/{deployment_id}",
        "DELETE /api/deployments/{deployment_id}",
        "GET /api/deployments/{deployment_id}/keys",
        "POST /api/deployments/{deployment_id}/keys",
        "DELETE /api/deployments/{deployment_id}/keys/{key_id}",
        "GET /api/deployments/{deployment_id}/routing",
        "PUT /api/deployments/{deployment_id}/routing",
        "GET /api/deployments/{deployment_id}/usage",
        "GET /api/deployments/{deployment_id}/usage.csv",
    } <= {str(e) for e in operations}
    # Nothing else takes a token: not ingestion, the session, token management or administration.
    assert not any(
        e.is_ingestion
        or e.path.startswith(("/api/session", "/api/tokens", "/api/admin", "/console", "/account"))
        for e in operations
    )
    victim = world.victim
    session = Credentials(cookie=session_cookie(victim), csrf=victim.csrf)

    async def fresh_ids() -> dict[str, str]:
        deployment = await victim.create_deployment("matrix")
        key_id, _ = await victim.create_key(deployment)
        return {"deployment_id": deployment, "key_id": key_id, "account_id": victim.account_id}

    async def body_for(endpoint: Endpoint, ids: dict[str, str]) -> Any:
        if endpoint.path.endswith("/routing") and endpoint.method == "PUT":
            return (await victim.client.get(f"/api/deployments/{ids['deployment_id']}/routing")).json()
        return {"name": "matrix"}

    async def run(endpoint: Endpoint, credentials: Credentials, ids: dict[str, str]) -> httpx.Response:
        client.cookies.clear()
        headers = dict(credentials.headers)
        if credentials.cookie is not None:
            headers["cookie"] = f"mp_session={credentials.cookie}"
        if credentials.csrf:
            headers["x-csrf-token"] = credentials.csrf
        kwargs = {"json": await body_for(endpoint, ids)} if endpoint.method in UNSAFE_METHODS else {}
        return await client.request(endpoint.method, endpoint.url(ids), headers=headers, **kwargs)

    holes = []
    counts: dict[str, int] = {}
    for endpoint in operations:
        unsafe = endpoint.method in UNSAFE_METHODS
        cells: list[tuple[str, Credentials, str]] = [
            ("session with CSRF", session, "granted"),
            ("session without CSRF", Credentials(cookie=session.cookie), "403" if unsafe else "granted"),
            ("the account's token", bearer(world.victim_token), "granted"),
            ("the account's deployment key", bearer(world.victim_key), "401"),
            ("another account's token", bearer(world.attacker_token), "out of reach"),
        ]
        for column, credentials, expected in cells:
            ids = await fresh_ids() if expected == "granted" else world.ids
            response = await run(endpoint, credentials, ids)
            counts[column] = counts.get(column, 0) + 1
            if expected == "granted":
                ok = _granted(response, endpoint, ids)
            elif expected == "out of reach":
                # Another account's ids are a 404; its own lists show none of the victim's.
                targeted = bool(set(endpoint.params) & set(VICTIM_PARAMS))
                ok = response.status_code in ((404,) if targeted else (200, 201, 404)) and (
                    world.ids["deployment_id"] not in response.text
                )
            else:
                ok = response.status_code == int(expected)
            if not ok:
                holes.append(f"{endpoint} with {column}: {response.status_code} (expected {expected})")
    assert holes == [], "\n".join(holes)
    assert counts == dict.fromkeys(counts, len(operations)) and len(counts) == 5
    # The victim's own deployment (its name too) and key are untouched by all of that.
    keys = (await victim.client.get(f"/api/deployments/{world.ids['deployment_id']}/keys")).json()
    assert [k["revoked"] for k in keys if k["id"] == world.ids["key_id"]] == [False]
    deployment = (await victim.client.get(f"/api/deployments/{world.ids['deployment_id']}")).json()
    assert deployment["name"] == "prod"
