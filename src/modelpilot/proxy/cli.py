"""``modelpilot proxy``: run the local proxy with uvicorn.

The fallback Anthropic key comes from the environment (``ANTHROPIC_API_KEY``) or a file, never
from a flag, so it does not show in ``ps``; so does the deployment key (``MODELPILOT_API_KEY``).
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import click

from modelpilot.proxy.settings import ProxySettings, check_deployment_key
from modelpilot.proxy.spool import SpoolLockedError, deployment_fingerprint
from modelpilot.servers import Listener, bind_reuse_port, serve_all

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

    from modelpilot.proxy.app import ProxyApp

log = logging.getLogger("modelpilot.proxy")


def default_learner_path(api_key: str) -> Path:
    """Where the local learner lives unless ``--learner`` says otherwise: beside the deployment's
    spool, one file per deployment key like the spool."""
    from modelpilot.proxy.learning import learner_file_beside

    return learner_file_beside(default_spool_path(api_key))


def default_spool_path(api_key: str) -> Path:
    """Where the meter spool lives unless ``--spool`` says otherwise (XDG state directory): one
    file per deployment key, so two proxies with different keys never share one."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "modelpilot" / f"spool-{deployment_fingerprint(api_key)[:16]}.sqlite3"


#: Which flag and environment variable set each ProxySettings field, for start-up messages.
SETTING_SOURCES = {
    "upstream_url": "--upstream (MODELPILOT_UPSTREAM_URL)",
    "public_base_url": "--public-base-url (MODELPILOT_PUBLIC_BASE_URL)",
    "allowed_hosts": "--allowed-host (MODELPILOT_ALLOWED_HOSTS)",
    "control_plane_api_key": "MODELPILOT_API_KEY",
    "control_plane_url": "--control-plane (MODELPILOT_CONTROL_PLANE_URL)",
    "spool_path": "--spool (MODELPILOT_SPOOL)",
    "metadata_logs": "--metadata-logs (MODELPILOT_METADATA_LOGS)",
    "flush_interval": "--flush-interval (MODELPILOT_FLUSH_INTERVAL_S)",
    "routing_budget_ms": "--routing-budget-ms (MODELPILOT_ROUTING_BUDGET_MS)",
    "config_poll_interval_s": "--config-poll-interval (MODELPILOT_CONFIG_POLL_INTERVAL_S)",
    "otlp_endpoint": "--otlp-endpoint (MODELPILOT_OTLP_ENDPOINT)",
    "learner_path": "--learner (MODELPILOT_LEARNER)",
    "calibration_rate_bps": "--calibration-rate (MODELPILOT_CALIBRATION_RATE)",
    "calibration_daily_cap_micros": "--calibration-daily-cap-usd (MODELPILOT_CALIBRATION_DAILY_CAP_USD)",
    "judge_callable": "--judge-callable (MODELPILOT_JUDGE_CALLABLE)",
    "judge_url": "--judge-url (MODELPILOT_JUDGE_URL)",
}


def settings_error(exc: ValueError) -> click.UsageError:
    """A ProxySettings refusal as one line that names the flag or variable to fix."""
    message = str(exc)
    # The field a message starts with is the one at fault; else the first one it mentions.
    for matches in (message.startswith, lambda name: f" {name}" in message):
        for field_name, source in SETTING_SOURCES.items():
            if matches(field_name):
                return click.UsageError(f"{source}: {message}")
    return click.UsageError(message)


def build_app(settings: ProxySettings) -> ProxyApp:
    """The proxy's app for ``settings``; what stops it from starting as a ClickException."""
    from modelpilot.proxy.app import create_app
    from modelpilot.proxy.calibration.judge import EvaluatorLoadError
    from modelpilot.proxy.otlp import OtlpUnavailableError

    try:
        return create_app(settings)
    except SpoolLockedError as exc:
        raise click.ClickException(
            f"{exc}; give each proxy its own spool file with --spool (MODELPILOT_SPOOL), "
            "or stop the other proxy"
        ) from exc
    except (OSError, sqlite3.Error) as exc:
        raise click.ClickException(f"cannot open the meter spool {settings.spool_path}: {exc}") from exc
    except OtlpUnavailableError as exc:
        raise click.ClickException(str(exc)) from exc
    except EvaluatorLoadError as exc:
        raise click.ClickException(f"--judge-callable: {exc}") from exc


