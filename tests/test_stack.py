"""`modelpilot up` end to end: a real process, the official SDK through it, a clean stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import anthropic
import pytest


def start_up(*args: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "modelpilot.cli", "up", "--port", "0", "--sim-port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 30
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"ANTHROPIC_BASE_URL=(\S+)", line)
        if match:
            return process, match.group(1), lines
    process.kill()
    process.wait()
    process.stdout.close()
    pytest.fail("modelpilot up did not print the base URL:\n" + "".join(lines))


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_up_without_a_key_serves_the_simulator_through_the_proxy_and_stops_cleanly(stop_signal: int) -> None:
    process, base_url, lines = start_up()
    try:
        assert any("built-in simulator" in line for line in lines), lines
        with anthropic.Anthropic(base_url=base_url, api_key="sk-ant-local", max_retries=0) as client:
            message = client.messages.create(
                model="claude-sonnet-4-6", max_tokens=32, messages=[{"role": "user", "content": "Hello"}]
            )
        assert message.model == "claude-sonnet-4-6"
        assert message.content
    finally:
        process.send_signal(stop_signal)
        returncode = process.wait(timeout=15)
        process.stdout.close()
    assert returncode == 0


def test_up_refuses_a_port_in_use_with_a_one_line_fix() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "modelpilot.cli", "up", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr
