"""The config watcher: polls the control plane's ``GET /v1/config`` every few seconds so that a
mode change, a key revocation or a suspension reaches the proxy within one poll (DESIGN.md §3,
issue 15 item 9), however long the decisions it cached would otherwise last.

On each answer:

- 200 with a :class:`~modelpilot.schema.wire.DeploymentConfig`: a new ``version`` drops every
  cached decision and conversation pin (``on_reset``); mode ``off`` stops routing (requests pass
  unrouted, as the caller sent them), ``shadow`` and ``on`` allow it;
- 401 (key revoked) or 403 (account suspended): drop everything and stop routing;
- anything else (unreachable, 5xx, an older control plane without the endpoint, a body that is
  not a DeploymentConfig): nothing changes. Routing stays as the last answer left it and the
  control plane's own decisions still obey its settings; a control plane that is away never
  degrades a request.

:attr:`ConfigWatcher.config` is the last DeploymentConfig received (None before the first), for
the calibration settings and ``metadata_logs``.

>>> watcher = ConfigWatcher(client, interval_s=3, on_reset=router.reset)  # doctest: +SKIP
>>> watcher.start(); ...; await watcher.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from pydantic import ValidationError

from modelpilot.proxy.control_client import KEY_REFUSED_FIX, ControlPlaneClient
from modelpilot.proxy.errors import ControlPlaneError
from modelpilot.schema.wire import DeploymentConfig, RoutingMode

log = logging.getLogger("modelpilot.proxy.config")

CONFIG_PATH = "/v1/config"
_KEY_REFUSED = frozenset({401, 403})


class ConfigWatcher:
    """Polls ``GET /v1/config`` with the deployment key; see the module doc."""

    def __init__(
        self,
        client: ControlPlaneClient,
        *,
        interval_s: float,
        on_reset: Callable[[], None],
        timeout_s: float | None = None,
    ) -> None:
        self._client = client
        self._interval_s = interval_s
        self._timeout_s = timeout_s if timeout_s is not None else max(1.0, min(interval_s, 5.0))
        self._on_reset = on_reset
        self.config: DeploymentConfig | None = None
        #: Called with each new DeploymentConfig (the first, and each new version): the proxy
        #: applies the deployment's metadata-log switch and paired-check limits from it.
        self.on_config: Callable[[DeploymentConfig], None] | None = None
        #: The status that stopped routing (401, 403), or None.
        self.refused_status: int | None = None
        self.resets = 0
        self._is_unsupported_logged = False
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def is_routing_allowed(self) -> bool:
        """False after mode ``off``, a revoked key or a suspension, until a poll says otherwise."""
        if self.refused_status is not None:
            return False
        return self.config is None or self.config.mode is not RoutingMode.OFF

    def _reset(self, why: str) -> None:
        self.resets += 1
        log.info("dropping cached routing decisions and conversation pins: %s", why)
        self._on_reset()

    async def poll(self) -> None:
        """Ask once and apply the answer (never raises for a control-plane problem)."""
        try:
            answer = await self._client.get_json(CONFIG_PATH, timeout_s=self._timeout_s)
        except ControlPlaneError as exc:
            log.debug("config poll failed: %s", exc)
            return
        if answer.status in _KEY_REFUSED:
            if self.refused_status != answer.status:
                log.error(
                    "the control plane refused the deployment key (HTTP %s): requests pass unrouted; %s",
                    answer.status,
                    KEY_REFUSED_FIX,
                )
                self.refused_status = answer.status
                self._reset(f"HTTP {answer.status}")
            return
        if not answer.is_success:
            if answer.status == 404 and not self._is_unsupported_logged:
                self._is_unsupported_logged = True
                log.warning(
                    "the control plane does not serve %s; settings changes wait for decision TTLs",
                    CONFIG_PATH,
                )
            return
        try:
            config = DeploymentConfig.model_validate(answer.json)
        except ValidationError:
            log.debug("config poll: the answer is not a DeploymentConfig")
            return
        previous, was_refused = self.config, self.refused_status is not None
        self.config, self.refused_status = config, None
        if previous is None or previous.version != config.version or was_refused:
            self._reset(f"settings version {config.version} (mode {config.mode.value})")
            if self.on_config is not None:
                self.on_config(config)

    async def run(self) -> None:
        """Poll now and then every interval until :meth:`stop`."""
        while not self._stopping.is_set():
            try:
                await self.poll()
            except Exception:
                # A bug here must not end the watching for the life of the process.
                log.exception("config poll failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval_s)

    def start(self) -> None:
        """Run :meth:`run` as a task of the current loop."""
        self._task = asyncio.create_task(self.run(), name="modelpilot-config-watcher")

    async def stop(self) -> None:
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])


__all__ = ["CONFIG_PATH", "ConfigWatcher"]
