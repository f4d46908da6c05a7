from __future__ import annotations

import os

import pytest

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
