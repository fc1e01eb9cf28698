"""Usage over time: /account/usage (a chart drawn on the server, a table, a CSV link) and
/account/usage.csv. The numbers are GET /usage/history's (usage.selectors.usage_history)
under its validation rules (usage.serializers.HistoryQuerySerializer); the quota period
and the plan's included quantities are GET /usage's (usage.selectors.usage_overview).
Every member sees it, on every plan, as the API shows it."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, date, timedelta

from django import forms
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.http import urlencode

from billing_project.charts import Point, bar_chart
from plans.catalogue import MetricInfo, catalogue
from plans.models import Aggregation
from usage.periods import quota_period
from usage.selectors import quota_anchor, usage_history, usage_overview
from usage.serializers import HistoryQuerySerializer

from ..context import account_page

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

RANGES = {
    "periods": "This and the last quota period",
    "period": "This quota period",
    "previous_period": "The previous quota period",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "12m": "Last 12 months",
    "custom": "The dates below",
}
DEFAULT_RANGE = {"daily": "periods", "monthly": "12m"}
ALL_METRICS = "all"  # the CSV of every metric
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def plural(unit: str) -> str:
    """A unit as a quantity's unit: token -> tokens; MB and units ending in s stay."""
    return unit if not unit or unit.isupper() or unit.endswith("s") else f"{unit}s"


def day_label(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]}"


def day_detail(day: date) -> str:
    return f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]} {day.year}"


def month_detail(day: date) -> str:
    return f"{MONTH_NAMES[day.month - 1]} {day.year}"


def _month_end(first: date) -> date:
    """The last day of the month starting on `first`."""
    following = date(first.year + 1, 1, 1) if first.month == 12 else date(first.year, first.month + 1, 1)
    return following - timedelta(days=1)


