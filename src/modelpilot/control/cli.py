"""``modelpilot control`` (serve the control plane) and ``modelpilot admin`` (manage accounts,
deployments and keys against the same database). The only place that reads the environment."""

from __future__ import annotations

import os
import secrets
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from modelpilot.control import accounts, billing, deployments, retention, tokens
from modelpilot.control.app import create_app
from modelpilot.control.errors import ModelPilotError
from modelpilot.control.settings import DEFAULT_PASSWORD_ITERATIONS, ControlSettings, SettingsError
from modelpilot.control.store.engine import create_db_engine, create_session_factory
from modelpilot.control.store.migrate import upgrade
from modelpilot.ports import ensure_port_free, is_loopback_name
from modelpilot.servers import GUARDED_HTTP, Listener, serve_all

DEFAULT_DATABASE_URL = "sqlite:///var/modelpilot.sqlite3"
DEFAULT_SECRET_FILE = "var/session-secret"


def _normalized_database_url(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """libpq's ``postgres://`` and ``postgresql://`` (what hosting providers hand out) name the
    driver SQLAlchemy uses here, psycopg 3."""
    for scheme in ("postgres://", "postgresql://"):
        if value.startswith(scheme):
            return "postgresql+psycopg://" + value.removeprefix(scheme)
    return value


_database_url = click.option(
    "--database-url",
    callback=_normalized_database_url,
    envvar="MODELPILOT_DATABASE_URL",
    default=DEFAULT_DATABASE_URL,
    show_default=True,
    help="sqlite:///path or postgresql+psycopg://user@host/db; postgres:// and postgresql:// mean "
    "the same (env MODELPILOT_DATABASE_URL).",
)
_no_migrate = click.option("--no-migrate", is_flag=True, help="Do not migrate the database first.")


_DATABASE_SCHEMES = ("sqlite:///", "postgresql+psycopg://")


def _ensure_sqlite_dir(database_url: str) -> None:
    if not database_url.startswith(_DATABASE_SCHEMES):
        raise click.UsageError(
            f"--database-url (MODELPILOT_DATABASE_URL) must start with {' or '.join(_DATABASE_SCHEMES)} "
            f"(or postgres://), got {database_url.split('://')[0]!r}"
        )
    if database_url.startswith("sqlite:///") and not database_url.startswith("sqlite:///:memory:"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def _migrate(engine: Engine) -> None:
    """Apply the migrations, or fail with one line naming the database (password hidden)."""
    try:
        upgrade(engine)
    except OperationalError as exc:
        where = engine.url.render_as_string(hide_password=True)
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        raise click.ClickException(
            f"cannot use the database {where} (--database-url / MODELPILOT_DATABASE_URL): {reason}"
        ) from exc


def _read_secrets(secrets_env: str | None, secret_file: str) -> tuple[str, ...]:
    if secrets_env:
        return tuple(s.strip() for s in secrets_env.split(",") if s.strip())
    path = Path(secret_file)
    if not path.exists():
        # Zero set-up for the embedded default; replicas sharing a database must share a secret
        # and get it from MODELPILOT_SESSION_SECRETS instead.
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return (path.read_text().strip(),)


def host_list(raw: str) -> tuple[str, ...]:
    """``MODELPILOT_ALLOWED_HOSTS``: comma-separated host names."""
    return tuple(host.strip() for host in raw.split(",") if host.strip())


#: Settings read only from the environment (name -> (setting, parser)).
_ENV_SETTINGS: dict[str, tuple[str, Callable[[str], object]]] = {
    "MODELPILOT_ALLOWED_HOSTS": ("allowed_hosts", host_list),
    "MODELPILOT_FEE_SHARE_BPS": ("fee_share_bps", int),
    "MODELPILOT_SECURITY_CONTACT": ("security_contact", str),
    "MODELPILOT_PUBLIC_URL": ("public_url", str),
    "MODELPILOT_ROUTE_TTL_S": ("route_ttl_s", int),
}


def _env_settings() -> dict[str, object]:
    values: dict[str, object] = {}
    for name, (setting, kind) in _ENV_SETTINGS.items():
        raw = os.environ.get(name)
        if raw is None:
            continue
        try:
            values[setting] = kind(raw)
        except ValueError as exc:
            raise click.UsageError(
                f"{name}: {raw!r} is not a valid {getattr(kind, '__name__', 'value')}"
            ) from exc
    return values


def _settings(
    database_url: str, *, secrets_env: str | None, secret_file: str, iterations: int
) -> ControlSettings:
    try:
        return ControlSettings(
            database_url=database_url,
            session_secrets=_read_secrets(secrets_env, secret_file),
            password_iterations=iterations,
            **_env_settings(),  # type: ignore[arg-type]
        )
    except SettingsError as exc:
        message = str(exc)
        for name, (setting, _) in _ENV_SETTINGS.items():
            if setting in message:
                raise click.UsageError(f"{name}: {message}") from exc
        if "password_iterations" in message:
            message = f"--password-iterations (MODELPILOT_PASSWORD_ITERATIONS): {message}"
        elif "secret" in message:
            source = "MODELPILOT_SESSION_SECRETS" if secrets_env else f"--secret-file {secret_file}"
            message = f"{source}: {message}"
        raise click.UsageError(message) from exc


def app_from_environ() -> FastAPI:
    """Factory for ``--workers N``: uvicorn's worker processes rebuild the app from the
    environment the parent process exported."""
    settings = _settings(
        os.environ["MODELPILOT_DATABASE_URL"],
        secrets_env=os.environ["MODELPILOT_SESSION_SECRETS"],
        secret_file=DEFAULT_SECRET_FILE,
        iterations=int(os.environ["MODELPILOT_PASSWORD_ITERATIONS"]),
    )
    return create_app(settings, engine=create_db_engine(settings.database_url))


@click.command("migrate")
@_database_url
def migrate_command(database_url: str) -> None:
    """Bring the control plane's database schema up to date, then exit.

    Run it once per release before starting replicas with --no-migrate, so that several replicas
    never migrate the same database at once.
    """
    _ensure_sqlite_dir(database_url)
    engine = create_db_engine(database_url)
    try:
        _migrate(engine)
    finally:
        engine.dispose()
    click.echo(f"{engine.url.render_as_string(hide_password=True)} is up to date")


@click.command("control")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8700,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port).",
)
@_database_url
@_no_migrate
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option(
    "--secret-file",
    default=DEFAULT_SECRET_FILE,
    show_default=True,
    help="Session secret file, created if missing; ignored when MODELPILOT_SESSION_SECRETS is set "
    "(comma-separated, newest first, for rotation).",
)
@click.option(
    "--password-iterations",
    envvar="MODELPILOT_PASSWORD_ITERATIONS",
    default=DEFAULT_PASSWORD_ITERATIONS,
    show_default=True,
    type=int,
    help="PBKDF2-HMAC-SHA256 iterations for new and rehashed passwords (at least 200000).",
)
def control_command(
    host: str,
    port: int,
    database_url: str,
    no_migrate: bool,
    workers: int,
    secret_file: str,
    password_iterations: int,
) -> None:
    """Serve the control plane: the console, its JSON API and the proxies' ingestion API.

    Production: PostgreSQL in --database-url, the same MODELPILOT_SESSION_SECRETS on every
    replica, --workers N processes per replica, TLS terminated in front (see docs/production.md).
    GET /healthz answers 200 while the process serves.
    """
    ensure_port_free(host, port, "--port")
    _ensure_sqlite_dir(database_url)
    settings = _settings(
        database_url,
        secrets_env=os.environ.get("MODELPILOT_SESSION_SECRETS"),
        secret_file=secret_file,
        iterations=password_iterations,
    )
    if settings.public_url is None and not is_loopback_name(host):
        click.echo(
            "Warning: MODELPILOT_PUBLIC_URL is not set: the console shows a placeholder where its "
            "commands name this control plane, and security.txt leaves out its links (they are "
            "never built from a request's Host). Set it to the public origin, e.g. "
            "https://control.example.com.",
            err=True,
        )
    if not settings.allowed_hosts and not is_loopback_name(host):
        click.echo(
            "Warning: MODELPILOT_ALLOWED_HOSTS is not set: this control plane answers a request for "
            "any Host name, so a web page that rebinds its own name to this address reaches it "
            "through a visitor's browser. Set it to the names proxies and people use, e.g. "
            "control.example.com,*.internal.example (docs/production.md).",
            err=True,
        )
    engine = create_db_engine(settings.database_url)
    try:
        if not no_migrate:
            _migrate(engine)
        if workers > 1:
            os.environ.update(
                MODELPILOT_DATABASE_URL=settings.database_url,
                MODELPILOT_SESSION_SECRETS=",".join(settings.session_secrets),
                MODELPILOT_PASSWORD_ITERATIONS=str(settings.password_iterations),
            )
            click.echo(f"modelpilot control listening on http://{host}:{port} ({workers} workers)", err=True)
            uvicorn.run(
                "modelpilot.control.cli:app_from_environ",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level="warning",
                lifespan="on",
                http=GUARDED_HTTP,  # header and body read timeouts, as serve_all's
            )
            return
        serve_all(
            [Listener("control", create_app(settings, engine=engine), host, port, lifespan="on")],
            on_started=lambda urls: click.echo(
                f"modelpilot control listening on {urls['control']}", err=True
            ),
        )
    finally:
        engine.dispose()