def serve_worker(
    settings: ProxySettings,
    host: str,
    port: int,
    index: int,
    ready: Queue[tuple[int, str | None]],
    parent_pid: int,
) -> None:
    """One worker process of ``--workers N`` (started by :class:`~modelpilot.proxy.workers.WorkerPool`):
    the whole proxy on its own ``SO_REUSEPORT`` socket; it says on ``ready`` when it listens."""
    from modelpilot.proxy.workers import watch_parent

    os.setpgrp()  # the parent forwards one SIGTERM; a terminal's Ctrl-C must not reach us twice
    watch_parent(parent_pid)
    logging.basicConfig(level=logging.WARNING, format=f"[worker {index}] %(message)s")
    try:
        app = build_app(settings)
        sock = bind_reuse_port(host, port)
    except click.ClickException as exc:
        ready.put((index, exc.format_message()))
        raise SystemExit(1) from exc
    except OSError as exc:
        ready.put((index, f"cannot listen on {host}:{port}: {exc}"))
        raise SystemExit(1) from exc
    serve_all(
        [Listener("proxy", app, host, port, sock=sock, forwarded_headers=False)],
        on_started=lambda _: ready.put((index, None)),
    )


def serve_workers(settings: list[ProxySettings], host: str, port: int) -> None:
    """The parent of ``--workers N``: hold the port, run the workers until a signal."""
    from modelpilot.proxy.workers import WorkerPool

    holder = bind_reuse_port(host, port)  # holds the port; never listens, so gets no connection
    port = holder.getsockname()[1]
    pool = WorkerPool(settings, host=host, port=port, target=serve_worker)
    previous = {sig: signal.signal(sig, pool.request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        error = pool.start()
        if error is not None:
            raise click.ClickException(error)
        click.echo(
            f"modelpilot proxy listening on http://{host}:{port} → upstream {settings[0].upstream_base} "
            f"({len(settings)} workers)",
            err=True,
        )
        code = pool.wait()
    finally:
        pool.stop(timeout_s=2 * settings[0].drain_timeout_s + 10)
        holder.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code != 0:
        raise click.ClickException("a worker stopped by itself")


def _read_key_file(path: Path | None) -> str | None:
    if path is None:
        return None
    key = path.read_text("utf-8").strip()
    if not key:
        raise click.BadParameter(f"{path} is empty", param_hint="--anthropic-api-key-file")
    return key


@click.command("proxy")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", default=8787, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on."
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    envvar="MODELPILOT_WORKERS",
    help="Processes serving the port (SO_REUSEPORT), for throughput beyond one core. Each has its own "
    "spool (<spool>-w<i>.sqlite3 for i >= 1), learner file, decision cache and conversation pins, and "
    "an even share of the paired checks' daily cap.",
)
@click.option(
    "--upstream",
    "upstream_url",
    default="https://api.anthropic.com",
    show_default=True,
    envvar="MODELPILOT_UPSTREAM_URL",
    help="Anthropic API base URL to forward to.",
)
@click.option(
    "--public-base-url",
    default=None,
    envvar="MODELPILOT_PUBLIC_BASE_URL",
    help="Origin callers use to reach this proxy (for batch results_url); default: the request's Host.",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    envvar="MODELPILOT_ALLOWED_HOSTS",
    help="A host name callers may use to reach this proxy besides loopback ones (repeatable; env: "
    "space-separated). Requests naming another Host, and cross-site browser requests, are refused.",
)
@click.option(
    "--anthropic-api-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="File holding the key used for requests that carry none (else $ANTHROPIC_API_KEY).",
)
@click.option(
    "--control-plane",
    "control_plane_url",
    default=None,
    envvar="MODELPILOT_CONTROL_PLANE_URL",
    help="ModelPilot control plane to send usage aggregates to (https, or http on loopback); "
    "its deployment key comes from $MODELPILOT_API_KEY.",
)
@click.option(
    "--spool",
    "spool_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="MODELPILOT_SPOOL",
    help="SQLite file holding metering until the control plane has it "
    "[default with --control-plane: $XDG_STATE_HOME/modelpilot/spool-<deployment>.sqlite3, one per "
    "deployment key]. One proxy at a time may use a spool file.",
)
@click.option(
    "--flush-interval",
    "flush_interval_s",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    envvar="MODELPILOT_FLUSH_INTERVAL_S",
    help="Seconds between two deliveries of usage aggregates to the control plane.",
)
@click.option(
    "--metadata-logs/--no-metadata-logs",
    default=False,
    show_default=True,
    envvar="MODELPILOT_METADATA_LOGS",
    help="Also send one metadata record per request to the control plane (time, models, category, "
    "tokens, cost, status, latency; never content).",
)
@click.option(
    "--routing-budget-ms",
    default=25.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    envvar="MODELPILOT_ROUTING_BUDGET_MS",
    help="Longest wait for a routing decision; past it the request goes unrouted (fails open).",
)
@click.option(
    "--config-poll-interval",
    "config_poll_interval_s",
    default=3.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    envvar="MODELPILOT_CONFIG_POLL_INTERVAL_S",
    help="Seconds between two reads of the deployment's settings (GET /v1/config): a switch to Off, "
    "a revoked key or a suspension is obeyed within about this long.",
)
@click.option(
    "--checked-streaming/--no-checked-streaming",
    default=False,
    show_default=True,
    envvar="MODELPILOT_CHECKED_STREAMING",
    help="Hold routed tool-using or structured-output streams until they pass the checks, "
    "so they can be escalated (the caller sees the first byte later).",
)
@click.option(
    "--learner",
    "learner_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="MODELPILOT_LEARNER",
    help="File of the local learner (learned from this deployment's outcomes; never sent) "
    "[default: learner.json beside the spool].",
)
@click.option(
    "--otlp-endpoint",
    default=None,
    envvar="MODELPILOT_OTLP_ENDPOINT",
    help="Your own OTLP/HTTP collector (e.g. http://127.0.0.1:4318): one metadata record and metrics "
    "per request (GenAI semantic conventions, never content); headers from $OTEL_EXPORTER_OTLP_HEADERS. "
    "Needs the otlp extra.",
)
@click.option(
    "--calibration-rate",
    "calibration_rate_percent",
    default=None,
    type=click.FloatRange(0, 100),
    envvar="MODELPILOT_CALIBRATION_RATE",
    help="Percent of routable requests that get a paired check (the candidate answers too, off the "
    "caller's path, and is judged); 0 turns it off [default: the deployment's setting, 2].",
)
@click.option(
    "--calibration-daily-cap-usd",
    default=None,
    type=click.FloatRange(min=0),
    envvar="MODELPILOT_CALIBRATION_DAILY_CAP_USD",
    help="Most paired checks may spend per UTC day, in dollars; 0 turns them off "
    "[default: the deployment's setting, 1].",
)
@click.option(
    "--judge-model",
    default=None,
    envvar="MODELPILOT_JUDGE_MODEL",
    help="Model that judges paired checks [default: the requested model].",
)
@click.option(
    "--judge-prompt-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    envvar="MODELPILOT_JUDGE_PROMPT_FILE",
    help="File holding the judge's rubric (its system prompt) instead of the built-in one.",
)
@click.option(
    "--judge-callable",
    default=None,
    envvar="MODELPILOT_JUDGE_CALLABLE",
    help="Your own evaluator instead of the judge, as module:function (see docs/calibration.md).",
)
@click.option(
    "--judge-url",
    default=None,
    envvar="MODELPILOT_JUDGE_URL",
    help="Your own evaluator instead of the judge, as an HTTP endpoint on loopback (see docs/calibration.md).",
)
def proxy_command(
    host: str,
    port: int,
    workers: int,
    upstream_url: str,
    public_base_url: str | None,
    allowed_hosts: tuple[str, ...],
    anthropic_api_key_file: Path | None,
    control_plane_url: str | None,
    spool_path: Path | None,
    flush_interval_s: float,
    metadata_logs: bool,
    routing_budget_ms: float,
    config_poll_interval_s: float,
    checked_streaming: bool,
    learner_path: Path | None,
    otlp_endpoint: str | None,
    calibration_rate_percent: float | None,
    calibration_daily_cap_usd: float | None,
    judge_model: str | None,
    judge_prompt_file: Path | None,
    judge_callable: str | None,
    judge_url: str | None,
) -> None:
    """Run the local proxy. Point the SDK at it: ANTHROPIC_BASE_URL=http://HOST:PORT."""
    from modelpilot.ports import ensure_port_free
    from modelpilot.proxy.orphans import LeftOverDelivery
    from modelpilot.proxy.workers import left_over_spools, worker_settings

    key = _read_key_file(anthropic_api_key_file) or os.environ.get("ANTHROPIC_API_KEY") or None
    deployment_key = os.environ.get("MODELPILOT_API_KEY") or None
    if control_plane_url is not None and deployment_key is None:
        raise click.UsageError(
            "--control-plane needs the deployment's API key in MODELPILOT_API_KEY "
            "(create one in the console or with `modelpilot admin create-key`)"
        )
    if control_plane_url is not None and deployment_key is not None:
        try:
            check_deployment_key(deployment_key, strict=True)
        except ValueError as exc:
            raise click.UsageError(f"MODELPILOT_API_KEY: {exc}") from exc
    ensure_port_free(host, port, "--port")
    if deployment_key is not None and control_plane_url is None:
        # Followed literally, "MODELPILOT_API_KEY=... modelpilot proxy" would pass traffic through
        # unrouted and unmetered without a word: say so, with the fix.
        click.echo(
            "Warning: MODELPILOT_API_KEY is set but there is no --control-plane "
            "(MODELPILOT_CONTROL_PLANE_URL): requests pass through unrouted and nothing is metered. "
            "Add --control-plane URL (the console shows the exact command).",
            err=True,
        )
    try:
        if control_plane_url is not None and deployment_key is not None and spool_path is None:
            spool_path = default_spool_path(deployment_key)
        settings = ProxySettings(
            upstream_url=upstream_url,
            anthropic_api_key=key,
            public_base_url=public_base_url,
            allowed_hosts=allowed_hosts,
            control_plane_url=control_plane_url,
            control_plane_api_key=deployment_key if control_plane_url else None,
            spool_path=str(spool_path) if spool_path is not None else None,
            flush_interval_s=flush_interval_s,
            metadata_logs=metadata_logs,
            routing_budget_ms=routing_budget_ms,
            config_poll_interval_s=config_poll_interval_s,
            checked_streaming=checked_streaming,
            learner_path=str(learner_path) if learner_path is not None else None,
            otlp_endpoint=otlp_endpoint,
            calibration_rate_bps=(
                round(calibration_rate_percent * 100) if calibration_rate_percent is not None else None
            ),
            calibration_daily_cap_micros=(
                round(calibration_daily_cap_usd * 1_000_000)
                if calibration_daily_cap_usd is not None
                else None
            ),
            judge_model=judge_model,
            judge_prompt=judge_prompt_file.read_text("utf-8") if judge_prompt_file is not None else None,
            judge_callable=judge_callable,
            judge_url=judge_url,
        )
    except ValueError as exc:
        raise settings_error(exc) from exc
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        per_worker = worker_settings(settings, workers)
    except SpoolLockedError as exc:
        raise click.ClickException(
            f"{exc}; give each proxy its own spool file with --spool (MODELPILOT_SPOOL), "
            "or stop the other proxy"
        ) from exc
    except (OSError, sqlite3.Error) as exc:
        raise click.ClickException(f"cannot open the meter spool {settings.spool_path}: {exc}") from exc
    # Worker spools of an earlier run with more workers: still owed to the control plane.
    left_over = LeftOverDelivery(
        left_over_spools(Path(settings.spool_path), workers) if settings.spool_path is not None else [],
        settings,
    )
    if workers > 1:
        left_over.start()
        try:
            serve_workers(per_worker, host, port)
        finally:
            left_over.stop()
        return
    app = build_app(per_worker[0])
    left_over.start()
    try:
        # serve_all stops gracefully on SIGINT/SIGTERM (the lifespan closes the upstream pool), exit 0.
        serve_all(
            [Listener("proxy", app, host, port, forwarded_headers=False)],
            on_started=lambda urls: click.echo(
                f"modelpilot proxy listening on {urls['proxy']} → upstream {settings.upstream_base}", err=True
            ),
        )
    finally:
        left_over.stop()
