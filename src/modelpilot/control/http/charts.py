"""Server-rendered inline SVG charts for the console (no JavaScript), each with a title and a
description for screen readers; the templates put the numbers in a table next to it."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
HEIGHT = 240
_RIGHT = 12
#: Room above the top grid line and below the plot for half an axis label and the x labels.
_TOP = 16
_BOTTOM = 44
#: The largest font size console.css gives ``.chart .axis`` (on narrow screens), in viewBox
#: units: the margins are sized for labels this big, so no label is ever cut off.
AXIS_FONT_UNITS = 24
_GAP = 6
#: Widths of characters in ems, a little over those of common sans-serif fonts (DejaVu Sans is
#: the widest usual one); anything else counts as a wide letter.
_CHAR_EMS = {**dict.fromkeys("0123456789$+<>", 0.64), **dict.fromkeys(".,:; ", 0.33), "-": 0.37, "%": 0.96}
_WIDE_EMS = 0.8


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


def label_width(text: str) -> float:
    """A generous estimate of ``text``'s width in viewBox units at the largest axis font size."""
    return AXIS_FONT_UNITS * sum(_CHAR_EMS.get(char, _WIDE_EMS) for char in text)


def format_usd_tick(micros: int) -> str:
    """Money on an axis: thousands of dollars as "$12.5k", so the labels stay short."""
    if abs(micros) < 1_000_000_000:
        return format_usd(micros)
    sign = "-" if micros < 0 else ""
    return f"{sign}${abs(micros) / 1_000_000_000:,.4g}k"


_NICE_FACTORS = (1, 2, 2.5, 5, 10)
#: At most this many steps between grid lines: their labels must not touch on a phone.
_MOST_STEPS = 5


def _nice_step(at_least: float) -> int:
    """The least of 1, 2, 2.5 and 5 times a power of ten that is at least ``at_least`` (>= 1)."""
    magnitude = 10.0 ** max(math.floor(math.log10(max(at_least, 1))), 0)
    return round(next(f * magnitude for f in _NICE_FACTORS if at_least <= f * magnitude))


def axis_ticks(lowest: int, highest: int, least_top: int) -> list[int]:
    """Round, evenly spaced values from at most ``min(lowest, 0)`` to at least
    ``max(highest, least_top)``, zero among them. (An empty chart gets a readable axis up to
    ``least_top``, not "<$0.0001".)"""
    bottom, top = min(lowest, 0), max(highest, least_top)
    step = _nice_step((top - bottom) / 4)
    while True:
        low, high = math.floor(bottom / step) * step, math.ceil(top / step) * step
        if (high - low) // step <= _MOST_STEPS:
            return list(range(low, high + 1, step))
        step = _nice_step(step + 1)


def _frame(title: str, desc: str, body: list[str], chart_id: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


@dataclass(frozen=True, slots=True)
class _Plot:
    """Where the data goes inside the chart: the margins leave room for the axis labels."""

    left: float
    low: int
    high: int
    slots: int

    @property
    def width(self) -> float:
        return WIDTH - _RIGHT - self.left

    @property
    def slot(self) -> float:
        return self.width / max(self.slots, 1)

    def x(self, index: int) -> float:
        return self.left + self.slot * (index + 0.5)

    def y(self, value: float) -> float:
        plot_h = HEIGHT - _TOP - _BOTTOM
        return _TOP + plot_h - plot_h * (value - self.low) / (self.high - self.low)


def _labelled_indexes(labels: Sequence[str], plot_width: float) -> list[int]:
    """The first, middle and last buckets, or as many of them as fit side by side."""
    if not labels:
        return []
    widest = max(label_width(label) for label in labels) + 2 * _GAP
    chosen = sorted({0, len(labels) // 2, len(labels) - 1})
    if len(chosen) * widest > plot_width:
        chosen = sorted({0, len(labels) - 1})
    if len(chosen) * widest > plot_width:
        chosen = [len(labels) - 1]
    return chosen


def _axes(ticks: Sequence[int], labels: Sequence[str], fmt: Callable[[int], str]) -> tuple[list[str], _Plot]:
    """Grid lines at ``ticks`` with their values, and labelled ticks under the first, middle and
    last buckets; returns the SVG parts and the plot they frame. The left margin fits the widest
    value label; each x label is centred on its tick but kept inside the chart, so the end ones
    may lean inwards."""
    y_labels = [fmt(value) for value in ticks]
    plot = _Plot(
        left=max(label_width(label) for label in y_labels) + 2 * _GAP,
        low=ticks[0],
        high=ticks[-1],
        slots=len(labels),
    )
    parts = []
    for value, label in zip(ticks, y_labels, strict=True):
        y = plot.y(value)
        parts.append(
            f'<line class="grid" x1="{plot.left:.1f}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="axis" x="{plot.left - _GAP:.1f}" y="{y:.1f}" text-anchor="end" '
            f'dominant-baseline="central">{escape(label)}</text>'
        )
    bottom = HEIGHT - _BOTTOM
    for index in _labelled_indexes(labels, plot.width):
        x = plot.x(index)
        half = label_width(labels[index]) / 2
        centre = min(max(x, half + 1), WIDTH - half - 1)
        parts.append(f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 5}"/>')
        parts.append(
            f'<text class="axis" x="{centre:.1f}" y="{HEIGHT - 7}" text-anchor="middle">{escape(labels[index])}</text>'
        )
    return parts, plot


def line_chart(
    chart_id: str, title: str, desc: str, labels: Sequence[str], series: Sequence[Series]
) -> Markup:
    """Lines over time (money), one per series, with a dot per bucket."""
    ticks = axis_ticks(0, max((v for s in series for v in s.values), default=0), MIN_AXIS_MICROS)
    parts, plot = _axes(ticks, labels, format_usd_tick)
    for line in series:
        points = " ".join(f"{plot.x(i):.1f},{plot.y(v):.1f}" for i, v in enumerate(line.values))
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
    ticks = axis_ticks(0, max((v for s in series for v in s.values), default=0), least_top)
    parts, plot = _axes(ticks, labels, fmt)
    for line in series:
        points = " ".join(f"{plot.x(i):.1f},{plot.y(v):.1f}" for i, v in enumerate(line.values))
        parts.append(f'<polyline class="line {line.css_class}" points="{points}"/>')
    return _frame(title, desc, parts, chart_id)


def bar_chart(chart_id: str, title: str, desc: str, labels: Sequence[str], values: Sequence[int]) -> Markup:
    """Bars over time (money); negative values hang below the zero line."""
    ticks = axis_ticks(min(values, default=0), max(values, default=0), MIN_AXIS_MICROS)
    parts, plot = _axes(ticks, labels, format_usd_tick)
    zero = plot.y(0)
    for i, value in enumerate(values):
        if value == 0:
            continue
        y = min(plot.y(value), zero)
        kind = "bar" if value > 0 else "bar negative"
        parts.append(
            f'<rect class="{kind}" x="{plot.x(i) - plot.slot * 0.35:.1f}" y="{y:.1f}" '
            f'width="{plot.slot * 0.7:.1f}" height="{abs(plot.y(value) - zero):.1f}"/>'
        )
    parts.append(
        f'<line class="zero" x1="{plot.left:.1f}" x2="{WIDTH - _RIGHT}" y1="{zero:.1f}" y2="{zero:.1f}"/>'
    )
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
