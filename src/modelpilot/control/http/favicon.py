"""The site icon: every page links it, and browsers that ask for /favicon.ico anyway get it too
(instead of a 404 in every page's network log)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

ICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    b'<rect width="32" height="32" rx="6" fill="#0b5cad"/>'
    b'<path d="M7 22 L13 10 L19 18 L25 8" stroke="#fff" stroke-width="3" fill="none" '
    b'stroke-linecap="round" stroke-linejoin="round"/></svg>'
)
_HEADERS = {"cache-control": "public, max-age=86400"}


def favicon_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/favicon.svg")
    @router.get("/favicon.ico")
    def favicon() -> Response:
        return Response(ICON, media_type="image/svg+xml", headers=_HEADERS)

    return router
