"""Fixtures of the reliability and security suite (issue 9): the control plane's database
fixtures (SQLite and PostgreSQL, from tests/control) and the log book every test's logs go to.

Under pytest-xdist (``--dist loadgroup`` or ``load``) the whole directory runs in one worker, in
file order (tests/conftest.py's ``pytest_xdist_make_scheduler``), so the log book holds every line the suite's code wrote when the last test greps it. The scenario
table is printed by tests/conftest.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.control.conftest import (  # noqa: F401  (fixtures, re-exported for this directory)
    clock,
    db_url,
    engine,
    make_client,
    new_tenant,
    postgres_server_url,
    settings,
    sqlite_tables,
)
from tests.proxy.routing.conftest import harness, sim_url  # noqa: F401  (fixtures)
from tests.reliability import logbook


@pytest.fixture(scope="session", autouse=True)
def log_book() -> Iterator[None]:
    """Every log record of the session, at INFO and above, also goes to the log book."""
    root = logging.getLogger()
    previous = root.level
    root.addHandler(logbook.HANDLER)
    root.setLevel(min(previous, logging.INFO))
    yield
    root.removeHandler(logbook.HANDLER)
    root.setLevel(previous)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.xdist_group("reliability"))
