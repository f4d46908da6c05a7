"""`modelpilot up` end to end: a real process, the official SDK through it, a clean stop with the
meter spool drained into the control plane, and a restart that reuses the local credentials."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import anthropic
import pytest
from sqlalchemy import Engine, func, select, update

from modelpilot.stack import DATABASE_FILE, STATE_FILE, read_state
from tests.stack_process import metered_requests, start_up


def _ask(base_url: str, text: str) -> anthropic.types.Message:
    with anthropic.Anthropic(base_url=base_url, api_key="sk-ant-local", max_retries=0) as client:
        return client.messages.create(
            model="claude-sonnet-4-6", max_tokens=32, messages=[{"role": "user", "content": text}]
        )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_up_meters_into_its_control_plane_and_drains_the_spool_on_stop(
    tmp_path: Path, stop_signal: int
) -> None:
    # A flush interval far longer than the test: only the drain at shutdown can deliver.
    up = start_up(tmp_path, "--flush-interval", "3600")
    try:
        assert "built-in simulator" in up.output
        # The control plane listens before the proxy starts and reaches for it.
        assert "not reachable" not in up.output
        password = re.search(r"console sign-in: you@modelpilot\.local\s+password: (\S+)", up.output)
        assert password is not None, up.output
        key = re.search(r"^\s+(mp_\S+)$", up.output, re.MULTILINE)
        assert key is not None, up.output
        message = _ask(up.base_url, "Hello")
        # Served by the requested model or by the cheaper one routing chose.
        assert message.model.startswith("claude-")
        assert message.content
        # The console URL is the control plane's root, which sends a visitor to log in.
        opener = urllib.request.build_opener(_NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(up.console_url, timeout=10)
        redirect.value.close()
        assert redirect.value.code == 303
        assert redirect.value.headers["location"] == "/login"
    finally:
        returncode = up.stop(stop_signal)
    assert returncode == 0, up.output
    assert "Traceback" not in up.output, up.output
    assert metered_requests(tmp_path)["requests"] == 1

    state_file = tmp_path / STATE_FILE
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    state = read_state(state_file)
    assert state is not None and state.api_key == key.group(1)
    assert password.group(1) not in state_file.read_text()


def test_a_second_start_reuses_the_credentials_without_printing_them(tmp_path: Path) -> None:
    first = start_up(tmp_path)
    assert first.stop() == 0
    saved = read_state(tmp_path / STATE_FILE)
    assert saved is not None

    second = start_up(tmp_path)
    try:
        assert "password" not in second.output
        assert saved.api_key not in second.output
        assert "Reusing the local account" in second.output
        _ask(second.base_url, "Hello again")
    finally:
        assert second.stop() == 0, second.output
    assert read_state(tmp_path / STATE_FILE) == saved
    assert metered_requests(tmp_path)["requests"] == 1


def _run_up(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelpilot.cli", "up", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_up_refuses_a_port_in_use_with_a_one_line_fix(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run_up("--port", str(port), "--state-dir", str(tmp_path))
    assert result.returncode == 2
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_refuses_an_upstream_that_is_not_a_url(tmp_path: Path) -> None:
    result = _run_up("--upstream", "api.anthropic.com", "--state-dir", str(tmp_path))
    assert result.returncode == 2
    assert "--upstream" in result.stderr and "http(s) URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_names_the_state_directory_it_cannot_use(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = _run_up("--port", "0", "--control-port", "0", "--state-dir", str(blocker / "state"))
    assert result.returncode == 2
    assert "--state-dir" in result.stderr and "MODELPILOT_HOME" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_runs_the_control_planes_periodic_jobs(tmp_path: Path) -> None:
    """The same jobs as `modelpilot control` (status probes, invoices, the retention purge): the
    public status page has data without anyone sending traffic."""
    up = start_up(tmp_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            with urllib.request.urlopen(f"{up.console_url}status", timeout=10) as response:
                page = response.read().decode()
            if "No data yet" not in page:
                break
            assert time.monotonic() < deadline, "no status probe ran within 30 s"
            time.sleep(0.1)
        assert "Operational" in page
    finally:
        assert up.stop() == 0, up.output
    assert "Traceback" not in up.output, up.output


def _local_database(state_dir: Path) -> Engine:
    from modelpilot.control.store.engine import create_db_engine

    return create_db_engine(f"sqlite:///{state_dir / DATABASE_FILE}")


def test_under_up_turning_the_request_log_on_in_the_console_is_enough(tmp_path: Path) -> None:
    """No flag and no variable: once the deployment's request log is on, requests are logged."""
    from modelpilot.control.store.tables import Deployment, LogRecord

    up = start_up(tmp_path, "--flush-interval", "3600")
    engine = _local_database(tmp_path)
    try:
        # What the console's settings form stores when the box is ticked (a new settings version,
        # which the proxy's config watcher sees within one poll).
        with engine.begin() as connection:
            connection.execute(
                update(Deployment).values(
                    metadata_logs=True, settings_version=Deployment.settings_version + 1
                )
            )
        deadline = time.monotonic() + 30
        while _spooled_log_records(tmp_path) == 0:
            assert time.monotonic() < deadline, "the proxy never logged a request"
            _ask(up.base_url, "Hello, request log")
            time.sleep(0.2)
        spooled = _spooled_log_records(tmp_path)
    finally:
        assert up.stop() == 0, up.output
    try:
        with engine.connect() as connection:
            logged = connection.execute(select(func.count()).select_from(LogRecord)).scalar_one()
    finally:
        engine.dispose()
    assert logged == spooled >= 1


def _spooled_log_records(state_dir: Path) -> int:
    """Metadata records waiting in ``up``'s proxy spool (read-only: the proxy holds its lock)."""
    total = 0
    for path in state_dir.rglob("*spool*.sqlite3"):
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            total += db.execute("SELECT count(*) FROM log_pending").fetchone()[0]
    return total


def test_up_reads_its_ports_from_the_environment(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for variable, option in (
            ("MODELPILOT_PORT", "--port"),
            ("MODELPILOT_CONTROL_PORT", "--control-port"),
        ):
            result = subprocess.run(
                [sys.executable, "-m", "modelpilot.cli", "up", "--state-dir", str(tmp_path)],
                capture_output=True,
                text=True,
                timeout=60,
                env={
                    **os.environ,
                    "MODELPILOT_PORT": "0",
                    "MODELPILOT_CONTROL_PORT": "0",
                    variable: str(port),
                },
            )
            assert result.returncode == 2
            assert f"127.0.0.1:{port} is already in use" in result.stderr and option in result.stderr
