"""billing_project.charts: SVG bar charts drawn on the server (no database needed)."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from billing_project.charts import Point, axis_ticks, bar_chart, compact_number, nice_step

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg) -> ET.Element:
    return ET.fromstring(str(svg))  # raises on anything that is not well-formed XML


def bars(root: ET.Element) -> list[ET.Element]:
    return [rect for rect in root.iter(f"{SVG}rect") if rect.get("class") == "bar"]


def texts(root: ET.Element, cls: str | None = None) -> list[str]:
    return [node.text or "" for node in root.iter(f"{SVG}text") if cls is None or node.get("class") == cls]


def x_labels(root: ET.Element) -> list[str]:
    return [node.text for node in root.iter(f"{SVG}text") if node.get("text-anchor") == "middle"]


def baseline(root: ET.Element) -> float:
    axes = [line for line in root.iter(f"{SVG}line") if line.get("class") == "axis"]
    return max(float(line.get("y2")) for line in axes)


@pytest.mark.parametrize(
    "at_least, step",
    [(0, 1), (1, 1), (2, 2), (3, 5), (5, 5), (6, 10), (11, 20), (21, 50), (51, 100), (2 * 10**11, 2 * 10**11)],
)
def test_nice_steps_are_1_2_or_5_times_a_power_of_ten(at_least, step):
    assert nice_step(at_least) == step


@pytest.mark.parametrize(
    "largest, ticks",
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (7, [0, 2, 4, 6, 8]),
        (10, [0, 2, 4, 6, 8, 10]),
        (101, [0, 50, 100, 150]),
        (10_000, [0, 2000, 4000, 6000, 8000, 10_000]),
        (10**12, [index * 2 * 10**11 for index in range(6)]),
    ],
)
def test_axis_ticks_reach_the_largest_value_in_at_most_five_nice_steps(largest, ticks):
    assert axis_ticks(largest) == ticks


@pytest.mark.parametrize("largest", [1, 3, 9, 99, 12_345, 987_654_321, 10**12 + 1, 7 * 10**15])
def test_axis_ticks_are_nice_and_cover_the_largest_value(largest):
    ticks = axis_ticks(largest)
    step = ticks[1]

    assert ticks[0] == 0 and ticks[-1] >= largest > ticks[-2]
    assert len(ticks) - 1 <= 5
    assert str(step).rstrip("0") in {"1", "2", "5"}
    assert ticks == [step * index for index in range(len(ticks))]


@pytest.mark.parametrize(
    "value, text",
    [
        (0, "0"),
        (950, "950"),
        (1000, "1k"),
        (2500, "2.5k"),
        (12_000_000, "12M"),
        (1_250_000_000, "1.25B"),
        (10**12, "1T"),
    ],
)
def test_compact_numbers_are_exact(value, text):
    assert compact_number(value) == text


def test_a_chart_is_valid_svg_labelled_for_screen_readers():
    svg = bar_chart([("1 Mar", 120), ("2 Mar", 80)], title="Tokens per day", unit="tokens", id_prefix="usage")
    root = parse(svg)

    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "usage-title usage-desc"
    assert root.find(f"{SVG}title").get("id") == "usage-title"
    assert root.find(f"{SVG}title").text == "Tokens per day"
    assert root.find(f"{SVG}desc").get("id") == "usage-desc"
    assert root.find(f"{SVG}desc").text == "2 bars, 1 Mar to 2 Mar. Highest: 120 tokens (1 Mar)."
    assert root.get("viewBox") == "0 0 720 240"
    assert "<script" not in svg and "style=" not in svg


def test_bar_heights_are_proportional_to_the_values():
    root = parse(bar_chart([("a", 100), ("b", 50), ("c", 25), ("d", 0)], title="t", unit="u"))
    heights = [float(rect.get("height")) for rect in bars(root)]

    assert len(heights) == 3  # 0 draws no bar
    assert heights[0] == pytest.approx(2 * heights[1], abs=0.2)
    assert heights[0] == pytest.approx(4 * heights[2], abs=0.2)
    for rect in bars(root):  # every bar stands on the x axis
        assert float(rect.get("y")) + float(rect.get("height")) == pytest.approx(baseline(root))


def test_bars_are_measured_on_the_axis_ticks():
    """The axis tops at 150 for a largest value of 120: a bar of 120 is 80% of the plot."""
    root = parse(bar_chart([("a", 120)], title="t", unit="u", height=240))
    plot = baseline(root) - 24  # the frame's top margin

    assert texts(root)[1:] == ["0", "50", "100", "150", "a"]
    assert float(bars(root)[0].get("height")) == pytest.approx(plot * 120 / 150, abs=0.1)


def test_the_reference_line_is_drawn_at_its_value_and_extends_the_axis():
    root = parse(
        bar_chart([("a", 40), ("b", 60)], title="t", unit="tokens", reference_line=1000, reference_label="Included")
    )
    line = next(line for line in root.iter(f"{SVG}line") if line.get("class") == "reference")
    top = min(float(node.get("y1")) for node in root.iter(f"{SVG}line") if node.get("class") == "grid")

    assert float(line.get("y1")) == pytest.approx(top)  # 1000 is the axis' top tick
    assert texts(root, "reference-label") == ["Included: 1k"]
    assert "Included: 1,000 tokens, drawn as a line; 0 above it." in root.find(f"{SVG}desc").text


def test_every_text_is_escaped():
    hostile = '<script>alert("x")</script> & </svg>'
    svg = bar_chart(
        [Point(hostile, 5, detail=hostile)], title=hostile, unit="<b>u</b>", reference_line=3, reference_label=hostile
    )
    root = parse(svg)

    assert "<script" not in svg and "</svg> &" not in svg
    assert root.find(f"{SVG}title").text == hostile
    assert hostile in root.find(f"{SVG}desc").text
    assert x_labels(root) == [hostile]
    assert bars(root)[0].find(f"{SVG}title").text == f"{hostile}: 5 <b>u</b>"


def test_text_xml_cannot_carry_is_dropped():
    root = parse(bar_chart([("a\x00b\x1f", 1)], title="t\x08", unit="u\ufffe"))

    assert root.find(f"{SVG}title").text == "t"
    assert x_labels(root) == ["ab"]


def test_no_point_draws_the_axes_and_says_so():
    root = parse(bar_chart([], title="Tokens", unit="tokens", empty_text="No usage yet"))

    assert bars(root) == []
    assert texts(root, "empty") == ["No usage yet"]
    assert root.find(f"{SVG}desc").text == "No data."


def test_one_point():
    root = parse(bar_chart([("5 Mar", 7)], title="t", unit="u"))

    assert len(bars(root)) == 1
    assert x_labels(root) == ["5 Mar"]
    assert root.find(f"{SVG}desc").text == "1 bar, 5 Mar. Highest: 7 u (5 Mar)."


def test_all_zero_points_draw_no_bar_on_an_axis_of_one():
    root = parse(bar_chart([("a", 0), ("b", 0)], title="t", unit="u"))

    assert bars(root) == []
    assert "All 0 u." in root.find(f"{SVG}desc").text


def test_400_points_get_thin_bars_and_thinned_labels_that_do_not_overlap():
    points = [(f"{index % 28 + 1} Mar", index) for index in range(400)]
    root = parse(bar_chart(points, title="t", unit="u"))
    rects = bars(root)
    labels = [node for node in root.iter(f"{SVG}text") if node.get("text-anchor") == "middle"]

    assert len(rects) == 399  # the first is 0
    assert all(0 < float(rect.get("width")) < 2 for rect in rects)
    xs = [float(rect.get("x")) for rect in rects]
    assert xs == sorted(xs)
    assert float(rects[-1].get("x")) + float(rects[-1].get("width")) <= 720
    assert 5 <= len(labels) < 400
    centres = [float(label.get("x")) for label in labels]
    assert min(b - a for a, b in itertools.pairwise(centres)) >= len("28 Mar") * 6


def test_huge_values_are_drawn_and_labelled():
    root = parse(bar_chart([("a", 10**12), ("b", 5 * 10**11), ("c", 1)], title="t", unit="tokens"))
    heights = [float(rect.get("height")) for rect in bars(root)]

    assert "1T" in texts(root)
    assert heights[0] == pytest.approx(2 * heights[1], abs=0.2)
    assert heights[2] == 1  # above 0 stays visible
    assert "Highest: 1,000,000,000,000 tokens (a)." in root.find(f"{SVG}desc").text


def test_a_given_description_replaces_the_summary():
    root = parse(bar_chart([("a", 1)], title="t", unit="u", description="Tokens per day: 1 in all."))

    assert root.find(f"{SVG}desc").text == "Tokens per day: 1 in all."


@pytest.mark.parametrize("value", [-1, 1.5, Decimal("2"), "3", True])
def test_a_value_is_a_whole_number_at_least_zero(value):
    with pytest.raises((TypeError, ValueError)):
        bar_chart([("a", value)], title="t", unit="u")


def test_a_chart_too_small_to_draw_in_is_refused():
    with pytest.raises(ValueError, match="no room"):
        bar_chart([("a", 1)], title="t", unit="u", width=60, height=60)


def test_ids_are_kept_to_safe_characters():
    root = parse(bar_chart([("a", 1)], title="t", unit="u", id_prefix='9"><x'))

    assert root.get("aria-labelledby") == "chart-9x-title chart-9x-desc"
