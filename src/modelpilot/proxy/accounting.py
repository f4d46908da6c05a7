"""What one request cost, what it would have cost, and where it is counted: the ``Charge``.

Pure arithmetic over a :class:`~modelpilot.proxy.recording.RequestRecord` (DESIGN.md §5):

- actual cost: every answer that was paid for, the delivered one and any abandoned attempt
  (a routed answer that failed its check before escalation), each at its served model's price;
- baseline cost: the requested model's price for the usage the delivered answer reported;
- savings: baseline − actual, negative when an escalation paid twice;
- shadow cost (shadow mode): the delivered usage priced on the model routing would have chosen,
  for a request served unrouted by the requested model; the control plane sums it into "what
  routing would have saved".

Cache writes (5m/1h), cache reads, the batch tier and long-context tiers are priced by
:mod:`modelpilot.schema.pricing`. A stream cut short is charged for the usage it reported. When
any model involved has no known price the request is still counted (requests, tokens) with both
costs 0, so it never shows savings nobody can prove; ``is_unpriced`` says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from modelpilot.proxy.recording import RequestRecord
from modelpilot.schema.bucket import COUNTERS
from modelpilot.schema.catalog import Catalog
from modelpilot.schema.pricing import cost_micros
from modelpilot.schema.usage import Usage
from modelpilot.schema.wire import (
    MODEL_ID_PATTERN,
    OPAQUE_ID_PATTERN,
    Category,
    DecisionReason,
    EscalationReason,
    LogRecord,
)

_MODEL_ID = re.compile(MODEL_ID_PATTERN)
_OPAQUE_ID = re.compile(OPAQUE_ID_PATTERN)
_MAX_LATENCY_MS = 86_400_000
_METERED_PATH = "/v1/messages"


@dataclass(frozen=True, slots=True)
class Charge:
    """One request's contribution to its hourly meter bucket (hour × category × requested ×
    served × routed × escalated). Tokens are those of every answer paid for."""

    hour: datetime
    category: Category
    requested_model: str
    served_model: str
    routed: bool
    escalated: bool
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    actual_micros: int
    baseline_micros: int
    is_unpriced: bool = False
    requests: int = 1
    #: A reported bad answer (a feedback-only charge has ``requests=0``).
    feedback_reports: int = 0
    #: Shadow mode: the same usage priced on the model routing would have chosen.
    shadow_requests: int = 0
    shadow_micros: int = 0
    #: Paired checks (a calibration charge has ``requests=0``, ``served_model`` = the candidate):
    #: verdicts, acceptable verdicts, and what the extra calls cost (never actual or baseline).
    judged: int = 0
    acceptable: int = 0
    calibration_micros: int = 0

    @property
    def savings_micros(self) -> int:
        return self.baseline_micros - self.actual_micros

    def counters(self) -> tuple[int, ...]:
        """The bucket's counters this charge adds, in the wire's order (:data:`COUNTERS`)."""
        return tuple(getattr(self, field) for field in CHARGE_FIELDS.values())


#: The Charge field that holds each wire counter: the same name, but for money, which the
#: charge names by what it is (``actual_micros`` for the wire's ``actual_cost_micros``).
CHARGE_FIELDS: dict[str, str] = {
    name: {
        "actual_cost_micros": "actual_micros",
        "baseline_cost_micros": "baseline_micros",
        "shadow_cost_micros": "shadow_micros",
        "calibration_cost_micros": "calibration_micros",
    }.get(name, name)
    for name in COUNTERS
}
_unheld = set(CHARGE_FIELDS.values()) - set(Charge.__dataclass_fields__)
if _unheld:
    raise TypeError(f"Charge holds no field for the wire counters {sorted(_unheld)}")


def hour_of(moment: datetime) -> datetime:
    """The whole UTC hour ``moment`` falls in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def meterable_model(model_id: str | None, catalog: Catalog) -> str | None:
    """The id a model is metered under: the catalog's canonical id (aliases and dated ids fold
    into it), an unknown but catalog-shaped id as is, else None (it cannot go on the wire)."""
    if model_id is None:
        return None
    spec = catalog.get(model_id)
    if spec is not None:
        return spec.id
    return model_id if _MODEL_ID.match(model_id) else None


def _category(value: str) -> Category:
    try:
        return Category(value)
    except ValueError:
        return Category.OTHER


def _priced(usage: Usage, model_id: str, catalog: Catalog) -> int | None:
    spec = catalog.get(model_id)
    if spec is None or spec.pricing is None:
        return None
    return cost_micros(usage, spec, catalog)


