"""Port and address helpers shared by every command that listens (``up``, ``proxy``, ``control``,
``sim``) and by the servers that check which names they were reached by.

Kept apart from ``modelpilot.stack`` so that a command importing them loads neither the control
plane nor the proxy: ``modelpilot proxy`` must run on the base install (tests/test_layers.py).
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import re
import socket

import click


def ensure_port_free(host: str, port: int, option: str) -> None:
    """Fail with a one-line fix instead of a traceback when a port is taken."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.UsageError(
                    f"{host}:{port} is already in use; stop what listens there or pass {option} PORT"
                ) from exc
            raise click.UsageError(f"cannot listen on {host}:{port} ({option}): {exc.strerror}") from exc


def free_port(host: str) -> int:
    """A port the OS reports free on ``host`` now (for a server whose URL must be known early)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def reachable_host(host: str) -> str:
    """Where to connect to reach a server listening on ``host``: a wildcard address is where
    servers listen, not somewhere to connect to."""
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)


def host_name(value: str) -> str:
    """The name of a ``Host`` header or an origin's netloc, lowercased, without the port or an
    IPv6 literal's brackets: ``example.com`` of ``Example.com:8787``, ``::1`` of ``[::1]:8787``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


#: ``localhost`` and names under it (RFC 6761), in plain DNS labels only.
_LOCALHOST = re.compile(r"(?:[a-z0-9-]+\.)*localhost")


@functools.lru_cache(maxsize=256)  # the proxy asks on every request: parsing an IP literal is slow
def is_loopback_name(name: str) -> bool:
    """Whether a host name (no port; an IPv6 literal with or without brackets) names this
    machine's loopback: ``localhost``, a ``*.localhost`` name (RFC 6761), 127.0.0.0/8 or ``::1``."""
    name = name.lower()
    if _LOCALHOST.fullmatch(name):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False
