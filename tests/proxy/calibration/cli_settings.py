"""The ProxySettings that ``modelpilot proxy`` builds from its options, captured just before it
would build and serve the app, so a test can serve that app itself (on loopback, with its
lifespan) and check what the options did."""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence

import pytest
from click.testing import CliRunner

from modelpilot.proxy import cli
from modelpilot.proxy.app import ProxyApp
from modelpilot.proxy.settings import ProxySettings


class _Captured(Exception):
    def __init__(self, settings: ProxySettings) -> None:
        super().__init__("settings captured")
        self.settings = settings


def free_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


def settings_from_cli(
    monkeypatch: pytest.MonkeyPatch, args: Sequence[str], env: Mapping[str, str] | None = None
) -> ProxySettings:
    """The settings ``modelpilot proxy ARGS`` would serve (one worker), without serving them."""

    def capture(settings: ProxySettings) -> ProxyApp:
        raise _Captured(settings)

    with monkeypatch.context() as patched:
        patched.setattr(cli, "build_app", capture)
        result = CliRunner().invoke(cli.proxy_command, ["--port", free_port(), *args], env=dict(env or {}))
    assert isinstance(result.exception, _Captured), result.output
    return result.exception.settings
