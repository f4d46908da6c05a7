"""The one rewrite the proxy makes: batch ``results_url`` values point at the proxy's own origin.

The SDK fetches ``results_url`` verbatim, so an absolute ``https://api.anthropic.com/...`` URL would
bypass the proxy. Only the URL strings are replaced, in place, so every other byte of the answer
(key order, spacing, escapes) stays as the upstream sent it.

>>> rewrite_results_urls(b'{"results_url":"https://api.anthropic.com/v1/messages/batches/b/results"}',
...                      origin="http://127.0.0.1:8787")
b'{"results_url":"http://127.0.0.1:8787/v1/messages/batches/b/results"}'
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import orjson

_BATCHES_PREFIX = "/v1/messages/batches"
# "results_url": "<JSON string>" — a key can only be preceded by "{" or "," (with spaces), which
# keeps the same words inside some other string value from matching.
_RESULTS_URL = re.compile(rb'([{,]\s*"results_url"\s*:\s*)"((?:[^"\\]|\\.)*)"')


def is_batch_object_path(path: str) -> bool:
    """Create, list, get and cancel answer with batch objects; ``/results`` is JSON Lines."""
    return path.startswith(_BATCHES_PREFIX) and not path.endswith("/results")


def _rewritten(url: str, origin: str) -> str:
    parts = urlsplit(url)
    tail = parts.path or "/"
    if parts.query:
        tail += "?" + parts.query
    return origin.rstrip("/") + tail


def rewrite_results_urls(body: bytes, *, origin: str) -> bytes:
    """``body`` with each ``results_url`` string moved to ``origin`` (path and query kept)."""

    def replace(match: re.Match[bytes]) -> bytes:
        try:
            url = orjson.loads(b'"' + match.group(2) + b'"')
        except orjson.JSONDecodeError:
            return match.group(0)
        return match.group(1) + orjson.dumps(_rewritten(url, origin))

    return _RESULTS_URL.sub(replace, body)


def request_origin(scheme: str, host: bytes | None, public_base_url: str | None) -> str | None:
    """The origin callers use to reach the proxy: the configured public URL, else scheme + Host."""
    if public_base_url is not None:
        return public_base_url
    if not host:
        return None
    return f"{scheme}://{host.decode('latin-1')}"
