"""Bar charts drawn on the server as inline SVG: readable without JavaScript, described
for screen readers (role="img" labelled by its <title> and <desc>), and safe to embed
(every text is escaped). Pure: no app, model or request in sight, so any page (the
customer's usage history, a staff dashboard) can draw its numbers with it.

Coordinates are computed in integers, in tenths of a user unit, and written with one
decimal: no float rounding decides where a bar ends. The y axis runs from 0 to a "nice"
top (a multiple of 1, 2 or 5 x 10^n) with at most five intervals; the x labels are
thinned so that they never overlap, however many bars there are.

    svg = bar_chart([("1 Mar", 120), ("2 Mar", 80)], title="Tokens per day", unit="tokens",
                    reference_line=10_000, reference_label="Included")
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

__all__ = ["Point", "axis_ticks", "bar_chart", "compact_number", "nice_step"]

TENTHS = 10  # coordinates are integers in tenths of a user unit
CHAR_WIDTH = 7  # user units per character of an 11-unit font, a little generous
FONT_SIZE = 11
MOST_INTERVALS = 5  # of the y axis

# Colours, for a chart shown without the site's stylesheet (which overrides them through
# the classes chart, bar, grid, axis and reference). Each has 4.5:1 or more on white.
INK = "#4d5666"
BAR = "#1d4ed8"
LINE = "#d5dae3"
REFERENCE = "#92400e"

# What XML 1.0 cannot carry at all (control characters, lone surrogates, non-characters).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NOT_ID = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class Point:
    """One bar: its `label` under the x axis (short: "5 Mar"), its `value` (a whole number
    >= 0) and its `detail`, the longer name read in its tooltip and in the summary
    ("Thursday 5 March 2026"; default: the label)."""

    label: str
    value: int
    detail: str = ""

    @property
    def name(self) -> str:
        return self.detail or self.label


def nice_step(at_least: int) -> int:
    """The smallest 1, 2 or 5 x 10^n that is >= `at_least` (1 for anything below 1)."""
    magnitude = 1
    while True:
        for multiple in (1, 2, 5):
            if multiple * magnitude >= at_least:
                return multiple * magnitude
        magnitude *= 10


def axis_ticks(largest: int, *, most: int = MOST_INTERVALS) -> list[int]:
    """The y axis' ticks from 0 to the first multiple of a nice step that reaches `largest`,
    with at most `most` intervals: 7 -> [0, 2, 4, 6, 8], 10**12 -> [0, 2*10**11, ..., 10**12].
    Nothing to show (0) still gets an axis: [0, 1]."""
    largest = max(largest, 1)
    step = nice_step(-(-largest // most))
    intervals = -(-largest // step)
    return [step * index for index in range(intervals + 1)]


def compact_number(value: int) -> str:
    """A whole number in a few characters, exactly: 950, 2.5k, 12M, 1.25B, 3T (an axis
    label; the tooltips and the summary say it in full)."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    for size, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "k")):
        if value >= size:
            whole, rest = divmod(value, size)
            if not rest:
                return f"{sign}{whole}{suffix}"
            decimals = str(rest).rjust(len(str(size)) - 1, "0").rstrip("0")
            return f"{sign}{whole}.{decimals}{suffix}"
    return f"{sign}{value}"


def _text(value: object) -> str:
    """Text made fit for XML and escaped for HTML and XML alike."""
    return str(escape(_NOT_XML.sub("", str(value))))


def _n(tenths: int) -> str:
    """A coordinate in tenths, written in user units: 123 -> "12.3", 120 -> "12"."""
    whole, rest = divmod(tenths, TENTHS)
    return str(whole) if not rest else f"{whole}.{rest}"


def _points(points: Iterable[Point | tuple[str, int]]) -> list[Point]:
    parsed = []
    for point in points:
        if not isinstance(point, Point):
            point = Point(*point)
        if isinstance(point.value, bool) or not isinstance(point.value, int):
            raise TypeError(f"A bar's value is a whole number, not {point.value!r}.")
        if point.value < 0:
            raise ValueError(f"A bar's value is >= 0, not {point.value}.")
        parsed.append(point)
    return parsed


def _summary(points: list[Point], *, unit: str, reference_line: int | None, reference_label: str) -> str:
    if not points:
        return "No data."
    first, last = points[0], points[-1]
    highest = max(points, key=lambda point: point.value)  # the first of equals
    parts = [
        f"{len(points)} bar{'s' if len(points) != 1 else ''}"
        + (f", {first.name} to {last.name}." if len(points) > 1 else f", {first.name}.")
    ]
    if highest.value:
        parts.append(f"Highest: {highest.value:,} {unit} ({highest.name}).")
    else:
        parts.append(f"All 0 {unit}.")
    if reference_line is not None:
        over = sum(1 for point in points if point.value > reference_line)
        parts.append(f"{reference_label}: {reference_line:,} {unit}, drawn as a line; {over} above it.")
    return " ".join(parts)


