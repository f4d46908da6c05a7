"""The content firewall. Property tests inject prompt/output/secret-looking fields and values at
random paths of otherwise valid payloads and require 100% rejection at exactly that path, without
the value in the answer; and they require every valid payload to pass.

Example counts (``max_examples``, all run in the default suite): injected field names 3,000,
injected values 4,000, values nested in new structures 500: 7,500 generated cases; plus valid
payloads 4 x 400, which ``test_wire.py`` validates against the schemas and requires the firewall
to pass (``test_generated_payloads_are_valid_round_trip_and_pass_the_firewall``: one draw of
each payload for both checks).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelpilot.schema.firewall import Violation, field_name_problem, find_violation, string_problem
from tests.schema.test_wire import any_ingestion_payload

NESTED_EXAMPLES = 500
NAME_EXAMPLES = 3_000
VALUE_EXAMPLES = 4_000
_SETTINGS = {"deadline": None, "database": None, "suppress_health_check": [HealthCheck.too_slow]}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


# --- where to inject ---------------------------------------------------------------------------


def containers(node: Any, path: str = "$") -> list[tuple[str, dict[str, Any]]]:
    """Every JSON object in ``node`` with its path."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, value in node.items():
            found += containers(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += containers(item, f"{path}[{index}]")
    return found


def slots(node: Any, path: str = "$") -> list[tuple[str, Any, Any]]:
    """Every place a value sits: (path, parent container, key or index)."""
    found: list[tuple[str, Any, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((f"{path}.{key}", node, key))
            found += slots(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found.append((f"{path}[{index}]", node, index))
            found += slots(item, f"{path}[{index}]")
    return found


# --- what to inject ----------------------------------------------------------------------------

_FORBIDDEN_BASES = [
    "prompt", "prompts", "messages", "message", "content", "contents", "system", "completion", "output", "outputs",
    "text", "api_key", "apiKey", "apikey", "authorization", "auth", "secret", "password", "passwd", "token",
    "user_id", "userId", "email", "credentials", "cookie", "bearer", "jwt", "access_key", "private_key",
]  # fmt: skip
_AFFIXES = ["", "user", "raw", "last", "full", "system", "x", "input", "reply", "body", "value", "data", "v2"]


def _join(parts: list[str], style: str) -> str:
    parts = [p for p in parts if p]
    if style == "snake":
        return "_".join(parts)
    if style == "camel":
        return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])
    if style == "upper":
        return "_".join(parts).upper()
    if style == "squashed":
        return "".join(parts)
    return "-".join(parts)  # not an identifier: refused for that reason


forbidden_names = st.builds(
    lambda prefix, base, suffix, style: _join([prefix, base, suffix], style),
    st.sampled_from(_AFFIXES),
    st.sampled_from(_FORBIDDEN_BASES),
    st.sampled_from(_AFFIXES),
    st.sampled_from(["snake", "camel", "upper", "squashed", "kebab"]),
)
json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
)

_b64url = st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", min_size=12, max_size=60
)
_alnum = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=20, max_size=60)
_upper = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=16, max_size=16)
_words = st.lists(st.from_regex(r"\A[A-Za-z]{1,12}\Z"), min_size=2, max_size=12)

secret_values = st.one_of(
    _b64url.map(lambda s: f"sk-ant-api03-{s}"),
    _b64url.map(lambda s: f"sk-ant-admin01-{s}"),
    _alnum.map(lambda s: f"sk-{s}"),
    _alnum.map(lambda s: f"sk-proj-{s}"),
    _upper.map(lambda s: f"AKIA{s}"),
    _alnum.map(lambda s: f"ghp_{s}"),
    _alnum.map(lambda s: f"github_pat_{s}"),
    _alnum.map(lambda s: f"xoxb-1234-{s}"),
    _alnum.map(lambda s: f"mp_live_{s}"),
    _b64url.map(lambda s: f"Bearer {s}"),
    _b64url.map(lambda s: f"bearer {s}"),
    st.tuples(_b64url, _b64url, _b64url).map(lambda p: f"eyJ{p[0]}.{p[1]}.{p[2]}"),
    st.tuples(_b64url, _b64url, _b64url).map(lambda p: ".".join(p)),
    _b64url.map(lambda s: f"-----BEGIN PRIVATE KEY-----\n{s}\n-----END PRIVATE KEY-----"),
    _b64url.map(lambda s: f"-----BEGIN CERTIFICATE-----{s}"),
    _alnum.map(lambda s: s + "A1b2C3d4E5"),  # an unprefixed random secret or a content hash
    st.text("0123456789abcdef", min_size=32, max_size=128),  # hex digests of content
)
free_text = st.one_of(
    _words.map(" ".join),
    _words.map("\n".join),
    st.tuples(st.text(max_size=30), st.sampled_from(" \t\n\u00a0\u2003"), st.text(max_size=30)).map("".join),
    st.text(min_size=65, max_size=300),
    st.text(min_size=1, max_size=40).filter(lambda s: not re.fullmatch(r"[A-Za-z0-9._:+-]*", s)),
)
embedded_secrets = st.tuples(st.text(max_size=20), secret_values, st.text(max_size=20)).map("".join)
bad_values = st.one_of(secret_values, free_text, embedded_secrets)


