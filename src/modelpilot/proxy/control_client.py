"""The proxy's HTTP client for the control plane: POST a JSON document with the deployment key.

Generic on purpose (metering, telemetry, logs and route decisions all use it): the caller builds
the payload from a :mod:`modelpilot.schema.wire` model and reads the status and JSON answer. It
never follows redirects (the key would travel with them), never reads proxy variables from the
environment, and bounds each call by a timeout. aiohttp and OS errors are translated here, once,
into :class:`ControlPlaneUnavailableError`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from modelpilot.proxy.settings import check_deployment_key

log = logging.getLogger("modelpilot.proxy")

RawJSON = Any  # an answer's JSON, read by the caller through a schema model
_MAX_ANSWER_BYTES = 1024 * 1024


class ControlPlaneUnavailableError(Exception):
    """The control plane could not be reached or did not answer within the timeout.

    Never shown to the proxy's callers: control-plane trouble degrades metering and routing,
    never a request.
    """


@dataclass(frozen=True, slots=True)
class ControlResponse:
    """The control plane's answer: ``json`` is None when the body was not JSON."""

    status: int
    json: RawJSON

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300


class ControlPlaneClient:
    """One pooled connection to the control plane, authenticated by the deployment key.

    The session is created on first use inside the running loop and closed by :meth:`aclose`.

    >>> client = ControlPlaneClient("https://control.example", api_key="mp_live_...", timeout_s=5)
    >>> # answer = await client.post_json("/v1/meter", batch.model_dump(mode="json"))
    """

    def __init__(self, base_url: str, *, api_key: str, timeout_s: float) -> None:
        # The last line of defence: an Anthropic key never travels to ModelPilot.
        check_deployment_key(api_key)
        self._base = base_url.rstrip("/")
        self._headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"ControlPlaneClient({self._base!r})"  # never the key

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                raise_for_status=False,
                connector=aiohttp.TCPConnector(limit=8),
            )
        return self._session

    async def post_json(
        self, path: str, payload: RawJSON, *, timeout_s: float | None = None
    ) -> ControlResponse:
        """POST ``payload`` to ``path``; any HTTP status is returned, transport failures raise
        :class:`ControlPlaneUnavailableError`."""
        return await self._call("POST", path, orjson.dumps(payload), timeout_s)

    async def get_json(self, path: str, *, timeout_s: float | None = None) -> ControlResponse:
        """GET ``path``, as :meth:`post_json`."""
        return await self._call("GET", path, None, timeout_s)

    async def _call(
        self, method: str, path: str, data: bytes | None, timeout_s: float | None
    ) -> ControlResponse:
        session = self._ensure_session()
        budget = aiohttp.ClientTimeout(total=timeout_s if timeout_s is not None else self._timeout_s)
        try:
            async with session.request(
                method,
                self._base + path,
                data=data,
                headers=self._headers,
                timeout=budget,
                allow_redirects=False,
            ) as response:
                body = await response.content.read(_MAX_ANSWER_BYTES)
                status = response.status
        except TimeoutError as exc:
            raise ControlPlaneUnavailableError(f"{self._base} did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise ControlPlaneUnavailableError(f"{self._base} is unreachable ({type(exc).__name__})") from exc
        except OSError as exc:
            raise ControlPlaneUnavailableError(f"{self._base} is unreachable ({exc.strerror})") from exc
        try:
            answer: RawJSON = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            answer = None
        return ControlResponse(status=status, json=answer)

    async def aclose(self) -> None:
        """Close the pool. Safe to call more than once."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


__all__ = ["ControlPlaneClient", "ControlPlaneUnavailableError", "ControlResponse"]
