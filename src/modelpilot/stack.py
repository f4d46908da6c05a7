"""``modelpilot up``: the whole local stack in one process, with embedded defaults.

Three servers share the process: the control plane (SQLite in the state directory, migrated at
start), the proxy (routing through and metering to that control plane, its spool in the state
directory) and, without an Anthropic key, the built-in simulator as the upstream. The first start
creates a local account, the deployment "local" and an API key; the key and the session secret
are kept in a 0600 file in the state directory so later starts reuse them.

With ``ANTHROPIC_API_KEY`` set (or ``--upstream``), the proxy forwards to Anthropic with that key;
without one it starts the simulator and says so plainly, so everything can be tried offline.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from modelpilot.addresses import forget_addresses, write_addresses
from modelpilot.control.settings import DEFAULT_PASSWORD_ITERATIONS, MIN_PASSWORD_ITERATIONS
from modelpilot.extras import install_command
from modelpilot.ports import ensure_port_free, free_port, reachable_host
from modelpilot.servers import Listener, serve_all

if TYPE_CHECKING:
    from sqlalchemy import Engine

ANTHROPIC_URL = "https://api.anthropic.com"
DEFAULT_STATE_DIR = "var"
#: Files in the state directory. The database's name matches ``modelpilot control``'s and
#: ``modelpilot admin``'s default, so both work on the local stack's data without options.
DATABASE_FILE = "modelpilot.sqlite3"
SPOOL_FILE = "spool.sqlite3"
STATE_FILE = "local-stack.json"
LOCAL_EMAIL = "you@modelpilot.local"
LOCAL_DEPLOYMENT = "local"
#: Paired checks of the offline stack's new deployment: the simulator's answers cost nothing, so
#: a quarter of routable requests are checked and `modelpilot demo` has verdicts to show (a
#: deployment's default is 2 %).
OFFLINE_CHECK_RATE_BPS = 2_500


# -- the state directory --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LocalState:
    """What a restart needs, kept in ``STATE_FILE`` (mode 0600): the proxy's deployment key and
    the control plane's session secret, plus which account and deployment they belong to."""

    email: str
    deployment_id: str
    api_key: str
    session_secret: str


def read_state(path: Path) -> LocalState | None:
    """The saved state, or None when there is none yet."""
    try:
        raw = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}; delete it to start afresh") from exc
    try:
        return LocalState(**raw)
    except TypeError as exc:
        raise click.ClickException(
            f"{path} is not a ModelPilot state file; delete it to start afresh"
        ) from exc


def write_state(path: Path, state: LocalState) -> None:
    """Write ``state`` readable by its owner only, replacing any previous file atomically."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(asdict(state), handle, indent=2)
    os.replace(partial, path)


def prepare_state_dir(state_dir: Path) -> None:
    """Create the state directory (owner-only) or fail with a one-line fix."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        probe = state_dir / ".writable"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise click.UsageError(
            f"the state directory {state_dir} is not writable ({exc.strerror}); "
            "pass --state-dir DIR or set MODELPILOT_HOME"
        ) from exc


@dataclass(frozen=True, slots=True)
class Bootstrap:
    """The state to run with; ``password`` and ``api_key_is_new`` say what to show this once."""

    state: LocalState
    password: str | None
    api_key_is_new: bool
    #: The paired-check rate (basis points) the new deployment "local" was given, to show once.
    check_rate_bps: int | None = None


def bootstrap(
    engine: Engine, state_path: Path, *, password_iterations: int, check_rate_bps: int | None = None
) -> Bootstrap:
    """Reuse the saved state when its deployment still exists; otherwise create the local
    account (with a generated password), the deployment "local" (with paired checks sampling
    ``check_rate_bps`` when given) and an API key, and save them."""
    from modelpilot.control import accounts, deployments
    from modelpilot.control.errors import NotFoundError
    from modelpilot.control.settings import ControlSettings
    from modelpilot.control.store.engine import create_session_factory

    saved = read_state(state_path)
    now = datetime.now(UTC)
    with create_session_factory(engine)() as session:
        if saved is not None:
            try:
                deployments.owner_of_deployment(session, deployment_id=uuid.UUID(saved.deployment_id))
                return Bootstrap(saved, password=None, api_key_is_new=False)
            except (NotFoundError, ValueError):
                pass  # the database was replaced: set it up again below
        session_secret = saved.session_secret if saved is not None else secrets.token_urlsafe(48)
        password: str | None = None
        try:
            account = accounts.find_account(session, email=LOCAL_EMAIL)
        except NotFoundError:
            password = secrets.token_urlsafe(12)
            settings = ControlSettings(
                database_url=str(engine.url),
                session_secrets=(session_secret,),
                password_iterations=password_iterations,
            )
            account = accounts.sign_up(session, settings, email=LOCAL_EMAIL, password=password, now=now)
        existing = [
            d
            for d in deployments.list_deployments(session, account_id=account.id)
            if d.name == LOCAL_DEPLOYMENT
        ]
        deployment = existing[0] if existing else None
        given_rate = None
        if deployment is None:
            deployment = deployments.create_deployment(
                session, account_id=account.id, name=LOCAL_DEPLOYMENT, now=now
            )
            if check_rate_bps is not None:
                deployment.calibration_rate_bps = given_rate = check_rate_bps
                session.commit()
        _, api_key = deployments.create_api_key(
            session, account_id=account.id, deployment_id=deployment.id, name="modelpilot up", now=now
        )
    state = LocalState(
        email=LOCAL_EMAIL, deployment_id=str(deployment.id), api_key=api_key, session_secret=session_secret
    )
    write_state(state_path, state)
    return Bootstrap(state, password=password, api_key_is_new=True, check_rate_bps=given_rate)


