"""The simulator's one settings object, built by the CLI (or a test) and passed to ``create_app``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

MAX_MESSAGES_BODY_BYTES = 32 * 1024 * 1024
MAX_BATCH_BODY_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SimSettings:
    """How the simulated upstream behaves.

    ``ttft_ms`` delays the first byte of every answer (the JSON body, or the first SSE event);
    ``token_ms`` paces streamed deltas. ``api_keys=None`` accepts any non-empty key.
    ``profiles`` maps a model line (catalog ``line``) to the fraction of requests it answers badly;
    when None, only the ``haiku`` line misbehaves, at ``cheap_failure_rate``.

    Example: ``create_app(SimSettings(ttft_ms=20, token_ms=2, api_keys=frozenset({"sk-ant-test"})))``.
    """

    ttft_ms: float = 0
    token_ms: float = 0
    api_keys: frozenset[str] | None = None
    batch_processing_s: float = 0
    ping: bool = True
    gzip: bool = True
    cheap_failure_rate: float = 0.15
    profiles: Mapping[str, float] | None = None
    organization_id: str = "a1b2c3d4-0000-4000-8000-5151e0000001"
    max_body_bytes: int = MAX_MESSAGES_BODY_BYTES
    max_batch_body_bytes: int = MAX_BATCH_BODY_BYTES
    gzip_min_bytes: int = 1024
    # Rate-limit headers are informative only: the simulator never enforces them.
    rate_limit_requests: int = 4000
    rate_limit_input_tokens: int = 2_000_000
    rate_limit_output_tokens: int = 400_000
    failure_rates: Mapping[str, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rates = dict(self.profiles) if self.profiles is not None else {"haiku": self.cheap_failure_rate}
        for line, rate in rates.items():
            if not 0 <= rate <= 1:
                raise ValueError(f"failure rate for {line!r} must be within [0, 1], got {rate}")
        object.__setattr__(self, "failure_rates", MappingProxyType(rates))

    def failure_rate(self, line: str) -> float:
        """The fraction of requests that models of ``line`` answer badly."""
        return self.failure_rates.get(line, 0.0)
