"""Announcing changes to what a key may do: every session that commits a change to an API key,
a deployment or an account also sends a notification on ``modelpilot_keys`` in the same
transaction, so that PostgreSQL tells every listening replica at commit (and nobody if it rolls
back). Listeners (:mod:`modelpilot.control.route_keys`) forget what they remembered about keys.
Channels are per database, so the payload names the schema the change was made in: installs
sharing a database in separate schemas do not clear each other's memory.

Statements that change nothing a key may do pass the :data:`KEEPS_KEY_GRANTS` execution option
(the ``last_used_at`` bookkeeping). On SQLite nothing is sent: nobody listens there."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from modelpilot.control.store.tables import Account, ApiKey, Deployment

CHANNEL = "modelpilot_keys"
#: Execution option for a write to keys, deployments or accounts that changes no key's rights.
KEEPS_KEY_GRANTS = "modelpilot_keeps_key_grants"

_WATCHED = (ApiKey, Deployment, Account)
#: The notification's payload: the schema the tables live in (what a listener compares with its own).
CURRENT_SCHEMA = "coalesce(current_schema(), '')"
_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', {CURRENT_SCHEMA})")


def announce_key_changes(sessions: sessionmaker[Session]) -> None:
    """Make every session of ``sessions`` announce its key, deployment and account changes."""
    event.listen(sessions, "after_flush", _after_flush)
    event.listen(sessions, "do_orm_execute", _on_statement)


def _announce(session: Session) -> None:
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_NOTIFY)  # delivered at commit, dropped on rollback, sent once per transaction


def _after_flush(session: Session, _context: Any) -> None:
    if any(isinstance(obj, _WATCHED) for obj in (*session.new, *session.dirty, *session.deleted)):
        _announce(session)


def _on_statement(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete) or state.execution_options.get(KEEPS_KEY_GRANTS, False):
        return
    mapper = state.bind_mapper
    if mapper is not None and mapper.class_ in _WATCHED:
        _announce(state.session)
