"""The proxy's configuration: one frozen object, built by the CLI (or a test) and passed down."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """Everything the proxy needs to know, read from the environment only in ``proxy/cli.py``.

    ``anthropic_api_key`` is a fallback: it is added as ``x-api-key`` only to requests that carry
    no key of their own. ``public_base_url`` overrides the origin written into batch
    ``results_url`` (default: the scheme and ``Host`` of the incoming request).

    >>> ProxySettings(upstream_url="http://127.0.0.1:9000").max_body_bytes
    33554432
    """

    upstream_url: str = "https://api.anthropic.com"
    anthropic_api_key: str | None = None
    max_body_bytes: int = 32 * MIB  # /v1/messages and count_tokens, as the real API [docs]
    max_upload_bytes: int = 500 * MIB  # every other path (Files API limit)
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 600.0  # between two reads; long generations stream with pings
    pool_limit: int = 512
    pool_limit_per_host: int = 0  # 0 = no per-host cap beyond pool_limit
    keepalive_timeout_s: float = 30.0
    public_base_url: str | None = None

    def __post_init__(self) -> None:
        if not self.upstream_url.startswith(("http://", "https://")):
            raise ValueError(f"upstream_url must be an http(s) URL, got {self.upstream_url!r}")
        if self.max_body_bytes <= 0 or self.max_upload_bytes <= 0:
            raise ValueError("body limits must be positive")
        if self.public_base_url is not None and not self.public_base_url.startswith(("http://", "https://")):
            raise ValueError(f"public_base_url must be an http(s) URL, got {self.public_base_url!r}")

    @property
    def upstream_base(self) -> str:
        """The upstream URL without a trailing slash; request paths are appended to it."""
        return self.upstream_url.rstrip("/")
