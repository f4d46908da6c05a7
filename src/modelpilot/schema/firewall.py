"""The content firewall: refuse any JSON payload that could carry content or a secret.

The control plane runs :func:`find_violation` over the raw JSON of every ingestion request before
anything else (DESIGN.md §2). It is pure (no I/O) and conservative: it refuses what merely *looks*
like content, and it never reports the offending value, only where it was and why.

Field names. Names are split into words at ``_``, ``-``, digits and camelCase humps
(``systemPrompt`` -> ``system``, ``prompt``) and compared case-insensitively:

- *hard* words are refused anywhere in a name: ``prompt``, ``password``, ``secret``,
  ``authorization``, ``token`` (singular), ``email``, ``cookie``, ``credential``, ``bearer``,
  ``jwt``, ``apikey``, and the pairs ``api key``, ``user id``, ``access key``, ``private key``;
- *soft* words (``message(s)``, ``content``, ``system``, ``completion``, ``output``, ``text``) are
  refused unless the very next word is a count suffix (``tokens``, ``count``): ``output_tokens`` and
  ``message_count`` are numbers about content, ``output`` or ``message_text`` would be content;
- a word that is not itself a known word but *contains* a hard or soft word (``userprompt``,
  ``systemtext``, ``authuser``) is refused too, except for a short list of benign words
  (``tokens``, ``context``); this also refuses harmless names such as ``author``, on purpose;
- a name that is not an identifier (``[A-Za-z_][A-Za-z0-9_]*``, at most 64 characters) is refused.

Values. Every string (and every field name) is checked against detectors for API keys
(Anthropic ``sk-ant-``, generic ``sk-``, AWS ``AKIA``, GitHub ``ghp_``..., Slack ``xox?-``,
Google ``AIza``, ModelPilot's own ``mp_live_``), ``Bearer``/``Basic`` credentials, JWTs, and PEM
blocks. Strings must then have an *allowlisted shape*: a canonical UUID, or a compact identifier
(letters, digits and ``. _ : + -``, at most 64 characters, no unbroken alphanumeric run of 24 or
more, which is what random secrets look like). Anything else, notably any string with whitespace
or punctuation, counts as free text. Numbers, booleans and null always pass.

>>> find_violation({"rows": [{"hour": "2026-01-01T00:00:00Z", "prompt": "hi"}]})
Violation(path='$.rows[0].prompt', reason='forbidden field name')
>>> find_violation({"requested_model": "claude-sonnet-4-5"}) is None
True
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

RawJSON = Any  # a decoded JSON document: dict, list, str, int, float, bool or None

MAX_DEPTH = 16

_HARD_WORDS = frozenset(
    {
        "prompt",
        "prompts",
        "password",
        "passwords",
        "passwd",
        "passphrase",
        "secret",
        "secrets",
        "authorization",
        "auth",
        "token",
        "email",
        "emails",
        "cookie",
        "cookies",
        "credential",
        "credentials",
        "bearer",
        "jwt",
        "apikey",
        "apikeys",
    }
)
_HARD_PAIRS = frozenset(
    {("api", "key"), ("api", "keys"), ("user", "id"), ("access", "key"), ("private", "key")}
)
_SOFT_WORDS = frozenset(
    {
        "message",
        "messages",
        "content",
        "contents",
        "system",
        "completion",
        "completions",
        "output",
        "outputs",
        "text",
    }
)
_COUNT_SUFFIXES = frozenset({"tokens", "count"})
# Words that contain a sensitive word but are not one: substring matching would refuse them.
_BENIGN_WORDS = frozenset({"tokens", "context", "contexts"})
_SUBSTRING_ROOTS = tuple(
    sorted(
        {"prompt", "password", "passwd", "secret", "auth", "token", "email", "cookie", "credential"}
        | {"bearer", "jwt", "apikey", "userid", "accesskey", "privatekey", "message", "content", "system"}
        | {"completion", "output", "text"}
    )
)

# Always used with fullmatch: "$" would also accept a trailing newline.
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")

_SECRET_DETECTORS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN"), "value looks like a PEM block"),
    (re.compile(r"sk-ant-", re.IGNORECASE), "value looks like an Anthropic API key"),
    # Key prefixes are matched anywhere, even glued to other characters ("0ghp_..."), except the
    # short "sk-", which needs a boundary, or a body (after an optional tag such as "proj-") longer
    # than any model-id segment.
    (re.compile(r"(?:^|[^A-Za-z0-9])sk-[A-Za-z0-9_-]{8,}"), "value looks like an API key"),
    (re.compile(r"sk-(?:[A-Za-z0-9]{1,16}-)?[A-Za-z0-9_]{20,}"), "value looks like an API key"),
    (re.compile(r"(?:AKIA|ASIA)[0-9A-Z]{12,}"), "value looks like an API key"),
    (re.compile(r"gh[pousr]_[A-Za-z0-9]{8,}"), "value looks like an API key"),
    (re.compile(r"github_pat_[A-Za-z0-9_]{8,}"), "value looks like an API key"),
    (re.compile(r"xox[abposr]-", re.IGNORECASE), "value looks like an API key"),
    (re.compile(r"AIza[0-9A-Za-z_-]{16,}"), "value looks like an API key"),
    (re.compile(r"mp_(?:live|test)_", re.IGNORECASE), "value looks like an API key"),
    (re.compile(r"\b(?:bearer|basic)\s+\S", re.IGNORECASE), "value looks like a bearer credential"),
    (re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), "value looks like a JWT"),
    (
        re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        "value looks like a JWT",
    ),
)

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_COMPACT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,63}$")
_LONG_RUN = re.compile(r"[A-Za-z0-9]{24,}")


@dataclass(frozen=True, slots=True)
class Violation:
    """Where a payload was refused (a JSON path such as ``$.rows[3].prompt``) and why. The
    offending value is deliberately not kept."""

    path: str
    reason: str


def find_violation(document: RawJSON) -> Violation | None:
    """Return the first violation in ``document`` (depth-first, in document order), or None."""
    return _walk(document, "$", 0)


def _walk(node: RawJSON, path: str, depth: int) -> Violation | None:
    if depth > MAX_DEPTH:
        return Violation(path, "document nested too deeply")
    if isinstance(node, dict):
        for key, value in node.items():
            child = f"{path}.{key}" if isinstance(key, str) and _FIELD_NAME.fullmatch(key) else f"{path}[?]"
            reason = field_name_problem(key)
            if reason is not None:
                return Violation(child, reason)
            found = _walk(value, child, depth + 1)
            if found is not None:
                return found
        return None
    if isinstance(node, list):
        for index, item in enumerate(node):
            found = _walk(item, f"{path}[{index}]", depth + 1)
            if found is not None:
                return found
        return None
    if isinstance(node, str):
        reason = string_problem(node)
        return None if reason is None else Violation(path, reason)
    if node is None or isinstance(node, bool | int | float):
        return None
    return Violation(path, "not a JSON value")


def field_name_problem(name: object) -> str | None:
    """Why ``name`` may not be a field name of an ingestion payload, or None if it may."""
    if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
        return "field name is not an identifier"
    return _name_problem(name)


# Payloads repeat the same few dozen field names and short values (model ids, categories) in
# every request, so the verdicts are memoised: the checks are pure functions of the string.
@functools.lru_cache(maxsize=4096)
def _name_problem(name: str) -> str | None:
    secret = _secret_problem(name)
    if secret is not None:
        return secret
    words = [w.lower() for w in _WORD.findall(name)]
    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        if word in _HARD_WORDS or (word, following) in _HARD_PAIRS:
            return "forbidden field name"
        if word in _SOFT_WORDS:
            if following not in _COUNT_SUFFIXES:
                return "forbidden field name"
            continue
        if word not in _BENIGN_WORDS and any(root in word for root in _SUBSTRING_ROOTS):
            return "forbidden field name"
    squashed = "".join(words)
    if any(pair in squashed for pair in ("apikey", "userid", "accesskey", "privatekey")):
        return "forbidden field name"
    return None


def string_problem(value: str) -> str | None:
    """Why ``value`` may not appear as a string in an ingestion payload, or None if it may."""
    if len(value) <= _MEMO_MAX_CHARS:
        return _short_string_problem(value)
    if len(value) > _SCAN_MAX_CHARS:
        # Nothing this long is an identifier; refusing before the detectors keeps a hostile
        # megabyte string from costing quadratic regex time.
        return "value is longer than any identifier"
    return _string_problem(value)


_MEMO_MAX_CHARS = 64
_SCAN_MAX_CHARS = 256


@functools.lru_cache(maxsize=4096)
def _short_string_problem(value: str) -> str | None:
    return _string_problem(value)


def _string_problem(value: str) -> str | None:
    secret = _secret_problem(value)
    if secret is not None:
        return secret
    if _UUID.fullmatch(value):
        return None
    if not _COMPACT.fullmatch(value):
        return "value looks like free text" if value.strip() else "value is not an identifier"
    if _LONG_RUN.search(value):
        return "value looks like a secret or a hash"
    return None


def _secret_problem(value: str) -> str | None:
    for pattern, reason in _SECRET_DETECTORS:
        if pattern.search(value):
            return reason
    return None
