"""The facts the public pages (security, architecture, DPA, subprocessors) state, read from the
code and configuration at render time so a page can never drift from what the code does.

Sources: :class:`ControlSettings` (hashing cost, sessions, throttling, retention, contact), the
table defaults (metadata logs off, default retention), the wire schemas (every field a proxy can
send, listed from the pydantic models), the content firewall (run on example field names), and
the shipped proxy's :class:`ProxySettings` defaults (routing budget, circuit breaker).

The control plane may not import the proxy (DESIGN.md §9), so the proxy's defaults are read from
the source of ``modelpilot/proxy/settings.py`` in the installed package with :mod:`ast` (the
literal defaults of the dataclass); nothing of the proxy is imported or executed.

>>> facts = security_facts(settings)  # doctest: +SKIP
>>> facts.password_iterations  # doctest: +SKIP
600000
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel

from modelpilot.control import passwords
from modelpilot.control.credentials import API_KEY_PREFIX, DISPLAY_PREFIX_CHARS
from modelpilot.control.settings import MIN_PASSWORD_ITERATIONS, ControlSettings
from modelpilot.control.store.tables import Deployment
from modelpilot.schema import wire
from modelpilot.schema.firewall import field_name_problem, string_problem

# --- the proxy's defaults -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProxyDefaults:
    """The literal defaults of the shipped proxy's settings (None: not a literal, or absent)."""

    routing_budget_ms: float | None
    breaker_failures: int | None
    breaker_cooldown_s: float | None
    decision_cache_size: int | None
    metadata_logs: bool | None
    spool_max_rows: int | None
    flush_interval_s: float | None
    #: Names of settings about OpenTelemetry/OTLP export, if the proxy has any.
    otlp_settings: tuple[str, ...]


def proxy_settings_source() -> str:
    """The source of the installed proxy's settings module (read, not imported)."""
    return resources.files("modelpilot").joinpath("proxy", "settings.py").read_text("utf-8")


def read_proxy_defaults(source: str) -> ProxyDefaults:
    """Parse the literal field defaults of ``class ProxySettings`` out of ``source``."""
    values: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.ClassDef) and node.name == "ProxySettings"):
            continue
        for statement in node.body:
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and statement.value is not None
            ):
                try:
                    values[statement.target.id] = ast.literal_eval(statement.value)
                except ValueError:
                    values.setdefault(statement.target.id, None)  # a computed default: not quoted

    def number(name: str) -> Any:
        value = values.get(name)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None

    def flag(name: str) -> bool | None:
        value = values.get(name)
        return value if isinstance(value, bool) else None

    return ProxyDefaults(
        routing_budget_ms=number("routing_budget_ms"),
        breaker_failures=number("breaker_failures"),
        breaker_cooldown_s=number("breaker_cooldown_s"),
        decision_cache_size=number("decision_cache_size"),
        metadata_logs=flag("metadata_logs"),
        spool_max_rows=number("spool_max_rows"),
        flush_interval_s=number("flush_interval_s"),
        otlp_settings=tuple(name for name in values if "otlp" in name or "otel" in name),
    )


# --- what a proxy sends -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WireField:
    """One field of a proxy-to-control-plane payload and what kind of value it holds."""

    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class WireEndpoint:
    """One ingestion endpoint, its schema and every field it accepts."""

    path: str
    schema: str
    purpose: str
    opt_in: bool
    fields: tuple[WireField, ...]


_PATTERN_KINDS = {
    "^" + wire.MODEL_ID_PATTERN.removeprefix("^"): "model id",
    "^" + wire.OPAQUE_ID_PATTERN.removeprefix("^"): "random id (UUID)",
    "^" + wire.BUCKET_PATTERN.removeprefix("^"): "bucket label",
}


