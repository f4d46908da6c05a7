"""Issue 15, item 2: an Anthropic key put in ``MODELPILOT_API_KEY`` by mistake. The real
``modelpilot proxy`` process refuses to start with one ``Error:`` line that names the variable and
never the key, and sends nothing anywhere: neither the control plane nor the upstream hears from
it (tests/proxy/metering/test_settings.py covers the settings and the CLI in process)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.reliability import canaries, logbook
from tests.reliability.processes import free_port
from tests.reliability.scenarios import Scenario, record
from tests.servers import serve

ANTHROPIC_LOOKING = {
    "an Anthropic API key": canaries.ANTHROPIC_KEY,
    "an Anthropic admin key": "sk-ant-admin01-" + "Zq7" * 30,
    "an sk- key without the ant prefix": "sk-" + "Q" * 48,
}


class Listener:
    """Answers 200 to anything and counts what it was sent (standing in for the control plane
    and for Anthropic at once)."""

    def __init__(self) -> None:
        self.requests = 0
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        with self._lock:
            self.requests += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def test_an_anthropic_key_as_the_deployment_key_stops_the_proxy_before_it_sends_anything(
    tmp_path: Path,
) -> None:
    listener = Listener()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "MODELPILOT_"))}
    refused = 0
    with serve(listener) as url:
        for label, key in ANTHROPIC_LOOKING.items():
            canaries.register(key)
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "modelpilot.cli",
                    "proxy",
                    "--port",
                    str(free_port()),
                    "--upstream",
                    url,
                    "--control-plane",
                    url,
                    "--spool",
                    str(tmp_path / "spool.sqlite3"),
                ],
                env={**environ, "MODELPILOT_API_KEY": key},
                capture_output=True,
                text=True,
                timeout=60,
            )
            output = result.stdout + result.stderr
            logbook.add(f"[proxy with {label}] {output}")
            assert result.returncode == 2, f"{label}: exit {result.returncode}: {output}"
            [message] = [line for line in output.splitlines() if line.startswith("Error")]
            assert "MODELPILOT_API_KEY" in message and "ANTHROPIC_API_KEY" in message, message
            assert key not in output and key[-16:] not in output
            refused += 1
    assert not (tmp_path / "spool.sqlite3").exists()  # not even a spool was opened
    record(
        Scenario(
            "mistake: an Anthropic key in MODELPILOT_API_KEY (real proxy process)",
            sent=len(ANTHROPIC_LOOKING),
            succeeded=refused,
            lost=listener.requests,
            note=f"exit 2 with one Error line; requests sent anywhere: {listener.requests}",
        )
    )
    assert listener.requests == 0
