"""The proxy's trust boundary: which HTTP requests it serves at all.

The proxy listens on loopback and may add the operator's fallback Anthropic key to requests that
carry none, so a web page must not be able to use it: not through DNS rebinding (a hostile name
resolving to 127.0.0.1, seen as an unknown ``Host``), and not with a cross-site browser request
(``Sec-Fetch-Site: cross-site``, or an ``Origin`` that is not the proxy's). Such requests are
refused before anything else, in Anthropic's error shape, and never reach the upstream.

Paths with dot segments (``/v1/../admin``, ``/v1/%2e%2e/admin``) are refused too: forwarded
unchanged they could name something else upstream than what the proxy checked. So is a request
with no ``Host`` header (HTTP/1.1 requires one, RFC 9112 section 3.2; every client sends it).

``--allowed-host '*'`` turns the ``Host`` check off (any name is served, for callers that reach
the proxy by names not known in advance); the browser checks stay on: ``Sec-Fetch-Site:
cross-site`` is refused, and an ``Origin`` must still be loopback or a host named explicitly.

>>> refusal([(b"host", b"127.0.0.1:8787")], "/v1/messages", allowed_hosts=())
>>> refusal([(b"host", b"rebind.attacker.example")], "/v1/messages", allowed_hosts=())
ForbiddenRequestError('requests for host rebind.attacker.example are not served by this proxy; ...')
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from urllib.parse import urlsplit

from modelpilot.ports import host_name, is_loopback_name
from modelpilot.proxy.errors import InvalidRequestError, ProxyError
from modelpilot.proxy.headers import header_value

#: Browser fetch metadata that marks a request as coming from a page of another site.
_CROSS_SITE = b"cross-site"


class ForbiddenRequestError(ProxyError):
    """A request from outside the trust boundary (unknown Host, cross-site browser request)."""

    status = 403
    kind = "permission_error"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self).split(';')[0] + '; ...'!r})"


def is_allowed_host(value: str, allowed_hosts: Collection[str]) -> bool:
    """Whether a ``Host`` names this proxy: loopback, configured, or any name under ``*``."""
    name = host_name(value)
    return is_loopback_name(name) or "*" in allowed_hosts or name in allowed_hosts


def is_allowed_origin(value: str, allowed_hosts: Collection[str]) -> bool:
    """Whether a browser ``Origin`` is this proxy's: an http(s) origin on loopback or on a host
    named in ``allowed_hosts``. ``*`` does not count: it lets any Host in, not any web page."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        return False
    name = host_name(parts.netloc)
    return is_loopback_name(name) or (name != "*" and name in allowed_hosts)


def refusal(
    headers: Iterable[tuple[bytes, bytes]],
    path: str,
    *,
    allowed_hosts: Collection[str],
) -> ProxyError | None:
    """Why this request must not be served (the error to answer with), or None."""
    headers = list(headers)
    host = header_value(headers, b"host")
    if host is None:
        return InvalidRequestError("the request has no Host header (HTTP/1.1 requires one)")
    decoded_host = host.decode("latin-1")
    if not is_allowed_host(decoded_host, allowed_hosts):
        return ForbiddenRequestError(
            f"requests for host {host_name(decoded_host)[:100]} are not served by this proxy; "
            "call it on localhost or add the name with --allowed-host (MODELPILOT_ALLOWED_HOSTS)"
        )
    if header_value(headers, b"sec-fetch-site") == _CROSS_SITE:
        return ForbiddenRequestError("cross-site browser requests are not served by this proxy")
    origin = header_value(headers, b"origin")
    if origin is not None and not is_allowed_origin(origin.decode("latin-1"), allowed_hosts):
        return ForbiddenRequestError("browser requests from another origin are not served by this proxy")
    # The decoded path: %2e%2e is a dot segment too. (An encoded slash inside one segment, as in
    # an id, is forwarded as sent; with dots around it, it is refused here.)
    segments = set(re.split(r"[/\\]", path))
    if "." in segments or ".." in segments:
        return InvalidRequestError("the request path has dot segments (. or ..)")
    return None


__all__ = ["ForbiddenRequestError", "is_allowed_host", "is_allowed_origin", "refusal"]
