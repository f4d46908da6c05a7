"""Fixtures for the control plane: a real database per test (SQLite file and PostgreSQL schema),
the app over ASGITransport, and helpers that act like a person in a browser."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx2 as httpx
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from modelpilot.control.app import create_app
from modelpilot.control.settings import ControlSettings
from modelpilot.control.store.engine import create_db_engine
from modelpilot.control.store.tables import Base

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SECRET = "test-session-secret-0123456789abcdef"
PASSWORD = "correct horse battery"
TEST_ITERATIONS = 1_000


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str | None]:
    """The PostgreSQL URL, or None when it is unreachable and not required."""
    url = os.environ.get("MODELPILOT_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("select 1"))
    except OperationalError:
        if os.environ.get("MODELPILOT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at {url} is required (MODELPILOT_REQUIRE_POSTGRES=1) but unreachable")
        yield None
        return
    finally:
        engine.dispose()
    yield url


def _with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path, postgres_server_url: str | None) -> Iterator[str]:
    """An empty database: a fresh SQLite file, or a fresh schema in the test PostgreSQL database
    (cheaper than a database per test), dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'control.sqlite3'}"
        return
    if postgres_server_url is None:
        pytest.skip("PostgreSQL unreachable (set MODELPILOT_REQUIRE_POSTGRES=1 to fail instead)")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _with_search_path(postgres_server_url, schema)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with every table created, made once per test process; never opened again
    after this (tests get copies, see ``engine``)."""
    path = tmp_path_factory.mktemp("sqlite-tables") / "tables.sqlite3"
    engine = create_db_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    return path


@pytest.fixture
def engine(db_url: str, sqlite_tables: Path) -> Iterator[Engine]:
    """An engine on ``db_url`` with the tables created (migrations are tested on their own).

    A new SQLite database starts as a copy of ``sqlite_tables`` (under a millisecond; creating
    the tables took about 75 ms a test), then ``create_all`` runs as on PostgreSQL and finds them
    all there. Each test still has its own file."""
    sqlite_file = Path(db_url.removeprefix("sqlite:///")) if db_url.startswith("sqlite:///") else None
    if sqlite_file is not None and not sqlite_file.exists():
        shutil.copyfile(sqlite_tables, sqlite_file)
    engine = create_db_engine(db_url)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


class Clock:
    """A settable time source handed to ``create_app(clock=...)``."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_settings(db_url: str, **overrides: object) -> ControlSettings:
    values: dict[str, object] = {
        "database_url": db_url,
        "session_secrets": (SECRET,),
        "password_iterations": TEST_ITERATIONS,
        "allow_weak_password_hashing": True,
    }
    values.update(overrides)
    return ControlSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(db_url: str) -> ControlSettings:
    return make_settings(db_url)


@pytest.fixture
async def make_client(engine: Engine, clock: Clock) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """Build clients on apps sharing the test database (a second app is a second replica)."""
    clients: list[httpx.AsyncClient] = []

    def build(settings: ControlSettings, *, base_url: str = "http://test") -> httpx.AsyncClient:
        app = create_app(settings, engine=engine, clock=clock)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()


@pytest.fixture
def client(make_client: Callable[..., httpx.AsyncClient], settings: ControlSettings) -> httpx.AsyncClient:
    return make_client(settings)


_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(page: str) -> str:
    match = _CSRF_INPUT.search(page)
    assert match, "no CSRF token in the page"
    return match.group(1)


@dataclass
class Tenant:
    """A signed-up, logged-in account driving the app through its own client (cookie jar)."""

    client: httpx.AsyncClient
    email: str
    account_id: str
    csrf: str
    deployments: list[str] = field(default_factory=list)

    async def create_deployment(self, name: str = "prod") -> str:
        response = await self.client.post(
            "/api/deployments", json={"name": name}, headers={"x-csrf-token": self.csrf}
        )
        assert response.status_code == 201, response.text
        self.deployments.append(response.json()["id"])
        return str(response.json()["id"])

    async def create_key(self, deployment_id: str, name: str = "proxy") -> tuple[str, str]:
        response = await self.client.post(
            f"/api/deployments/{deployment_id}/keys", json={"name": name}, headers={"x-csrf-token": self.csrf}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["key"]["id"]), str(response.json()["secret"])


async def sign_up(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> Tenant:
    page = await client.get("/signup")
    response = await client.post(
        "/signup", data={"email": email, "password": password, "csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 303, response.text
    session = (await client.get("/api/session")).json()
    return Tenant(client=client, email=email, account_id=session["account_id"], csrf=session["csrf_token"])


async def log_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, *, next_path: str | None = None
) -> httpx.Response:
    """Submit the log-in form; ``next_path`` as the page to return to, as a redirect would set it."""
    page = await client.get("/login")
    data = {"email": email, "password": password, "csrf_token": csrf_from(page.text)}
    if next_path is not None:
        data["next"] = next_path
    return await client.post("/login", data=data)


@pytest.fixture
def new_tenant(make_client: Callable[..., httpx.AsyncClient], settings: ControlSettings):
    """``await new_tenant("a@example.com")``: a fresh browser that signed up."""

    async def build(email: str, *, client_settings: ControlSettings | None = None) -> Tenant:
        client = make_client(client_settings or settings)
        return await sign_up(client, email)

    return build
