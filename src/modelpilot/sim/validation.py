"""Validate Messages request bodies the way the real API does, with its kind of messages.

:func:`check_shape` covers what a batch create rejects up front (types, required fields);
:func:`check_against_catalog` the checks that need the model (unknown id, output limit), which a
batch reports per request as an ``errored`` result instead.
"""

from __future__ import annotations

from typing import Any

from modelpilot.schema.catalog import Catalog, ModelSpec
from modelpilot.sim.errors import InvalidRequestError, NotFoundError

RawJSON = Any

_ROLES = ("user", "assistant", "system")
_TOOL_CHOICES = ("auto", "any", "tool", "none")
_THINKING = ("enabled", "adaptive", "disabled", "between_tools")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fail(message: str) -> InvalidRequestError:
    return InvalidRequestError(message)


def _check_blocks(path: str, content: RawJSON, *, allow_empty: bool) -> None:
    if isinstance(content, str):
        if not content and not allow_empty:
            raise _fail(f"{path}: text content blocks must be non-empty")
        return
    if not isinstance(content, list):
        raise _fail(f"{path}: Input should be a valid string or a valid list")
    if not content and not allow_empty:
        raise _fail(
            f"{path}: all messages must have non-empty content "
            "except for the optional final assistant message"
        )
    for i, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise _fail(f"{path}.{i}: Input should be a valid dictionary with a 'type' field")
        if block["type"] == "text":
            if not isinstance(block.get("text"), str):
                raise _fail(f"{path}.{i}.text: Field required")
            if not block["text"] and not allow_empty:
                raise _fail(f"{path}.{i}: text content blocks must be non-empty")


def _check_messages(messages: RawJSON) -> None:
    if not isinstance(messages, list):
        raise _fail("messages: Input should be a valid list")
    if not messages:
        raise _fail("messages: at least one message is required")
    if len(messages) > 100_000:
        raise _fail("messages: too many messages; at most 100000 are allowed")
    last = len(messages) - 1
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _fail(f"messages.{i}: Input should be a valid dictionary")
        role = message.get("role")
        if role not in _ROLES:
            raise _fail(f"messages.{i}.role: Input should be 'user', 'assistant' or 'system'")
        if "content" not in message:
            raise _fail(f"messages.{i}.content: Field required")
        _check_blocks(
            f"messages.{i}.content", message["content"], allow_empty=i == last and role == "assistant"
        )


def _check_tools(body: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _fail("tools: Input should be a valid list")
    names: set[str] = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not tool["name"]:
            raise _fail(f"tools.{i}.name: Field required")
        if tool.get("type") in (None, "custom") and not isinstance(tool.get("input_schema"), dict):
            raise _fail(f"tools.{i}.custom.input_schema: Field required")
        if tool["name"] in names:
            raise _fail(f"tools: Tool names must be unique. Duplicate name: {tool['name']}")
        names.add(tool["name"])
    choice = body.get("tool_choice")
    if choice is None:
        return
    if not isinstance(choice, dict) or choice.get("type") not in _TOOL_CHOICES:
        raise _fail(
            "tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'"
        )
    if choice["type"] == "tool" and choice.get("name") not in names:
        raise _fail(f"tool_choice.tool.name: Tool '{choice.get('name')}' not found in tools")
    if choice["type"] in ("any", "tool") and not names:
        raise _fail("tool_choice: tool_choice may only be specified while providing tools.")


def _check_thinking(body: dict[str, Any], *, max_tokens: int | None) -> None:
    thinking = body.get("thinking")
    if thinking is None:
        return
    if not isinstance(thinking, dict) or thinking.get("type") not in _THINKING:
        raise _fail(
            "thinking: Input tag does not match any of the expected tags: 'enabled', 'adaptive', 'disabled'"
        )
    if thinking["type"] == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool):
            raise _fail("thinking.enabled.budget_tokens: Field required")
        if budget < 1024:
            raise _fail("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if max_tokens is not None and max_tokens <= budget:
            raise _fail("`max_tokens` must be greater than `thinking.budget_tokens`.")
    choice = body.get("tool_choice")
    if (
        thinking["type"] in ("enabled", "adaptive")
        and isinstance(choice, dict)
        and choice.get("type") in ("any", "tool")
    ):
        raise _fail("Thinking may not be enabled when tool_choice forces tool use.")


def check_shape(body: RawJSON, *, count_tokens: bool = False) -> dict[str, Any]:
    """Reject a body whose fields are missing or of the wrong type; returns it as a dict."""
    if not isinstance(body, dict):
        raise _fail("Input should be a valid dictionary or object")
    if not isinstance(body.get("model"), str):
        raise _fail(
            "model: Field required" if "model" not in body else "model: Input should be a valid string"
        )
    max_tokens = body.get("max_tokens")
    if not count_tokens:
        if max_tokens is None:
            raise _fail("max_tokens: Field required")
        if not _is_int(max_tokens):
            raise _fail("max_tokens: Input should be a valid integer")
        if max_tokens < 0:
            raise _fail("max_tokens: Input should be greater than or equal to 0")
    if "messages" not in body:
        raise _fail("messages: Field required")
    _check_messages(body["messages"])
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        _check_blocks("system", system, allow_empty=True)
    stops = body.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)):
        raise _fail("stop_sequences: Input should be a valid list of strings")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise _fail("stream: Input should be a valid boolean")
    for name, high in (("temperature", 1.0), ("top_p", 1.0)):
        value = body.get(name)
        if value is not None and (not _is_number(value) or not 0 <= value <= high):
            raise _fail(f"{name}: Input should be less than or equal to {high:g}")
    _check_tools(body)
    _check_thinking(body, max_tokens=None if count_tokens else max_tokens)
    return body


def check_against_catalog(body: dict[str, Any], catalog: Catalog, *, count_tokens: bool = False) -> ModelSpec:
    """The model the request names; 404 if unknown or retired, 400 if max_tokens is over its limit."""
    model = catalog.get(body["model"])
    if model is None or model.lifecycle == "retired":
        raise NotFoundError(f"model: {body['model']}")
    if not count_tokens and body["max_tokens"] > model.max_tokens:
        raise _fail(
            f"max_tokens: {body['max_tokens']} > {model.max_tokens}, which is the maximum allowed number "
            f"of output tokens for {model.id}"
        )
    return model
