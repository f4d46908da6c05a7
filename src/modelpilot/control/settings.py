"""The control plane's settings: one frozen object, built by the CLI and passed down."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: OWASP Password Storage Cheat Sheet (2023+): 600,000 iterations for PBKDF2-HMAC-SHA256.
DEFAULT_PASSWORD_ITERATIONS = 600_000
#: The floor DESIGN.md §6 sets; configuring less is refused.
MIN_PASSWORD_ITERATIONS = 200_000
_MIN_SECRET_CHARS = 32
# A DNS name or an IPv4 address, optionally "*." before it, or "*" alone (IPv6 literals in brackets).
_HOST_PATTERN = re.compile(r"\*|(\*\.)?[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.?)*|\[[0-9A-Fa-f:.]+\]")


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
    #: ModelPilot's fee: this share (basis points) of an account's positive net savings per month.
    fee_share_bps: int = 2000
    #: Routing policy: the largest share of a bucket's decisions spent exploring a cheaper model
    #: the posterior does not yet trust.
    exploration_rate: float = 0.02
    #: Opt-in metadata logs: the longest retention a deployment may choose, and how often the
    #: purge job runs.
    max_log_retention_days: int = 365
    purge_interval_s: int = 3600
    #: How often the control plane probes its own components for the status page.
    status_probe_interval_s: int = 60
    #: Published on the security page and in /.well-known/security.txt (RFC 9116).
    security_contact: str = "mailto:security@modelpilot.dev"
    #: The control plane's public origin (``https://control.example.com``), written into
    #: security.txt and into the commands the console shows (the proxy command with a new key,
    #: the management-token example); never taken from a request's Host header. Unset:
    #: security.txt leaves those links out and the console shows a placeholder.
    public_url: str | None = None
    #: Host names the control plane answers for (``control.example.com``, ``*.internal.example``
    #: for any subdomain, ``*`` for any). Empty, the default: any Host. When set, the
    #: ``public_url``'s host and loopback names are allowed too, ``/healthz`` answers any Host
    #: (probes name the pod's address), and any other Host gets 400 (DNS rebinding, a lax proxy).
    allowed_hosts: tuple[str, ...] = ()

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
        if not 0 <= self.route_ttl_s <= 86_400:
            raise SettingsError("route_ttl_s must be between 0 and 86400 seconds")
        if not 0 <= self.fee_share_bps <= 10_000:
            raise SettingsError("fee_share_bps must be between 0 and 10000 (0-100% of net savings)")
        if not 0.0 <= self.exploration_rate <= 0.2:
            raise SettingsError("exploration_rate must be between 0 and 0.2")
        if self.max_log_retention_days < 1 or self.purge_interval_s < 1 or self.status_probe_interval_s < 1:
            raise SettingsError("retention and job intervals must be positive")
        if self.public_url is not None and not self.public_url.startswith(("https://", "http://")):
            raise SettingsError("public_url must be an http(s) origin")
        for host in self.allowed_hosts:
            if not _HOST_PATTERN.fullmatch(host):
                raise SettingsError(
                    f"allowed_hosts: {host[:80]!r} is not a host name (no scheme, port or path; "
                    "'*.' before a domain allows its subdomains, '*' allows any)"
                )
        if not self.security_contact.startswith(("mailto:", "https://")):
            raise SettingsError("security_contact must be a mailto: or https:// URI (RFC 9116)")
