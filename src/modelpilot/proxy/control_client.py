"""The proxy's one client for the ModelPilot control plane (never for Anthropic).

Every call to the control plane goes through :class:`ControlPlaneClient`: metering, metadata
logs and telemetry (:meth:`~ControlPlaneClient.post_json`), the settings poll
(:meth:`~ControlPlaneClient.get_json`) and routing decisions (:meth:`~ControlPlaneClient.ask`,
within the routing budget). Authentication (the deployment key, checked never to be an Anthropic
key) and TLS (aiohttp's default verification, through :class:`~modelpilot.proxy.upstream.AiohttpUpstream`)
are set here once. Decisions have a connection pool and timeouts of their own: they are on every
request's path and must neither queue behind a metering flush nor inherit the Anthropic pool's
long read timeout. Redirects are never followed (the key would travel with them) and proxy
variables of the environment are never read.

Transport failures are translated here, once, into :class:`~modelpilot.proxy.errors.ControlPlaneError`
with a ``reason`` (``refused``, ``tls``, ``timeout``, ``unavailable``); an HTTP status is an answer,
returned to the caller.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from modelpilot.proxy.errors import ControlPlaneError, UpstreamError, UpstreamTimeoutError
from modelpilot.proxy.settings import check_deployment_key
from modelpilot.proxy.upstream import AiohttpUpstream, Pool, RequestBody, UpstreamClient, UpstreamResponse

log = logging.getLogger("modelpilot.proxy")

RawJSON = Any  # an answer's JSON, read by the caller through a schema model
_MAX_ANSWER_BYTES = 1024 * 1024
#: How long a decision's connection may take to open, or to send its next bytes; the routing
#: budget (much shorter) bounds each decision anyway, this bounds the warm-up at startup.
_DECISION_TIMEOUT_S = 2.0
#: What to do when the control plane refuses the deployment key (HTTP 401/403).
KEY_REFUSED_FIX = (
    "set MODELPILOT_API_KEY to an active key of this deployment (create one in the console under "
    "Deployments > Keys, or with `modelpilot admin create-key`), then restart the proxy"
)


@dataclass(frozen=True, slots=True)
class ControlResponse:
    """The control plane's answer: ``json`` is None when the body was not JSON."""

    status: int
    json: RawJSON

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300


def failure_reason(error: UpstreamError) -> str:
    """The failure kind of a transport error (the aiohttp cause is kept by ``upstream.py``)."""
    if isinstance(error, UpstreamTimeoutError):
        return "timeout"
    cause = error.__cause__
    if isinstance(cause, aiohttp.ClientSSLError | ssl.SSLError):
        return "tls"
    if isinstance(cause, aiohttp.ClientConnectorError | ConnectionRefusedError):
        return "refused"
    return "unavailable"


_FAILURES = {
    "timeout": "did not answer in time",
    "tls": "failed the TLS handshake",
    "refused": "refused the connection",
    "unavailable": "is unreachable",
}


class ControlPlaneClient:
    """The control plane at ``base_url``, authenticated by the deployment key ``api_key``.

    ``timeout_s`` bounds each :meth:`post_json`/:meth:`get_json` call. ``transport`` and
    ``decision_transport`` are the seams (``UpstreamClient``s toward the control plane); by
    default each is an ``AiohttpUpstream`` with a pool of its own, opened on first use inside the
    running loop and closed by :meth:`aclose`.

    >>> client = ControlPlaneClient("https://control.example", api_key="mp_live_...", timeout_s=5)
    >>> # answer = await client.post_json("/v1/meter", batch.model_dump(mode="json"))
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str,
        timeout_s: float,
        decision_pool_limit: int = 512,
        transport: UpstreamClient | None = None,
        decision_transport: UpstreamClient | None = None,
    ) -> None:
        # The last line of defence: an Anthropic key never travels to ModelPilot.
        check_deployment_key(api_key)
        self._base = base_url.rstrip("/")
        self._headers = [("content-type", "application/json"), ("authorization", f"Bearer {api_key}")]
        self._timeout_s = timeout_s
        self._transport = transport or AiohttpUpstream(
            Pool(self._base, limit=8, connect_timeout_s=timeout_s, read_timeout_s=timeout_s)
        )
        self._decisions = decision_transport or AiohttpUpstream(
            Pool(
                self._base,
                limit=decision_pool_limit,
                connect_timeout_s=_DECISION_TIMEOUT_S,
                read_timeout_s=_DECISION_TIMEOUT_S,
            )
        )

    def __repr__(self) -> str:
        return f"ControlPlaneClient({self._base!r})"  # never the key

    async def post_json(
        self, path: str, payload: RawJSON, *, timeout_s: float | None = None
    ) -> ControlResponse:
        """POST ``payload`` to ``path``; any HTTP status is returned, transport failures raise
        :class:`ControlPlaneError`."""
        budget = timeout_s if timeout_s is not None else self._timeout_s
        status, body = await self._round_trip(self._transport, "POST", path, orjson.dumps(payload), budget)
        return ControlResponse(status=status, json=_json_of(body))

    async def get_json(self, path: str, *, timeout_s: float | None = None) -> ControlResponse:
        """GET ``path``, as :meth:`post_json`."""
        budget = timeout_s if timeout_s is not None else self._timeout_s
        status, body = await self._round_trip(self._transport, "GET", path, None, budget)
        return ControlResponse(status=status, json=_json_of(body))

    async def ask(
        self, path: str, body: bytes, *, budget_s: float, max_bytes: int
    ) -> tuple[int, bytes | None]:
        """POST ``body`` on the decisions pool; the status and the answer's bytes (None beyond
        ``max_bytes``), all within ``budget_s`` (connect, send and read), or ControlPlaneError."""
        return await self._round_trip(self._decisions, "POST", path, body, budget_s, max_bytes=max_bytes)

    async def _round_trip(
        self,
        transport: UpstreamClient,
        method: str,
        path: str,
        body: bytes | None,
        budget_s: float,
        *,
        max_bytes: int = _MAX_ANSWER_BYTES,
    ) -> tuple[int, bytes | None]:
        headers = self._headers if body is None else [*self._headers, ("content-length", str(len(body)))]
        payload: RequestBody = body
        response: UpstreamResponse | None = None
        raw: bytes | None = None
        is_read = False
        try:
            async with asyncio.timeout(budget_s):
                response = await transport.send(method, path, headers, payload)
                raw = await _read_bounded(response, max_bytes)
                is_read = raw is not None
        except TimeoutError as exc:
            raise ControlPlaneError(
                "timeout", f"the control plane {self._base} did not answer in time"
            ) from exc
        except UpstreamError as exc:
            reason = failure_reason(exc)
            raise ControlPlaneError(reason, f"the control plane {self._base} {_FAILURES[reason]}") from exc
        finally:
            if response is not None:
                # Keep the connection for the next call only when the answer was read whole.
                if is_read:
                    response.release()
                else:
                    response.close()
        assert response is not None
        return response.status, raw

    async def aclose(self) -> None:
        """Close both pools. Safe to call more than once."""
        await self._transport.aclose()
        await self._decisions.aclose()


async def _read_bounded(response: UpstreamResponse, max_bytes: int) -> bytes | None:
    parts: list[bytes] = []
    size = 0
    async for chunk in response.iter_chunks():
        size += len(chunk)
        if size > max_bytes:
            return None
        parts.append(chunk)
    return b"".join(parts)


def _json_of(body: bytes | None) -> RawJSON:
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


__all__ = ["KEY_REFUSED_FIX", "ControlPlaneClient", "ControlResponse", "RawJSON", "failure_reason"]
