"""Failed log-in attempts, kept in the database so throttling holds across replicas."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from modelpilot.control.store.tables import LoginAttempt


def count_failures(
    session: Session, *, subject_hash: str, client_hash: str, since: datetime
) -> tuple[int, int]:
    """Failures since ``since`` for this (email, client) pair, and for the client alone."""
    by_subject = session.scalar(
        select(func.count()).where(
            LoginAttempt.subject_hash == subject_hash, LoginAttempt.attempted_at >= since
        )
    )
    by_client = session.scalar(
        select(func.count()).where(
            LoginAttempt.client_hash == client_hash, LoginAttempt.attempted_at >= since
        )
    )
    return int(by_subject or 0), int(by_client or 0)


def oldest_failure(session: Session, *, subject_hash: str, since: datetime) -> datetime | None:
    return session.scalar(
        select(func.min(LoginAttempt.attempted_at)).where(
            LoginAttempt.subject_hash == subject_hash, LoginAttempt.attempted_at >= since
        )
    )


def add_failure(session: Session, *, subject_hash: str, client_hash: str, now: datetime) -> None:
    session.add(LoginAttempt(subject_hash=subject_hash, client_hash=client_hash, attempted_at=now))


def clear_failures(session: Session, *, subject_hash: str) -> None:
    session.execute(delete(LoginAttempt).where(LoginAttempt.subject_hash == subject_hash))


def purge_failures(session: Session, *, before: datetime) -> None:
    session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at < before))
