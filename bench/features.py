"""What the proxy's request features cost per request, by request size.

    python -m bench.features [--tokens 1000 4000 16000 100000 400000] [--varied 4000]
        [--agent-turns 10 150] [--real TABLE [--real-requests 40]] [--repeat 30] [--json]

For each size, a Messages request whose last user turn holds about that many tokens of prose and
code (4 characters a token, the proxy's own estimate) is turned into its ``/v1/route`` request the
way the proxy does it on every routed request (``build_route_request``: parse-free, the body is
already a dict; feature extraction, category, difficulty), and again with a trained local learner
(``build_route_request(document, learner)``: its example and score on top, as the proxy does
with one). Reported per size: the median and p99
over ``--repeat`` calls, and the median per 1,000 estimated tokens, which stays flat when the cost
is linear. ``--real TABLE`` adds requests of real text: ``--real-requests`` distinct requests of about
4,000 tokens each, every one the prompts of consecutive rows of an outcome table (e.g.
``../shared/data/routing/routerarena_sub10.jsonl``) in file order, each measured as first seen;
natural prose between the repeated paragraph of "prose" and the every-word-distinct "varied".
In-process timing on one core: other work on the machine moves these figures less than
those of the HTTP benchmarks, but compare rows within one run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench._harness import bench_parser, emit, json_flag, median, percentile, print_table
from bench.routing_quality import synthetic_request
from modelpilot.proxy.decisions import build_route_request
from modelpilot.proxy.features.extract import extract_features
from modelpilot.proxy.features.inputs import text_inputs
from modelpilot.proxy.features.shape import TOOL_TALLIES
from modelpilot.proxy.learning import Hyper, LocalLearner

_PARAGRAPH = (
    "The quarterly report shows revenue growth of 12 percent, driven by new customers in Europe. "
    "Please summarise the main risks and list three follow-up questions for the finance team.\n"
    "def total(items):\n    return sum(item.price * item.quantity for item in items)\n"
)


def request_of(tokens: int) -> dict[str, Any]:
    chars = tokens * 4
    text = (_PARAGRAPH * (chars // len(_PARAGRAPH) + 1))[:chars]
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 1024,
        "system": "You are a careful analyst.",
        "messages": [
            {"role": "user", "content": "Hello."},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": text},
        ],
    }


def varied_request(tokens: int) -> dict[str, Any]:
    """The worst case for the word features: eight turns of varied pseudo-English (every one of
    the words read is distinct, so the learner scores the most buckets)."""
    return synthetic_request(tokens, 8)


def agent_request(turns: int, tools: int = 25) -> dict[str, Any]:
    """A Claude Code-shaped request: a long system prompt, ``tools`` tool definitions with JSON
    schemas, and ``turns`` rounds of a tool call and its result."""
    tool_list = [
        {
            "name": f"Tool{i}",
            "description": "Reads, edits or searches files in the working tree. " * 8,
            "input_schema": {
                "type": "object",
                "properties": {
                    f"p{j}": {"type": "string", "description": "a parameter " * 5} for j in range(8)
                },
                "required": ["p0"],
            },
        }
        for i in range(tools)
    ]
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": "Fix the failing test in src/app.py please."}]}
    ]
    for turn in range(turns):
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Let me look."},
                    {
                        "type": "tool_use",
                        "id": f"t{turn}",
                        "name": "Tool1",
                        "input": {"p0": f"src/f{turn}.py"},
                    },
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": f"t{turn}", "content": "x = 1\n" * 300}],
            }
        )
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 8192,
        "system": [{"type": "text", "text": "You are an agent for software engineering. " * 100}],
        "tools": tool_list,
        "messages": messages,
        "stream": True,
    }


def _prompt_text(request: dict[str, Any]) -> str:
    content = request["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "\n".join(block.get("text", "") for block in content if isinstance(block, dict))


def real_requests(table: Path, count: int, tokens: int = 4000) -> list[dict[str, Any]]:
    """``count`` single-turn requests of about ``tokens`` tokens each, every one the prompts of
    consecutive rows of ``table`` (in file order) joined by blank lines."""
    chars = tokens * 7 // 2  # the proxy's own estimate: 3.5 characters a token
    requests: list[dict[str, Any]] = []
    parts: list[str] = []
    size = 0
    with table.open(encoding="utf-8") as handle:
        for line in handle:
            if len(requests) == count:
                break
            if not line.strip():
                continue
            text = _prompt_text(json.loads(line)["request"])
            parts.append(text)
            size += len(text) + 2
            if size >= chars:
                requests.append(
                    {
                        "model": "claude-sonnet-4-6",
                        "max_tokens": 1024,
                        "messages": [{"role": "user", "content": "\n\n".join(parts)[:chars]}],
                    }
                )
                parts, size = [], 0
    if len(requests) < count:
        raise SystemExit(f"{table} holds text for {len(requests)} requests of {tokens} tokens, not {count}")
    return requests


def forget_kept() -> None:
    """Empty what feature extraction keeps between requests: the next call sees a new request."""
    TOOL_TALLIES.clear()
    text_inputs.cache_clear()


def trained_learner() -> LocalLearner:
    """A learner that has learned (and so scores with) weights for the benchmark's models."""
    learner = LocalLearner(hyper=Hyper(min_verdicts=1))
    for i in range(200):
        for document in (request_of(50 + i), varied_request(50 + i)):
            document["messages"][-1]["content"] = f"case {i} variant {i % 7} " + str(
                document["messages"][-1]["content"]
            )
            learner.record(
                learner.example_of(document),
                requested_model=document["model"],
                candidate_model="claude-haiku-4-5",
                acceptable=i % 3 != 0,
                source="verdict",
            )
    learner.drain()
    return learner


