"""Cheap text signals over bounded excerpts: hashed word n-grams and code/math detectors.

The hashes are bucket indices for the shipped linear models, computed and consumed in process;
they never become part of :class:`~modelpilot.proxy.features.extract.Features`. The training
script imports these same functions, so training and run time agree bit for bit.

Everything here is built from ``str.split``, ``in`` and ``zlib.crc32`` because those run in C:
a regex tokenizer over the same excerpt costs several times more.
"""

from __future__ import annotations

import re
from zlib import crc32

# Multiplier for combining two 32-bit unigram hashes into a bigram hash (golden-ratio constant).
BIGRAM_MIX = 0x9E3779B1
_MIX = BIGRAM_MIX
_MASK32 = 0xFFFFFFFF
#: Bounds the work per request: the head and tail excerpts of a turn rarely exceed this.
MAX_WORDS = 192

# Symbols are found by substring search; keywords by set lookup on the words (much cheaper than
# one substring scan per keyword).
# "pip install" rather than the word "pip": it is also a name ("Pip, my companion app").
_CODE_SYMBOLS = (
    "```",
    "def ",
    "#include",
    "=>",
    "();",
    "){",
    ") {",
    "console.",
    "print(",
    "</",
    "pip install",
)
_CODE_WORDS = frozenset(
    [
        "python",
        "javascript",
        "typescript",
        "java",
        "c++",
        "rust",
        "golang",
        "sql",
        "bash",
        "shell",
        "regex",
        "html",
        "css",
        "json",
        "yaml",
        "code",
        "import",
        "script",
        "stdin",
        "stdout",
        "compile",
        "debug",
        "api",
        "variable",
        "array",
        "react",
        "vue",
        "docker",
        "kubernetes",
        "git",
        "npm",
        "node.js",
        "django",
        "flask",
        "pandas",
        "numpy",
        "pytorch",
        "div",
        "frontend",
        "backend",
        "repo",
        "repository",
        "traceback",
        "stacktrace",
        "exception",
        "segfault",
        "compiler",
        "linux",
        "terminal",
        "powershell",
        "c#",
        "kotlin",
        "swift",
        "php",
        "ruby",
        "scala",
        "haskell",
        "vba",
        "sql",
        "bug",
    ]
)
_MATH_SYMBOLS = (
    "\\frac",
    "\\sqrt",
    "\\boxed",
    "\\cdot",
    "\\times",
    "\\int",
    "\\sum",
    "$",
    "sqrt(",
    "how many",
    "how much",
    "how long",
    "how far",
    "what is the value",
    "what percent",
)
_MATH_WORDS = frozenset(
    [
        "equation",
        "equations",
        "integral",
        "derivative",
        "probability",
        "theorem",
        "prove",
        "polynomial",
        "matrix",
        "modulo",
        "calculate",
        "compute",
        "solve",
        "remainder",
        "percent",
        "percentage",
        "sum",
        "product",
        "average",
        "ratio",
    ]
)
# An operator followed by a digit; what precedes it is checked in Python (see _has_arithmetic)
# because a regex that starts with a lookbehind or \b scans many times slower.
_OPERATOR_DIGIT = re.compile(r"[-+*/^=<>×÷] ?\(?\d")


# Stripped from both ends of a word so that "python?" and "(python" count as "python".
_EDGE_PUNCTUATION = ".,;:!?\"'()[]{}<>*`"


def words(lowered: str) -> list[str]:
    """The first :data:`MAX_WORDS` whitespace-separated words of ``lowered``, edge punctuation
    stripped (a word of punctuation only is kept as is: "=" and "{" say something)."""
    return [w.strip(_EDGE_PUNCTUATION) or w for w in lowered.split()[:MAX_WORDS]]


def hash_words(tokens: list[str]) -> list[int]:
    """32-bit hashes of the distinct words, in first-seen order (a model masks them to its own
    size). Presence rather than counts: half the hashing work, and no worse for short texts."""
    return [crc32(token.encode()) for token in dict.fromkeys(tokens)]


def hash_bigrams(unigrams: list[int]) -> list[int]:
    """32-bit hashes of each adjacent pair, from the unigram hashes."""
    return [(a * _MIX + b) & _MASK32 for a, b in zip(unigrams, unigrams[1:], strict=False)]


def _grouped(symbols: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``symbols`` grouped under a common prefix found in several of them ("\\" of "\\frac" and
    "\\sqrt", "how " of "how many" and "how far"), so that a text without the prefix costs one
    substring scan for the whole group instead of one per symbol."""
    groups: dict[str, list[str]] = {}
    for symbol in symbols:
        prefix = next((p for p in _SYMBOL_PREFIXES if symbol.startswith(p) and symbol != p), symbol)
        groups.setdefault(prefix, []).append(symbol)
    # A group whose prefix is a symbol itself is found by the prefix's scan alone.
    return tuple((prefix, () if prefix in members else tuple(members)) for prefix, members in groups.items())


_SYMBOL_PREFIXES = ("\\", "how ", "what ", ")")
_CODE_SYMBOL_GROUPS = _grouped(_CODE_SYMBOLS)
_MATH_SYMBOL_GROUPS = _grouped(_MATH_SYMBOLS)


def _has_symbol(lowered: str, groups: tuple[tuple[str, tuple[str, ...]], ...]) -> bool:
    for prefix, members in groups:
        if prefix in lowered and (not members or any(symbol in lowered for symbol in members)):
            return True
    return False


def has_code(lowered: str, word_set: frozenset[str]) -> bool:
    """Whether lowercased ``lowered`` (whose words are ``word_set``) looks like it contains or
    asks for source code."""
    return not _CODE_WORDS.isdisjoint(word_set) or _has_symbol(lowered, _CODE_SYMBOL_GROUPS)


def has_math(lowered: str, word_set: frozenset[str]) -> bool:
    """Whether lowercased ``lowered`` (whose words are ``word_set``) looks like mathematics."""
    return (
        not _MATH_WORDS.isdisjoint(word_set)
        or _has_symbol(lowered, _MATH_SYMBOL_GROUPS)
        or _has_arithmetic(lowered)
    )


def _has_arithmetic(lowered: str) -> bool:
    """``3 + 4``, ``x^2``, ``(a)=5``: an operator between a number, a one-letter variable or a
    bracket and a number. "win-win 3" and "e-mail" do not count."""
    for match in _OPERATOR_DIGIT.finditer(lowered):
        before = lowered[max(0, match.start() - 3) : match.start()].rstrip()
        if not before:
            continue
        last = before[-1]
        if last.isdigit() or last == ")":
            return True
        if last.isalpha() and (len(before) < 2 or not before[-2].isalpha()):
            return True
    return False
