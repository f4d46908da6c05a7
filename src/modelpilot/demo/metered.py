"""What the control plane metered for the local deployment, read from ``modelpilot up``'s state
directory (the same rows the console shows), and the proxy's spool backlog.

The demo counts only its own requests: it snapshots the aggregates once the proxy's spool is
empty, and subtracts that snapshot from the aggregates after its requests were delivered.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from modelpilot.stack import DATABASE_FILE, STATE_FILE, read_state

_BACKLOG = re.compile(rb"^modelpilot_spool_backlog_rows (\S+)$", re.MULTILINE)
_IN_FLIGHT = re.compile(rb"^modelpilot_calibration_checks_in_flight (\S+)$", re.MULTILINE)

#: (category, requested model, served model, routed, escalated)
BucketKey = tuple[str, str, str, bool, bool]
_SUMMED = (
    "requests",
    "input_tokens",
    "output_tokens",
    "actual_cost_micros",
    "baseline_cost_micros",
    "shadow_requests",
    "shadow_cost_micros",
    "judged",
    "acceptable",
    "calibration_cost_micros",
)


@dataclass(frozen=True, slots=True)
class Totals:
    """Summed usage per bucket: ``values[key][field]`` for the fields in ``_SUMMED``."""

    values: dict[BucketKey, Counter[str]]

    def minus(self, before: Totals) -> Totals:
        """What was added since ``before``."""
        out: dict[BucketKey, Counter[str]] = {}
        for key, counts in self.values.items():
            delta = Counter({f: counts[f] - before.values.get(key, Counter())[f] for f in _SUMMED})
            # Paired checks' rows have no requests of their own: keep any row that changed.
            if any(delta.values()):
                out[key] = delta
        return Totals(out)

    def total(self, field: str) -> int:
        return sum(counts[field] for counts in self.values.values())


@dataclass(frozen=True, slots=True)
class DeploymentSettings:
    """What the demo's closing lines need to know about the deployment."""

    routing_mode: str
    quality_target: float
    calibration_rate_bps: int


class MeteredUsage:
    """Reads the local deployment's usage aggregates from the state directory's database."""

    def __init__(self, state_dir: Path) -> None:
        from modelpilot.control.store.engine import create_db_engine

        state = read_state(state_dir / STATE_FILE)
        database = state_dir / DATABASE_FILE
        if state is None or not database.exists():
            raise FileNotFoundError(f"no modelpilot up state in {state_dir}")
        self.deployment_id = uuid.UUID(state.deployment_id)
        self._engine = create_db_engine(f"sqlite:///{database}")

    def totals(self) -> Totals:
        """The deployment's aggregates, summed over hours."""
        from modelpilot.control.store.engine import create_session_factory
        from modelpilot.control.store.queries.ingestion import list_usage

        values: dict[BucketKey, Counter[str]] = {}
        with create_session_factory(self._engine)() as session:
            for row in list_usage(session, deployment_id=self.deployment_id, limit=1_000_000):
                key = (row.category, row.requested_model, row.served_model, row.routed, row.escalated)
                counts = values.setdefault(key, Counter())
                for field in _SUMMED:
                    counts[field] += getattr(row, field)
        return Totals(values)

    def settings(self) -> DeploymentSettings:
        """The deployment's routing mode, quality target and paired-check share, as stored."""
        from modelpilot.control.store.engine import create_session_factory
        from modelpilot.control.store.tables import Deployment

        with create_session_factory(self._engine)() as session:
            row = session.get(Deployment, self.deployment_id)
            if row is None:
                raise FileNotFoundError(f"deployment {self.deployment_id} is not in the state directory")
            return DeploymentSettings(row.routing_mode, row.quality_target, row.calibration_rate_bps)

    def close(self) -> None:
        self._engine.dispose()


def _metrics(base_url: str) -> bytes | None:
    """The proxy's ``/metrics`` page (None: no answer)."""
    try:
        with urllib.request.urlopen(f"{base_url.rstrip('/')}/metrics", timeout=5) as response:
            body: bytes = response.read()
    except (urllib.error.URLError, OSError):
        return None
    return body


def _gauge(metrics: bytes | None, pattern: re.Pattern[bytes]) -> float | None:
    match = pattern.search(metrics) if metrics is not None else None
    return float(match.group(1)) if match else None


def wait_for_delivery(base_url: str, *, timeout_s: float, checks: bool = False) -> bool:
    """Wait until the proxy's spool is empty (with ``checks``, once its paired checks have
    settled too, so their verdicts are in it: ``modelpilot_calibration_checks_in_flight``);
    False if not after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        metrics = _metrics(base_url)
        backlog = _gauge(metrics, _BACKLOG)
        in_flight = _gauge(metrics, _IN_FLIGHT) if checks else None
        if not backlog and not in_flight:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
