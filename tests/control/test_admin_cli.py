from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelpilot.cli import main
from modelpilot.control.credentials import sha256_hex
from modelpilot.control.store.engine import create_db_engine
from modelpilot.control.store.tables import Account, ApiKey


def admin(db_url: str, *args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(
        main,
        ["admin", "--database-url", db_url, *args],
        input=stdin,
        env={"MODELPILOT_PASSWORD_ITERATIONS": "200000"},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_admin_manages_accounts_deployments_and_keys(db_url):
    account_id = admin(
        db_url, "create-account", "ops@example.com", "--password-stdin", stdin="long enough password\n"
    )
    deployment_id = admin(db_url, "create-deployment", "ops@example.com", "prod")
    secret = admin(db_url, "create-key", deployment_id, "laptop")
    assert secret.startswith("mp_live_")
    listing = admin(db_url, "list-keys", deployment_id)
    assert secret[:12] in listing and "laptop" in listing and secret not in listing and "active" in listing

    engine = create_db_engine(db_url)
    try:
        with Session(engine) as session:
            key = session.scalar(select(ApiKey))
            assert key is not None and key.key_hash == sha256_hex(secret)
            key_id = str(key.id)
        admin(db_url, "revoke-key", deployment_id, key_id)
        assert "revoked" in admin(db_url, "list-keys", deployment_id)

        assert admin(db_url, "suspend", "ops@example.com") == "suspended"
        with Session(engine) as session:
            account = session.scalar(select(Account))
            assert account is not None and str(account.id) == account_id and account.suspended_at is not None
        assert admin(db_url, "reinstate", "OPS@example.com") == "reinstated"
        with Session(engine) as session:
            assert session.scalar(select(Account.suspended_at)) is None
    finally:
        engine.dispose()


def test_admin_reports_errors_without_a_traceback(db_url):
    result = CliRunner().invoke(main, ["admin", "--database-url", db_url, "suspend", "nobody@example.com"])
    assert result.exit_code == 1
    assert "no such account" in result.output


def test_help_never_creates_or_migrates_a_database(tmp_path):
    database = tmp_path / "state" / "control.sqlite3"
    for argv in (["admin", "--help"], ["admin", "create-key", "--help"], ["admin", "purge", "--help"]):
        result = CliRunner().invoke(main, ["admin", "--database-url", f"sqlite:///{database}", *argv[1:]])
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output
    assert not database.parent.exists()
