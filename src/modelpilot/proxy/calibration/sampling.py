"""Which routable requests get a paired check, and what the checks may spend.

Two pieces, both pure and in memory (the hot path gains no await and no disk write):

* :class:`Sampler` is a dithered accumulator, not a coin: every routable request adds the current
  rate (in basis points) to a credit, a request is sampled when the credit reaches a threshold
  drawn at random in (0, 10,000], and each sample spends a whole 10,000. The number sampled
  therefore never exceeds ``rate x routable requests`` rounded up (summed over the rates in
  force), at any moment, not just on average; the random threshold keeps the samples from
  falling in step with a periodic workload (a plain accumulator at 50 % samples every second
  request, so a workload that alternates two kinds of request would only ever check one kind).
* :class:`SpendLedger` holds the UTC day's calibration spend. A check starts only after it has
  *reserved* its worst-case cost and ``spent + reserved <= cap``; when it ends, the reservation is
  settled to the actual cost. The settled spend is persisted by the caller (the spool's
  ``calibration_spend`` table) and read back on the first use of each day, so a restart does not
  reset the day's budget.

:class:`LimitsFeed` is where the rate and cap come from: the deployment's values from the control
plane (``GET /v1/config``; fed with :meth:`LimitsFeed.update`) unless a local override is set, and
the wire defaults (2 %, $1) until the control plane has spoken.

:class:`CapShare` splits the cap between the worker processes of ``modelpilot proxy --workers N``
(each has its own spool, so its own ledger): worker ``i`` may spend its share of what was left of
the cap when the workers started, so their spend added up never passes the cap.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol

BPS = 10_000  # basis points in a whole
DEFAULT_RATE_BPS = 200
DEFAULT_DAILY_CAP_MICROS = 1_000_000


@dataclass(frozen=True, slots=True)
class CalibrationLimits:
    """The share of routable requests checked (basis points) and the daily spend cap (micro-dollars).
    Either at 0 turns calibration off."""

    rate_bps: int = DEFAULT_RATE_BPS
    daily_cap_micros: int = DEFAULT_DAILY_CAP_MICROS

    def __post_init__(self) -> None:
        if not 0 <= self.rate_bps <= BPS:
            raise ValueError(f"calibration rate must be within 0..{BPS} basis points, got {self.rate_bps}")
        if self.daily_cap_micros < 0:
            raise ValueError("the calibration daily cap must not be negative")

    @property
    def is_off(self) -> bool:
        return self.rate_bps == 0 or self.daily_cap_micros == 0


class LimitsFeed:
    """The limits in force: local overrides win over the deployment's values.

    >>> feed = LimitsFeed(rate_bps=None, daily_cap_micros=50_000)
    >>> feed.update(rate_bps=500, daily_cap_micros=2_000_000)  # from GET /v1/config
    >>> feed.current()
    CalibrationLimits(rate_bps=500, daily_cap_micros=50000)
    """

    def __init__(self, *, rate_bps: int | None = None, daily_cap_micros: int | None = None) -> None:
        self._rate_override = rate_bps
        self._cap_override = daily_cap_micros
        self._deployment = CalibrationLimits()
        self._current = self._resolve()

    def update(self, *, rate_bps: int, daily_cap_micros: int) -> None:
        """The deployment's own values (``DeploymentConfig.calibration_rate_bps`` and
        ``calibration_daily_cap_micros``); a local override still wins."""
        self._deployment = CalibrationLimits(rate_bps=rate_bps, daily_cap_micros=daily_cap_micros)
        self._current = self._resolve()

    def _resolve(self) -> CalibrationLimits:
        return CalibrationLimits(
            rate_bps=self._rate_override if self._rate_override is not None else self._deployment.rate_bps,
            daily_cap_micros=(
                self._cap_override if self._cap_override is not None else self._deployment.daily_cap_micros
            ),
        )

    def current(self) -> CalibrationLimits:
        return self._current


class Sampler:
    """The dithered accumulator (see the module doc). Not thread-safe: it runs on the event loop.

    >>> sampler = Sampler(random.Random(7))
    >>> taken = 0
    >>> for _ in range(1_000):
    ...     if sampler.offer(200):
    ...         sampler.take()
    ...         taken += 1
    >>> taken <= 20  # at most 2 % of 1,000, rounded up
    True
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._credit = 0
        self._threshold = self._draw()
        self.routable = 0
        self.sampled = 0

    def _draw(self) -> int:
        return self._rng.randint(1, BPS)

    def offer(self, rate_bps: int) -> bool:
        """Count one routable request; True when it may be sampled (call :meth:`take` if it is)."""
        if rate_bps <= 0:
            return False
        self.routable += 1
        # Capped: credit that a blocked check (the spend cap) could not use does not pile up into
        # a burst later (at most one check beyond the rate follows a blocked spell).
        self._credit = min(self._credit + rate_bps, BPS + rate_bps)
        return self._credit >= self._threshold

    def take(self) -> None:
        """The offered request was sampled: spend one whole of credit and draw the next threshold."""
        assert self._credit >= self._threshold
        self._credit -= BPS
        self._threshold = self._draw()
        self.sampled += 1


