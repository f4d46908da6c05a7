"""The suite's secrets. Every credential the reliability tests use is built here or registered
here when the system under test generates it (deployment keys, session cookies), so that the last
test can look for each of them in every log line the suite produced."""

from __future__ import annotations

import threading

ANTHROPIC_KEY = "sk-ant-api03-RELIABILITYcanaryQk3v9ZxWm2Lp7TnR4sYb8Hd1Fg6Jc0Ue5Ao"
PASSWORD = "reliability canary passphrase 7f3a"
OTHER_PASSWORD = "another canary passphrase 91bd"
SESSION_SECRET = "reliability-session-secret-canary-0123456789abcdef"

_lock = threading.Lock()
_generated: set[str] = set()


def register(secret: str) -> str:
    """Remember a secret the system under test made (an API key, a session cookie)."""
    with _lock:
        _generated.add(secret)
    return secret


def all_secrets() -> dict[str, str]:
    """Every secret to look for, by a label that never contains the secret itself."""
    fixed = {
        "anthropic key": ANTHROPIC_KEY,
        "password": PASSWORD,
        "other password": OTHER_PASSWORD,
        "session secret": SESSION_SECRET,
    }
    with _lock:
        generated = sorted(_generated)
    fixed.update({f"generated secret #{i} ({s[:6]}...)": s for i, s in enumerate(generated)})
    return fixed
