"""``modelpilot demo``: send the mixed workload through the proxy, then print what it saved."""

from __future__ import annotations

import os
import queue
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click

from modelpilot.addresses import read_addresses
from modelpilot.demo.metered import DeploymentSettings, MeteredUsage, Totals, wait_for_delivery
from modelpilot.demo.verdicts import quality_lines, shadow_lines
from modelpilot.demo.workload import Call, Script, plan
from modelpilot.extras import install_command
from modelpilot.stack import DEFAULT_STATE_DIR

#: Sent when this shell has no ANTHROPIC_API_KEY: the simulator accepts any key.
PLACEHOLDER_KEY = "sk-ant-modelpilot-demo"
DEFAULT_BASE_URL = "http://127.0.0.1:8787"
_DELIVERY_TIMEOUT_S = 60.0


def _reachable(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url.rstrip('/')}/healthz", timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _client(base_url: str) -> Any:
    try:
        import anthropic
    except ModuleNotFoundError as exc:
        raise click.ClickException(
            "modelpilot demo drives the proxy with the official Anthropic SDK: " + install_command("demo")
        ) from exc
    return anthropic.Anthropic(
        base_url=base_url, api_key=os.environ.get("ANTHROPIC_API_KEY") or PLACEHOLDER_KEY, max_retries=2
    )


def run_workload(client: Any, scripts: Sequence[Script], *, concurrency: int) -> tuple[list[Call], list[str]]:
    """Run ``scripts`` on ``concurrency`` threads with a progress bar; the calls and the errors."""
    reports: queue.Queue[Call] = queue.Queue()
    calls: list[Call] = []
    errors: list[str] = []
    total = sum(script.requests for script in scripts)
    with (
        ThreadPoolExecutor(max_workers=concurrency) as pool,
        click.progressbar(length=total, label="Sending requests", show_pos=True) as bar,
    ):
        futures: list[Future[None]] = [pool.submit(script.run, client, reports.put) for script in scripts]
        while True:
            try:
                calls.append(reports.get(timeout=0.1))
                bar.update(1)
            except queue.Empty:
                if all(future.done() for future in futures):
                    break
        for script, future in zip(scripts, futures, strict=True):
            error = future.exception()
            if error is not None:
                errors.append(f"{type(error).__name__} ({script.category}): {error}")
        bar.update(total - bar.pos)
    return calls, errors


def local_totals(calls: Sequence[Call]) -> Totals:
    """Totals from the response headers and usage alone, priced with the catalog (no escalation
    retries: only the control plane sees what an abandoned cheap answer cost)."""
    from modelpilot.schema.catalog import load_catalog
    from modelpilot.schema.pricing import price_request

    catalog = load_catalog()
    values: dict[tuple[str, str, str, bool, bool], Counter[str]] = {}
    for call in calls:
        key = (call.category, call.requested_model, call.served_model, call.routed, call.escalated)
        cost = price_request(
            call.usage, served=call.served_model, requested=call.requested_model, catalog=catalog
        )
        counts = values.setdefault(key, Counter())
        counts["requests"] += 1
        counts["input_tokens"] += call.usage.input_tokens
        counts["output_tokens"] += call.usage.output_tokens
        counts["actual_cost_micros"] += cost.actual_micros or 0
        counts["baseline_cost_micros"] += cost.baseline_micros or 0
    return Totals(values)