class SpendStore(Protocol):
    """Where the settled spend of a day is kept (the spool)."""

    def calibration_spent(self, day: date) -> int: ...


@dataclass(frozen=True, slots=True)
class Reservation:
    """A worst-case amount held against one day's cap until the check settles."""

    day: date
    micros: int


@dataclass(frozen=True, slots=True)
class CapShare:
    """Worker ``index`` of ``count`` (``modelpilot proxy --workers``). On ``day`` (the start's UTC
    day), ``elsewhere_micros`` had already been spent by the other spool files of the deployment
    (other workers' and those left by a run with more workers).

    >>> share = CapShare(index=1, count=2, day=date(2026, 1, 5), elsewhere_micros=300)
    >>> share.cap_micros(1_000, day=date(2026, 1, 5), own_at_start=100)  # 100 + half of 600
    400
    >>> share.cap_micros(1_001, day=date(2026, 1, 6), own_at_start=0)  # a new day: an even split
    500
    """

    index: int
    count: int
    day: date | None = None
    elsewhere_micros: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"worker index {self.index} is not within 0..{self.count - 1}")

    def split(self, micros: int) -> int:
        """This worker's part of ``micros``: the parts of all workers add up to it exactly."""
        base, extra = divmod(max(0, micros), self.count)
        return base + (1 if self.index < extra else 0)

    def cap_micros(self, cap_micros: int, *, day: date, own_at_start: int) -> int:
        """This worker's cap on ``day``: on the start day, what it had spent by then plus its part
        of what nobody had spent; on later days, its part of the cap."""
        if day != self.day:
            return self.split(cap_micros)
        return own_at_start + self.split(cap_micros - own_at_start - self.elsewhere_micros)


class SpendLedger:
    """The UTC day's settled spend plus outstanding reservations, against the cap.

    >>> ledger = SpendLedger(store=None)
    >>> held = ledger.reserve(600, cap_micros=1_000)
    >>> ledger.reserve(600, cap_micros=1_000) is None  # 600 + 600 > 1000
    True
    >>> ledger.settle(held, actual_micros=250)
    """

    def __init__(
        self,
        store: SpendStore | None,
        *,
        clock: Callable[[], datetime] | None = None,
        share: CapShare | None = None,
    ) -> None:
        self._store = store
        self._clock = clock or (lambda: datetime.now(UTC))
        self._share = share
        self._own_at_start = 0
        self._lock = threading.Lock()
        self._day: date | None = None
        self._spent = 0
        self._reserved = 0

    def _today(self) -> date:
        day = self._clock().astimezone(UTC).date()
        if day != self._day:
            # A new day (or the first use): what was settled today before a restart still counts.
            self._day = day
            self._spent = self._store.calibration_spent(day) if self._store is not None else 0
            self._reserved = 0
            if self._share is not None and day == self._share.day:
                self._own_at_start = self._spent
        return day

    def _cap(self, cap_micros: int, day: date) -> int:
        if self._share is None:
            return cap_micros
        return self._share.cap_micros(cap_micros, day=day, own_at_start=self._own_at_start)

    def reserve(self, micros: int, *, cap_micros: int) -> Reservation | None:
        """Hold ``micros`` against today's cap, or None when it does not fit."""
        with self._lock:
            day = self._today()
            if micros < 0 or self._spent + self._reserved + micros > self._cap(cap_micros, day):
                return None
            self._reserved += micros
            return Reservation(day, micros)

    def settle(self, reservation: Reservation, *, actual_micros: int) -> None:
        """Release the reservation and count what the check actually cost (on its own day)."""
        with self._lock:
            today = self._today()
            if reservation.day == today:
                self._reserved -= reservation.micros
                self._spent += actual_micros

    def spent_today(self) -> int:
        with self._lock:
            self._today()
            return self._spent

    def reserved_now(self) -> int:
        with self._lock:
            self._today()
            return self._reserved


__all__ = [
    "BPS",
    "CalibrationLimits",
    "CapShare",
    "LimitsFeed",
    "Reservation",
    "Sampler",
    "SpendLedger",
    "SpendStore",
]
