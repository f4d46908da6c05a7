"""A cap on request bodies, answered as a problem document (413) before the body is in memory.

Starlette's own limiter answers in plain text and replaces whatever response the app started,
so this small middleware does the same job in the control plane's error shape: a declared
``content-length`` over the cap is refused without calling the app; a chunked body is counted as
it is read and refused (through the app's HTTP error handler) the moment it passes the cap.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelpilot.control.http.problems import problem


class ContentTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=413, detail="Content too large")


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            response = problem(
                413,
                title="Content too large",
                detail=f"request bodies are limited to {self.max_bytes} bytes",
                slug="content-too-large",
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise ContentTooLarge
            return message

        await self.app(scope, limited, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