def _kind(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in prop:
        target = defs[prop["$ref"].rsplit("/", 1)[-1]]
        if "enum" in target:
            return f"one of {len(target['enum'])} fixed values"
        return "object"
    if "anyOf" in prop:
        kinds = [_kind(option, defs) for option in prop["anyOf"] if option.get("type") != "null"]
        return " or ".join(kinds) + " (optional)"
    kind = prop.get("type")
    if kind == "boolean":
        return "true/false"
    if kind in ("integer", "number"):
        return "number"
    if kind == "string":
        if prop.get("format") == "date-time":
            return "timestamp"
        return _PATTERN_KINDS.get(prop.get("pattern", ""), "identifier")
    return str(kind)


def _fields(schema: dict[str, Any], defs: dict[str, Any], prefix: str = "") -> list[WireField]:
    found: list[WireField] = []
    for name, prop in schema.get("properties", {}).items():
        path = prefix + name
        ref = prop.get("$ref") or prop.get("items", {}).get("$ref")
        target = defs.get(ref.rsplit("/", 1)[-1], {}) if ref else {}
        if "properties" in target:
            suffix = "[]." if prop.get("type") == "array" else "."
            found.extend(_fields(target, defs, path + suffix))
        else:
            found.append(WireField(path, _kind(prop, defs)))
    return found


def _endpoint(path: str, model: type[BaseModel], purpose: str, *, opt_in: bool = False) -> WireEndpoint:
    schema = model.model_json_schema(mode="validation")
    fields = tuple(_fields(schema, schema.get("$defs", {})))
    return WireEndpoint(path, model.__name__, purpose, opt_in, fields)


@cache  # the schemas are code: the same for the life of the process
def wire_endpoints() -> tuple[WireEndpoint, ...]:
    """Every payload a proxy can send, field by field, straight from the wire schemas."""
    return (
        _endpoint("/v1/route", wire.RouteRequest, "which model should serve a request"),
        _endpoint("/v1/meter", wire.MeterBatch, "hourly usage and cost aggregates"),
        _endpoint("/v1/telemetry", wire.TelemetryBatch, "how the decision path behaved"),
        _endpoint("/v1/logs", wire.LogBatch, "one metadata record per request", opt_in=True),
    )


def categories() -> tuple[str, ...]:
    return tuple(category.value for category in wire.Category)


# --- the content firewall -----------------------------------------------------------------------

#: Field names and values shown on the security page with the firewall's verdict, computed live.
FIREWALL_NAME_EXAMPLES = (
    "prompt",
    "messages",
    "system",
    "output",
    "api_key",
    "output_tokens",
    "message_count",
)
FIREWALL_VALUE_EXAMPLES = ("claude-sonnet-4-5", "Summarise this contract for me", "sk-ant-api03-abcdefgh")


@dataclass(frozen=True, slots=True)
class FirewallExample:
    """A field name or string value and whether the firewall refuses it (and why)."""

    example: str
    refused_because: str | None


@cache
def firewall_examples() -> tuple[tuple[FirewallExample, ...], tuple[FirewallExample, ...]]:
    """(field-name examples, value examples), each judged by the real firewall."""
    names = tuple(FirewallExample(n, field_name_problem(n)) for n in FIREWALL_NAME_EXAMPLES)
    values = tuple(FirewallExample(v, string_problem(v)) for v in FIREWALL_VALUE_EXAMPLES)
    return names, values


# --- the security facts -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SecurityFacts:
    """Every figure the public pages quote."""

    password_algorithm: str
    password_iterations: int
    min_password_iterations: int
    password_salt_bytes: int
    min_password_chars: int
    api_key_prefix: str
    api_key_display_chars: int
    session_ttl_s: int
    cookie_secure: bool | None
    login_max_failures: int
    login_max_failures_per_client: int
    login_window_s: int
    route_ttl_s: int
    metadata_logs_default: bool
    default_log_retention_days: int
    max_log_retention_days: int
    purge_interval_s: int
    status_probe_interval_s: int
    security_contact: str
    proxy: ProxyDefaults


def _column_default(column: str) -> Any:
    default = Deployment.__table__.c[column].default
    return None if default is None else default.arg


def security_facts(settings: ControlSettings, proxy: ProxyDefaults | None = None) -> SecurityFacts:
    """The figures of this control plane's configuration and the shipped proxy's defaults."""
    return SecurityFacts(
        password_algorithm="PBKDF2-HMAC-SHA256"
        if passwords.ALGORITHM == "pbkdf2_sha256"
        else passwords.ALGORITHM,
        password_iterations=settings.password_iterations,
        min_password_iterations=MIN_PASSWORD_ITERATIONS,
        password_salt_bytes=passwords.SALT_BYTES,
        min_password_chars=settings.min_password_chars,
        api_key_prefix=API_KEY_PREFIX,
        api_key_display_chars=DISPLAY_PREFIX_CHARS,
        session_ttl_s=settings.session_ttl_s,
        cookie_secure=settings.cookie_secure,
        login_max_failures=settings.login_max_failures,
        login_max_failures_per_client=settings.login_max_failures_per_client,
        login_window_s=settings.login_window_s,
        route_ttl_s=settings.route_ttl_s,
        metadata_logs_default=bool(_column_default("metadata_logs")),
        default_log_retention_days=int(_column_default("log_retention_days")),
        max_log_retention_days=settings.max_log_retention_days,
        purge_interval_s=settings.purge_interval_s,
        status_probe_interval_s=settings.status_probe_interval_s,
        security_contact=settings.security_contact,
        proxy=proxy if proxy is not None else read_proxy_defaults(proxy_settings_source()),
    )


def format_duration(seconds: float) -> str:
    """``1209600`` -> ``14 days``, ``900`` -> ``15 minutes``, ``30.0`` -> ``30 seconds``."""
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    count_s = int(seconds) if float(seconds).is_integer() else seconds
    return f"{count_s} second{'' if count_s == 1 else 's'}"


def format_number(value: float) -> str:
    """``600000`` -> ``600,000``, ``25.0`` -> ``25``, ``2.5`` -> ``2.5``."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,}"
    return f"{int(value):,}"
