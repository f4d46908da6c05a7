"""The wire contract between the proxy and the control plane (DESIGN.md §2).

Every model here is built only from enums, numbers, booleans, model ids and opaque ids, and
refuses unknown fields (``extra="forbid"``): there is no field that could carry prompt text, an
answer, a key or an end-user id. The control plane additionally runs the content firewall
(:mod:`modelpilot.schema.firewall`) over the raw JSON before these models see it.

>>> RouteRequest.model_validate({"requested_model": "claude-sonnet-4-5", "category": "code",
...     "features": {"input_tokens_estimate": 1200, "max_tokens": 1024}}).category
<Category.CODE: 'code'>
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

#: What the proxy sends in place of a model name its catalog does not hold (metering and logs), so
#: a name the caller made up (``claude-acme-merger-q3``) never leaves the machine.
UNKNOWN_MODEL = "unknown"
#: Catalog-shaped model ids (``claude-sonnet-4-5``, ``claude-haiku-4-5-20251001``) or
#: :data:`UNKNOWN_MODEL`. Membership in the catalog is checked by the control plane: ``/v1/route``
#: answers "unknown model" rather than 422, so a proxy with a newer catalog keeps working, while
#: ``/v1/meter`` and ``/v1/logs``, which store what they get, refuse any other id (docs/privacy.md).
MODEL_ID_PATTERN = r"^(unknown|claude-[a-z0-9]{1,16}(-[a-z0-9]{1,16}){0,6})$"
#: Opaque ids chosen by the sender or the server: a lowercase canonical UUID.
OPAQUE_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
#: Coarse feature bucket a decision applies to, e.g. ``code:t3:m2:tools``.
BUCKET_PATTERN = r"^[a-z_]+(:[a-z0-9_]+){0,8}$"

# Per-row bounds: generous for one hour of one bucket, small enough that a full batch of rows
# cannot come near a 64-bit sum.
_MAX_COUNT = 10_000_000
_MAX_TOKENS = 10**12
_MAX_MICROS = 10**13
_MAX_ROWS = 1000
_MAX_LEARNED_VERDICTS = 1_000_000
# Plausibility per request (all attempts of one request together, escalation included): far above
# any real request (a 1M-token context answered twice), far below what would let counters carry
# data. Rows and records whose sums exceed these per request they count are refused.
MAX_TOKENS_PER_REQUEST = 10_000_000
MAX_MICROS_PER_REQUEST = 1_000_000_000  # $1,000

ModelId = Annotated[str, Field(pattern=MODEL_ID_PATTERN, max_length=64)]
OpaqueId = Annotated[str, Field(pattern=OPAQUE_ID_PATTERN)]
Count = Annotated[int, Field(ge=0, le=_MAX_COUNT)]
Tokens = Annotated[int, Field(ge=0, le=_MAX_TOKENS)]
Micros = Annotated[int, Field(ge=0, le=_MAX_MICROS)]


# Dates as a regex, so the OpenAPI document states exactly what is accepted: years 1900-2999 and
# month-specific day ranges. 29 February is accepted by the validators (then checked by the
# calendar) but left out of the documented pattern, which cannot express leap years.
_YEAR = r"(19|2\d)\d{2}"
_MONTH_DAY = r"((0[13578]|1[02])-(0[1-9]|[12]\d|3[01])|(0[469]|11)-(0[1-9]|[12]\d|30)|02-(0[1-9]|1\d|2[0-8]))"
_DATE = f"{_YEAR}-{_MONTH_DAY}"
_DATE_OR_LEAP_DAY = f"({_DATE}|{_YEAR}-02-29)"
_TIME = r"T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-](0\d|1[0-4]):[0-5]\d)$"
_HOUR_TIME = r"T([01]\d|2[0-3]):00:00(\.0{1,6})?(Z|\+00:00)$"
#: Timestamps are RFC 3339 with an explicit offset; hours are whole UTC hours.
TIMESTAMP_PATTERN = _DATE + _TIME
HOUR_PATTERN = _DATE + _HOUR_TIME


def _shaped(pattern: str) -> Any:
    compiled = re.compile(pattern.removesuffix("$"))

    def check(value: object) -> object:
        # Strings must have the documented shape; datetime objects (built in code) pass through.
        if isinstance(value, str) and not compiled.fullmatch(value):
            raise ValueError("timestamp must be RFC 3339 with an explicit UTC offset")
        return value

    return check


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a UTC offset")
    return value.astimezone(UTC)


def _whole_hour(value: datetime) -> datetime:
    value = _utc(value)
    if (value.minute, value.second, value.microsecond) != (0, 0, 0):
        raise ValueError("hour must be a whole hour (minutes, seconds and fractions zero)")
    return value


Timestamp = Annotated[
    datetime,
    BeforeValidator(_shaped(_DATE_OR_LEAP_DAY + _TIME)),
    AfterValidator(_utc),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": "^" + TIMESTAMP_PATTERN}),
]
Hour = Annotated[
    datetime,
    BeforeValidator(_shaped(_DATE_OR_LEAP_DAY + _HOUR_TIME)),
    AfterValidator(_whole_hour),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": "^" + HOUR_PATTERN}),
]


class Category(StrEnum):
    """The task category computed locally by the proxy's classifier."""

    CLASSIFICATION = "classification"
    EXTRACTION = "extraction"
    SUMMARIZATION = "summarization"
    TRANSLATION = "translation"
    REWRITING = "rewriting"
    QA = "qa"
    REASONING = "reasoning"
    MATH = "math"
    CODE = "code"
    CREATIVE_WRITING = "creative_writing"
    CHAT = "chat"
    AGENTIC = "agentic"
    OTHER = "other"


