"""Noticing that the caller went away, so the upstream request is cancelled with it.

Once the request body has been read, the ASGI ``receive()`` channel only ever yields
``http.disconnect``. A small task waits on it and cancels the request's own task, which interrupts
whatever it is awaiting (the upstream's headers, the next chunk, a send) and lets it close the
upstream response.
"""

from __future__ import annotations

import asyncio

from modelpilot.proxy.asgi import Receive


class ClientDisconnected(Exception):
    """The caller disconnected while its request body was still being read."""


class DisconnectWatch:
    """Cancels ``task`` when the caller disconnects, between :meth:`start` and :meth:`stop`."""

    __slots__ = ("_receive", "_stopped", "_task", "_watcher", "is_disconnected")

    def __init__(self, receive: Receive, task: asyncio.Task[object]) -> None:
        self._receive = receive
        self._task = task
        self._watcher: asyncio.Task[None] | None = None
        self._stopped = False
        self.is_disconnected = False

    def start(self) -> None:
        """Begin watching; call only once the request body has been consumed."""
        if self._watcher is None and not self._stopped:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    def stop(self) -> None:
        """Stop watching. Call before the final response message: after it, servers report the
        finished exchange as ``http.disconnect`` too."""
        self._stopped = True
        if self._watcher is not None and not self._watcher.done():
            self._watcher.cancel()

    def mark_disconnected(self) -> None:
        self.is_disconnected = True

    async def _watch(self) -> None:
        while True:
            message = await self._receive()
            if self._stopped:
                return
            if message["type"] == "http.disconnect":
                self.is_disconnected = True
                self._task.cancel()
                return
