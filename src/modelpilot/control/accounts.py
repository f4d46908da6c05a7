"""Accounts: sign-up, log-in (throttled, rehashing), password change, signing out everywhere,
suspension, deletion."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelpilot.control import passwords, throttle
from modelpilot.control.errors import (
    AuthError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    SuspendedError,
)
from modelpilot.control.settings import ControlSettings
from modelpilot.control.store.queries import accounts as queries
from modelpilot.control.store.tables import Account

_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,189}\.[^@\s\x00-\x1f\x7f]{1,63}$")
_MAX_EMAIL_CHARS = 254
_MAX_PASSWORD_CHARS = 1024


def normalize_email(email: str) -> str:
    """Lower-case and trim; refuse what is not shaped like an address."""
    email = email.strip().lower()
    if len(email) > _MAX_EMAIL_CHARS or not _EMAIL.fullmatch(email):
        raise InvalidRequestError("that is not an email address")
    return email


def _check_new_password(settings: ControlSettings, password: str) -> None:
    if "\x00" in password:
        raise InvalidRequestError("passwords cannot contain NUL characters")
    if not settings.min_password_chars <= len(password) <= _MAX_PASSWORD_CHARS:
        raise InvalidRequestError(
            f"passwords need between {settings.min_password_chars} and {_MAX_PASSWORD_CHARS} characters"
        )


def sign_up(
    session: Session,
    settings: ControlSettings,
    *,
    email: str,
    password: str,
    now: datetime,
    is_admin: bool = False,
) -> Account:
    """Create an account (committed). Raises :class:`ConflictError` if the address is taken."""
    email = normalize_email(email)
    _check_new_password(settings, password)
    password_hash = passwords.hash_password(password, iterations=settings.password_iterations)
    try:
        account = queries.add_account(
            session, email=email, password_hash=password_hash, is_admin=is_admin, now=now
        )
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise ConflictError("an account with that email address already exists") from exc
    return account


def log_in(
    session: Session, settings: ControlSettings, *, email: str, password: str, client: str, now: datetime
) -> Account:
    """Check a password, throttled per (email, client); rehash if the policy rose. Commits."""
    try:
        email = normalize_email(email)
    except InvalidRequestError as exc:
        raise AuthError("wrong email address or password") from exc
    throttle.check_login_allowed(session, settings, email=email, client=client, now=now)
    account = queries.find_account_by_email(session, email=email)
    if account is None:
        passwords.burn_verification(password, iterations=settings.password_iterations)
        ok = False
    else:
        ok = passwords.verify_password(password, account.password_hash)
    if account is None or not ok:
        throttle.record_login_failure(session, settings, email=email, client=client, now=now)
        session.commit()
        raise AuthError("wrong email address or password")
    if account.suspended_at is not None:
        raise SuspendedError("this account is suspended")
    if passwords.needs_rehash(account.password_hash, iterations=settings.password_iterations):
        account.password_hash = passwords.hash_password(password, iterations=settings.password_iterations)
    throttle.clear_login_failures(session, email=email, client=client)
    session.commit()
    return account


def change_password(
    session: Session, settings: ControlSettings, *, account: Account, current: str, new: str, now: datetime
) -> None:
    """Replace the password and revoke every session of the account (committed)."""
    if not passwords.verify_password(current, account.password_hash):
        raise AuthError("the current password is wrong")
    _check_new_password(settings, new)
    new_hash = passwords.hash_password(new, iterations=settings.password_iterations)
    queries.set_password_hash(session, account_id=account.id, password_hash=new_hash)
    queries.revoke_account_sessions(session, account_id=account.id, now=now)
    session.commit()


def reset_password(
    session: Session, settings: ControlSettings, *, account_id: uuid.UUID, new: str | None, now: datetime
) -> str:
    """Set a new password without the old one (an administrator's recovery), revoke every
    session of the account, and return the password (committed). ``new=None`` generates one,
    for showing once. Login throttling is cleared for the account's email."""
    account = queries.get_account(session, account_id=account_id)
    if account is None:
        raise NotFoundError("no such account")
    password = new if new is not None else secrets.token_urlsafe(12)
    _check_new_password(settings, password)
    new_hash = passwords.hash_password(password, iterations=settings.password_iterations)
    queries.set_password_hash(session, account_id=account.id, password_hash=new_hash)
    queries.revoke_account_sessions(session, account_id=account.id, now=now)
    throttle.clear_login_failures(session, email=account.email, client="")
    session.commit()
    return password


def set_suspended(session: Session, *, account_id: uuid.UUID, suspended: bool, now: datetime) -> Account:
    """Suspend (revoking every session) or reinstate an account (committed). Keys are refused
    while suspended because every key check reads the account."""
    account = queries.get_account(session, account_id=account_id)
    if account is None:
        raise NotFoundError("no such account")
    queries.set_suspended(session, account_id=account_id, suspended_at=now if suspended else None)
    if suspended:
        queries.revoke_account_sessions(session, account_id=account_id, now=now)
    session.commit()
    session.refresh(account)
    return account


def get_account(session: Session, *, account_id: uuid.UUID) -> Account:
    """The account with that id."""
    account = queries.get_account(session, account_id=account_id)
    if account is None:
        raise NotFoundError("no such account")
    return account


def find_account(session: Session, *, email: str) -> Account:
    account = queries.find_account_by_email(session, email=normalize_email(email))
    if account is None:
        raise NotFoundError("no such account")
    return account


def sign_out_everywhere(session: Session, *, account_id: uuid.UUID, now: datetime) -> None:
    """Revoke every session of the account, on every replica (committed)."""
    queries.revoke_account_sessions(session, account_id=account_id, now=now)
    session.commit()


def delete_account(session: Session, *, account: Account, password: str, confirmation_email: str) -> None:
    """Delete the account and everything it owns (sessions, deployments, keys, usage, logs,
    invoices: the foreign keys cascade), after the person typed its email and password.
    Committed."""
    if confirmation_email.strip().lower() != account.email:
        raise InvalidRequestError("type the account's email address exactly to delete it")
    if not passwords.verify_password(password, account.password_hash):
        raise AuthError("the password is wrong")
    session.execute(delete(Account).where(Account.id == account.id))
    session.commit()


def list_accounts(session: Session, *, limit: int = 500) -> Sequence[Account]:
    """Administrators only: every account, newest first."""
    return session.scalars(select(Account).order_by(Account.created_at.desc(), Account.id).limit(limit)).all()