class DecisionReason(StrEnum):
    """Why the control plane chose the model it chose (always generated by the server)."""

    #: Served as requested (kept for older control planes; the policy names a finer reason).
    REQUESTED_MODEL = "requested_model"
    UNKNOWN_MODEL = "unknown_model"
    ROUTING_DISABLED = "routing_disabled"
    #: The cheapest candidate whose estimated success meets the quality target.
    CHEAPER_MODEL = "cheaper_model"
    #: Shadow mode: served as requested; ``shadow_model`` is what routing would have chosen.
    SHADOW = "shadow"
    #: The deployment pins the requested model to another one.
    PINNED = "pinned"
    #: A category rule keeps this category on the requested model.
    CATEGORY_RULE = "category_rule"
    #: No allowed, current, capable model is cheaper than the requested one.
    NO_CHEAPER_CANDIDATE = "no_cheaper_candidate"
    #: Cheaper candidates exist but none is estimated to meet the quality target.
    BELOW_QUALITY_TARGET = "below_quality_target"
    #: Bounded exploration: a candidate whose estimate is below the target but whose upper
    #: credible bound is not, tried on a small share of decisions to learn.
    EXPLORATION = "exploration"


class EscalationReason(StrEnum):
    """Why a routed answer was replaced by the requested model's (folded by the proxy from its
    local checks; a closed vocabulary, so no text can travel in it)."""

    REFUSAL = "refusal"
    EMPTY = "empty"
    BAD_TOOL_INPUT = "bad_tool_input"
    BAD_JSON = "bad_json"
    BAD_ANSWER = "bad_answer"
    STREAM_ERROR = "stream_error"
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    SERVER_ERROR = "server_error"
    CLIENT_ERROR = "client_error"
    UPSTREAM_TIMEOUT = "upstream_timeout"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    #: Reported by the application (``POST /modelpilot/feedback``) or a kind this version
    #: does not know.
    OTHER = "other"