def assert_refused(document: Any, expected_path: str, *, hidden: str) -> None:
    violation = find_violation(document)
    assert violation is not None, "payload was not refused"
    assert violation.path == expected_path
    if len(hidden) >= 4:
        assert hidden not in violation.path + violation.reason


# --- properties --------------------------------------------------------------------------------


# Valid payloads are never refused: tests/schema/test_wire.py
# (test_generated_payloads_are_valid_round_trip_and_pass_the_firewall, 4 x 400 payloads).


@settings(max_examples=NAME_EXAMPLES, **_SETTINGS)
@given(payload=any_ingestion_payload, name=forbidden_names, value=json_values, data=st.data())
def test_forbidden_field_names_are_refused_at_any_depth(payload, name, value, data):
    document = copy.deepcopy(payload)
    path, target = data.draw(st.sampled_from(containers(document)))
    position = data.draw(st.integers(0, len(target)))
    items = list(target.items())
    items.insert(position, (name, value))
    target.clear()
    target.update(items)
    expected = f"{path}.{name}" if _IDENTIFIER.match(name) else f"{path}[?]"
    assert_refused(document, expected, hidden="")


@settings(max_examples=VALUE_EXAMPLES, **_SETTINGS)
@given(payload=any_ingestion_payload, value=bad_values, data=st.data())
def test_secret_and_free_text_values_are_refused_at_any_path(payload, value, data):
    document = copy.deepcopy(payload)
    path, parent, key = data.draw(st.sampled_from(slots(document)))
    parent[key] = value
    assert_refused(document, path, hidden=value)


@settings(max_examples=NESTED_EXAMPLES, **_SETTINGS)
@given(payload=any_ingestion_payload, value=bad_values, depth=st.integers(1, 5), data=st.data())
def test_values_nested_in_new_structures_are_found(payload, value, depth, data):
    document = copy.deepcopy(payload)
    path, parent, key = data.draw(st.sampled_from(slots(document)))
    nested: Any = value
    suffix = ""
    for _ in range(depth):
        nested = [nested]
        suffix = "[0]" + suffix
    parent[key] = nested
    assert_refused(document, path + suffix, hidden=value)


# --- examples ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "input_tokens", "output_tokens", "cache_read_tokens", "max_tokens", "message_count", "document_count",
        "has_tools", "cache_control", "has_response_schema", "decision_id", "batch_id", "context_window",
    ],
)  # fmt: skip
def test_counts_about_content_are_allowed(name):
    assert field_name_problem(name) is None


@pytest.mark.parametrize(
    "name",
    ["output", "outputText", "message_text", "systemPrompt", "userprompt", "api_key", "APIKey", "token", "user_id",
     "refresh_token", "token_count", "Authorization", "x-api-key", "prompt_tokens", "e mail", ""],
)  # fmt: skip
def test_names_that_could_carry_content_are_refused(name):
    assert field_name_problem(name) is not None


@pytest.mark.parametrize(
    "value",
    ["claude-sonnet-4-5", "code", "creative_writing", "2026-11-28T10:00:00Z", "2026-11-28T10:00:00.123456+05:30",
     "0e4a3c5e-2b7f-4c0e-9f0a-1b2c3d4e5f60", "v1.2.3"],
)  # fmt: skip
def test_identifier_shaped_values_pass(value):
    assert string_problem(value) is None


def test_the_answer_names_the_path_and_never_the_value():
    secret = "sk-ant-api03-" + "A" * 40
    violation = find_violation({"rows": [{"a": 1}, {"b": [1, {"c": secret}]}]})
    assert violation == Violation("$.rows[1].b[1].c", "value looks like an Anthropic API key")
    assert secret not in repr(violation)


def test_non_identifier_keys_are_not_echoed_in_the_path():
    violation = find_violation({"features": {"the whole prompt goes here": 1}})
    assert violation == Violation("$.features[?]", "field name is not an identifier")


def test_deep_documents_are_refused():
    document: Any = 1
    for _ in range(40):
        document = [document]
    assert find_violation(document) is not None


@pytest.mark.parametrize(
    "value",
    [
        "0sk-00000000000000000000",
        "0ghp_" + "a" * 20,
        "xAKIA" + "B" * 16,
        "1xoxb-1-2",
        "9mp_live_abc",
        "aeyJhbGci.eyJzdWIi",
    ],
)
def test_key_prefixes_glued_to_other_characters_are_refused(value):
    assert string_problem(value) is not None


@pytest.mark.parametrize("value", ["0\n", "claude-sonnet-4-5\n", "0e4a3c5e-2b7f-4c0e-9f0a-1b2c3d4e5f60\n"])
def test_a_trailing_newline_is_not_an_identifier(value):
    # Found by the property test: a "$"-anchored regex accepts one trailing newline.
    assert string_problem(value) is not None
    assert field_name_problem("batch_id\n") is not None


@pytest.mark.parametrize("value", ["x" * 1_000_000, "a." * 500_000, "eyJ" + "a" * 1_000_000])
def test_megabyte_strings_are_refused_without_scanning(value):
    # Found by the reliability suite: the JWT detector is quadratic on a long dotted run, so a
    # hostile client could pin a control-plane worker with one field. Long strings never reach it.
    violation = find_violation({"requested_model": value})
    assert violation is not None
    assert violation.path == "$.requested_model"
    assert value not in violation.reason
