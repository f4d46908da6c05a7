"""Real ``modelpilot`` processes for the crash and load tests: started on fixed loopback ports
(so a restart comes back at the same address), killed with SIGKILL or stopped with SIGTERM; their
output goes to the log book."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from modelpilot.cli import main
from tests.reliability import canaries, logbook

CLI_ITERATIONS = "200000"  # the lowest password policy the CLI accepts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eventually(predicate: Callable[[], bool], *, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Child:
    """One ``python -m modelpilot.cli ...`` process listening on ``port``."""

    def __init__(self, label: str, port: int, args: list[str], env: dict[str, str]) -> None:
        self.label = label
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "modelpilot.cli", *args],
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._drains = [
            logbook.drain_stream(self.process.stdout, f"{label} stdout"),
            logbook.drain_stream(self.process.stderr, f"{label} stderr"),
        ]
        eventually(self._listening, what=f"{label} to listen")

    def _listening(self) -> bool:
        assert self.process.poll() is None, f"{self.label} exited with {self.process.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no drain, no flush."""
        self.process.kill()
        self.process.wait(timeout=10)

    def terminate(self) -> int:
        """SIGTERM and wait: the graceful stop."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def stop_quietly(self) -> None:
        if self.alive:
            self.process.kill()
            self.process.wait(timeout=10)
        for thread in self._drains:
            if thread is not None:
                thread.join(timeout=5)

    def metric(self, name: str) -> int:
        """The sum of a Prometheus metric's samples on ``/metrics`` (the proxy's)."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as response:
            text = response.read().decode()
        pattern = rf"^{name}(?:{{[^}}]*}})? (\S+)$"
        return sum(int(float(value)) for value in re.findall(pattern, text, re.M))


def control_env() -> dict[str, str]:
    return {
        "MODELPILOT_SESSION_SECRETS": canaries.SESSION_SECRET,
        "MODELPILOT_PASSWORD_ITERATIONS": CLI_ITERATIONS,
    }


def start_control(db_url: str, port: int, *, migrate: bool) -> Child:
    args = ["control", "--port", str(port), "--database-url", db_url]
    return Child("control", port, args if migrate else [*args, "--no-migrate"], control_env())


def start_proxy(
    port: int, *, upstream: str, control_url: str, key: str, spool: Path, extra: tuple[str, ...] = ()
) -> Child:
    args = [
        "proxy", "--port", str(port), "--upstream", upstream, "--control-plane", control_url,
        "--spool", str(spool), *extra,
    ]  # fmt: skip
    return Child("proxy", port, args, {"MODELPILOT_API_KEY": key})


def admin(db_url: str, *args: str, stdin: str | None = None) -> str:
    """``modelpilot admin ...`` against ``db_url``; its standard output."""
    result = CliRunner().invoke(
        main,
        ["admin", "--database-url", db_url, "--no-migrate", *args],
        input=stdin,
        env={"MODELPILOT_PASSWORD_ITERATIONS": CLI_ITERATIONS},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def deployment_key(db_url: str, email: str) -> str:
    """A new account with a deployment and a key (through the admin CLI): the key."""
    admin(db_url, "create-account", email, "--password-stdin", stdin=canaries.PASSWORD + "\n")
    deployment = admin(db_url, "create-deployment", email, "prod")
    key = admin(db_url, "create-key", deployment, "proxy").split()[-1]
    assert key.startswith("mp_live_"), "unexpected create-key output"
    return canaries.register(key)
