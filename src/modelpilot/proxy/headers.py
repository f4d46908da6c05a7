"""Which headers cross the proxy, in each direction.

ASGI servers hand us lower-case header names; aiohttp gives the upstream's raw header bytes.
Only hop-by-hop headers are dropped (RFC 9110 §7.6.1), plus the few that describe the hop itself
(``host``, ``content-length`` of a re-framed body, ``expect``); everything else passes unchanged.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Dropped toward the upstream only: the client sets Host for the upstream, and ``Expect:
# 100-continue`` was already answered by our own server (forwarding it would make the upstream
# client wait for a second 100 before sending the body).
_REQUEST_ONLY = frozenset({b"host", b"expect"})
_DROPPED_REQUEST = HOP_BY_HOP | _REQUEST_ONLY


def _connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """Header names listed in ``Connection`` are hop-by-hop too (RFC 9110 §7.6.1)."""
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b","))
    return frozenset(tokens)


def upstream_request_headers(
    headers: Sequence[tuple[bytes, bytes]], *, fallback_api_key: str | None
) -> list[tuple[str, str]]:
    """The caller's headers as they go to the upstream, in their original order.

    The caller's key (``x-api-key`` or ``Authorization``) is forwarded as is; only when the caller
    sent neither is the configured key added as ``x-api-key``.
    """
    # One pass for the common case; a ``Connection`` header (rare on HTTP/1.1 keep-alive) makes
    # the names it lists hop-by-hop too, and those are filtered out afterwards.
    kept: list[tuple[bytes, bytes]] = []
    has_connection = False
    for name, value in headers:
        if name in _DROPPED_REQUEST:
            has_connection = has_connection or name == b"connection"
            continue
        kept.append((name, value))
    if has_connection:
        tokens = _connection_tokens(headers)
        kept = [(name, value) for name, value in kept if name not in tokens]
    out: list[tuple[str, str]] = []
    has_key = False
    for name, value in kept:
        if name == b"x-api-key" or name == b"authorization":
            has_key = True
        # latin-1 maps bytes 1:1, so nothing the caller sent is altered on the way.
        out.append((name.decode("latin-1"), value.decode("latin-1")))
    if not has_key and fallback_api_key:
        out.append(("x-api-key", fallback_api_key))
    return out


def downstream_response_headers(raw: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The upstream's response headers minus hop-by-hop ones, names lower-cased for ASGI."""
    out: list[tuple[bytes, bytes]] = []
    has_connection = False
    for name, value in raw:
        lower = name.lower()
        if lower in HOP_BY_HOP:
            has_connection = has_connection or lower == b"connection"
            continue
        out.append((lower, value))
    if has_connection:
        tokens = _connection_tokens(raw)
        out = [(name, value) for name, value in out if name not in tokens]
    return out


def header_value(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of a lower-case ``name``, or None."""
    for key, value in headers:
        if key == name:
            return value
    return None


def header_values(headers: Iterable[tuple[bytes, bytes]], names: Collection[bytes]) -> dict[bytes, bytes]:
    """The first value of each lower-case name in ``names`` that is present, in one pass."""
    found: dict[bytes, bytes] = {}
    for key, value in headers:
        if key in names and key not in found:
            found[key] = value
    return found
