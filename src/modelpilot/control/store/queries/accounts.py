"""Accounts and their log-in sessions."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from modelpilot.control.store.tables import Account
from modelpilot.control.store.tables import Session as LoginSession


def find_account_by_email(session: Session, *, email: str) -> Account | None:
    return session.scalar(select(Account).where(Account.email == email))


def get_account(session: Session, *, account_id: uuid.UUID) -> Account | None:
    return session.get(Account, account_id)


def add_account(
    session: Session, *, email: str, password_hash: str, is_admin: bool, now: datetime
) -> Account:
    account = Account(email=email, password_hash=password_hash, is_admin=is_admin, created_at=now)
    session.add(account)
    session.flush()
    return account


def set_password_hash(session: Session, *, account_id: uuid.UUID, password_hash: str) -> None:
    session.execute(update(Account).where(Account.id == account_id).values(password_hash=password_hash))


def set_suspended(session: Session, *, account_id: uuid.UUID, suspended_at: datetime | None) -> None:
    session.execute(update(Account).where(Account.id == account_id).values(suspended_at=suspended_at))


def add_session(
    session: Session, *, account_id: uuid.UUID, token_hash: str, now: datetime, expires_at: datetime
) -> LoginSession:
    row = LoginSession(account_id=account_id, token_hash=token_hash, created_at=now, expires_at=expires_at)
    session.add(row)
    session.flush()
    return row


def find_live_session(
    session: Session, *, token_hash: str, now: datetime
) -> tuple[LoginSession, Account] | None:
    """The unrevoked, unexpired session with this token hash, and its account (suspended or not:
    the caller decides)."""
    row = session.execute(
        select(LoginSession, Account)
        .join(Account, Account.id == LoginSession.account_id)
        .where(
            LoginSession.token_hash == token_hash,
            LoginSession.revoked_at.is_(None),
            LoginSession.expires_at > now,
        )
    ).first()
    return None if row is None else (row[0], row[1])


def revoke_session(session: Session, *, session_id: uuid.UUID, now: datetime) -> None:
    session.execute(
        update(LoginSession)
        .where(LoginSession.id == session_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_account_sessions(session: Session, *, account_id: uuid.UUID, now: datetime) -> None:
    session.execute(
        update(LoginSession)
        .where(LoginSession.account_id == account_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
