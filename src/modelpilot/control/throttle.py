"""Log-in throttling: at most ``login_max_failures`` failures per (email, client address) and
``login_max_failures_per_client`` per client address within ``login_window_s``; after that the
pair (or client) is locked out until the oldest failure leaves the window. State lives in the
database, so every replica sees the same counts."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from modelpilot.control.credentials import sha256_hex
from modelpilot.control.errors import ThrottledError
from modelpilot.control.settings import ControlSettings
from modelpilot.control.store.queries import throttle as queries


def _hashes(email: str, client: str) -> tuple[str, str]:
    return sha256_hex(f"login|{email}|{client}"), sha256_hex(f"client|{client}")


def check_login_allowed(
    session: Session, settings: ControlSettings, *, email: str, client: str, now: datetime
) -> None:
    """Raise :class:`ThrottledError` if this email/client pair or this client is locked out."""
    subject, client_hash = _hashes(email, client)
    since = now - timedelta(seconds=settings.login_window_s)
    by_subject, by_client = queries.count_failures(
        session, subject_hash=subject, client_hash=client_hash, since=since
    )
    if by_subject >= settings.login_max_failures or by_client >= settings.login_max_failures_per_client:
        oldest = queries.oldest_failure(session, subject_hash=subject, since=since) or now
        retry_after = max(
            1, int((oldest + timedelta(seconds=settings.login_window_s) - now).total_seconds()) + 1
        )
        raise ThrottledError("too many failed log-ins; try again later", retry_after_s=retry_after)


def record_login_failure(
    session: Session, settings: ControlSettings, *, email: str, client: str, now: datetime
) -> None:
    subject, client_hash = _hashes(email, client)
    queries.add_failure(session, subject_hash=subject, client_hash=client_hash, now=now)
    # Keep the table small: failures older than the window no longer count.
    queries.purge_failures(session, before=now - timedelta(seconds=settings.login_window_s))


def clear_login_failures(session: Session, *, email: str, client: str) -> None:
    subject, _ = _hashes(email, client)
    queries.clear_failures(session, subject_hash=subject)
