"""Token usage as reported by the Messages API, read from a JSON answer or a stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RawJSON = Any  # opaque pass-through JSON from the Anthropic API


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts for one answer. ``input_tokens`` excludes cached tokens, as the API reports it.

    When the API breaks cache writes down by TTL (``usage.cache_creation``) the split is kept;
    otherwise every cache write counts as a 5-minute write, the API's default TTL.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0
    service_tier: str | None = None
    inference_geo: str | None = None

    @property
    def prompt_tokens(self) -> int:
        return (
            self.input_tokens
            + self.cache_write_5m_tokens
            + self.cache_write_1h_tokens
            + self.cache_read_tokens
        )

    @property
    def is_batch(self) -> bool:
        return self.service_tier == "batch"

    @classmethod
    def from_api(cls, raw: RawJSON, *, service_tier: str | None = None) -> Usage:
        """Read an API ``usage`` object; unknown or malformed fields count as zero."""
        if not isinstance(raw, dict):
            return cls(service_tier=service_tier)
        created = _int(raw.get("cache_creation_input_tokens"))
        split = raw.get("cache_creation")
        if isinstance(split, dict):
            write_5m = _int(split.get("ephemeral_5m_input_tokens"))
            write_1h = _int(split.get("ephemeral_1h_input_tokens"))
            # A breakdown that does not add up is not trusted; the total is what is billed.
            if write_5m + write_1h != created:
                write_5m, write_1h = created - min(write_1h, created), min(write_1h, created)
        else:
            write_5m, write_1h = created, 0
        tier = raw.get("service_tier")
        geo = raw.get("inference_geo")
        return cls(
            input_tokens=_int(raw.get("input_tokens")),
            output_tokens=_int(raw.get("output_tokens")),
            cache_write_5m_tokens=write_5m,
            cache_write_1h_tokens=write_1h,
            cache_read_tokens=_int(raw.get("cache_read_input_tokens")),
            service_tier=tier if isinstance(tier, str) else service_tier,
            inference_geo=geo if isinstance(geo, str) else None,
        )

    def merged_with_stream_delta(self, raw: RawJSON) -> Usage:
        """Apply a ``message_delta`` usage object: its values are cumulative totals that overwrite,
        and fields it leaves out (or sends as null) keep their value from ``message_start``."""
        if not isinstance(raw, dict):
            return self
        changes: dict[str, int] = {}
        if raw.get("output_tokens") is not None:
            changes["output_tokens"] = _int(raw["output_tokens"])
        if raw.get("input_tokens") is not None:
            changes["input_tokens"] = _int(raw["input_tokens"])
        if raw.get("cache_read_input_tokens") is not None:
            changes["cache_read_tokens"] = _int(raw["cache_read_input_tokens"])
        if raw.get("cache_creation_input_tokens") is not None:
            fresh = Usage.from_api(raw)
            changes["cache_write_5m_tokens"] = fresh.cache_write_5m_tokens
            changes["cache_write_1h_tokens"] = fresh.cache_write_1h_tokens
        if not changes:
            return self
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update(changes)
        return Usage(**values)
