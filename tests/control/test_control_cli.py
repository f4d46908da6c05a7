from __future__ import annotations

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
