"""The seam between the proxy and the Anthropic API: ``UpstreamClient``.

The app talks to the upstream only through this protocol, the way httpx takes ``transport=``:
tests and later features (routing, escalation) can pass their own client. ``AiohttpUpstream`` is
the real one: a single pooled ``aiohttp.ClientSession`` that adds nothing the caller did not send
and never decompresses, so bytes pass through exactly. aiohttp exceptions are translated here,
once, into ``modelpilot.proxy.errors``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from yarl import URL

from modelpilot.proxy.errors import UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError
from modelpilot.proxy.settings import ProxySettings

log = logging.getLogger("modelpilot.proxy")

RequestBody = bytes | AsyncIterable[bytes] | None


class UpstreamResponse(Protocol):
    """An upstream answer whose headers have arrived and whose body is still to be read."""

    @property
    def status(self) -> int: ...

    @property
    def raw_headers(self) -> Sequence[tuple[bytes, bytes]]: ...

    def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body, chunk by chunk as it arrives; raises ``UpstreamError`` if it breaks off."""
        ...

    def close(self) -> None:
        """Give up on the body (the caller left); the connection is not reused."""
        ...

    def release(self) -> None:
        """The body was read completely; the connection may go back to the pool."""
        ...


class UpstreamClient(Protocol):
    """Sends one request upstream. ``target`` is the path and query exactly as the caller sent
    them (already percent-encoded); ``headers`` are final. Raises ``UpstreamError``."""

    async def send(
        self, method: str, target: str, headers: list[tuple[str, str]], body: RequestBody
    ) -> UpstreamResponse: ...

    async def aclose(self) -> None: ...


_LARGE_BODY_BYTES = 1024 * 1024  # aiohttp's TOO_LARGE_BYTES_BODY
_CACHED_URLS = 256  # parsed upstream URLs kept (``/v1/messages`` and a few more, in practice)
_SLICE_BYTES = 256 * 1024


async def _slices(body: bytes) -> AsyncIterator[bytes]:
    view = memoryview(body)
    for start in range(0, len(body), _SLICE_BYTES):
        yield view[start : start + _SLICE_BYTES].tobytes()


class _AiohttpResponse:
    __slots__ = ("_response",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status

    @property
    def raw_headers(self) -> Sequence[tuple[bytes, bytes]]:
        return self._response.raw_headers

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        content = self._response.content
        try:
            while True:
                # readany() hands over whatever has arrived, so nothing waits for a full buffer.
                chunk = await content.readany()
                if not chunk:
                    return
                yield chunk
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeoutError("the upstream stopped sending within the read timeout") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailableError(
                f"the upstream connection broke off: {type(exc).__name__}"
            ) from exc

    def close(self) -> None:
        self._response.close()

    def release(self) -> None:
        self._response.release()


@dataclass(frozen=True, slots=True)
class Pool:
    """Where an :class:`AiohttpUpstream` connects, how many connections it keeps, and its
    timeouts (``read_timeout_s`` is between two reads, not for the whole answer)."""

    base_url: str
    limit: int
    connect_timeout_s: float
    read_timeout_s: float
    limit_per_host: int = 0
    keepalive_timeout_s: float = 30.0

    @classmethod
    def toward_upstream(cls, settings: ProxySettings) -> Pool:
        """The Anthropic pool of ``settings``."""
        return cls(
            base_url=settings.upstream_base,
            limit=settings.pool_limit,
            connect_timeout_s=settings.connect_timeout_s,
            read_timeout_s=settings.read_timeout_s,
            limit_per_host=settings.pool_limit_per_host,
            keepalive_timeout_s=settings.keepalive_timeout_s,
        )


class AiohttpUpstream:
    """The production ``UpstreamClient``: one keep-alive connection pool toward ``upstream_url``
    (or toward the :class:`Pool` given: the control-plane client has pools of its own).

    The session is created on first use inside the running loop (or by :meth:`open` from the ASGI
    lifespan), never at import or construction time.

    >>> upstream = AiohttpUpstream(ProxySettings(upstream_url="http://127.0.0.1:9000"))
    """

    def __init__(self, settings: ProxySettings | Pool) -> None:
        self._pool = settings if isinstance(settings, Pool) else Pool.toward_upstream(settings)
        self._base = self._pool.base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._keeper: AsyncGenerator[None, None] | None = None
        self._urls: dict[str, URL] = {}

    async def open(self) -> None:
        """Create the pooled session now (ASGI lifespan startup)."""
        await self._ensure_session()

    async def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is not None:
            return self._session
        pool = self._pool
        connector = aiohttp.TCPConnector(
            limit=pool.limit,
            limit_per_host=pool.limit_per_host,
            keepalive_timeout=pool.keepalive_timeout_s,
            enable_cleanup_closed=False,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            # aiohttp would otherwise add Accept, Accept-Encoding, User-Agent and a guessed
            # Content-Type; the upstream must see the caller's headers only.
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
            timeout=aiohttp.ClientTimeout(
                total=None, connect=pool.connect_timeout_s, sock_read=pool.read_timeout_s
            ),
            trust_env=False,
            raise_for_status=False,
        )
        self._session = session
        # Servers run without an ASGI lifespan (``--lifespan off``) never call aclose(). Tie the
        # session to the loop instead: asyncio.run() finalises live async generators before the
        # loop closes, and this one closes the session when finalised.
        self._keeper = self._close_with_loop()
        await self._keeper.asend(None)
        return session

    async def _close_with_loop(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await self._close_session()

    async def send(
        self, method: str, target: str, headers: list[tuple[str, str]], body: RequestBody
    ) -> UpstreamResponse:
        session = self._session or await self._ensure_session()
        url = self._urls.get(target)
        if url is None:
            url = URL(self._base + target, encoded=True)
            if len(self._urls) < _CACHED_URLS:
                self._urls[target] = url
        if isinstance(body, bytes) and len(body) > _LARGE_BODY_BYTES:
            # aiohttp warns (ResourceWarning) about big ``bytes`` bodies; hand it slices instead,
            # with the length stated so the upstream still gets a Content-Length, not chunks.
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(body))))
            body = _slices(body)
        try:
            response = await session.request(
                method, url, headers=headers, data=body, allow_redirects=False, compress=None
            )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeoutError(f"the upstream {self._base} did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailableError(
                f"the upstream {self._base} is unreachable ({type(exc).__name__})"
            ) from exc
        except OSError as exc:
            raise UpstreamUnavailableError(
                f"the upstream {self._base} is unreachable ({exc.strerror})"
            ) from exc
        return _AiohttpResponse(response)

    async def _close_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def aclose(self) -> None:
        """Close the pool (ASGI lifespan shutdown). Safe to call more than once."""
        keeper, self._keeper = self._keeper, None
        await self._close_session()
        if keeper is not None:
            await keeper.aclose()


__all__ = ["AiohttpUpstream", "Pool", "RequestBody", "UpstreamClient", "UpstreamError", "UpstreamResponse"]
