"""`modelpilot control --workers N`: several worker processes serve one control plane, and a
session started on one of them is honoured by all (they share the database and the secrets)."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

PASSWORD = "a long enough password"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise AssertionError("the control plane's workers did not start")


@pytest.mark.slow  # worker processes each import the app: tens of seconds on a busy machine
def test_workers_share_one_control_plane(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELPILOT_", "ANTHROPIC_"))}
    env.update(
        MODELPILOT_DATABASE_URL=f"sqlite:///{tmp_path / 'control.sqlite3'}",
        MODELPILOT_SESSION_SECRETS="a-session-secret-shared-by-every-replica",
        MODELPILOT_PASSWORD_ITERATIONS="200000",
    )
    cli = [sys.executable, "-m", "modelpilot.cli"]
    created = subprocess.run(
        [*cli, "admin", "create-account", "ops@example.com", "--password-stdin"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [*cli, "control", "--workers", "2", "--port", str(port), "--no-migrate"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        _wait_healthy(url, process)
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with opener.open(f"{url}/login", timeout=10) as page:
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.read().decode())
        assert token is not None
        form = urllib.parse.urlencode(
            {"email": "ops@example.com", "password": PASSWORD, "csrf_token": token[1]}
        )
        with opener.open(f"{url}/login", data=form.encode(), timeout=10):
            pass
        # Each request is a new connection: the kernel spreads them over the workers.
        for _ in range(12):
            with opener.open(f"{url}/api/session", timeout=10) as response:
                assert response.status == 200
                assert b'"email":"ops@example.com"' in response.read()
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "(2 workers)" in output
    assert "Traceback" not in output