@click.group("admin")
@_database_url
@_no_migrate
@click.pass_context
def admin_group(ctx: click.Context, database_url: str, no_migrate: bool) -> None:
    """Manage accounts, deployments and keys directly in the control plane's database."""
    ctx.obj = _AdminDatabase(database_url, migrate=not no_migrate)
    ctx.call_on_close(ctx.obj.close)


class _AdminDatabase:
    """The admin commands' database, opened (and migrated) when a command first needs it, so
    that ``--help`` never creates or migrates one."""

    def __init__(self, url: str, *, migrate: bool) -> None:
        self._url = url
        self._migrate = migrate
        self._engine: Engine | None = None

    def engine(self) -> Engine:
        if self._engine is None:
            _ensure_sqlite_dir(self._url)
            engine = create_db_engine(self._url)
            self._engine = engine  # disposed by close() even if the migration fails
            if self._migrate:
                _migrate(engine)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _admin_engine(ctx: click.Context) -> Engine:
    database = ctx.find_object(_AdminDatabase)
    assert database is not None
    return database.engine()


@contextmanager
def _db(ctx: click.Context) -> Iterator[Session]:
    with create_session_factory(_admin_engine(ctx))() as session:
        try:
            yield session
        except ModelPilotError as exc:
            raise click.ClickException(exc.detail) from exc


