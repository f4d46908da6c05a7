"""The control plane's settings: one frozen object, built by the CLI and passed down."""

from __future__ import annotations

from dataclasses import dataclass

#: OWASP Password Storage Cheat Sheet (2023+): 600,000 iterations for PBKDF2-HMAC-SHA256.
DEFAULT_PASSWORD_ITERATIONS = 600_000
#: The floor DESIGN.md §6 sets; configuring less is refused.
MIN_PASSWORD_ITERATIONS = 200_000
_MIN_SECRET_CHARS = 32


class SettingsError(ValueError):
    """The settings are unusable; raised at start-up, never later."""


@dataclass(frozen=True, slots=True)
class ControlSettings:
    """Everything the control plane's app needs to know, validated on construction.

    ``session_secrets`` signs cookies and CSRF tokens: the first secret signs, every secret
    verifies, so a secret is rotated by prepending the new one and dropping the old one after the
    session lifetime. ``cookie_secure`` None means "Secure when the request came over TLS".

    >>> ControlSettings(database_url="sqlite:///var/mp.sqlite3", session_secrets=("x" * 32,))
    ... # doctest: +ELLIPSIS
    ControlSettings(database_url='sqlite:///var/mp.sqlite3', ...)
    """

    database_url: str
    session_secrets: tuple[str, ...]
    password_iterations: int = DEFAULT_PASSWORD_ITERATIONS
    allow_weak_password_hashing: bool = False
    session_ttl_s: int = 14 * 24 * 3600
    cookie_secure: bool | None = None
    login_max_failures: int = 5
    login_max_failures_per_client: int = 50
    login_window_s: int = 15 * 60
    route_ttl_s: int = 300
    key_last_used_resolution_s: int = 60
    min_password_chars: int = 10

    def __post_init__(self) -> None:
        if not self.session_secrets:
            raise SettingsError("at least one session secret is required")
        for secret in self.session_secrets:
            if len(secret) < _MIN_SECRET_CHARS:
                raise SettingsError(f"session secrets must be at least {_MIN_SECRET_CHARS} characters")
        if self.password_iterations < MIN_PASSWORD_ITERATIONS and not self.allow_weak_password_hashing:
            raise SettingsError(f"password_iterations must be at least {MIN_PASSWORD_ITERATIONS}")
        if self.password_iterations < 1:
            raise SettingsError("password_iterations must be positive")
        if self.session_ttl_s < 60 or self.login_window_s < 1 or self.login_max_failures < 1:
            raise SettingsError("session and throttling windows must be positive")