# -- the command ----------------------------------------------------------------------------------
def _check_upstream(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise click.BadParameter(f"must be an http(s) URL such as {ANTHROPIC_URL}, got {value!r}")
    return value


@click.command("up")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="MODELPILOT_HOST",
    help="Interface every server listens on (env MODELPILOT_HOST).",
)
@click.option(
    "--port",
    default=8787,
    envvar="MODELPILOT_PORT",
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Proxy port: the base URL for the Anthropic SDK and Claude Code (0: any free port; env MODELPILOT_PORT).",
)
@click.option(
    "--control-port",
    default=8700,
    envvar="MODELPILOT_CONTROL_PORT",
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Control plane and console port (0: any free port; env MODELPILOT_CONTROL_PORT).",
)
@click.option(
    "--sim-port",
    default=8788,
    envvar="MODELPILOT_SIM_PORT",
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Simulator port, used only when there is no Anthropic key (0: any free port; env MODELPILOT_SIM_PORT).",
)
@click.option(
    "--state-dir",
    default=DEFAULT_STATE_DIR,
    show_default=True,
    envvar="MODELPILOT_HOME",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the database, the meter spool and the local credentials live (env MODELPILOT_HOME).",
)
@click.option(
    "--upstream",
    default=None,
    envvar="MODELPILOT_UPSTREAM_URL",
    callback=_check_upstream,
    help="Anthropic API base URL (env MODELPILOT_UPSTREAM_URL). "
    "Default: Anthropic when ANTHROPIC_API_KEY is set, else the built-in simulator.",
)
@click.option(
    "--flush-interval",
    "flush_interval_s",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    envvar="MODELPILOT_FLUSH_INTERVAL_S",
    help="Seconds between two deliveries of usage from the proxy to the control plane.",
)
@click.option(
    "--metadata-logs/--no-metadata-logs",
    default=True,
    show_default=True,
    envvar="MODELPILOT_METADATA_LOGS",
    help="Let the proxy send a metadata record of each request (never content); the control plane "
    "keeps them only while the deployment's request log is on in the console (env MODELPILOT_METADATA_LOGS).",
)
@click.option(
    "--password-iterations",
    envvar="MODELPILOT_PASSWORD_ITERATIONS",
    default=DEFAULT_PASSWORD_ITERATIONS,
    show_default=True,
    type=click.IntRange(min=MIN_PASSWORD_ITERATIONS),
    help="PBKDF2-HMAC-SHA256 iterations for the local account's password.",
)
def up_command(
    host: str,
    port: int,
    control_port: int,
    sim_port: int,
    state_dir: Path,
    upstream: str | None,
    flush_interval_s: float,
    metadata_logs: bool,
    password_iterations: int,
) -> None:
    """Start ModelPilot locally: the control plane and console, the proxy, and the simulator
    when there is no Anthropic key. Ctrl-C stops everything after the proxy has delivered its
    metering.

    The first start creates a local account, the deployment "local" and its API key and prints
    them once; later starts reuse them (kept in STATE_DIR/local-stack.json, readable by you only).
    """
    anthropic_key = os.environ.get("ANTHROPIC_API_KEY") or None
    use_simulator = upstream is None and anthropic_key is None
    ensure_port_free(host, port, "--port")
    ensure_port_free(host, control_port, "--control-port")
    if use_simulator:
        ensure_port_free(host, sim_port, "--sim-port")
    prepare_state_dir(state_dir)

    # Imported once the cheap checks passed, so a mistake is reported at once.
    try:
        from modelpilot.control.app import create_app as create_control
        from modelpilot.control.settings import ControlSettings, SettingsError
        from modelpilot.control.store.engine import create_db_engine
        from modelpilot.control.store.migrate import upgrade
    except ModuleNotFoundError as exc:
        raise click.ClickException(
            f"modelpilot up runs the control plane, which needs {exc.name!r}: {install_command('control')}"
        ) from exc
    from modelpilot.proxy.app import create_app as create_proxy
    from modelpilot.proxy.settings import ProxySettings

    iterations = password_iterations

    engine = create_db_engine(f"sqlite:///{state_dir / DATABASE_FILE}")
    try:
        upgrade(engine)
        # The proxy (and the console's commands) must know the control plane's and the
        # simulator's addresses before they listen.
        control_port = control_port or free_port(host)
        try:
            started = bootstrap(
                engine,
                state_dir / STATE_FILE,
                password_iterations=iterations,
                check_rate_bps=OFFLINE_CHECK_RATE_BPS if use_simulator else None,
            )
            control_settings = ControlSettings(
                database_url=str(engine.url),
                session_secrets=(started.state.session_secret,),
                password_iterations=iterations,
                # The console writes this into the commands it shows, never the request's Host.
                public_url=f"http://{reachable_host(host)}:{control_port}",
            )
        except SettingsError as exc:
            raise click.UsageError(f"--password-iterations: {exc}") from exc

        listeners: list[Listener] = []
        listeners.append(
            Listener("control", create_control(control_settings, engine=engine), host, control_port)
        )
        if use_simulator:
            from modelpilot.sim import SimSettings
            from modelpilot.sim import create_app as create_sim

            sim_port = sim_port or free_port(host)
            listeners.append(Listener("simulator", create_sim(SimSettings()), host, sim_port))
            upstream = f"http://{reachable_host(host)}:{sim_port}"
        try:
            proxy_settings = ProxySettings(
                upstream_url=upstream or ANTHROPIC_URL,
                anthropic_api_key=anthropic_key,
                control_plane_url=f"http://{reachable_host(host)}:{control_port}",
                control_plane_api_key=started.state.api_key,
                spool_path=str(state_dir / SPOOL_FILE),
                flush_interval_s=flush_interval_s,
                # Everything stays on this machine, and the control plane stores a record only
                # while the deployment's request log is on: turning it on in the console is enough.
                metadata_logs=metadata_logs,
            )
        except ValueError as exc:
            raise click.UsageError(f"--host {host}: {exc}") from exc
        # Listed last, stopped first: the proxy drains its spool to a control plane still running.
        listeners.append(Listener("proxy", create_proxy(proxy_settings), host, port, forwarded_headers=False))

        def announce(urls: dict[str, str]) -> None:
            # Reachable addresses, so `modelpilot demo` finds the proxy wherever it listens.
            write_addresses(state_dir, {name: _reachable_url(url) for name, url in urls.items()})
            _announce(
                urls, started, state_dir, use_simulator=use_simulator, upstream=proxy_settings.upstream_base
            )

        serve_all(listeners, on_started=announce)
    finally:
        forget_addresses(state_dir)
        engine.dispose()
    click.echo("ModelPilot stopped.")


