"""Deterministic content: prose from a small vocabulary, and JSON values drawn from a JSON Schema.

Everything takes a seeded :class:`random.Random`, so the same request gives the same answer.
:func:`value_for_schema` supports the subset of JSON Schema that tool ``input_schema`` and
structured-output schemas use in practice: ``type`` (also lists), ``enum``, ``const``,
``properties``/``required``, ``items``/``prefixItems``, ``minItems``/``maxItems``,
``minimum``/``maximum`` (and exclusive forms), ``minLength``/``maxLength``, ``format``,
``anyOf``/``oneOf``/``allOf`` and local ``$ref`` into ``$defs``/``definitions``.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

RawJSON = Any  # opaque JSON values (schemas, generated inputs)

WORDS = (
    "the", "answer", "depends", "on", "context", "and", "data", "model", "request", "result",
    "value", "system", "simple", "clear", "first", "next", "because", "however", "this", "that",
    "we", "can", "use", "a", "quick", "check", "shows", "it", "works", "well", "for", "most",
    "cases", "with", "small", "inputs", "large", "files", "need", "more", "time", "to", "process",
    "each", "step", "is", "short", "so", "overall", "plan", "looks", "good", "here", "summary",
    "of", "key", "points", "note", "edge", "careful", "review", "helps", "find", "issues",
)  # fmt: skip

_MAX_DEPTH = 6


def words(rng: random.Random, count: int) -> list[str]:
    """``count`` words forming sentences; every word but the first carries its leading space."""
    out: list[str] = []
    sentence_left = rng.randint(5, 12)
    for i in range(count):
        word = rng.choice(WORDS)
        if i == 0 or out[-1].endswith("."):
            word = word.capitalize()
        sentence_left -= 1
        if sentence_left == 0 or i == count - 1:
            word += "."
            sentence_left = rng.randint(5, 12)
        out.append(word if i == 0 else " " + word)
    return out


def _resolve(schema: RawJSON, root: RawJSON) -> RawJSON:
    seen = 0
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 16:
        ref: str = schema["$ref"]
        if not ref.startswith("#/"):
            return {}
        target: RawJSON = root
        for part in ref[2:].split("/"):
            target = (
                target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
            )
        schema = target
        seen += 1
    return schema if isinstance(schema, dict) else {}


def schema_type(schema: RawJSON) -> str | None:
    """The single JSON type a schema asks for (the first non-null one of a list), if any."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"] or kind
        return str(kinds[0]) if kinds else None
    if kind is None and isinstance(schema, dict) and "properties" in schema:
        return "object"
    return kind if isinstance(kind, str) else None


def _string(rng: random.Random, schema: dict[str, Any]) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z"
    if fmt == "date":
        return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if fmt == "email":
        return f"{rng.choice(WORDS)}{rng.randint(1, 99)}@example.com"
    if fmt in ("uri", "url"):
        return f"https://example.com/{rng.choice(WORDS)}"
    if fmt == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    min_len = int(schema.get("minLength", 0))
    max_len = int(schema.get("maxLength", max(min_len, 24)))
    text = "".join(words(rng, rng.randint(1, 3))).rstrip(".")
    while len(text) < min_len:
        text += " " + rng.choice(WORDS)
    return text[:max_len]


def _number(rng: random.Random, schema: dict[str, Any], integer: bool) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
    high = schema.get("maximum", schema.get("exclusiveMaximum", max(low, 0) + 100))
    if integer:
        lo = int(low) + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
        hi = int(high) - (1 if "exclusiveMaximum" in schema and "maximum" not in schema else 0)
        return rng.randint(lo, max(lo, hi))
    value = round(rng.uniform(float(low), float(high)), 2)
    if ("exclusiveMinimum" in schema and value <= low) or ("exclusiveMaximum" in schema and value >= high):
        value = (float(low) + float(high)) / 2
    return value