def measure(
    sizes: list[int],
    repeat: int,
    varied: list[int] | None = None,
    agent_turns: list[int] | None = None,
    real: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    extract_features(request_of(100))  # load the shipped weights once, outside the timings
    learner = trained_learner()
    varied = varied if varied is not None else [4000]
    rows = []
    cases = [(tokens, "prose", request_of(tokens)) for tokens in sizes]
    cases += [(tokens, "varied", varied_request(tokens)) for tokens in varied]
    # An agent's conversation resends its tools, system prompt and instruction every turn
    # ("agent": their tally and analysis kept), beside the same request seen for the first time
    # ("agent, nothing kept"). Prose and varied requests are measured as first seen too.
    for turns in agent_turns if agent_turns is not None else [10, 150]:
        cases += [
            (turns, "agent", agent_request(turns)),
            (turns, "agent, nothing kept", agent_request(turns)),
        ]
    # Real text: each of the distinct requests in turn, ``repeat`` calls in all.
    real_cases = [(4000, f"real text ({len(real)} requests)", real)] if real else []
    for tokens, text, documents in [(t, x, [d]) for t, x, d in cases] + real_cases:
        timings = []
        learned_timings = []
        estimates = []
        for call in range(repeat):
            document = documents[call % len(documents)]
            if text != "agent":
                forget_kept()
            started = time.perf_counter()
            request = build_route_request(document)
            timings.append((time.perf_counter() - started) * 1e6)
            started = time.perf_counter()
            if text != "agent":
                forget_kept()
            learned = build_route_request(document, learner)
            learned_timings.append((time.perf_counter() - started) * 1e6)
            assert request is not None and learned is not None
            assert learned.features.learned_acceptable is not None
            estimates.append(request.features.input_tokens_estimate)
        estimate = round(median(estimates))
        rows.append(
            {
                "tokens": tokens,
                "text": text,
                "input_tokens_estimate": estimate,
                "median_us": median(timings),
                "p99_us": percentile(timings, 99),
                "us_per_1k_tokens": median(timings) / max(estimate, 1) * 1000,
                "with_learner_median_us": median(learned_timings),
                "with_learner_p99_us": percentile(learned_timings, 99),
            }
        )
    return {"repeat": repeat, "rows": rows}


def print_report(result: Mapping[str, Any]) -> None:
    print_table(
        f"Feature extraction per routed request (build_route_request), {result['repeat']} calls per size",
        [
            "text",
            "tokens asked (agent: turns)",
            "tokens (estimated)",
            "median µs",
            "p99 µs",
            "µs per 1k tokens",
            "+ learner median µs",
            "+ learner p99 µs",
        ],
        [
            [
                r["text"],
                f"{r['tokens']:,}",
                f"{r['input_tokens_estimate']:,}",
                f"{r['median_us']:,.0f}",
                f"{r['p99_us']:,.0f}",
                f"{r['us_per_1k_tokens']:.1f}",
                f"{r['with_learner_median_us']:,.0f}",
                f"{r['with_learner_p99_us']:,.0f}",
            ]
            for r in result["rows"]
        ],
    )


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--tokens", type=int, nargs="+", default=[1000, 4000, 16000, 100000, 400000])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument(
        "--varied", type=int, nargs="*", default=[4000], help="sizes of the varied-words case (worst case)"
    )
    parser.add_argument(
        "--agent-turns",
        type=int,
        nargs="*",
        default=[10, 150],
        help="turns of the Claude Code-shaped case (25 tools, a tool call and result per turn)",
    )
    parser.add_argument("--real", type=Path, help="an outcome table whose prompts make the real-text case")
    parser.add_argument("--real-requests", type=int, default=40, help="distinct real-text requests")
    json_flag(parser)
    args = parser.parse_args(argv)
    real = real_requests(args.real, args.real_requests) if args.real else None
    emit(
        measure(args.tokens, args.repeat, args.varied, args.agent_turns, real),
        as_json=args.json,
        report=print_report,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
