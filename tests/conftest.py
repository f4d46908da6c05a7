from __future__ import annotations

import os

import pytest

from tests.reliability import scenarios

_CLEARED_PREFIXES = ("MODELPILOT_", "ANTHROPIC_")
_CLEARED_NAMES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)
# Settings the test run itself needs (which database to use) survive the clean-up.
_KEPT = {"MODELPILOT_TEST_POSTGRES_URL", "MODELPILOT_REQUIRE_POSTGRES"}


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's Anthropic key, ModelPilot settings or HTTP proxies."""
    for name in list(os.environ):
        if (name.startswith(_CLEARED_PREFIXES) and name not in _KEPT) or name in _CLEARED_NAMES:
            monkeypatch.delenv(name, raising=False)


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller (or a run without xdist)
        scenarios.forget()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The reliability suite's scenario table (sent, succeeded, lost, added latency), if it ran."""
    ran = scenarios.recorded()
    if ran:
        terminalreporter.section("reliability scenarios")
        for line in scenarios.render_table(ran):
            terminalreporter.write_line(line)
