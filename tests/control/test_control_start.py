"""What `modelpilot control` says at start: a control plane served beyond loopback without
MODELPILOT_PUBLIC_URL is told that its console commands will show a placeholder (they are never
built from a request's Host header, issue 15 item 7), and without MODELPILOT_ALLOWED_HOSTS that
it answers for any Host name."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.control.conftest import SECRET

WARNING = "MODELPILOT_PUBLIC_URL is not set"
HOSTS_WARNING = "MODELPILOT_ALLOWED_HOSTS is not set"


def start_up_output(
    tmp_path: Path, host: str, public_url: str | None, allowed_hosts: str | None = None
) -> str:
    """Everything `modelpilot control --host HOST --port 0` prints before it listens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPILOT_")}
    env |= {"MODELPILOT_SESSION_SECRETS": SECRET, "MODELPILOT_PASSWORD_ITERATIONS": "200000"}
    if public_url is not None:
        env["MODELPILOT_PUBLIC_URL"] = public_url
    if allowed_hosts is not None:
        env["MODELPILOT_ALLOWED_HOSTS"] = allowed_hosts
    name = f"control-{host.replace('.', '_')}-{public_url is None}.sqlite3"
    database = f"sqlite:///{tmp_path / name}"
    command = [sys.executable, "-m", "modelpilot.cli", "control", "--host", host, "--port", "0"]
    process = subprocess.Popen(
        [*command, "--database-url", database], stderr=subprocess.PIPE, env=env, text=True
    )
    seen: list[str] = []
    try:
        assert process.stderr is not None
        for line in iter(process.stderr.readline, ""):
            seen.append(line)
            if re.search(r"listening on http://", line):
                break
        else:
            pytest.fail(f"modelpilot control did not start: {''.join(seen)!r}")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stderr is not None:
                process.stderr.close()
    return "".join(seen)


def test_beyond_loopback_without_a_public_url_it_says_what_to_set(tmp_path: Path) -> None:
    said = start_up_output(tmp_path, "0.0.0.0", None)
    assert WARNING in said and "https://control.example.com" in said
    assert HOSTS_WARNING in said and "docs/production.md" in said


def test_with_a_public_url_and_allowed_hosts_or_on_loopback_it_says_nothing(tmp_path: Path) -> None:
    configured = start_up_output(tmp_path, "0.0.0.0", "https://control.example.com", "control.example.com")
    assert WARNING not in configured and HOSTS_WARNING not in configured
    on_loopback = start_up_output(tmp_path, "127.0.0.1", None)
    assert WARNING not in on_loopback and HOSTS_WARNING not in on_loopback
