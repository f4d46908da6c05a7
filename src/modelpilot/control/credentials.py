"""Random credentials and how they are stored: deployment API keys, management tokens and
session tokens.

Only SHA-256 digests are stored. An API key is ``mp_live_`` + base62 of 32 random bytes (43
characters), recognisable by secret scanners and shown once, at creation. A management token
(the account's management API, for scripts and CI) has the same shape with ``mp_mgmt_``.

>>> key = new_api_key()
>>> key.secret.startswith("mp_live_"), len(key.sha256), key.display_prefix == key.secret[:12]
(True, 64, True)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

API_KEY_PREFIX = "mp_live_"
MANAGEMENT_TOKEN_PREFIX = "mp_mgmt_"
DISPLAY_PREFIX_CHARS = 12
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A freshly generated key: ``secret`` is shown to the user once and then forgotten."""

    secret: str
    sha256: str
    display_prefix: str


def new_api_key(prefix: str = API_KEY_PREFIX) -> NewApiKey:
    """Generate a high-entropy deployment key (256 bits); with ``prefix``
    :data:`MANAGEMENT_TOKEN_PREFIX`, a management token."""
    secret = prefix + _base62(secrets.token_bytes(_KEY_BYTES))
    return NewApiKey(secret=secret, sha256=sha256_hex(secret), display_prefix=secret[:DISPLAY_PREFIX_CHARS])


def looks_like_api_key(value: str, prefix: str = API_KEY_PREFIX) -> bool:
    """Cheap shape check before any database lookup (``prefix``: which kind of secret)."""
    return value.startswith(prefix) and 40 <= len(value) <= 64 and value[len(prefix) :].isalnum()


def looks_like_management_token(value: str) -> bool:
    return looks_like_api_key(value, MANAGEMENT_TOKEN_PREFIX)


def sha256_hex(value: str) -> str:
    """The stored form of a key or token."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A random URL-safe token (256 bits) for sessions and CSRF nonces."""
    return secrets.token_urlsafe(32)


def sign(secret: str, message: str) -> str:
    """HMAC-SHA256 of ``message`` under ``secret``, hex."""
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def verify_signature(secrets_: tuple[str, ...], message: str, signature: str) -> bool:
    """True when ``signature`` was made by any of ``secrets_`` (current first, then older ones)."""
    ok = False
    for secret in secrets_:
        # Check every secret so the time taken does not reveal which one matched.
        ok |= hmac.compare_digest(sign(secret, message), signature)
    return ok


def _base62(raw: bytes) -> str:
    number = int.from_bytes(raw, "big")
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    return "".join(reversed(digits)).rjust(43, "0")
