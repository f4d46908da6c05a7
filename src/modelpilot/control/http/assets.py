"""Static assets: the console's CSS and script (versioned URLs, cached for a year) and the site
icon (every page links it, and browsers that ask for /favicon.ico anyway get it too, instead of
a 404 in every page's network log)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from modelpilot.control.errors import NotFoundError
from modelpilot.control.http.html import STATIC_FILES, static_body, static_version

ICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    b'<rect width="32" height="32" rx="6" fill="#0b5cad"/>'
    b'<path d="M7 22 L13 10 L19 18 L25 8" stroke="#fff" stroke-width="3" fill="none" '
    b'stroke-linecap="round" stroke-linejoin="round"/></svg>'
)
_HEADERS = {"cache-control": "public, max-age=86400"}


def assets_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/static/{name}")
    def static(name: str, v: str | None = None) -> Response:
        if name not in STATIC_FILES:
            raise NotFoundError("no such file")
        # A versioned URL never changes content; an unversioned one is revalidated soon.
        fresh = v == static_version(name)
        return Response(
            static_body(name),
            media_type=STATIC_FILES[name],
            headers={
                "cache-control": "public, max-age=31536000, immutable" if fresh else "public, max-age=300",
                "x-content-type-options": "nosniff",
            },
        )

    @router.get("/favicon.svg")
    @router.get("/favicon.ico")
    def favicon() -> Response:
        return Response(ICON, media_type="image/svg+xml", headers=_HEADERS)

    return router
