"""Where a signed-out visitor was going: a page asked for without a session redirects to the
log-in form with ``?next=<path>``, and a successful log-in returns there. Only paths of this
site's own signed-in pages are accepted, so ``next`` cannot send anyone elsewhere."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

_SIGNED_IN_PAGES = ("/console", "/account")
_SIGNED_IN_PREFIXES = ("/console/", "/account/", "/admin/")


def safe_return_path(value: str | None) -> str | None:
    """``value`` if it is a path (and query) of one of our signed-in pages, else None."""
    if not value or len(value) > 2000 or any(c in value for c in "\\\r\n\t"):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return None
    if not (parts.path in _SIGNED_IN_PAGES or parts.path.startswith(_SIGNED_IN_PREFIXES)):
        return None
    return value


def login_url(path: str, query: str) -> str:
    """The log-in form, returning to ``path?query`` afterwards when that is one of our pages."""
    target = safe_return_path(f"{path}?{query}" if query else path)
    return f"/login?{urlencode({'next': target})}" if target else "/login"
