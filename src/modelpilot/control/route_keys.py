"""Which deployment a key asks routing decisions for, remembered between changes.

``POST /v1/route`` is the call a proxy makes on every decision-cache miss. Reading the key, its
account and its deployment costs a database round trip or two per decision (see
:func:`~modelpilot.control.keys.authenticate_route_key`), most of a decision's time. A
:class:`RouteKeys` remembers, per key hash, the deployment id and its routing settings, and
forgets everything the moment any key, deployment or account changes:

- every session of :func:`~modelpilot.control.store.engine.create_session_factory` that commits
  such a change also notifies ``modelpilot_keys`` in the same transaction (PostgreSQL
  delivers it at commit, to every listening replica and worker, wherever the change was made:
  console, API, ``modelpilot admin``);
- each app listens on that channel (:func:`listen`) and clears its memory on each notification
  naming its own schema.

The memory is used only while the listener is connected: before it is, after it drops, and on
SQLite (no notifications) every decision reads the database, as every other key check does.
A lookup that raced a change is not kept (:attr:`RouteKeys.generation`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.engine import URL

from modelpilot.control.keys import RouteGrant
from modelpilot.control.store.key_changes import CHANNEL, CURRENT_SCHEMA

log = logging.getLogger(__name__)

APPLICATION_NAME = "modelpilot-key-changes"  # how the listener shows in pg_stat_activity
_RECONNECT_S = 1.0


class RouteKeys:
    """``max_age_s`` bounds how long a grant is used without reading the key again, which is
    also when its ``last_used_at`` is brought up to date (the console's "last used")."""

    def __init__(
        self, *, max_age_s: float, clock: Callable[[], float] = time.monotonic, max_entries: int = 10_000
    ) -> None:
        self._max_age_s = max_age_s
        self._clock = clock
        self._max_entries = max_entries
        self._entries: dict[str, tuple[float, RouteGrant]] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self._live = False
        self._listener_pid: int | None = None

    @property
    def is_live(self) -> bool:
        """Whether changes are being heard, so remembered grants may be used."""
        return self._live

    @property
    def listener_pid(self) -> int | None:
        """The PostgreSQL backend process of the listening connection, while there is one."""
        return self._listener_pid

    @property
    def generation(self) -> int:
        """Changes on every :meth:`clear`: take it before reading the database and pass it to
        :meth:`put`, so a read that raced a change is not kept."""
        return self._generation

    def get(self, key_hash: str) -> RouteGrant | None:
        entry = self._entries.get(key_hash) if self._live else None
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def put(self, key_hash: str, grant: RouteGrant, *, generation: int) -> None:
        with self._lock:
            if not self._live or generation != self._generation:
                return
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[key_hash] = (self._clock() + self._max_age_s, grant)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def set_live(self, live: bool, *, listener_pid: int | None = None) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
            self._live = live
            self._listener_pid = listener_pid if live else None


def libpq_url(url: URL) -> str:
    """``postgresql+psycopg://...`` as the plain URL libpq takes (query options kept)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def listen(keys: RouteKeys, conninfo: str) -> None:
    """Clear ``keys`` on every notification of a change in our schema until cancelled; reconnect
    when the connection drops (``keys`` is not live in between)."""
    import psycopg  # the PostgreSQL driver; only PostgreSQL deployments listen

    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                conninfo, autocommit=True, application_name=APPLICATION_NAME
            ) as connection:
                await connection.execute(f"LISTEN {CHANNEL}")
                row = await (await connection.execute(f"SELECT {CURRENT_SCHEMA}")).fetchone()
                schema = row[0] if row else ""
                keys.set_live(True, listener_pid=connection.info.backend_pid)
                async for notification in connection.notifies():
                    if notification.payload == schema:
                        keys.clear()
        except Exception as exc:  # any failure only means deaf: keys are read until we are back
            log.warning("not hearing key changes (%s); /v1/route reads every key until reconnected", exc)
        finally:
            keys.set_live(False)
        await asyncio.sleep(_RECONNECT_S)