class WireModel(BaseModel):
    """Base of every wire schema: unknown fields are refused and instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Features(WireModel):
    """Numbers and flags the proxy computes locally from one request. Never text."""

    input_tokens_estimate: Tokens = 0
    max_tokens: Tokens = 0
    message_count: Count = 0
    turn_count: Count = 0
    tool_count: Count = 0
    image_count: Count = 0
    document_count: Count = 0
    has_tools: bool = False
    tool_choice_forced: bool = False
    thinking: bool = False
    # "structured output" in DESIGN.md; named so that no field name trips the firewall's
    # "output" rule, which only lets ``output`` through as a token count.
    has_response_schema: bool = False
    streaming: bool = False
    cache_control: bool = False
    has_code: bool = False
    has_math: bool = False
    difficulty: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] = 0.0
    #: The proxy's local learner: P(the deployment's cheaper candidate answers this request
    #: acceptably), learned on the customer's machine from paired checks, escalations and
    #: feedback. None while the learner has too few verdicts to say. Only this one number per
    #: request leaves the machine; the learner's weights and examples never do.
    learned_acceptable: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] | None = None
    #: How many verdicts the local learner has learned from (capped), so the policy can weigh it.
    learned_verdicts: Annotated[int, Field(ge=0, le=_MAX_LEARNED_VERDICTS)] = 0


class RouteRequest(WireModel):
    """``POST /v1/route``: which model should serve this request?"""

    requested_model: ModelId
    category: Category
    features: Features
    conversation_turn: Count = 0


_BUCKET_TOKEN_BOUNDS = (1_000, 4_000, 16_000, 64_000, 200_000)
# Difficulty bands: the policy's estimate depends on the difficulty, so one cached decision must
# not cover easy and hard requests alike. Edges sit around the local model's typical range.
_BUCKET_DIFFICULTY_BOUNDS = (0.1, 0.15, 0.2, 0.3, 0.4)
_BUCKET_FLAGS = ("has_tools", "thinking", "has_response_schema")
# Learned bands: a decision made for a request the local learner finds easy must not be reused
# for one it finds hard. Bounds on P(acceptable) around the usual quality targets (0.8-0.95).
_BUCKET_LEARNED_BOUNDS = (0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)


def bucket_of(request: RouteRequest) -> str:
    """The coarse feature bucket a decision applies to, e.g. ``code:t2:d1:has_tools`` (with a
    local learner's score, its band too: ``code:t2:d1:l4:has_tools``). The control
    plane names it in each :class:`RouteDecision`; the proxy computes it locally to find a cached
    decision without a round trip, so both sides must use this one function."""
    features = request.features
    size = next(
        (i for i, bound in enumerate(_BUCKET_TOKEN_BOUNDS) if features.input_tokens_estimate <= bound),
        len(_BUCKET_TOKEN_BOUNDS),
    )
    band = next(
        (i for i, bound in enumerate(_BUCKET_DIFFICULTY_BOUNDS) if features.difficulty < bound),
        len(_BUCKET_DIFFICULTY_BOUNDS),
    )
    parts = [request.category.value, f"t{size}", f"d{band}"]
    if features.learned_acceptable is not None:
        learned = next(
            (i for i, bound in enumerate(_BUCKET_LEARNED_BOUNDS) if features.learned_acceptable < bound),
            len(_BUCKET_LEARNED_BOUNDS),
        )
        parts.append(f"l{learned}")
    parts.extend(name for name in _BUCKET_FLAGS if getattr(features, name))
    return ":".join(parts)


class RouteDecision(WireModel):
    """The answer to a :class:`RouteRequest`. The proxy may reuse it for ``ttl_s`` seconds for
    requests in the same ``bucket``."""

    decision_id: OpaqueId
    model: ModelId
    routed: bool
    reason: DecisionReason
    ttl_s: Annotated[int, Field(ge=0, le=86_400)]
    bucket: Annotated[str, Field(pattern=BUCKET_PATTERN, max_length=128)]
    #: A short human-readable account of the decision, written by the server.
    explanation: Annotated[str, Field(max_length=240)] = ""
    #: Shadow mode: the model routing would have chosen. ``model`` is then the requested model
    #: and the proxy meters what ``shadow_model`` would have cost for the same usage.
    shadow_model: ModelId | None = None
    #: The cheaper model a paired check (calibration) compares with the requested one: the
    #: cheapest allowed, capable candidate, whether or not it was chosen. None when there is none.
    candidate_model: ModelId | None = None


class MeterRow(WireModel):
    """Usage aggregated by the proxy for one hour x category x requested x served x routed x
    escalated. Savings are derived (baseline - actual) and never sent."""

    hour: Hour
    category: Category
    requested_model: ModelId
    served_model: ModelId
    routed: bool
    escalated: bool
    requests: Count
    input_tokens: Tokens = 0
    output_tokens: Tokens = 0
    cache_write_tokens: Tokens = 0
    cache_read_tokens: Tokens = 0
    actual_cost_micros: Micros
    baseline_cost_micros: Micros
    #: Bad answers the application reported (``POST /modelpilot/feedback``) in this bucket; the
    #: routing policy counts each as an escalation.
    feedback_reports: Count = 0
    #: Shadow mode: requests served by the requested model for which the policy had chosen a
    #: cheaper one, and what the same usage would have cost on that cheaper model.
    shadow_requests: Count = 0
    shadow_cost_micros: Micros = 0
    #: Paired checks (calibration): the requested model answered the caller and the cheaper
    #: candidate (``served_model`` of this row) answered on the side. ``judged`` counts verdicts,
    #: ``acceptable`` those where the candidate's answer was as good; ``routed`` says whether the
    #: policy had chosen the candidate. Such rows carry ``requests`` = 0: the caller's own request
    #: is metered in its usual row.
    judged: Count = 0
    acceptable: Count = 0
    #: What the extra calls of paired checks cost (candidate answers and judge calls): metered
    #: apart from routed spend, never part of actual, baseline or savings.
    calibration_cost_micros: Micros = 0

    @model_validator(mode="after")
    def _plausible(self) -> MeterRow:
        """Counters within what the requests they count could produce (docs/privacy.md)."""
        if self.acceptable > self.judged:
            raise ValueError("acceptable cannot exceed judged")
        if self.shadow_requests > self.requests:
            raise ValueError("shadow_requests cannot exceed requests")
        answered = self.requests + self.judged
        tokens = self.input_tokens + self.output_tokens + self.cache_write_tokens + self.cache_read_tokens
        if tokens > answered * MAX_TOKENS_PER_REQUEST:
            raise ValueError("more tokens than the row's requests could use")
        if max(self.actual_cost_micros, self.baseline_cost_micros) > self.requests * MAX_MICROS_PER_REQUEST:
            raise ValueError("a cost beyond what the row's requests could cost")
        if self.shadow_cost_micros > self.shadow_requests * MAX_MICROS_PER_REQUEST:
            raise ValueError("a shadow cost beyond what the row's shadow requests could cost")
        # A paired check may cost without a verdict (the candidate or the judge failed): allow one.
        if self.calibration_cost_micros > (self.judged + 1) * MAX_MICROS_PER_REQUEST:
            raise ValueError("a calibration cost beyond what the row's paired checks could cost")
        return self


class MeterBatch(WireModel):
    """``POST /v1/meter``: idempotent on ``batch_id`` (a redelivered batch is counted once)."""

    batch_id: OpaqueId
    rows: Annotated[list[MeterRow], Field(min_length=1, max_length=_MAX_ROWS)]


class RoutingMode(StrEnum):
    """A deployment's routing switch."""

    OFF = "off"
    SHADOW = "shadow"
    ON = "on"


class DeploymentConfig(WireModel):
    """``GET /v1/config``: what a proxy must obey for its deployment, polled every few seconds.

    ``version`` changes whenever any of it changes (and on key revocation or account suspension
    the endpoint answers 401/403 instead), so a proxy drops cached decisions and conversation pins
    as soon as it sees a new version.
    """

    version: Annotated[int, Field(ge=0, le=2**62)]
    mode: RoutingMode
    #: Share of routable requests given a paired check, in basis points (200 = 2 %); 0 is off.
    calibration_rate_bps: Annotated[int, Field(ge=0, le=10_000)] = 200
    #: Hard cap on paired-check spend per UTC day, in micro-dollars.
    calibration_daily_cap_micros: Micros = 1_000_000
    #: Whether the deployment has opted into metadata logs.
    metadata_logs: bool = False


class LatencyHistogram(WireModel):
    """Counts of route round trips by latency bucket (upper bounds in milliseconds)."""

    le_5_ms: Count = 0
    le_10_ms: Count = 0
    le_25_ms: Count = 0
    le_50_ms: Count = 0
    le_100_ms: Count = 0
    le_250_ms: Count = 0
    le_1000_ms: Count = 0
    gt_1000_ms: Count = 0


#: :class:`LatencyHistogram`'s buckets in order, each with its upper bound in milliseconds (the
#: last has none).
LATENCY_BUCKETS: tuple[tuple[str, float], ...] = (
    ("le_5_ms", 5),
    ("le_10_ms", 10),
    ("le_25_ms", 25),
    ("le_50_ms", 50),
    ("le_100_ms", 100),
    ("le_250_ms", 250),
    ("le_1000_ms", 1000),
    ("gt_1000_ms", float("inf")),
)


def latency_bucket(ms: float) -> str:
    """The :class:`LatencyHistogram` field a round trip of ``ms`` milliseconds counts in."""
    return next(name for name, bound in LATENCY_BUCKETS if ms <= bound)


class TelemetryCounters(WireModel):
    """How the proxy's decision path behaved during one window."""

    route_calls: Count = 0
    route_cache_hits: Count = 0
    fail_open_timeouts: Count = 0
    fail_open_errors: Count = 0
    circuit_open_skips: Count = 0
    escalations: Count = 0
    spool_backlog_rows: Count = 0


class TelemetryBatch(WireModel):
    """``POST /v1/telemetry``: proxy health counters for one window, idempotent on ``batch_id``."""

    batch_id: OpaqueId
    window_start: Timestamp
    window_s: Annotated[int, Field(ge=1, le=86_400)]
    counters: TelemetryCounters
    route_latency: LatencyHistogram


class LogRecord(WireModel):
    """One opt-in metadata log record: when, which models, how much, how it went. No content."""

    ts: Timestamp
    category: Category
    requested_model: ModelId
    served_model: ModelId
    routed: bool
    escalated: bool
    status: Annotated[int, Field(ge=100, le=599)]
    input_tokens: Tokens = 0
    output_tokens: Tokens = 0
    cache_write_tokens: Tokens = 0
    cache_read_tokens: Tokens = 0
    cost_micros: Micros = 0
    latency_ms: Annotated[int, Field(ge=0, le=86_400_000)] = 0
    decision_id: OpaqueId | None = None
    #: Why the control plane chose the served model (None: no decision was used).
    decision_reason: DecisionReason | None = None
    #: Why the routed answer was escalated (None unless ``escalated``).
    escalation_reason: EscalationReason | None = None

    @model_validator(mode="after")
    def _plausible(self) -> LogRecord:
        """Counters within what one request could produce (docs/privacy.md)."""
        tokens = self.input_tokens + self.output_tokens + self.cache_write_tokens + self.cache_read_tokens
        if tokens > MAX_TOKENS_PER_REQUEST or self.cost_micros > MAX_MICROS_PER_REQUEST:
            raise ValueError("more tokens or cost than one request could use")
        return self


class LogBatch(WireModel):
    """``POST /v1/logs``: opt-in metadata records, idempotent on ``batch_id``."""

    batch_id: OpaqueId
    records: Annotated[list[LogRecord], Field(min_length=1, max_length=_MAX_ROWS)]


class IngestAck(WireModel):
    """The answer to ``/v1/meter``, ``/v1/telemetry`` and ``/v1/logs``. ``duplicate`` is true when
    the batch id was already ingested (and nothing was counted again)."""

    batch_id: OpaqueId
    accepted: Count
    duplicate: bool
