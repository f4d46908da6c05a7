"""The browser tests drive Debian's Chromium. Without it (a fresh machine, pytest run directly)
they are skipped with the command that installs it, except in CI, where they must run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "sudo apt-get install -y chromium (or: make test, which installs it when it can)"
# Read at import: the suite's autouse fixture clears MODELPILOT_* variables before each test.
IN_CI = os.environ.get("CI") == "true" or os.environ.get("MODELPILOT_REQUIRE_POSTGRES") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists() or IN_CI:
        return
    skip = pytest.mark.skip(reason=f"SKIPPED: {CHROMIUM} is missing; install it: {INSTALL}")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)