def charge_request(record: RequestRecord, *, catalog: Catalog, now: datetime) -> Charge | None:
    """The charge for one finished request, or None when nothing was paid for that can be metered:
    not a Messages call, no usage reported (errors are not billed), or model ids that are not
    catalog-shaped (they could not be sent; counted as unmetered by the caller)."""
    if record.path != _METERED_PATH or record.method != "POST":
        return None
    answers = [(a.served_model, a.usage) for a in record.attempts if a.usage is not None]
    if record.usage is not None:
        answers.append((record.served_model, record.usage))
    if not answers:
        return None
    final_served = record.served_model if record.usage is not None else answers[-1][0]
    served = meterable_model(final_served, catalog)
    requested = meterable_model(record.requested_model or final_served, catalog)
    if served is None or requested is None:
        return None
    actual = 0
    is_unpriced = False
    totals = [0, 0, 0, 0]
    for model_id, usage in answers:
        assert usage is not None
        totals[0] += usage.input_tokens
        totals[1] += usage.output_tokens
        totals[2] += usage.cache_write_5m_tokens + usage.cache_write_1h_tokens
        totals[3] += usage.cache_read_tokens
        model = meterable_model(model_id, catalog)
        cost = None if model is None else _priced(usage, model, catalog)
        if cost is None:
            is_unpriced = True
        else:
            actual += cost
    baseline: int | None = None
    if record.usage is not None:
        baseline = _priced(record.usage, requested, catalog)
    elif not is_unpriced:
        # Nothing was delivered (every answer was abandoned): no answer to price the baseline on.
        baseline = 0
    if baseline is None or is_unpriced:
        actual, baseline, is_unpriced = 0, 0, True
    shadow = _shadow_micros(
        record, served=served, requested=requested, catalog=catalog, is_unpriced=is_unpriced
    )
    return Charge(
        hour=hour_of(now),
        category=_category(record.category),
        requested_model=requested,
        served_model=served,
        routed=record.routed,
        escalated=record.escalated,
        input_tokens=totals[0],
        output_tokens=totals[1],
        cache_write_tokens=totals[2],
        cache_read_tokens=totals[3],
        actual_micros=actual,
        baseline_micros=baseline,
        is_unpriced=is_unpriced,
        shadow_requests=0 if shadow is None else 1,
        shadow_micros=shadow or 0,
    )


def _shadow_micros(
    record: RequestRecord, *, served: str, requested: str, catalog: Catalog, is_unpriced: bool
) -> int | None:
    """What the delivered usage would have cost on the shadow model, or None when the request
    carries no shadow decision, was routed, or cannot be priced on both sides."""
    if record.shadow_model is None or record.routed or record.usage is None or is_unpriced:
        return None
    shadow = meterable_model(record.shadow_model, catalog)
    if shadow is None or served != requested:
        return None
    return _priced(record.usage, shadow, catalog)


def metadata_log_entry(
    record: RequestRecord, charge: Charge | None, *, catalog: Catalog, now: datetime
) -> LogRecord | None:
    """The opt-in metadata log record of one Messages request (DESIGN.md §8): when it started,
    which models, category, token counts, cost, status, routed/escalated, latency. Nothing else
    exists in the schema to put there. None for other paths, for a caller that left before any
    answer (no status), and for model ids that cannot go on the wire."""
    if record.path != _METERED_PATH or record.method != "POST" or not 100 <= record.status <= 599:
        return None
    requested = (
        charge.requested_model if charge is not None else meterable_model(record.requested_model, catalog)
    )
    if requested is None:
        return None
    decision_id = record.decision_id if record.decision_id and _OPAQUE_ID.match(record.decision_id) else None
    latency_ms = min(max(round(record.latency_ms), 0), _MAX_LATENCY_MS)
    return LogRecord(
        ts=now.astimezone(UTC) - timedelta(milliseconds=latency_ms),
        category=charge.category if charge is not None else _category(record.category),
        requested_model=requested,
        served_model=charge.served_model if charge is not None else requested,
        routed=record.routed,
        escalated=record.escalated,
        status=record.status,
        input_tokens=charge.input_tokens if charge is not None else 0,
        output_tokens=charge.output_tokens if charge is not None else 0,
        cache_write_tokens=charge.cache_write_tokens if charge is not None else 0,
        cache_read_tokens=charge.cache_read_tokens if charge is not None else 0,
        cost_micros=charge.actual_micros if charge is not None else 0,
        latency_ms=latency_ms,
        decision_id=decision_id,
        decision_reason=_decision_reason(record.decision_reason) if decision_id else None,
        escalation_reason=escalation_reason_of(record.escalation_reason) if record.escalated else None,
    )


def _decision_reason(value: str | None) -> DecisionReason | None:
    try:
        return DecisionReason(value) if value else None
    except ValueError:
        return None


def escalation_reason_of(failure: str | None) -> EscalationReason:
    """The wire's closed vocabulary for a local check's failure kind (``status_529``, ...)."""
    if failure is None:
        return EscalationReason.OTHER
    if failure.startswith("status_") and failure[7:].isdigit():
        status = int(failure[7:])
        if status == 429:
            return EscalationReason.RATE_LIMITED
        if status == 529:
            return EscalationReason.OVERLOADED
        return EscalationReason.SERVER_ERROR if status >= 500 else EscalationReason.CLIENT_ERROR
    try:
        return EscalationReason(failure)
    except ValueError:
        return EscalationReason.OTHER


__all__ = [
    "CHARGE_FIELDS",
    "Charge",
    "charge_request",
    "escalation_reason_of",
    "hour_of",
    "meterable_model",
    "metadata_log_entry",
]
