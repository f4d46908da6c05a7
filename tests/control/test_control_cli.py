from __future__ import annotations

import pytest
from click.testing import CliRunner

from modelpilot.cli import main


def test_control_help_lists_the_interface():
    result = CliRunner().invoke(main, ["control", "--help"])
    assert result.exit_code == 0
    for option in (
        "--host",
        "--port",
        "--database-url",
        "--no-migrate",
        "--workers",
        "--password-iterations",
    ):
        assert option in result.output


def test_control_refuses_a_weak_password_policy(tmp_path):
    result = CliRunner().invoke(
        main,
        ["control", "--database-url", f"sqlite:///{tmp_path / 'x.sqlite3'}", "--password-iterations", "1000"],
        env={"MODELPILOT_SESSION_SECRETS": "s" * 32},
    )
    assert result.exit_code == 2
    assert "at least 200000" in result.output


def test_control_refuses_a_short_session_secret(tmp_path):
    result = CliRunner().invoke(
        main,
        ["control", "--database-url", f"sqlite:///{tmp_path / 'x.sqlite3'}"],
        env={"MODELPILOT_SESSION_SECRETS": "short"},
    )
    assert result.exit_code == 2
    assert "session secrets" in result.output


def test_admin_reads_the_database_url_from_the_environment(tmp_path):
    url = f"sqlite:///{tmp_path / 'env.sqlite3'}"
    env = {"MODELPILOT_DATABASE_URL": url, "MODELPILOT_PASSWORD_ITERATIONS": "200000"}
    runner = CliRunner()
    created = runner.invoke(
        main,
        ["admin", "create-account", "a@example.com", "--password-stdin"],
        input="long password 1\n",
        env=env,
    )
    assert created.exit_code == 0, created.output
    assert (tmp_path / "env.sqlite3").exists()
    assert runner.invoke(main, ["admin", "suspend", "a@example.com"], env=env).output.strip() == "suspended"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "MODELPILOT_FEE_SHARE_BPS",
            "20001",
            "MODELPILOT_FEE_SHARE_BPS: fee_share_bps must be between 0 and 10000",
        ),
        ("MODELPILOT_FEE_SHARE_BPS", "a fifth", "MODELPILOT_FEE_SHARE_BPS: 'a fifth' is not a valid int"),
        ("MODELPILOT_ROUTE_TTL_S", "-1", "MODELPILOT_ROUTE_TTL_S: route_ttl_s must be between 0 and 86400"),
        (
            "MODELPILOT_SECURITY_CONTACT",
            "security@example.com",
            "MODELPILOT_SECURITY_CONTACT: security_contact",
        ),
    ],
)
def test_control_names_the_environment_variable_it_refuses(tmp_path, name, value, expected):
    result = CliRunner().invoke(
        main,
        ["control", "--database-url", f"sqlite:///{tmp_path / 'x.sqlite3'}"],
        env={"MODELPILOT_SESSION_SECRETS": "s" * 32, name: value},
    )
    assert result.exit_code == 2
    assert expected in " ".join(result.output.split())