class UsageQueryForm(forms.Form):
    """What the page's GET form asks. The window itself is checked by the API's own
    HistoryQuerySerializer (ISO dates, start <= end, at most 366 daily days)."""

    granularity = forms.ChoiceField(label="Granularity", choices=[("daily", "Daily"), ("monthly", "Monthly")])
    metric = forms.ChoiceField(label="Metric")
    range = forms.ChoiceField(label="Range", choices=list(RANGES.items()))
    start_date = forms.CharField(
        label="From",
        required=False,
        max_length=10,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    end_date = forms.CharField(
        label="To",
        required=False,
        max_length=10,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, data, *, metrics: dict[str, MetricInfo], allow_all: bool = False):
        super().__init__(data)
        choices = [(code, info.name) for code, info in sorted(metrics.items(), key=lambda item: item[1].name)]
        if allow_all:
            choices.append((ALL_METRICS, "All metrics"))
        self.fields["metric"].choices = choices

    @staticmethod
    def default_metric_of(metrics: dict[str, MetricInfo]) -> str:
        if "tokens" in metrics:
            return "tokens"
        return min(metrics.values(), key=lambda info: info.name).code if metrics else ""


@dataclass(frozen=True)
class UsageQuery:
    granularity: str
    metric: str  # a metric code, or ALL_METRICS (the CSV)
    range: str
    start: date
    end: date  # inclusive

    def params(self, **changes) -> dict:
        """The query string that asks for this window again (the CSV link)."""
        values = {"granularity": self.granularity, "metric": self.metric, "range": self.range}
        if self.range == "custom":
            values.update(start_date=f"{self.start}", end_date=f"{self.end}")
        values.update(changes)
        return values


def _window(choice: str, *, organization_id, today: date, current: dict | None) -> tuple[date, date] | None:
    """The days [start, end] of a preset range (None: "custom", the form's dates). `current`:
    GET /usage of this quota period, when the caller has it already."""
    if choice in ("period", "previous_period", "periods"):
        current = current or usage_overview(
            organization_id=organization_id, period="current_month", now=timezone.now(), with_series=False
        )
        this_start = current["period_start"].astimezone(UTC)
        if choice == "period":
            last = (current["period_end"].astimezone(UTC) - timedelta(microseconds=1)).date()
            return this_start.date(), min(last, today)
        # The quota period before, as GET /usage?period=previous_month counts it.
        anchor = quota_anchor(organization_id=organization_id)
        start = quota_period(anchor=anchor, at=this_start - timedelta(microseconds=1))[0].astimezone(UTC).date()
        if choice == "periods":
            return start, today
        return start, (this_start - timedelta(microseconds=1)).date()
    if choice == "30d":
        return today - timedelta(days=29), today
    if choice == "90d":
        return today - timedelta(days=89), today
    if choice == "12m":
        first = today.replace(day=1)
        months_back = first.month - 12  # 11 months before this one
        year, month = (first.year, months_back + 1) if months_back >= 0 else (first.year - 1, months_back + 13)
        return date(year, month, 1), today
    return None


def read_query(
    params, *, organization_id, allow_all: bool = False, current: dict | None = None
) -> tuple[UsageQuery | None, UsageQueryForm]:
    """The page's query (the form's defaults filled in), or None and the form with its errors."""
    metrics = catalogue().metrics_by_code
    data = {name: params.get(name, "") for name in UsageQueryForm.base_fields}
    # The defaults, so that a bare /account/usage shows this quota period, day by day.
    data["granularity"] = data["granularity"] or "daily"
    data["metric"] = data["metric"] or UsageQueryForm.default_metric_of(metrics)
    if not data["range"]:
        dates_given = bool(data["start_date"] or data["end_date"])
        data["range"] = "custom" if dates_given else DEFAULT_RANGE.get(data["granularity"], "period")
    form = UsageQueryForm(data, metrics=metrics, allow_all=allow_all)
    if not form.is_valid():
        return None, form
    data = form.cleaned_data
    granularity, metric, choice = data["granularity"], data["metric"], data["range"]
    today = timezone.now().astimezone(UTC).date()
    window = _window(choice, organization_id=organization_id, today=today, current=current)
    history = {"granularity": granularity}
    if window is None:
        history.update({key: data[key] for key in ("start_date", "end_date") if data[key]})
    else:
        history.update(start_date=f"{window[0]}", end_date=f"{window[1]}")
    checked = HistoryQuerySerializer(data=history)
    if not checked.is_valid():
        for field, errors in checked.errors.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, str(error))
        return None, form
    window_of = checked.validated_data
    query = UsageQuery(granularity, metric, choice, window_of["start"], window_of["end"])
    return query, form


@dataclass(frozen=True)
class Row:
    """One day or month of one metric: its window [start, end] inside the query's."""

    start: date
    end: date
    value: int
    name: str  # Thu 5 Mar 2026, March 2026
    label: str  # under its bar: 5 Mar, Mar 2026
    period: str  # in the CSV: 2026-03-05, 2026-03


def history_rows(query: UsageQuery, *, organization_id) -> list[tuple[date, dict[str, int]]]:
    points = usage_history(
        organization_id=organization_id, start=query.start, end=query.end, granularity=query.granularity
    )
    return [(point["date"], point["metrics"]) for point in points]


def rows_of(points: list[tuple[date, dict[str, int]]], query: UsageQuery, metric_code: str) -> list[Row]:
    rows = []
    for day, values in points:
        value = values.get(metric_code, 0)
        if query.granularity == "daily":
            rows.append(Row(day, day, value, day_detail(day), day_label(day), f"{day}"))
            continue
        start, end = max(day, query.start), min(_month_end(day), query.end)
        partial = (start, end) != (day, _month_end(day))
        name = month_detail(day) + (f" ({day_label(start)} to {day_label(end)})" if partial else "")
        rows.append(Row(start, end, value, name, f"{MONTHS[day.month - 1]} {day.year}", f"{day:%Y-%m}"))
    return rows


def comparable_included(info: MetricInfo, granularity: str, included: int | None) -> int | None:
    """The included quantity drawn on the chart, when a bar is measured against it: a
    month's total (monthly), or a day's value of a metric whose period value is not a sum
    of days (max, unique_count). A day's share of a monthly sum is not drawn."""
    if not included:
        return None
    if granularity == "monthly" or info.aggregation in (Aggregation.MAX, Aggregation.UNIQUE_COUNT):
        return included
    return None


