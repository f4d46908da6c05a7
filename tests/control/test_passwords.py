from __future__ import annotations

import sys
import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelpilot.control import passwords
from modelpilot.control.settings import DEFAULT_PASSWORD_ITERATIONS, ControlSettings, SettingsError
from modelpilot.control.store.tables import Account
from tests.control.conftest import SECRET, log_in, make_settings, sign_up


def test_hash_format_carries_algorithm_parameters_and_salt():
    stored = passwords.hash_password("correct horse", iterations=1000)
    algorithm, iterations, salt, digest = stored.split("$")
    assert (algorithm, iterations) == ("pbkdf2_sha256", "1000")
    assert stored != passwords.hash_password("correct horse", iterations=1000)  # random salt
    assert passwords.verify_password("correct horse", stored)
    assert not passwords.verify_password("correct horsE", stored)


@pytest.mark.parametrize(
    "garbage", ["", "md5$1$a$b", "pbkdf2_sha256$x$AA==$AA==", "pbkdf2_sha256$10$!!$AA=="]
)
def test_malformed_hashes_never_verify(garbage):
    assert not passwords.verify_password("anything", garbage)
    assert passwords.needs_rehash(garbage, iterations=1)


def test_production_default_follows_owasp_and_verification_time_is_measured(capsys):
    assert DEFAULT_PASSWORD_ITERATIONS == 600_000
    settings = ControlSettings(database_url="sqlite://", session_secrets=(SECRET,))
    assert settings.password_iterations == 600_000
    stored = passwords.hash_password("correct horse battery", iterations=settings.password_iterations)
    started = time.perf_counter()
    assert passwords.verify_password("correct horse battery", stored)
    elapsed_ms = (time.perf_counter() - started) * 1000
    with capsys.disabled():
        sys.stdout.write(
            f"\nPBKDF2-HMAC-SHA256, 600000 iterations: one verification took {elapsed_ms:.0f} ms\n"
        )
    assert not passwords.needs_rehash(stored, iterations=600_000)


def test_weak_policies_are_refused_unless_explicitly_allowed():
    with pytest.raises(SettingsError):
        ControlSettings(database_url="sqlite://", session_secrets=(SECRET,), password_iterations=199_999)
    with pytest.raises(SettingsError):
        ControlSettings(database_url="sqlite://", session_secrets=("short",))


async def test_log_in_rehashes_when_the_configured_cost_rises(make_client, db_url, engine):
    await sign_up(make_client(make_settings(db_url, password_iterations=1000)), "a@example.com")
    stronger = make_client(make_settings(db_url, password_iterations=2000))
    assert (await log_in(stronger, "a@example.com")).status_code == 303
    with Session(engine) as session:
        stored = session.scalar(select(Account.password_hash))
    assert stored is not None and stored.split("$")[1] == "2000"
    assert (await log_in(stronger, "a@example.com")).status_code == 303
