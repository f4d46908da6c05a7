"""Server-rendered inline SVG charts for the console (no JavaScript), each with a title and a
description for screen readers; the templates put the numbers in a table next to it."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
HEIGHT = 240
_LEFT = 78
_RIGHT = 12
_TOP = 12
_BOTTOM = 28


#: The least top of a money axis: one cent.
MIN_AXIS_MICROS = 10_000


def format_usd(micros: int) -> str:
    """Micro-dollars as dollars: cents from $1 on, four decimals below (small bills matter)."""
    sign = "-" if micros < 0 else ""
    dollars = abs(micros) / 1_000_000
    if 0 < abs(micros) < 100:
        # Above minus a hundredth of a cent (not "-<$0.0001", which reads as nothing).
        return "<$0.0001" if micros > 0 else ">-$0.0001"
    return f"{sign}${dollars:,.2f}" if dollars >= 1 or micros == 0 else f"{sign}${dollars:,.4f}"


def format_share(part: int, whole: int) -> str:
    """``part`` of ``whole`` as a percentage with one decimal (0.0 % of nothing)."""
    return f"{(100 * part / whole) if whole else 0:.1f}%"


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[int]
    css_class: str


def _nice_ceiling(value: float) -> float:
    # An empty or near-empty chart still gets a readable axis ($0.01), not "<$0.0001".
    if value <= MIN_AXIS_MICROS:
        return float(MIN_AXIS_MICROS)
    magnitude = 10.0 ** math.floor(math.log10(value))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= factor * magnitude:
            return float(factor * magnitude)
    return float(10 * magnitude)


def _frame(title: str, desc: str, body: list[str], chart_id: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def _axes(
    low: float, high: float, labels: Sequence[str], fmt: Callable[[int], str]
) -> tuple[list[str], float]:
    """Grid lines with value labels, x labels at the ends and the middle; returns the SVG parts
    and the plot width of one slot."""
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM
    parts = []
    for i in range(5):
        value = low + (high - low) * i / 4
        y = _TOP + plot_h - plot_h * i / 4
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(round(value)))}</text>'
        )
    slot = plot_w / max(len(labels), 1)
    if labels:
        for index in sorted({0, len(labels) // 2, len(labels) - 1}):
            x = _LEFT + slot * (index + 0.5)
            parts.append(
                f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{escape(labels[index])}</text>'
            )
    return parts, slot


def _scale(low: float, high: float) -> Callable[[float], float]:
    plot_h = HEIGHT - _TOP - _BOTTOM
    return lambda v: _TOP + plot_h - plot_h * (v - low) / (high - low)


def line_chart(
    chart_id: str, title: str, desc: str, labels: Sequence[str], series: Sequence[Series]
) -> Markup:
    """Lines over time (money), one per series, with a dot per bucket."""
    top = _nice_ceiling(max((v for s in series for v in s.values), default=0))
    parts, slot = _axes(0, top, labels, format_usd)
    y_of = _scale(0, top)
    for line in series:
        points = " ".join(f"{_LEFT + slot * (i + 0.5):.1f},{y_of(v):.1f}" for i, v in enumerate(line.values))
        parts.append(f'<polyline class="line {line.css_class}" points="{points}"/>')
    return _frame(title, desc, parts, chart_id)


def metric_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    fmt: Callable[[int], str],
    least_top: int,
) -> Markup:
    """Lines over time of something other than money (milliseconds, basis points): the axis
    labels come from ``fmt`` and reach at least ``least_top``."""
    highest = max((v for s in series for v in s.values), default=0)
    top = float(least_top) if highest <= least_top else _nice_ceiling(highest)
    parts, slot = _axes(0, top, labels, fmt)
    y_of = _scale(0, top)
    for line in series:
        points = " ".join(f"{_LEFT + slot * (i + 0.5):.1f},{y_of(v):.1f}" for i, v in enumerate(line.values))
        parts.append(f'<polyline class="line {line.css_class}" points="{points}"/>')
    return _frame(title, desc, parts, chart_id)


def bar_chart(chart_id: str, title: str, desc: str, labels: Sequence[str], values: Sequence[int]) -> Markup:
    """Bars over time (money); negative values hang below the zero line."""
    high = _nice_ceiling(max(values, default=0))
    low = -_nice_ceiling(-min(values, default=0)) if min(values, default=0) < 0 else 0.0
    parts, slot = _axes(low, high, labels, format_usd)
    y_of = _scale(low, high)
    zero = y_of(0)
    for i, value in enumerate(values):
        if value == 0:
            continue
        y = min(y_of(value), zero)
        kind = "bar" if value > 0 else "bar negative"
        parts.append(
            f'<rect class="{kind}" x="{_LEFT + slot * i + slot * 0.15:.1f}" y="{y:.1f}" '
            f'width="{slot * 0.7:.1f}" height="{abs(y_of(value) - zero):.1f}"/>'
        )
    parts.append(f'<line class="zero" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{zero:.1f}" y2="{zero:.1f}"/>')
    return _frame(title, desc, parts, chart_id)


def share_bar(chart_id: str, title: str, parts: Sequence[tuple[str, int, str]]) -> Markup:
    """One 100 % bar split into labelled parts ``(label, count, css_class)``."""
    total = sum(count for _, count, _ in parts)
    height = 36
    body = []
    x = 0.0
    for label, count, css_class in parts:
        width = WIDTH * count / total if total else 0
        if width > 0:
            body.append(
                f'<rect class="share {css_class}" x="{x:.1f}" y="0" width="{width:.1f}" height="{height}">'
                f"<title>{escape(label)}: {format_share(count, total)}</title></rect>"
            )
        x += width
    if not total:
        body.append(f'<rect class="share empty" x="0" y="0" width="{WIDTH}" height="{height}"/>')
    desc = ", ".join(f"{label} {format_share(count, total)}" for label, count, _ in parts)
    return Markup(
        f'<svg class="share-bar" viewBox="0 0 {WIDTH} {height}" role="img" preserveAspectRatio="none" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d"><title id="{chart_id}-t">{escape(title)}</title>'
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>' + "".join(body) + "</svg>"
    )
