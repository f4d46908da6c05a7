"""Reading the routing outcome tables and mapping their benchmark labels to task categories.

The tables themselves are never copied into the repository (see the data README); this module
only reads them from the directory given on the command line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelpilot.schema.wire import Category

#: Outcome tables: file name -> (weak model key, strong model key).
OUTCOME_TABLES: dict[str, tuple[str, str]] = {
    "routellm_mmlu.jsonl": ("mixtral-8x7b-instruct-v0.1", "gpt-4-1106-preview"),
    "routellm_gsm8k.jsonl": ("mixtral-8x7b-instruct-v0.1", "gpt-4-1106-preview"),
    "routerarena_sub10.jsonl": ("claude-3-haiku-20240307", "gemini-2.0-flash-001"),
}
#: Prompts labelled by category only (no outcomes).
CATEGORY_TABLE = "arena_hard_categories.jsonl"
#: The labelled live-shaped requests of the repository (``bench.categories``' set), and the table
#: name their rows carry.
LIVE_SHAPED = Path(__file__).resolve().parents[1] / "tests/proxy/features/data/live_shaped.jsonl"
LIVE_TABLE = "live_shaped.jsonl"
# Decided by the request's shape alone (tools offered or used), never by words: a classifier that
# learned "agentic" would say it of a request with no tools.
_SHAPE_ONLY = frozenset({Category.AGENTIC, Category.OTHER})

_MMLU_MATH = {
    "abstract_algebra",
    "college_mathematics",
    "elementary_mathematics",
    "high_school_mathematics",
    "high_school_statistics",
}
_MMLU_CODE = {"college_computer_science", "high_school_computer_science"}
_MMLU_REASONING = {"formal_logic", "logical_fallacies"}

_RA_MATH = {"AIME", "MATH", "GSM8K", "AsDiv", "MathQA", "MMLUPro_math", "FinQA"}
_RA_CODE = {"LiveCodeBench", "MMLUPro_computer science"}
_RA_REASONING = {
    "ChessInstruct",
    "MMLU_formal_logic",
    "SuperGLUE-CausalReasoning",
    "SuperGLUE-Wsc",
    "SocialiQA",
}
_RA_CLASSIFICATION = {"SuperGLUE-Wic", "SuperGLUE-Entailment"}
# Topic clusters are mapped only where the name leaves no doubt; the rest stay unlabelled.
_CLUSTER_CODE = frozenset(
    [
        "python",
        "javascript",
        "typescript",
        "rust",
        "c++",
        "sql",
        "react",
        "css",
        "docker",
        "dockerizing",
        "kubernetes",
        "linux",
        "django",
        "flask",
        "php",
        "kotlin",
        "swift",
        "android",
        "code",
        "coding",
        "programming",
        "scripting",
        "pandas",
        "matplotlib",
        "regex",
        "vba",
        "laravel",
        "symfony",
        "node.js",
        "tailwind",
        "streamlit",
        "gradio",
        "shiny",
        "tkinter",
        "wpf",
        "hlsl",
        "cuda",
        "jax",
        "pytorch",
        "tidyverse",
        "awk",
        "ffmpeg",
        "nix",
        "nixos",
        "cron",
        "assembly",
        "fibonacci",
        "mocking",
        "concurrency",
        "sockets",
        "roblox",
        "debugging",
        "development",
        "deobfuscation",
        "array",
        "arrays",
        "string",
        "linked",
    ]
)
_CLUSTER_MATH = frozenset(
    [
        "algebra",
        "probability",
        "statistics",
        "geometry",
        "calculations",
        "calculation",
        "math",
        "mathematical",
        "mathematics",
        "deviation",
        "prime",
        "proving",
        "triangle",
        "dice",
    ]
)
_ARENA = {"coding": Category.CODE, "math": Category.MATH, "creative_writing": Category.CREATIVE_WRITING}


def category_of(suite: str, label: str) -> Category | None:
    """The task category a benchmark label stands for, or None where it says nothing reliable.

    MMLU: the five mathematics/statistics subjects -> math, the two computer-science subjects ->
    code (their questions are mostly about reading code), formal logic and logical fallacies ->
    reasoning, every other subject -> qa. GSM8K -> math. RouterArena: competition and word-problem
    maths and FinQA -> math, LiveCodeBench and MMLU-Pro CS -> code, WMT19 -> translation, chess,
    formal logic, causal/Winograd/social reasoning -> reasoning, ETHICS and word-sense /
    entailment judgements -> classification, the rest (PubMedQA, NarrativeQA, MedMCQA, trivia,
    MMLU-Pro subjects, ...) -> qa. Arena-Hard: coding/math/creative_writing; its 250 topic
    clusters are left out, since a topic ("AWS Cloud Services") does not name a task.
    """
    if suite == "routellm-mmlu":
        if label in _MMLU_MATH:
            return Category.MATH
        if label in _MMLU_CODE:
            return Category.CODE
        if label in _MMLU_REASONING:
            return Category.REASONING
        return Category.QA
    if suite == "routellm-gsm8k":
        return Category.MATH
    if suite == "routerarena-sub10":
        if label.startswith("WMT19"):
            return Category.TRANSLATION
        if label in _RA_MATH:
            return Category.MATH
        if label in _RA_CODE:
            return Category.CODE
        if label in _RA_REASONING:
            return Category.REASONING
        if label.startswith("Ethics_") or label in _RA_CLASSIFICATION:
            return Category.CLASSIFICATION
        return Category.QA
    if suite == "arena-hard-categories":
        if label in _ARENA:
            return _ARENA[label]
        return _arena_cluster_category(label)
    return None


def _arena_cluster_category(cluster: str) -> Category | None:
    """An Arena-Hard topic cluster whose name plainly names programming or mathematics."""
    words = set(cluster.lower().replace(",", " ").replace("&", " ").replace("/", " ").split())
    if words & _CLUSTER_CODE:
        return Category.CODE
    if words & _CLUSTER_MATH:
        return Category.MATH
    return None


@dataclass(frozen=True, slots=True)
class Row:
    """One prompt: its table, request body, category label and (if any) its outcome label."""

    table: str
    id: str
    request: dict[str, Any]
    category: Category | None
    weak: float | None
    strong: float | None


def file_sha256(path: Path) -> str:
    """Content hash of a data file, recorded in the artifact's metadata for provenance."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_rows(path: Path, pair: tuple[str, str] | None) -> list[Row]:
    """Every row of one table (in file order, so runs are deterministic)."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            raw = json.loads(line)
            weak = strong = None
            if pair is not None:
                scores = raw.get("scores") or {}
                if pair[0] not in scores or pair[1] not in scores:
                    continue
                weak, strong = float(scores[pair[0]]), float(scores[pair[1]])
            rows.append(
                Row(
                    table=path.name,
                    id=str(raw["id"]),
                    request=raw["request"],
                    category=category_of(raw.get("suite", ""), str(raw.get("label", ""))),
                    weak=weak,
                    strong=strong,
                )
            )
    return rows


def read_live_rows(path: Path, splits: tuple[str, ...]) -> list[Row]:
    """The labelled live-shaped rows of ``splits`` (in file order) as category-only rows, minus
    the categories only a request's shape decides (agentic; other, the fallback)."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            raw = json.loads(line)
            category = Category(raw["category"])
            if raw["split"] not in splits or category in _SHAPE_ONLY:
                continue
            rows.append(
                Row(
                    table=LIVE_TABLE,
                    id=f"live/{raw['id']}",
                    request=raw["request"],
                    category=category,
                    weak=None,
                    strong=None,
                )
            )
    return rows
