"""Deliver worker spools that no worker of this run opens (an earlier ``--workers`` was larger).

Their metering is still owed to the control plane: :class:`LeftOverDelivery` opens each such file
(taking its lock, so no proxy writes to it meanwhile), sends what it holds with the same flusher
the workers use (batch ids make a resend count once), retrying at the flush pace while the
control plane is away, and closes it once empty. It runs on its own event loop in a thread of the
parent process; at shutdown it gets one more bounded try, and whatever is left is sent at the
next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from modelpilot.proxy.settings import ProxySettings

log = logging.getLogger("modelpilot.proxy")


class LeftOverDelivery:
    """Sends the spools ``paths`` to the control plane of ``settings`` in a background thread."""

    def __init__(self, paths: Sequence[Path], settings: ProxySettings) -> None:
        self.paths = list(paths)
        self._settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="modelpilot-left-over-spools")
        #: The files emptied so far.
        self.delivered: list[Path] = []

    def start(self) -> None:
        if self.paths:
            self._thread.start()
            self._started.wait()

    def stop(self) -> None:
        """Stop retrying (after one last bounded try) and wait for the thread."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and self._thread.is_alive():
            loop.call_soon_threadsafe(stopping.set)
            self._thread.join()

    def _run(self) -> None:
        asyncio.run(self._deliver_all())

    async def _deliver_all(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._started.set()
        for path in self.paths:
            try:
                await self._deliver(path, self._stopping)
            except Exception:
                log.exception("could not deliver the left-over spool %s", path)

    async def _deliver(self, path: Path, stopping: asyncio.Event) -> None:
        from modelpilot.proxy.control_client import ControlPlaneClient
        from modelpilot.proxy.flusher import Backoff, MeterFlusher
        from modelpilot.proxy.metrics import ProxyMetrics
        from modelpilot.proxy.spool import Spool, SpoolLockedError, deployment_fingerprint
        from modelpilot.schema.catalog import load_catalog

        settings = self._settings
        if settings.control_plane_url is None or settings.control_plane_api_key is None:
            return
        try:
            spool = Spool.open(
                path,
                max_rows=settings.spool_max_rows,
                deployment=deployment_fingerprint(settings.control_plane_api_key),
            )
        except SpoolLockedError:
            log.warning("the left-over spool %s is in use by another proxy; it delivers it", path)
            return
        client = ControlPlaneClient(
            settings.control_plane_url,
            api_key=settings.control_plane_api_key,
            timeout_s=settings.flush_timeout_s,
        )
        flusher = MeterFlusher(
            spool,
            client,
            metrics=ProxyMetrics(load_catalog()),
            interval_s=settings.flush_interval_s,
            backoff=Backoff(base_s=settings.flush_interval_s, cap_s=max(300.0, settings.flush_interval_s)),
        )
        try:
            spool.unpark_all()
            while not stopping.is_set():
                if await flusher.flush():
                    self.delivered.append(path)
                    log.info("delivered the left-over spool %s", path)
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=flusher.next_delay_s())
            if await flusher.stop(drain_timeout_s=settings.drain_timeout_s):
                self.delivered.append(path)
        finally:
            await client.aclose()
            spool.close()


__all__ = ["LeftOverDelivery"]
