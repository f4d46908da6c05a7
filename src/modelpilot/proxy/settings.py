"""The proxy's configuration: one frozen object, built by the CLI (or a test) and passed down."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from modelpilot.proxy.calibration.sampling import CapShare

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
    #: Host names (besides loopback ones) requests may name in ``Host`` and ``Origin``; ``*``
    #: allows any (only behind something that checks them). Lower case. The host of
    #: ``public_base_url`` is added by :meth:`__post_init__`.
    allowed_hosts: tuple[str, ...] = ()
    # Metering (DESIGN.md §5): aggregates only, spooled locally, flushed to the control plane.
    control_plane_url: str | None = None
    control_plane_api_key: str | None = field(default=None, repr=False)
    spool_path: str | None = None  # required with a control plane; the CLI picks a default file
    spool_max_rows: int = 100_000
    flush_interval_s: float = 10.0
    flush_timeout_s: float = 10.0
    drain_timeout_s: float = 5.0  # how long shutdown may spend sending what is spooled
    metadata_logs: bool = False  # opt-in: one metadata record per Messages request (no content)
    # Routing (DESIGN.md §3-4): decisions for POST /v1/messages when a control plane is set.
    routing_budget_ms: float = 25.0  # the longest a request waits for a decision, then fails open
    breaker_failures: int = 5  # consecutive control-plane failures that open the circuit
    breaker_cooldown_s: float = 30.0  # how long an open circuit skips the control plane
    decision_cache_size: int = 4096  # cached decisions (per requested model x bucket)
    #: How often GET /v1/config is polled: a mode change, revocation or suspension is obeyed
    #: within about this long (proxy/config_watch.py).
    config_poll_interval_s: float = 3.0
    checked_streaming: bool = False  # hold routed tool/structured streams until they pass the checks
    # The local learner's file (proxy/learning); None: learner.json next to the spool.
    learner_path: str | None = None
    # The customer's own OTLP/HTTP collector for the metadata log and metrics (proxy/otlp.py).
    otlp_endpoint: str | None = None
    otlp_export_interval_s: float = 10.0
    telemetry_interval_s: float = 60.0  # how often routing health counters go to the control plane
    # Paired checks (proxy/calibration): local overrides of the deployment's rate and daily cap
    # (None = the control plane's values, 2 % and $1 by default; 0 turns calibration off), the
    # judge (model, rubric) or a team's own evaluator (a module:function or a loopback URL).
    calibration_rate_bps: int | None = None
    calibration_daily_cap_micros: int | None = None
    judge_model: str | None = None
    judge_prompt: str | None = field(default=None, repr=False)
    judge_callable: str | None = None
    judge_url: str | None = None
    calibration_timeout_s: float = 120.0  # per side call (candidate, judge, evaluator)
    #: Under ``modelpilot proxy --workers N``: this worker's share of the daily cap (proxy/workers.py).
    calibration_share: CapShare | None = None

    def __post_init__(self) -> None:
        if not self.upstream_url.startswith(("http://", "https://")):
            raise ValueError(f"upstream_url must be an http(s) URL, got {self.upstream_url!r}")
        if self.max_body_bytes <= 0 or self.max_upload_bytes <= 0:
            raise ValueError("body limits must be positive")
        if self.public_base_url is not None and not self.public_base_url.startswith(("http://", "https://")):
            raise ValueError(f"public_base_url must be an http(s) URL, got {self.public_base_url!r}")
        hosts = tuple(name.strip().lower() for name in self.allowed_hosts if name.strip())
        if self.public_base_url is not None:
            hosts += ((urlsplit(self.public_base_url).hostname or "").lower(),)
        object.__setattr__(self, "allowed_hosts", hosts)
        self._check_metering()
        self._check_routing()
        self._check_export()
        self._check_calibration()

    def _check_calibration(self) -> None:
        if self.calibration_rate_bps is not None and not 0 <= self.calibration_rate_bps <= 10_000:
            raise ValueError("calibration_rate_bps must be within 0..10000 (basis points)")
        if self.calibration_daily_cap_micros is not None and self.calibration_daily_cap_micros < 0:
            raise ValueError("calibration_daily_cap_micros must not be negative")
        if self.judge_callable is not None and self.judge_url is not None:
            raise ValueError("judge_callable and judge_url are two ways to replace the judge: set one")
        if self.judge_url is not None:
            parts = urlsplit(self.judge_url)
            if parts.scheme not in ("http", "https") or not _is_loopback((parts.hostname or "").lower()):
                raise ValueError(f"judge_url must be http(s) on loopback, got {self.judge_url!r}")
        if self.calibration_timeout_s <= 0:
            raise ValueError("calibration_timeout_s must be positive")

    def _check_metering(self) -> None:
        if (self.control_plane_url is None) != (self.control_plane_api_key is None):
            raise ValueError(
                "control_plane_url and control_plane_api_key go together (key: $MODELPILOT_API_KEY)"
            )
        if self.control_plane_api_key is not None:
            check_deployment_key(self.control_plane_api_key)
        if self.control_plane_url is not None:
            check_control_plane_url(self.control_plane_url)
            if self.spool_path is None:
                raise ValueError("a control plane needs a spool_path: metering is spooled before it is sent")
        if self.metadata_logs and self.control_plane_url is None:
            raise ValueError("metadata_logs are sent to the control plane: set control_plane_url too")
        if self.spool_max_rows < 1:
            raise ValueError("spool_max_rows must be positive")
        if min(self.flush_interval_s, self.flush_timeout_s) <= 0 or self.drain_timeout_s < 0:
            raise ValueError("flush intervals and timeouts must be positive")

    def _check_routing(self) -> None:
        if self.routing_budget_ms <= 0 or self.breaker_cooldown_s < 0:
            raise ValueError("routing_budget_ms must be positive and breaker_cooldown_s not negative")
        if self.config_poll_interval_s <= 0:
            raise ValueError("config_poll_interval_s must be positive")
        if self.breaker_failures < 1 or self.decision_cache_size < 1:
            raise ValueError("breaker_failures and decision_cache_size must be positive")

    def _check_export(self) -> None:
        if self.otlp_endpoint is not None and not self.otlp_endpoint.startswith(("http://", "https://")):
            raise ValueError(f"otlp_endpoint must be an http(s) URL, got {self.otlp_endpoint!r}")
        if self.otlp_export_interval_s <= 0 or self.telemetry_interval_s <= 0:
            raise ValueError("otlp_export_interval_s and telemetry_interval_s must be positive")

    @property
    def upstream_base(self) -> str:
        """The upstream URL without a trailing slash; request paths are appended to it."""
        return self.upstream_url.rstrip("/")


def _is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP literal; never a name that merely starts like one
    (``127.example.com`` resolves wherever its owner wants)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback IP literal (see ``_is_loopback``)."""
    return _is_loopback(host)