def _now() -> datetime:
    return datetime.now(UTC)


def _job_settings(ctx: click.Context) -> ControlSettings:
    # The jobs read only the billing and retention settings; sessions are never signed here.
    engine = _admin_engine(ctx)
    try:
        return ControlSettings(
            database_url=engine.url.render_as_string(),
            session_secrets=("admin-cli-signs-no-sessions-" * 2,),
            **_env_settings(),  # type: ignore[arg-type]
        )
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc


@admin_group.command("purge")
@click.pass_context
def purge_command(ctx: click.Context) -> None:
    """Delete what is past retention now: metadata logs older than their deployment's window,
    batch ids older than 30 days, status probes older than 90 days (the control plane also does
    this every hour)."""
    with _db(ctx) as session:
        result = retention.purge(session, _job_settings(ctx), now=_now())
    click.echo(
        f"deleted {result.log_records} log records, {result.ingested_batches} batch ids, "
        f"{result.status_probes} status probes"
    )


@admin_group.command("issue-invoices")
@click.option("--month", required=True, help="The closed UTC month to invoice, as YYYY-MM.")
@click.pass_context
def issue_invoices_command(ctx: click.Context, month: str) -> None:
    """Issue the invoices of a closed month now (idempotent; the control plane also does this
    on its own a day after the month ends)."""
    with _db(ctx) as session:
        issued = billing.issue_invoices_for_month(session, _job_settings(ctx), month=month, now=_now())
    click.echo(f"issued {issued} invoices for {month}")


#: How many PBKDF2 iterations a password set from the command line gets.
_password_iterations_option = click.option(
    "--password-iterations",
    envvar="MODELPILOT_PASSWORD_ITERATIONS",
    default=DEFAULT_PASSWORD_ITERATIONS,
    show_default=True,
    type=int,
    help="PBKDF2-HMAC-SHA256 iterations for the password (env MODELPILOT_PASSWORD_ITERATIONS).",
)


def _password_settings(password_iterations: int) -> ControlSettings:
    """Settings that only hash a password (the admin CLI signs no session)."""
    try:
        return ControlSettings(
            database_url="",
            session_secrets=("unused-by-the-admin-cli" * 2,),
            password_iterations=password_iterations,
        )
    except SettingsError as exc:
        raise click.UsageError(f"--password-iterations: {exc}") from exc


