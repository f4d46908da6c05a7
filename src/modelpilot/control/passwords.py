"""Password hashing: PBKDF2-HMAC-SHA256 from the standard library.

A hash is stored as ``pbkdf2_sha256$<iterations>$<salt, base64>$<digest, base64>``, so every hash
carries its own parameters and a rising policy rehashes on the next successful log-in.

>>> stored = hash_password("correct horse", iterations=1000)
>>> verify_password("correct horse", stored), needs_rehash(stored, iterations=2000)
(True, True)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ALGORITHM = "pbkdf2_sha256"
SALT_BYTES = 16
DIGEST_BYTES = 32


def hash_password(password: str, *, iterations: int) -> str:
    """Hash ``password`` with a fresh random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations, DIGEST_BYTES)
    return f"{ALGORITHM}${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (compared in constant time)."""
    parsed = _parse(stored)
    if parsed is None:
        return False
    iterations, salt, expected = parsed
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations, len(expected))
    return hmac.compare_digest(digest, expected)


def needs_rehash(stored: str, *, iterations: int) -> bool:
    """True when ``stored`` was made with a weaker policy than ``iterations``."""
    parsed = _parse(stored)
    return parsed is None or parsed[0] < iterations


def burn_verification(password: str, *, iterations: int) -> None:
    """Spend as long as a real verification, so an unknown account takes as long to refuse as a
    wrong password (no account enumeration by timing)."""
    hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), b"\0" * SALT_BYTES, iterations, DIGEST_BYTES)


def _parse(stored: str) -> tuple[int, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != ALGORITHM or not parts[1].isdigit():
        return None
    try:
        return (
            int(parts[1]),
            base64.b64decode(parts[2], validate=True),
            base64.b64decode(parts[3], validate=True),
        )
    except ValueError:
        return None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