_ANTHROPIC_KEY = re.compile(r"sk-ant-|sk-[A-Za-z0-9_-]{20,}")
_DEPLOYMENT_KEY = re.compile(r"mp_live_[0-9A-Za-z]{32,56}")


def looks_like_anthropic_key(value: str) -> bool:
    """Whether ``value`` could be an Anthropic API key (``sk-ant-...``), which must never be sent
    anywhere but Anthropic."""
    return _ANTHROPIC_KEY.search(value) is not None


def check_deployment_key(key: str, *, strict: bool = False) -> None:
    """Refuse a control-plane key that is not a ModelPilot deployment key (ValueError): never one
    that looks like an Anthropic key; with ``strict`` (the CLI), anything but the ``mp_live_``
    shape the console issues. The message says what to do instead and never holds the key."""
    if looks_like_anthropic_key(key):
        raise ValueError(
            "this is an Anthropic API key, not a ModelPilot deployment key; put the Anthropic key in "
            "ANTHROPIC_API_KEY and the deployment key (mp_live_..., from the console or "
            "`modelpilot admin create-key`) in MODELPILOT_API_KEY"
        )
    if not key.startswith("mp_") or (strict and _DEPLOYMENT_KEY.fullmatch(key) is None):
        raise ValueError(
            "not a ModelPilot deployment key (mp_live_...); create one in the console or with "
            "`modelpilot admin create-key`"
        )


def check_control_plane_url(url: str) -> None:
    """Refuse a control plane URL the deployment key must not travel to: anything but https,
    except plain http on loopback (DESIGN.md §6). ValueError otherwise."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"control_plane_url must be an http(s) URL, got {url!r}")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ValueError("control_plane_url must be a plain origin (and path), without credentials or query")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ValueError(f"control_plane_url must use https unless it is on loopback, got {url!r}")
