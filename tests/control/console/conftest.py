"""Helpers for the console's page tests: read a page's CSRF token and post its forms."""

from __future__ import annotations

import re

import httpx2 as httpx

from tests.control.conftest import csrf_from

_SECRET = re.compile(r'data-testid="new-secret"|value="(mp_live_[0-9A-Za-z]+)"')


async def csrf_of(client: httpx.AsyncClient, path: str = "/console") -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_from(page.text)


async def post_form(client: httpx.AsyncClient, path: str, **data: str) -> httpx.Response:
    """POST ``data`` with the CSRF token a console page carries, like the browser would."""
    return await client.post(path, data={"csrf_token": await csrf_of(client), **data})


def secret_in(page: str) -> str | None:
    match = re.search(r'value="(mp_live_[0-9A-Za-z]+)"', page)
    return match.group(1) if match else None


def signed_out(response: httpx.Response) -> bool:
    """The page was refused for want of a session: a redirect to the log-in form."""
    return response.status_code == 303 and response.headers["location"].startswith("/login")
