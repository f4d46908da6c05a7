"""A tiny JSON Schema checker for the subset the simulator generates from (jsonschema is not installed)."""

from __future__ import annotations

from typing import Any

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _resolve(schema: Any, root: Any) -> Any:
    while isinstance(schema, dict) and "$ref" in schema:
        target = root
        for part in schema["$ref"][2:].split("/"):
            target = target[part]
        schema = target
    return schema


def schema_errors(value: Any, schema: Any, root: Any = None, path: str = "$") -> list[str]:
    root = schema if root is None else root
    schema = _resolve(schema, root)
    errors: list[str] = []
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: not const")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in enum")
    if "anyOf" in schema and all(schema_errors(value, s, root, path) for s in schema["anyOf"]):
        errors.append(f"{path}: matches no anyOf branch")
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if kinds and not any(_TYPES[k](value) for k in kinds):
        return [*errors, f"{path}: {value!r} is not {kind}"]
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{path}: missing {name}")
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                errors += schema_errors(value[name], sub, root, f"{path}.{name}")
        if schema.get("additionalProperties") is False:
            errors += [f"{path}: extra {k}" for k in value if k not in schema.get("properties", {})]
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", 10**9):
            errors.append(f"{path}: array length {len(value)}")
        for i, item in enumerate(value):
            errors += schema_errors(item, schema.get("items", {}), root, f"{path}[{i}]")
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if is_number and not schema.get("minimum", float("-inf")) <= value <= schema.get("maximum", float("inf")):
        errors.append(f"{path}: {value} out of range")
    if isinstance(value, str) and not schema.get("minLength", 0) <= len(value) <= schema.get(
        "maxLength", 10**9
    ):
        errors.append(f"{path}: string length {len(value)}")
    return errors


WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a place.",
    "input_schema": {
        "type": "object",
        "properties": {
            "location": {"type": "string", "minLength": 2},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "coords": {
                "type": "object",
                "properties": {
                    "lat": {"type": "number", "minimum": -90, "maximum": 90},
                    "lon": {"type": "number"},
                },
                "required": ["lat", "lon"],
            },
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 4},
            "alerts": {"type": ["boolean", "null"]},
        },
        "required": ["location", "unit", "coords", "tags"],
        "additionalProperties": False,
    },
}

PERSON_SCHEMA = {
    "type": "object",
    "$defs": {
        "address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    },
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "email": {"type": "string", "format": "email"},
        "home": {"$ref": "#/$defs/address"},
        "roles": {"type": "array", "items": {"type": "string", "enum": ["admin", "user"]}},
    },
    "required": ["name", "age", "home"],
    "additionalProperties": False,
}