def _dollars(micros: int) -> str:
    return f"{micros / 1_000_000:.6f}"


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def summary_table(totals: Totals) -> list[str]:
    """The savings table: one row per requested → served model, then the total."""
    rows: dict[tuple[str, str], Counter[str]] = {}
    for (_, requested, served, routed, escalated), counts in totals.values.items():
        row = rows.setdefault((requested, served), Counter())
        row.update(counts)
        row["routed"] += counts["requests"] if routed else 0
        row["escalated"] += counts["requests"] if escalated else 0
    header = (
        "requested -> served",
        "requests",
        "routed",
        "escalated",
        "baseline $",
        "actual $",
        "savings $",
        "savings",
    )
    lines: list[tuple[str, ...]] = [header]
    grand: Counter[str] = Counter()
    for (requested, served), row in sorted(rows.items()):
        if not row["requests"]:
            continue  # a pair with paired checks only: its verdicts are in the quality lines
        grand.update(row)
        lines.append(_row(f"{requested} -> {served}", row))
    lines.append(_row("total", grand))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        cells = [line[0].ljust(widths[0])] + [
            cell.rjust(w) for cell, w in zip(line[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells))
        if n == 0 or n == len(lines) - 2:
            out.append("  ".join("-" * w for w in widths))
    return out


def _row(label: str, row: Counter[str]) -> tuple[str, ...]:
    requests = row["requests"]
    savings = row["baseline_cost_micros"] - row["actual_cost_micros"]
    return (
        label,
        str(requests),
        _percent(row["routed"], requests),
        _percent(row["escalated"], requests),
        _dollars(row["baseline_cost_micros"]),
        _dollars(row["actual_cost_micros"]),
        _dollars(savings),
        _percent(savings, row["baseline_cost_micros"]),
    )


def _metered(state_dir: Path) -> MeteredUsage | None:
    try:
        return MeteredUsage(state_dir)
    except FileNotFoundError:
        return None


def _wait_for_metering(metered: MeteredUsage, before: Totals, base_url: str, expected: int) -> Totals | None:
    deadline = time.monotonic() + _DELIVERY_TIMEOUT_S
    while time.monotonic() < deadline:
        wait_for_delivery(base_url, timeout_s=_DELIVERY_TIMEOUT_S)
        delta = metered.totals().minus(before)
        if delta.total("requests") >= expected:
            return delta
        time.sleep(0.25)
    return None


def _describe(calls: Sequence[Call], seconds: float) -> str:
    kinds = Counter(call.kind for call in calls)
    categories = len({call.category for call in calls})
    mix = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    return f"Sent {len(calls)} requests in {categories} task categories ({mix}) in {seconds:.1f} s."


def _agreement(local: Totals, metered: Totals) -> str:
    def counts(t: Totals) -> tuple[int, int, int]:
        routed = sum(c["requests"] for k, c in t.values.items() if k[3])
        escalated = sum(c["requests"] for k, c in t.values.items() if k[4])
        return t.total("requests"), routed, escalated

    if counts(local) == counts(metered):
        return "The proxy's response headers agree: same requests, routed and escalated counts."
    return (
        "Warning: the proxy's response headers say (requests, routed, escalated) = "
        f"{counts(local)}, the control plane metered {counts(metered)}."
    )


@click.command("demo")
@click.option(
    "--base-url",
    default=None,
    envvar="ANTHROPIC_BASE_URL",
    help="The proxy to send the workload through (env ANTHROPIC_BASE_URL). Default: where the "
    f"`modelpilot up` of --state-dir listens, else {DEFAULT_BASE_URL}.",
)
@click.option(
    "--requests",
    "request_count",
    default=40,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="How many API requests to send in all (conversations and tool round trips count each turn).",
)
@click.option(
    "--concurrency",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Requests in flight at once.",
)
@click.option(
    "--state-dir",
    default=DEFAULT_STATE_DIR,
    show_default=True,
    envvar="MODELPILOT_HOME",
    type=click.Path(file_okay=False, path_type=Path),
    help="modelpilot up's state directory, to read what the control plane metered (env MODELPILOT_HOME).",
)
def demo_command(base_url: str | None, request_count: int, concurrency: int, state_dir: Path) -> None:
    """Send a realistic mixed workload through the proxy and print what routing saved and the
    quality it kept.

    Eight task categories (classification, extraction, summarization, code, math, translation,
    chat, reasoning) with streaming, tool use, structured output and multi-turn conversations,
    sent with the official Anthropic SDK. The summary is what the control plane metered for these
    requests, the numbers the console shows, followed by the measured quality (how often paired
    checks found the cheaper answer as good) and, in shadow mode, what routing would have saved;
    without `modelpilot up`'s state directory it is computed from the proxy's response headers
    instead.
    """
    base_url = base_url or read_addresses(state_dir).get("proxy") or DEFAULT_BASE_URL
    if not _reachable(base_url):
        raise click.ClickException(
            f"no ModelPilot proxy answers at {base_url}: start one with `modelpilot up` or pass --base-url"
        )
    client = _client(base_url)
    metered = _metered(state_dir)
    try:
        before = None
        if metered is not None:
            wait_for_delivery(base_url, timeout_s=_DELIVERY_TIMEOUT_S)
            before = metered.totals()
        started = time.monotonic()
        calls, errors = run_workload(client, plan(request_count), concurrency=concurrency)
        click.echo(_describe(calls, time.monotonic() - started))
        for error in errors[:5]:
            click.echo(f"  failed: {error}", err=True)
        if any(error.startswith(("AuthenticationError", "PermissionDeniedError")) for error in errors):
            click.echo("The upstream refused the API key: set ANTHROPIC_API_KEY in this shell too.", err=True)
        if not calls:
            raise click.ClickException("every request failed; see the errors above")
        local = local_totals(calls)
        totals = local
        source = "computed from the proxy's response headers and the catalog's prices"
        if metered is not None and before is not None:
            delivered = _wait_for_metering(metered, before, base_url, expected=len(calls))
            if delivered is None:
                click.echo(
                    f"The control plane in {state_dir} did not meter these requests within "
                    f"{_DELIVERY_TIMEOUT_S:.0f} s; is `modelpilot up` running with --state-dir {state_dir}?",
                    err=True,
                )
            else:
                totals = delivered
                source = "as metered by the control plane: the numbers the console shows"
        deployment: DeploymentSettings | None = None
        if totals is not local and metered is not None:
            # Verdicts are obtained off the callers' path: let the last checks settle and their
            # verdicts be delivered.
            wait_for_delivery(base_url, timeout_s=_DELIVERY_TIMEOUT_S, checks=True)
            totals = metered.totals().minus(before) if before is not None else totals
            deployment = metered.settings()
        click.echo(f"\nSavings ({source}):\n")
        for line in shadow_lines(totals, deployment):
            click.echo(line)
        for line in summary_table(totals):
            click.echo(line)
        click.echo("")
        for line in quality_lines(totals, deployment):
            click.echo(line)
        if totals is not local:
            click.echo("\n" + _agreement(local, totals))
        if errors:
            raise SystemExit(1)
    finally:
        client.close()
        if metered is not None:
            metered.close()
