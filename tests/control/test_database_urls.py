"""libpq-style database URLs (postgres://, postgresql://), as hosting providers give them, are
read as the psycopg 3 URL instead of being refused without a hint (issue 16, item 10)."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from modelpilot.cli import main


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_libpq_urls_reach_the_postgresql_driver(scheme: str) -> None:
    url = f"{scheme}://nobody:secret@127.0.0.1:{_closed_port()}/modelpilot"
    result = CliRunner().invoke(main, ["migrate", "--database-url", url])
    assert result.exit_code == 1
    # Refused by the server (nothing listens), not by the URL check; the password stays hidden.
    assert "cannot use the database postgresql+psycopg://nobody:***@127.0.0.1" in result.output
    assert "must start with" not in result.output and "secret" not in result.output


def test_an_unknown_scheme_names_every_accepted_form() -> None:
    result = CliRunner().invoke(main, ["migrate", "--database-url", "mysql://x"])
    assert result.exit_code == 2
    assert "sqlite:///" in result.output and "postgresql+psycopg://" in result.output
    assert "postgres://" in result.output