def bar_chart(
    points: Sequence[Point | tuple[str, int]],
    *,
    title: str,
    unit: str,
    reference_line: int | None = None,
    reference_label: str = "Limit",
    description: str | None = None,
    empty_text: str = "No data",
    id_prefix: str = "chart",
    width: int = 720,
    height: int = 240,
) -> SafeString:
    """An SVG bar chart of `points` (label, value) left to right, on a y axis in `unit`
    from 0 to a nice top, with `reference_line` (e.g. an included quantity) drawn across
    when given. `description` replaces the generated summary (bars, range, highest, the
    line) read by screen readers; `id_prefix` keeps the ids of its <title> and <desc>
    unique when a page has several charts. No point: the axes and `empty_text`."""
    bars = _points(points)
    if reference_line is not None and reference_line < 0:
        raise ValueError("A reference line is >= 0.")
    prefix = _NOT_ID.sub("", id_prefix) or "chart"
    if not prefix[0].isalpha():
        prefix = f"chart-{prefix}"
    largest = max([point.value for point in bars] + [reference_line or 0])
    ticks = axis_ticks(largest)
    top_value = ticks[-1]
    tick_labels = [compact_number(tick) for tick in ticks]
    x_labels = [_NOT_XML.sub("", point.label) for point in bars]

    # The frame, in user units: room for the unit above the axis, the tick labels at its
    # left, the x labels below, and half of the first and last x label at either end.
    first_half = (len(x_labels[0]) * CHAR_WIDTH) // 2 if bars else 0
    last_half = (len(x_labels[-1]) * CHAR_WIDTH) // 2 if bars else 0
    left = max(max(len(label) for label in tick_labels) * CHAR_WIDTH + 10, first_half + 4, 24)
    right = max(last_half + 4, 12)
    top, bottom = 24, 26
    if width - left - right < 40 or height - top - bottom < 40:
        raise ValueError(f"A chart of {width}x{height} has no room to draw in.")
    x0, x1 = left * TENTHS, (width - right) * TENTHS
    y0, y1 = top * TENTHS, (height - bottom) * TENTHS  # y1: the baseline
    plot_width, plot_height = x1 - x0, y1 - y0

    title_id, desc_id = f"{prefix}-title", f"{prefix}-desc"
    summary = (
        description
        if description is not None
        else _summary(bars, unit=unit, reference_line=reference_line, reference_label=reference_label)
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-labelledby="{title_id} {desc_id}" '
        f'font-family="system-ui, sans-serif" font-size="{FONT_SIZE}">',
        f'<title id="{title_id}">{_text(title)}</title>',
        f'<desc id="{desc_id}">{_text(summary)}</desc>',
        f'<text class="unit" x="4" y="{top - 12}" fill="{INK}">{_text(unit)}</text>',
    ]

    # The y axis: a grid line and a label per tick.
    for tick, label in zip(ticks, tick_labels, strict=True):
        y = y1 - plot_height * tick // top_value
        out.append(
            f'<line class="grid" x1="{_n(x0)}" y1="{_n(y)}" x2="{_n(x1)}" y2="{_n(y)}" stroke="{LINE}"/>'
            f'<text x="{left - 6}" y="{_n(y + 40)}" text-anchor="end" fill="{INK}">{_text(label)}</text>'
        )

    if not bars:
        out.append(
            f'<text class="empty" x="{_n((x0 + x1) // 2)}" y="{_n((y0 + y1) // 2)}" text-anchor="middle" '
            f'fill="{INK}">{_text(empty_text)}</text>'
        )
    else:
        count = len(bars)
        label_width = (max(len(label) for label in x_labels) * CHAR_WIDTH + 8) * TENTHS
        every = max(1, -(-count * label_width // plot_width))  # the x labels shown: one in `every`
        for index, point in enumerate(bars):
            start = x0 + plot_width * index // count
            end = x0 + plot_width * (index + 1) // count
            slot = end - start
            gap = slot // 5 if slot >= 3 * TENTHS else 0
            bar_height = plot_height * point.value // top_value
            if point.value and bar_height < TENTHS:
                bar_height = TENTHS  # a value above 0 stays visible (one unit high)
            if bar_height:
                out.append(
                    f'<rect class="bar" x="{_n(start + gap // 2)}" y="{_n(y1 - bar_height)}" '
                    f'width="{_n(slot - gap)}" height="{_n(bar_height)}" fill="{BAR}">'
                    f"<title>{_text(point.name)}: {point.value:,} {_text(unit)}</title></rect>"
                )
            if index % every == 0:
                out.append(
                    f'<text x="{_n((start + end) // 2)}" y="{_n(y1 + 160)}" text-anchor="middle" '
                    f'fill="{INK}">{_text(point.label)}</text>'
                )

    if reference_line is not None:
        y = y1 - plot_height * reference_line // top_value
        label = f"{reference_label}: {compact_number(reference_line)}"
        out.append(
            f'<line class="reference" x1="{_n(x0)}" y1="{_n(y)}" x2="{_n(x1)}" y2="{_n(y)}" '
            f'stroke="{REFERENCE}" stroke-width="2" stroke-dasharray="6 4"/>'
            f'<text class="reference-label" x="{_n(x1)}" y="{_n(max(y - 50, 100))}" text-anchor="end" '
            f'fill="{REFERENCE}">{_text(label)}</text>'
        )

    # The axes last, over the bars' feet.
    out.append(
        f'<line class="axis" x1="{_n(x0)}" y1="{_n(y0)}" x2="{_n(x0)}" y2="{_n(y1)}" stroke="{INK}"/>'
        f'<line class="axis" x1="{_n(x0)}" y1="{_n(y1)}" x2="{_n(x1)}" y2="{_n(y1)}" stroke="{INK}"/>'
    )
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - built from escaped text and numbers only