@admin_group.command("create-account")
@click.argument("email")
@click.option("--admin", "is_admin", is_flag=True, help="Make the account an administrator.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@_password_iterations_option
@click.pass_context
def create_account(
    ctx: click.Context, email: str, is_admin: bool, password_stdin: bool, password_iterations: int
) -> None:
    """Create an account; prints its id."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = _password_settings(password_iterations)
    with _db(ctx) as session:
        account = accounts.sign_up(
            session, settings, email=email, password=password, now=_now(), is_admin=is_admin
        )
        click.echo(str(account.id))


@admin_group.command("reset-password")
@click.argument("email")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the new password from standard input instead of generating one.",
)
@_password_iterations_option
@click.pass_context
def reset_password(ctx: click.Context, email: str, password_stdin: bool, password_iterations: int) -> None:
    """Give the account EMAIL a new password and sign it out everywhere; a generated password is
    printed this once. (Under `modelpilot up`, EMAIL is you@modelpilot.local.)"""
    chosen = sys.stdin.readline().rstrip("\n") if password_stdin else None
    settings = _password_settings(password_iterations)
    with _db(ctx) as session:
        account = accounts.find_account(session, email=email)
        password = accounts.reset_password(session, settings, account_id=account.id, new=chosen, now=_now())
    click.echo(f"{email}: new password set; every session was signed out.", err=True)
    if chosen is None:
        click.echo(password)


@admin_group.command("create-deployment")
@click.argument("email")
@click.argument("name")
@click.pass_context
def create_deployment(ctx: click.Context, email: str, name: str) -> None:
    """Create a deployment for the account EMAIL; prints its id."""
    with _db(ctx) as session:
        account = accounts.find_account(session, email=email)
        deployment = deployments.create_deployment(session, account_id=account.id, name=name, now=_now())
        click.echo(str(deployment.id))


@admin_group.command("create-key")
@click.argument("deployment_id", type=click.UUID)
@click.argument("name")
@click.pass_context
def create_key(ctx: click.Context, deployment_id: uuid.UUID, name: str) -> None:
    """Create an API key for DEPLOYMENT_ID and print it: this is the only time it is shown."""
    with _db(ctx) as session:
        owner = deployments.owner_of_deployment(session, deployment_id=deployment_id)
        key, secret = deployments.create_api_key(
            session, account_id=owner, deployment_id=deployment_id, name=name, now=_now()
        )
        click.echo(f"key id: {key.id}", err=True)
        click.echo(secret)


@admin_group.command("list-keys")
@click.argument("deployment_id", type=click.UUID)
@click.pass_context
def list_keys(ctx: click.Context, deployment_id: uuid.UUID) -> None:
    """List a deployment's keys: id, display prefix, name, state."""
    with _db(ctx) as session:
        owner = deployments.owner_of_deployment(session, deployment_id=deployment_id)
        for key in deployments.list_api_keys(session, account_id=owner, deployment_id=deployment_id):
            state = "revoked" if key.revoked_at else "active"
            click.echo(f"{key.id}\t{key.display_prefix}…\t{key.name}\t{state}")


@admin_group.command("revoke-key")
@click.argument("deployment_id", type=click.UUID)
@click.argument("key_id", type=click.UUID)
@click.pass_context
def revoke_key(ctx: click.Context, deployment_id: uuid.UUID, key_id: uuid.UUID) -> None:
    """Revoke a key: refused from the next request on, on every replica."""
    with _db(ctx) as session:
        owner = deployments.owner_of_deployment(session, deployment_id=deployment_id)
        deployments.revoke_api_key(
            session, account_id=owner, deployment_id=deployment_id, key_id=key_id, now=_now()
        )
        click.echo("revoked")


@admin_group.command("create-token")
@click.argument("email")
@click.argument("name")
@click.pass_context
def create_token(ctx: click.Context, email: str, name: str) -> None:
    """Create a management API token for the account EMAIL and print it: this is the only time
    it is shown. Scripts send it as `Authorization: Bearer mp_mgmt_...` (docs/management-api.md)."""
    with _db(ctx) as session:
        account = accounts.find_account(session, email=email)
        token, secret = tokens.create_token(session, account_id=account.id, name=name, now=_now())
        click.echo(f"token id: {token.id}", err=True)
        click.echo(secret)


@admin_group.command("list-tokens")
@click.argument("email")
@click.pass_context
def list_tokens(ctx: click.Context, email: str) -> None:
    """List the account's management tokens: id, display prefix, name, state."""
    with _db(ctx) as session:
        account = accounts.find_account(session, email=email)
        for token in tokens.list_tokens(session, account_id=account.id):
            state = "revoked" if token.revoked_at else "active"
            click.echo(f"{token.id}\t{token.display_prefix}…\t{token.name}\t{state}")


@admin_group.command("revoke-token")
@click.argument("email")
@click.argument("token_id", type=click.UUID)
@click.pass_context
def revoke_token(ctx: click.Context, email: str, token_id: uuid.UUID) -> None:
    """Revoke one of the account's management tokens: refused from the next request on."""
    with _db(ctx) as session:
        account = accounts.find_account(session, email=email)
        tokens.revoke_token(session, account_id=account.id, token_id=token_id, now=_now())
        click.echo("revoked")


def _set_suspended(ctx: click.Context, email: str, *, suspended: bool) -> None:
    with _db(ctx) as session:
        account = accounts.find_account(session, email=email)
        accounts.set_suspended(session, account_id=account.id, suspended=suspended, now=_now())
        click.echo("suspended" if suspended else "reinstated")


@admin_group.command("suspend")
@click.argument("email")
@click.pass_context
def suspend(ctx: click.Context, email: str) -> None:
    """Suspend an account: its sessions and keys are refused from the next request on."""
    _set_suspended(ctx, email, suspended=True)


@admin_group.command("reinstate")
@click.argument("email")
@click.pass_context
def reinstate(ctx: click.Context, email: str) -> None:
    """Lift a suspension (sessions revoked by it stay revoked)."""
    _set_suspended(ctx, email, suspended=False)