@account_page
def usage_page(request):
    organization = request.organization
    overview = usage_overview(
        organization_id=organization.pk, period="current_month", now=timezone.now(), with_series=False
    )
    query, form = read_query(request.GET, organization_id=organization.pk, current=overview)
    metrics = catalogue().metrics_by_code
    context = {"form": form, "overview": overview}
    if query is None:
        return render(request, "web/usage/page.html", context, status=400)
    info = metrics.get(query.metric)
    this_period = overview["metrics"].get(query.metric)
    rows = rows_of(history_rows(query, organization_id=organization.pk), query, query.metric) if info else []
    unit = plural(info.unit) if info else ""
    included = this_period["included"] if this_period else None
    reference = comparable_included(info, query.granularity, included) if info else None
    values = [row.value for row in rows]
    has_usage = any(values)
    per = "day" if query.granularity == "daily" else "month"
    chart = None
    if has_usage:
        highest = max(rows, key=lambda row: row.value)
        additive = info.aggregation in (Aggregation.SUM, Aggregation.COUNT)
        summary = (
            f"{info.name} per {per}, {rows[0].name} to {rows[-1].name}: "
            + (f"{sum(values):,} {unit} in all, " if additive else "")
            + f"highest {highest.value:,} {unit} ({highest.name}), "
            + f"{sum(1 for value in values if value)} of {len(values)} {per}s with usage."
            + (f" Included in the plan: {reference:,} {unit} per period, drawn as a line." if reference else "")
        )
        chart = bar_chart(
            [Point(row.label, row.value, row.name) for row in rows],
            title=f"{info.name} per {per}",
            unit=unit,
            reference_line=reference,
            reference_label="Included",
            description=summary,
            id_prefix="usage-chart",
        )
    context.update(
        query=query,
        info=info,
        unit=unit,
        rows=rows,
        per=per,
        chart=chart,
        has_usage=has_usage,
        total=sum(values) if info and info.aggregation in (Aggregation.SUM, Aggregation.COUNT) else None,
        highest=max(values, default=0),
        this_period=this_period,
        reference=reference,
        range_text=f"{day_detail(query.start)} to {day_detail(query.end)}",
        included=included,
        csv_query=urlencode(query.params()),
        csv_all_query=urlencode(query.params(metric=ALL_METRICS)),
    )
    return render(request, "web/usage/page.html", context)


class _Echo:
    """What csv.writer writes to: each row comes back as a string to stream."""

    def write(self, value: str) -> str:
        return value


def safe_cell(value):
    """A cell a spreadsheet shows as text, never runs: text starting with = + - @ (or a
    tab or carriage return) gets a leading apostrophe. Numbers are left as numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


def csv_lines(query: UsageQuery, points, *, metrics: dict[str, MetricInfo]):
    """The CSV's lines: a header, then each metric's days (or months), oldest first."""
    writer = csv.writer(_Echo())
    yield writer.writerow(["period", "from", "to", "metric", "quantity", "unit"])
    codes = sorted(metrics) if query.metric == ALL_METRICS else [query.metric]
    for code in codes:
        info = metrics[code]
        for row in rows_of(points, query, code):
            cells = [row.period, f"{row.start}", f"{row.end}", code, row.value, info.unit]
            yield writer.writerow([safe_cell(cell) for cell in cells])


@account_page
def usage_csv(request):
    organization = request.organization
    query, form = read_query(request.GET, organization_id=organization.pk, allow_all=True)
    metrics = catalogue().metrics_by_code
    if query is None:  # the page, with the form and what is wrong with the query
        return render(request, "web/usage/page.html", {"form": form}, status=400)
    points = history_rows(query, organization_id=organization.pk)  # read before the first byte is sent
    response = StreamingHttpResponse(csv_lines(query, points, metrics=metrics), content_type="text/csv; charset=utf-8")
    filename = f"usage-{organization.slug}-{query.start}-{query.end}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


urlpatterns = [
    path("account/usage", usage_page, name="web-usage"),
    path("account/usage.csv", usage_csv, name="web-usage-csv"),
]
