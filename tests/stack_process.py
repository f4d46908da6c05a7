"""Start ``modelpilot up`` as a real process on free ports for tests, and stop it with a signal."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# The fewest PBKDF2 iterations the control plane accepts: the first start hashes one password.
FAST_ITERATIONS = "200000"


@dataclass
class UpProcess:
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    @property
    def base_url(self) -> str:
        """The proxy's URL, from the ``export ANTHROPIC_BASE_URL=...`` line."""
        match = re.search(r"export ANTHROPIC_BASE_URL=(http://\S+)", self.output)
        assert match is not None, self.output
        return match.group(1)

    @property
    def console_url(self) -> str:
        """The console's URL, from the line after ``Console``."""
        match = re.search(r"^Console[^\n]*\n\s+(http://\S+)$", self.output, re.MULTILINE)
        assert match is not None, self.output
        return match.group(1)

    def stop(self, stop_signal: int = signal.SIGINT) -> int:
        """Signal the process, wait for it, and return its exit code (output kept in ``lines``)."""
        self.process.send_signal(stop_signal)
        assert self.process.stdout is not None
        rest, _ = self.process.communicate(timeout=30)
        self.lines.append(rest)
        return self.process.returncode


def start_up(state_dir: Path, *args: str, env: dict[str, str] | None = None) -> UpProcess:
    """``modelpilot up`` on OS-chosen ports with ``state_dir``, once it printed the console URL."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "MODELPILOT_"))}
    environ.update(env or {})
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelpilot.cli",
            "up",
            "--port",
            "0",
            "--control-port",
            "0",
            "--sim-port",
            "0",
            "--state-dir",
            str(state_dir),
            "--password-iterations",
            FAST_ITERATIONS,
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environ,
    )
    up = UpProcess(process)
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        up.lines.append(line)
        if "Press Ctrl-C to stop" in line:
            return up
    process.kill()
    process.communicate()
    pytest.fail("modelpilot up did not finish starting:\n" + up.output)


def metered_requests(state_dir: Path) -> dict[str, int]:
    """The local deployment's usage totals, read from the database ``up`` left behind."""
    from modelpilot.control.store.engine import create_db_engine, create_session_factory
    from modelpilot.control.store.queries.ingestion import list_usage
    from modelpilot.stack import DATABASE_FILE, STATE_FILE, read_state

    state = read_state(state_dir / STATE_FILE)
    assert state is not None
    engine = create_db_engine(f"sqlite:///{state_dir / DATABASE_FILE}")
    totals = {"requests": 0, "actual_cost_micros": 0, "baseline_cost_micros": 0, "routed": 0, "escalated": 0}
    try:
        with create_session_factory(engine)() as session:
            for row in list_usage(session, deployment_id=uuid.UUID(state.deployment_id)):
                totals["requests"] += row.requests
                totals["actual_cost_micros"] += row.actual_cost_micros
                totals["baseline_cost_micros"] += row.baseline_cost_micros
                totals["routed"] += row.requests if row.routed else 0
                totals["escalated"] += row.requests if row.escalated else 0
    finally:
        engine.dispose()
    return totals


__all__ = ["UpProcess", "metered_requests", "start_up", "signal"]
