"""``modelpilot sim`` as a real process: one log line with the address, clean shutdown on signals."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest
from click.testing import CliRunner

from modelpilot.cli import main


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(main, ["sim", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--ttft-ms", "--token-ms"):
        assert option in result.output


@pytest.mark.parametrize(("sig", "codes"), [(signal.SIGINT, {0}), (signal.SIGTERM, {0})])
def test_serves_then_stops_on_signal(sig: signal.Signals, codes: set[int]) -> None:
    command = [sys.executable, "-m", "modelpilot.cli", "sim", "--port", "0", "--ttft-ms", "1"]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.fullmatch(r"modelpilot sim listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        with urllib.request.urlopen(f"{match.group(1)}/_sim/health", timeout=5) as response:
            assert response.status == 200
        process.send_signal(sig)
        assert process.wait(timeout=10) in codes
        assert process.stderr.read() == ""


def test_a_port_in_use_is_one_line_not_a_traceback() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "modelpilot.cli", "sim", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"127.0.0.1:{port} is already in use" in result.stderr and "--port" in result.stderr
    assert "Traceback" not in result.stderr
