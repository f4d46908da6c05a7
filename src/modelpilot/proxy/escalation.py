"""Checks of a routed answer: pure functions that say why it must not reach the caller.

A routed answer fails (and the request is re-sent to the requested model, DESIGN.md §4) when:

* the upstream answered an error status before any byte reached the caller (``status_<code>``),
  or could not be reached, timed out, or broke off before its first body byte (a live stream's
  too: ``upstream_unavailable``, ``upstream_timeout``);
* a ``tool_use`` input violates its tool's ``input_schema``, or names no declared tool
  (``bad_tool_input``);
* structured output (``output_config.format`` of type ``json_schema``) does not parse or does not
  match its schema (``bad_json``);
* ``stop_reason`` is ``refusal`` (``refusal``); the answer has no text and no tool call
  (``empty``);
* a held (checked) stream carries an ``event: error`` or ends early (``stream_error``).

Every status is escalated, not only 429/5xx/529: the routed request differs from the caller's only
in its model, so the requested model's answer (even its own 4xx) is what the caller would have got.
:func:`find_violation` implements the JSON Schema subset tools and structured outputs use; a
keyword it does not know is not checked, so an unusual schema never causes a spurious escalation.
"""

from __future__ import annotations

from typing import Any

import orjson

from modelpilot.proxy.sse import SseScanner

RawJSON = Any

_MAX_DEPTH = 64
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "number": (int, float),
    "integer": (int, float),
}


# -- the JSON Schema subset -----------------------------------------------------------------------
def _resolve(schema: RawJSON, root: RawJSON) -> RawJSON:
    for _ in range(16):
        ref = schema.get("$ref") if isinstance(schema, dict) else None
        if not isinstance(ref, str):
            break
        if not ref.startswith("#"):
            return {}  # a remote reference: not checked
        target: RawJSON = root
        for part in [p for p in ref[1:].split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        schema = target if isinstance(target, dict) else {}
    return schema


def _has_type(value: RawJSON, kind: str) -> bool:
    if kind == "null":
        return value is None
    allowed = _TYPES.get(kind)
    if allowed is None:
        return True  # an unknown type name is not checked
    if isinstance(value, bool) and kind != "boolean":
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, allowed)


def find_violation(value: RawJSON, schema: RawJSON, *, root: RawJSON = None, path: str = "$") -> str | None:
    """The path and reason of the first place ``value`` breaks ``schema``, or None if it conforms.

    Checked: ``type`` (a name or a list), ``enum``, ``const``, ``properties``, ``required``,
    ``additionalProperties`` (false or a schema), ``items`` (a schema or, old style, a list),
    ``prefixItems``, ``anyOf``/``oneOf`` (read as anyOf), ``allOf`` and local ``$ref``.

    >>> find_violation({"city": 3}, {"type": "object", "properties": {"city": {"type": "string"}}})
    '$.city: expected string'
    """
    return _violation(value, schema, schema if root is None else root, path, 0)


def _violation(value: RawJSON, schema: RawJSON, root: RawJSON, path: str, depth: int) -> str | None:
    if depth > _MAX_DEPTH:
        return None
    if schema is False:
        return f"{path}: not allowed"
    schema = _resolve(schema, root)
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type")
    kinds = [kind] if isinstance(kind, str) else kind if isinstance(kind, list) else None
    if kinds is not None and not any(isinstance(k, str) and _has_type(value, k) for k in kinds):
        return f"{path}: expected {'|'.join(str(k) for k in kinds)}"
    if isinstance(schema.get("enum"), list) and not _is_member(value, schema["enum"]):
        return f"{path}: not one of the enum values"
    if "const" in schema and not _is_member(value, [schema["const"]]):
        return f"{path}: not the const value"
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if (
            isinstance(options, list)
            and options
            and all(_violation(value, o, root, path, depth + 1) is not None for o in options)
        ):
            return f"{path}: matches none of {key}"
    for part in schema.get("allOf") or ():
        found = _violation(value, part, root, path, depth + 1)
        if found is not None:
            return found
    if isinstance(value, dict):
        return _object_violation(value, schema, root, path, depth)
    if isinstance(value, list):
        return _array_violation(value, schema, root, path, depth)
    return None


def _is_member(value: RawJSON, options: list[Any]) -> bool:
    # JSON equality: True is not 1 (Python's == says it is).
    return any(type(value) is type(o) and value == o for o in options) or any(
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and isinstance(o, int | float)
        and not isinstance(o, bool)
        and value == o
        for o in options
    )


def _object_violation(
    value: dict[str, Any], schema: dict[str, Any], root: RawJSON, path: str, depth: int
) -> str | None:
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    for name in schema.get("required") or ():
        if isinstance(name, str) and name not in value:
            return f"{path}: missing required property {name!r}"
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        where = f"{path}.{name}"
        if name in properties:
            found = _violation(item, properties[name], root, where, depth + 1)
        elif extra is False:
            found = f"{where}: additional property not allowed"
        elif isinstance(extra, dict):
            found = _violation(item, extra, root, where, depth + 1)
        else:
            found = None
        if found is not None:
            return found
    return None


