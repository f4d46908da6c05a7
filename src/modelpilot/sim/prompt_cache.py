"""An in-memory prompt cache, per app, with the API's 5-minute and 1-hour TTLs.

Entries are keyed by (API key, model, digest of the prompt prefix up to a breakpoint). A request
reads the longest cached prefix among its breakpoints and writes the rest, which is how the usage
fields ``cache_read_input_tokens`` and ``cache_creation_input_tokens`` come about.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from modelpilot.sim.tokens import Segment

TTL_S = {"5m": 300.0, "1h": 3600.0}
LOOKBACK_BLOCKS = 20
_MAX_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class CacheUse:
    """How a request's prompt splits into uncached, cache-written and cache-read tokens."""

    input_tokens: int
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0

    @property
    def cache_creation_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens


class PromptCache:
    """Cached prompt prefixes with expiry; ``clock`` is injectable so tests can age entries."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._expiry: dict[tuple[str, str, bytes], float] = {}
        self._ttl_s: dict[tuple[str, str, bytes], float] = {}

    def use(self, api_key: str, model: str, segments: Sequence[Segment], base_tokens: int) -> CacheUse:
        """Look up and refresh the request's breakpoints; returns the usage split."""
        total = base_tokens + sum(s.tokens for s in segments)
        breakpoints = [i for i, s in enumerate(segments) if s.ttl is not None]
        if not breakpoints:
            return CacheUse(input_tokens=total)
        now = self._clock()
        prefix = [0] * len(segments)
        running = 0
        for i, segment in enumerate(segments):
            running += segment.tokens
            prefix[i] = running
        read_upto = self._longest_hit(api_key, model, segments, breakpoints, now)
        read = prefix[read_upto] if read_upto >= 0 else 0
        written = {"5m": 0, "1h": 0}
        previous = read
        if read_upto >= 0 and segments[read_upto].ttl is None:
            # A hit found by lookback is refreshed too, as every read is, for its own TTL.
            key = (api_key, model, segments[read_upto].digest)
            self._store(key, now + self._ttl_s[key])
        for i in breakpoints:
            ttl = segments[i].ttl or "5m"
            if i > read_upto:
                written[ttl] += prefix[i] - previous
                previous = prefix[i]
            key = (api_key, model, segments[i].digest)
            self._ttl_s[key] = max(TTL_S[ttl], self._ttl_s.get(key, 0.0))
            self._store(key, now + self._ttl_s[key])
        return CacheUse(
            input_tokens=total - previous,
            cache_read_tokens=read,
            cache_write_5m_tokens=written["5m"],
            cache_write_1h_tokens=written["1h"],
        )

    def _longest_hit(
        self, api_key: str, model: str, segments: Sequence[Segment], breakpoints: list[int], now: float
    ) -> int:
        # Like the API, look back up to LOOKBACK_BLOCKS boundaries before each breakpoint, so a
        # conversation cached at its last turn is found again once new turns are appended.
        for bp in reversed(breakpoints):
            for i in range(bp, max(-1, bp - LOOKBACK_BLOCKS - 1), -1):
                if self._expiry.get((api_key, model, segments[i].digest), 0.0) > now:
                    return i
        return -1

    def _store(self, key: tuple[str, str, bytes], expires_at: float) -> None:
        if len(self._expiry) >= _MAX_ENTRIES and key not in self._expiry:
            now = self._clock()
            for stale in [k for k, v in self._expiry.items() if v <= now] or [next(iter(self._expiry))]:
                del self._expiry[stale]
                self._ttl_s.pop(stale, None)
        self._ttl_s.setdefault(key, TTL_S["5m"])
        self._expiry[key] = max(expires_at, self._expiry.get(key, 0.0))