def value_for_schema(rng: random.Random, schema: RawJSON, root: RawJSON = None, depth: int = 0) -> RawJSON:
    """A JSON value that validates against ``schema`` (within the supported subset)."""
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return rng.choice(schema["enum"])
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return value_for_schema(rng, options[0], root, depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = _resolve(part, root)
            merged.setdefault("properties", {}).update(part.get("properties", {}))
            merged["required"] = [*merged.get("required", []), *part.get("required", [])]
            for k, v in part.items():
                merged.setdefault(k, v)
        return value_for_schema(rng, merged, root, depth + 1)
    kind = schema_type(schema)
    if kind == "object":
        return _object(rng, schema, root, depth)
    if kind == "array":
        return _array(rng, schema, root, depth)
    if kind == "string":
        return _string(rng, schema)
    if kind == "integer":
        return _number(rng, schema, integer=True)
    if kind == "number":
        return _number(rng, schema, integer=False)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _string(rng, schema)


def _object(rng: random.Random, schema: dict[str, Any], root: RawJSON, depth: int) -> dict[str, Any]:
    raw = schema.get("properties")
    properties: dict[str, Any] = raw if isinstance(raw, dict) else {}
    required = set(schema.get("required") or ())
    out: dict[str, Any] = {}
    for name, sub in properties.items():
        if name in required or (depth < _MAX_DEPTH and rng.random() < 0.5):
            out[name] = value_for_schema(rng, sub, root, depth + 1)
    for name in sorted(required - set(properties)):
        out[name] = _string(rng, {})
    return out


def _array(rng: random.Random, schema: dict[str, Any], root: RawJSON, depth: int) -> list[Any]:
    raw_prefix = schema.get("prefixItems")
    prefix: list[Any] = raw_prefix if isinstance(raw_prefix, list) else []
    low = int(schema.get("minItems", 0))
    high = int(schema.get("maxItems", max(low, len(prefix), 3)))
    count = rng.randint(
        max(low, len(prefix)), max(low, len(prefix), min(high, low + 3) if depth < _MAX_DEPTH else low)
    )
    raw_items = schema.get("items")
    items: dict[str, Any] = raw_items if isinstance(raw_items, dict) else {}
    out = [value_for_schema(rng, sub, root, depth + 1) for sub in prefix]
    while len(out) < count:
        out.append(value_for_schema(rng, items, root, depth + 1))
    return out


def is_violable(schema: RawJSON) -> bool:
    """Whether :func:`violate_schema` can make a value of this object schema invalid."""
    if not isinstance(schema, dict):
        return False
    schema = _resolve(schema, schema)
    return bool(schema.get("required")) or any(
        schema_type(sub) is not None
        for sub in (schema.get("properties") or {}).values()
        if isinstance(sub, dict)
    )


_WRONG_VALUES: tuple[tuple[RawJSON, frozenset[str]], ...] = (
    (12345, frozenset({"integer", "number"})),
    ("not a number", frozenset({"string"})),
    (True, frozenset({"boolean"})),
)


def _wrong_value(schema: RawJSON, root: RawJSON) -> RawJSON:
    kind = _resolve(schema, root).get("type")
    allowed = set(kind) if isinstance(kind, list) else {kind}
    for value, kinds in _WRONG_VALUES:
        if not allowed & kinds:
            return value
    return []


def violate_schema(rng: random.Random, value: RawJSON, schema: RawJSON) -> RawJSON:
    """A copy of ``value`` that breaks ``schema``: a required property missing or one of the wrong type."""
    root = schema
    schema = _resolve(schema, root)
    if not isinstance(value, dict):
        return _wrong_value(schema, root)
    broken = dict(value)
    required = [name for name in schema.get("required") or () if name in broken]
    properties = schema.get("properties") or {}
    typed = [name for name, sub in properties.items() if isinstance(sub, dict) and schema_type(sub)]
    if required and (not typed or rng.random() < 0.5):
        del broken[rng.choice(required)]
    elif typed:
        name = rng.choice(typed)
        broken[name] = _wrong_value(properties[name], root)
    return broken