def _array_violation(
    value: list[Any], schema: dict[str, Any], root: RawJSON, path: str, depth: int
) -> str | None:
    prefix = schema.get("prefixItems")
    items = schema.get("items")
    if isinstance(items, list):  # draft-04 tuple form
        prefix, items = items, schema.get("additionalItems")
    prefix = prefix if isinstance(prefix, list) else []
    for index, item in enumerate(value):
        sub = prefix[index] if index < len(prefix) else items
        if sub is None:
            continue
        found = _violation(item, sub, root, f"{path}[{index}]", depth + 1)
        if found is not None:
            return found
    return None


# -- checks of an answer --------------------------------------------------------------------------
def failed_status(status: int) -> str | None:
    """The failure kind of an upstream status (None for a 2xx answer)."""
    return f"status_{status}" if status >= 400 or status < 200 else None


def _response_schema(request: dict[str, Any]) -> RawJSON | None:
    config = request.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        return fmt["schema"]
    return None


def _tool_schemas(request: dict[str, Any]) -> dict[str, Any]:
    """Declared tool names -> their ``input_schema`` (None for tools without one, such as the
    built-in client tools ``bash`` or ``str_replace_based_edit_tool``: their calls are not checked)."""
    tools = request.get("tools")
    return {
        tool["name"]: tool.get("input_schema")
        for tool in (tools if isinstance(tools, list) else ())
        if isinstance(tool, dict) and isinstance(tool.get("name"), str)
    }


def _has_substance(block: Any) -> bool:
    if not isinstance(block, dict):
        return False
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return isinstance(text, str) and bool(text.strip())
    # Thinking alone answers nothing; any tool call or server result is an answer.
    return kind not in ("thinking", "redacted_thinking")


def check_message(request: dict[str, Any], answer: dict[str, Any]) -> str | None:
    """Why the ``Message`` ``answer`` to ``request`` must be escalated, or None when it passes."""
    stop_reason = answer.get("stop_reason")
    if stop_reason == "refusal":
        return "refusal"
    content = answer.get("content")
    blocks = content if isinstance(content, list) else []
    if request.get("max_tokens") == 0:
        return None  # a cache warm-up: nothing was asked for
    if stop_reason != "max_tokens" and not any(_has_substance(b) for b in blocks):
        return "empty"
    tools = _tool_schemas(request)
    calls = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"]
    for call in calls:
        name = call.get("name")
        if name not in tools or not isinstance(call.get("input"), dict):
            return "bad_tool_input"
        schema = tools[name]
        if schema is not None and find_violation(call["input"], schema) is not None:
            return "bad_tool_input"
    schema = _response_schema(request)
    if schema is not None and not calls and stop_reason != "max_tokens":
        text = "".join(
            b["text"] for b in blocks if isinstance(b, dict) and b.get("type") == "text" and "text" in b
        )
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            return "bad_json"
        if find_violation(value, schema) is not None:
            return "bad_json"
    return None


# -- held streams ---------------------------------------------------------------------------------
_STREAM_EVENTS = (
    b"message_start",
    b"content_block_start",
    b"content_block_delta",
    b"content_block_stop",
    b"message_delta",
    b"message_stop",
    b"error",
)


class _Unparsed(str):
    """A tool input whose streamed JSON did not parse (fails every object schema)."""


def assemble_stream(raw: bytes) -> dict[str, Any] | None:
    """The final ``Message`` of a complete SSE answer, as the SDK's accumulator builds it, or None
    when the stream carries an ``error`` event, is malformed, or ends before ``message_stop``."""
    message: dict[str, Any] | None = None
    partial: dict[int, list[str]] = {}
    is_stopped = False
    try:
        for event, data in SseScanner(_STREAM_EVENTS).feed(raw + b"\n\n"):
            payload = orjson.loads(data)
            if event == b"error":
                return None
            if event == b"message_start":
                message = dict(payload["message"])
                message["content"] = []
                continue
            if message is None:
                return None
            content: list[dict[str, Any]] = message["content"]
            if event == b"content_block_start":
                content.append(dict(payload["content_block"]))
                if content[-1].get("type") in ("tool_use", "server_tool_use"):
                    partial[len(content) - 1] = []
            elif event == b"content_block_delta":
                _apply_delta(content[payload["index"]], partial.get(payload["index"]), payload["delta"])
            elif event == b"content_block_stop":
                index = payload["index"]
                if index in partial:
                    text = "".join(partial.pop(index))
                    try:
                        content[index]["input"] = orjson.loads(text) if text else {}
                    except orjson.JSONDecodeError:
                        content[index]["input"] = _Unparsed(text)
            elif event == b"message_delta":
                message.update(stop_reason=payload.get("delta", {}).get("stop_reason"))
            else:  # message_stop
                is_stopped = True
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        return None
    return message if is_stopped else None


def _apply_delta(block: dict[str, Any], partial: list[str] | None, delta: dict[str, Any]) -> None:
    kind = delta.get("type")
    if kind == "text_delta":
        block["text"] = block.get("text", "") + delta["text"]
    elif kind == "input_json_delta" and partial is not None:
        partial.append(delta["partial_json"])


def check_stream(request: dict[str, Any], raw: bytes) -> str | None:
    """:func:`check_message` for a held SSE answer (``stream_error`` if it did not complete)."""
    message = assemble_stream(raw)
    if message is None:
        return "stream_error"
    return check_message(request, message)


__all__ = ["assemble_stream", "check_message", "check_stream", "failed_status", "find_violation"]