def _reachable_url(url: str) -> str:
    scheme, _, rest = url.partition("://")
    host, _, port = rest.rpartition(":")
    return f"{scheme}://{reachable_host(host)}:{port}"


def _announce(
    urls: dict[str, str], started: Bootstrap, state_dir: Path, *, use_simulator: bool, upstream: str
) -> None:
    echo = click.echo
    if use_simulator:
        echo(
            f"No ANTHROPIC_API_KEY set: answers come from the built-in simulator at {urls['simulator']},\n"
            "not from Claude, and nothing is sent to Anthropic. Set ANTHROPIC_API_KEY to use the real API."
        )
    else:
        echo(f"Upstream: {upstream} (your own key; ModelPilot never sees it)")
    state_file = state_dir / STATE_FILE
    if started.password is not None:
        echo("\nFirst start: created your local account (shown this once, keep it):")
        echo(f"  console sign-in: {started.state.email}  password: {started.password}")
        database = (
            ""
            if state_dir == Path(DEFAULT_STATE_DIR)
            else f" --database-url sqlite:///{state_dir / DATABASE_FILE}"
        )
        echo(f"  (lost it? modelpilot admin{database} reset-password {started.state.email})")
    if started.api_key_is_new:
        echo(f'Deployment "{LOCAL_DEPLOYMENT}" API key (shown this once; the proxy already uses it):')
        echo(f"  {started.state.api_key}")
    else:
        echo(f"\nReusing the local account {started.state.email} and its API key from {state_file}.")
    if started.check_rate_bps is not None:
        echo(
            f"Paired quality checks sample {started.check_rate_bps / 100:g}% of routable requests here "
            "(the simulator's answers cost nothing; a deployment's default is 2%): change it in the "
            "console's settings before you set ANTHROPIC_API_KEY."
        )
    echo(
        f"\nPoint the Anthropic SDK or Claude Code at the proxy:\n  export ANTHROPIC_BASE_URL={urls['proxy']}"
    )
    echo(f"Console (sign in as {started.state.email}):\n  {urls['control']}/")
    demo = (
        "modelpilot demo"
        if state_dir == Path(DEFAULT_STATE_DIR)
        else f"modelpilot demo --state-dir {state_dir}"
    )
    echo(f"\nTry it: {demo}    Press Ctrl-C to stop.", nl=True)
