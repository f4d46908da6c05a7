"""An account's management API tokens."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from modelpilot.control.store.tables import Account, ManagementToken


def add_token(
    session: Session, *, account_id: uuid.UUID, name: str, token_hash: str, display_prefix: str, now: datetime
) -> ManagementToken:
    row = ManagementToken(
        account_id=account_id, name=name, token_hash=token_hash, display_prefix=display_prefix, created_at=now
    )
    session.add(row)
    session.flush()
    return row


def list_tokens(session: Session, *, account_id: uuid.UUID) -> Sequence[ManagementToken]:
    return session.scalars(
        select(ManagementToken)
        .where(ManagementToken.account_id == account_id)
        .order_by(ManagementToken.created_at, ManagementToken.id)
    ).all()


def revoke_token(session: Session, *, account_id: uuid.UUID, token_id: uuid.UUID, now: datetime) -> bool:
    """Revoke the token if ``account_id`` owns it (again: a no-op); False when there is none."""
    token = session.scalar(
        select(ManagementToken).where(
            ManagementToken.id == token_id, ManagementToken.account_id == account_id
        )
    )
    if token is None:
        return False
    if token.revoked_at is None:
        token.revoked_at = now
    return True


def find_token_with_account(session: Session, *, token_hash: str) -> tuple[ManagementToken, Account] | None:
    row = session.execute(
        select(ManagementToken, Account)
        .join(Account, Account.id == ManagementToken.account_id)
        .where(ManagementToken.token_hash == token_hash)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def touch_token(session: Session, *, token_id: uuid.UUID, now: datetime, older_than: datetime) -> None:
    """Record a use, at most once per interval (the condition keeps replicas from racing)."""
    session.execute(
        update(ManagementToken)
        .where(
            ManagementToken.id == token_id,
            or_(ManagementToken.last_used_at.is_(None), ManagementToken.last_used_at < older_than),
        )
        .values(last_used_at=now)
    )
