"""The control plane answers only for its own names when ``allowed_hosts`` is set.

A browser that resolves an attacker's name to the control plane's address (DNS rebinding), or a
lax reverse proxy, sends a Host the operator never chose; such a request gets a 400 problem
document and reaches no handler. Allowed: the configured names (``*.domain`` for its
subdomains, ``*`` for any), the host of ``public_url``, and loopback names (a rebinding attack
cannot make a browser send them for the attacker's origin). ``/healthz`` answers any Host:
orchestrators probe a pod by its address. The Host's value is never written into the answer.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from modelpilot.control.http.problems import problem
from modelpilot.control.settings import ControlSettings
from modelpilot.ports import host_name, is_loopback_name

_ALWAYS_ANSWERED = frozenset({"/healthz"})


class AllowedHosts:
    """ASGI middleware refusing requests for a Host outside the allowed names (see module doc)."""

    def __init__(self, app: ASGIApp, *, settings: ControlSettings) -> None:
        self.app = app
        names = {host_name(host).rstrip(".") for host in settings.allowed_hosts}
        if settings.public_url is not None and (public := urlsplit(settings.public_url).hostname):
            names.add(public.lower())
        self._any = "*" in names or not settings.allowed_hosts
        self._names = frozenset(name for name in names if not name.startswith("*."))
        self._suffixes = tuple(name[1:] for name in names if name.startswith("*."))
        self.is_allowed = lru_cache(maxsize=256)(self._is_allowed)

    def _is_allowed(self, name: str) -> bool:
        name = name.rstrip(".")
        return (
            name in self._names
            or (bool(self._suffixes) and name.endswith(self._suffixes))
            or is_loopback_name(name)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._any or scope["type"] != "http" or scope["path"] in _ALWAYS_ANSWERED:
            await self.app(scope, receive, send)
            return
        host = next((value for key, value in scope["headers"] if key == b"host"), b"")
        if self.is_allowed(host_name(host.decode("latin-1"))):
            await self.app(scope, receive, send)
            return
        response = problem(
            400,
            title="Unknown host",
            detail="this control plane does not answer for the Host of this request "
            "(its operator lists the names it answers for in MODELPILOT_ALLOWED_HOSTS)",
            slug="unknown-host",
        )
        await response(scope, receive, send)


__all__ = ["AllowedHosts"]
