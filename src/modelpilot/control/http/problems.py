"""Rendering errors: ``application/problem+json`` (RFC 9457) for the JSON APIs and ingestion, a
small HTML page for the forms. Values from the request are never echoed."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelpilot.control.errors import (
    AuthError,
    InvalidRequestError,
    ModelPilotError,
    ProblemDetail,
    ThrottledError,
)
from modelpilot.control.http.return_to import login_url
from modelpilot.control.http.state import get_state

PROBLEM_MEDIA_TYPE = "application/problem+json"
_JSON_PREFIXES = ("/v1/", "/api/", "/healthz", "/openapi.json")


class ProblemError(BaseModel):
    """Where a payload went wrong (a JSON path) and why."""

    path: str
    reason: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemError] = []


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem documents with these statuses."""
    return {
        status: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": "Problem"}
        for status in statuses
    }


def problem(
    status: int, *, title: str, detail: str, slug: str, errors: tuple[ProblemDetail, ...] = ()
) -> Response:
    body = Problem(
        type=f"https://modelpilot.dev/problems/{slug}",
        title=title,
        status=status,
        detail=detail,
        errors=[ProblemError(path=e.path, reason=e.reason) for e in errors],
    )
    return JSONResponse(body.model_dump(), status_code=status, media_type=PROBLEM_MEDIA_TYPE)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(_JSON_PREFIXES)


def _html(request: Request, status: int, title: str, detail: str) -> Response:
    page = get_state(request).templates.get_template("error.html").render(title=title, detail=detail)
    return HTMLResponse(page, status_code=status)


async def _on_modelpilot_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ModelPilotError)
    if type(exc) is AuthError and request.method in ("GET", "HEAD") and not _wants_json(request):
        # A page asked for without a (valid) session: log in, then come back to it.
        return RedirectResponse(login_url(request.url.path, request.url.query), status_code=303)
    if _wants_json(request):
        response = problem(
            exc.status, title=exc.title, detail=exc.detail, slug=exc.type_slug, errors=exc.errors
        )
    else:
        response = _html(request, exc.status, exc.title, exc.detail)
    if isinstance(exc, ThrottledError):
        response.headers["retry-after"] = str(exc.retry_after_s)
    return response


def _json_path(loc: tuple[int | str, ...]) -> str:
    path = "$"
    for part in loc[1:] if loc and loc[0] in {"body", "query", "path", "header", "cookie"} else loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # pydantic's messages can quote the input ("Input should be ... got 'sk-...'"); keep only the
    # location and the error type, never the value.
    errors = tuple(
        ProblemDetail(_json_path(tuple(e.get("loc", ()))), str(e.get("type", "invalid")))
        for e in exc.errors()
    )
    return await _on_modelpilot_error(
        request, InvalidRequestError("the request does not match its schema", errors=errors[:20])
    )


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    title = {404: "Not found", 405: "Method not allowed", 413: "Content too large"}.get(
        exc.status_code, "HTTP error"
    )
    if _wants_json(request):
        response = problem(exc.status_code, title=title, detail=title, slug="http")
    else:
        response = _html(request, exc.status_code, title, title)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


def install_error_handlers(app: FastAPI) -> None:
    """The single place where errors become responses."""
    app.add_exception_handler(ModelPilotError, _on_modelpilot_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
