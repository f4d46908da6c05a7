"""Every route a control-plane app serves, found by walking the app itself (so that pages and
APIs added later are covered without touching the tests), and requests that reach each one."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.params import Form

from modelpilot.control.http.dependencies import account_caller

# Intentionally public: health, the API document, log-in and sign-up, the status page and the
# public pages (security, architecture, DPA, subprocessors and the like), static assets and
# /.well-known. Everything else must refuse a request without valid credentials.
PUBLIC = tuple(
    re.compile(pattern)
    for pattern in (
        r"^/$",
        r"^/healthz$",
        r"^/readyz$",
        r"^/openapi\.json$",
        r"^/(login|signup|password-reset)$",
        r"^/status(\.json|/.*)?$",
        r"^/api/status(/.*)?$",
        r"^/\.well-known/.*$",
        r"^/(security|architecture|dpa|subprocessors|privacy|terms|pricing|about|docs)(/.*)?$",
        r"^/(static|assets)(/.*)?$",
        r"^/(favicon\.ico|favicon\.svg|robots\.txt)$",
    )
)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Endpoint:
    """One method of one route: its path template, and what its request body is made of."""

    method: str
    path: str
    form_fields: tuple[str, ...]
    json_body: bool
    #: Part of the management API: a management token (``mp_mgmt_``) is a credential here.
    accepts_token: bool = False

    @property
    def is_public(self) -> bool:
        return any(pattern.match(self.path) for pattern in PUBLIC)

    @property
    def is_ingestion(self) -> bool:
        """Authenticated by deployment key (the proxy's API) rather than by session."""
        return self.path.startswith("/v1/")

    @property
    def params(self) -> list[str]:
        return re.findall(r"{([^}:]+)(?::[^}]*)?}", self.path)

    def url(self, values: dict[str, str]) -> str:
        """The path with each ``{param}`` filled from ``values`` (a fresh UUID otherwise)."""
        return re.sub(
            r"{([^}:]+)(?::[^}]*)?}", lambda m: values.get(m.group(1), str(uuid.uuid4())), self.path
        )

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _body_of(route: Any) -> tuple[tuple[str, ...], bool]:
    dependant = getattr(route, "dependant", None)
    params = list(getattr(dependant, "body_params", None) or [])
    forms = tuple(p.alias or p.name for p in params if isinstance(p.field_info, Form))
    return forms, bool(params) and not forms


def _takes_token(dependant: Any) -> bool:
    """Whether the route authenticates through :func:`account_caller` (session or token)."""
    if dependant is None:
        return False
    return getattr(dependant, "call", None) is account_caller or any(
        _takes_token(sub) for sub in getattr(dependant, "dependencies", ())
    )


def _walk(routes: list[Any], prefix: str) -> Iterator[Endpoint]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI >= 0.16x keeps routers nested
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from _walk(list(included.routes), prefix + getattr(context, "prefix", ""))
            continue
        path = getattr(route, "path", None)
        if path is None:
            continue
        methods = getattr(route, "methods", None)
        if methods is None:  # a Mount (static files, a sub-app): probe it with GET
            yield Endpoint("GET", prefix + path.rstrip("/") + "/probe", (), False)
            continue
        forms, json_body = _body_of(route)
        token = _takes_token(getattr(route, "dependant", None))
        for method in sorted(set(methods) - {"HEAD", "OPTIONS"}):
            yield Endpoint(method, prefix + path, forms, json_body, token)


def endpoints(app: FastAPI) -> list[Endpoint]:
    """Every method of every route ``app`` serves, public ones included."""
    return sorted(set(_walk(list(app.routes), "")), key=lambda e: (e.path, e.method))


def request_kwargs(endpoint: Endpoint, *, csrf: str = "", payload: Any = None) -> dict[str, Any]:
    """A body that gets a request past parsing: every form field filled (the CSRF token with
    ``csrf``), or ``payload`` (default ``{}``) as JSON."""
    if endpoint.form_fields:
        return {
            "data": {
                name: csrf if name == "csrf_token" else "placeholder value 123"
                for name in endpoint.form_fields
            }
        }
    if endpoint.json_body or endpoint.method in UNSAFE_METHODS:
        return {"json": {} if payload is None else payload}
    return {}
