"""``modelpilot proxy`` as a real process: one log line, serves, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import aiohttp
import pytest
from click.testing import CliRunner

from modelpilot.proxy.cli import proxy_command
from tests.proxy.conftest import Stack


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else b""
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.01)
    raise AssertionError("the proxy did not start listening")


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(proxy_command, ["--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--upstream", "--anthropic-api-key-file"):
        assert option in result.output
    assert "--anthropic-api-key " not in result.output  # a key never goes on the command line


def test_a_non_http_upstream_is_refused() -> None:
    result = CliRunner().invoke(proxy_command, ["--upstream", "ftp://example"])
    assert result.exit_code == 2 and "upstream_url" in result.output


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_the_proxy_process_forwards_with_the_env_key_and_stops_on_a_signal(
    stack: Stack, client: aiohttp.ClientSession, stop: signal.Signals
) -> None:
    upstream, upstream_url = stack.upstream()
    port = free_port()
    env = {**os.environ, "ANTHROPIC_API_KEY": "sk-ant-from-env", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "modelpilot.cli", "proxy", "--port", str(port), "--upstream", upstream_url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_listening(port, process)
        async with client.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200
        async with client.get(f"http://127.0.0.1:{port}/v1/models?limit=1") as response:
            assert response.status == 200
        assert upstream.last.header("x-api-key") == "sk-ant-from-env"
        assert upstream.last.query_string == b"limit=1"
    finally:
        process.send_signal(stop)
        stdout, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr.decode()
    lines = [line for line in (stdout + stderr).decode().splitlines() if line.strip()]
    assert lines == [f"modelpilot proxy listening on http://127.0.0.1:{port} → upstream {upstream_url}"]
    assert "sk-ant-from-env" not in (stdout + stderr).decode()


def test_a_key_without_a_control_plane_is_named_at_start(stack: Stack) -> None:
    _, upstream_url = stack.upstream()
    port = free_port()
    env = {**os.environ, "MODELPILOT_API_KEY": "mp_live_x", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "modelpilot.cli", "proxy", "--port", str(port), "--upstream", upstream_url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_listening(port, process)
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr.decode()
    output = (stdout + stderr).decode()
    assert "MODELPILOT_API_KEY is set but there is no --control-plane" in output
    assert "unrouted" in output and "nothing is metered" in output
    assert "mp_live_x" not in output
