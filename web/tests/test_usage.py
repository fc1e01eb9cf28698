"""The usage history page (/account/usage) and its CSV (/account/usage.csv): the numbers of
GET /usage/history, drawn as an SVG chart and a table, for every member on every plan."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET

import pytest

from apikeys.tests.factories import APIKeyFactory
from billing_project.testing import assert_ok
from billing_project.tests.world import iso, service_client, subscribe, utc
from organizations.models import Role
from plans.tests.factories import BillableMetricFactory, PlanChargeFactory
from usage.testing import record_usage

from .conftest import site_client

pytestmark = pytest.mark.django_db

PAGE = "/account/usage"
CSV = "/account/usage.csv"
SVG = "{http://www.w3.org/2000/svg}"
NOW = utc(2026, 3, 20, 12)  # a Friday; the Free plan's quota periods are calendar months


@pytest.fixture
def reported(team, clock):
    """The team (Free plan, no subscription) with tokens on three days and requests today:
    today's through the API key endpoint, the older ones as ingestion stores them."""
    clock.move_to(NOW, tick=False)
    record_usage(team.org, "tokens", utc(2026, 2, 10, 9), 4000)
    record_usage(team.org, "tokens", utc(2026, 3, 5, 9), 1234)
    record_usage(team.org, "tokens", utc(2025, 12, 24, 9), 9)
    key = APIKeyFactory(organization=team.org, scopes=["usage:write"])
    service = service_client(key.secret)
    body = {"event_type": "tokens_used", "quantity": 66, "timestamp": iso(utc(2026, 3, 20, 8))}
    assert_ok(service.post("/api/v1/usage/report", body, format="json"), 201)
    for _ in range(3):
        assert_ok(service.post("/api/v1/usage/report", {"event_type": "api_call"}, format="json"), 201)
    return team


def chart_of(body: str) -> ET.Element:
    match = re.search(r"<svg.*?</svg>", body, re.S)
    assert match, "no chart on the page"
    return ET.fromstring(match.group(0))


def bars(chart: ET.Element) -> list[ET.Element]:
    return [rect for rect in chart.iter(f"{SVG}rect") if rect.get("class") == "bar"]


def table_rows(body: str) -> list[tuple[str, str]]:
    """(the row's <time datetime>, its number) of the page's table."""
    return re.findall(
        r'<th scope="row"><time datetime="([0-9-]+)">[^<]*</time></th><td class="num">([0-9,]+)</td>', body
    )


def csv_of(response) -> list[list[str]]:
    assert response.streaming
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


# --- the page --------------------------------------------------------------------------------


def test_the_page_shows_this_and_the_last_quota_period_day_by_day(reported, site):
    page = site("owner").get(PAGE)

    assert page.status_code == 200
    body = page.content.decode()
    assert "<h1>Usage</h1>" in body
    assert "Tokens per day" in body
    assert "Sun 1 Feb 2026 to Fri 20 Mar 2026" in body  # the quota period before and this one
    rows = dict(table_rows(body))
    assert len(rows) == 28 + 20
    assert (rows["2026-02-10"], rows["2026-03-05"], rows["2026-03-20"], rows["2026-03-19"]) == (
        "4,000",
        "1,234",
        "66",
        "0",
    )
    assert "<dt>Total</dt><dd>5,300 tokens</dd>" in body
    assert "1,300 tokens of 10,000 included (13%)" in body  # this quota period, as GET /usage says
    assert 'href="/account/usage.csv?granularity=daily&amp;metric=tokens&amp;range=periods"' in body
    assert ">Download CSV</a>" in body


def test_the_chart_is_an_svg_image_described_for_screen_readers(reported, site):
    body = site("member").get(PAGE).content.decode()
    chart = chart_of(body)

    assert chart.get("role") == "img"
    assert chart.get("aria-labelledby") == "usage-chart-title usage-chart-desc"
    assert chart.find(f"{SVG}title").text == "Tokens per day"
    assert chart.find(f"{SVG}desc").text == (
        "Tokens per day, Sun 1 Feb 2026 to Fri 20 Mar 2026: 5,300 tokens in all, "
        "highest 4,000 tokens (Tue 10 Feb 2026), 3 of 48 days with usage."
    )
    tooltips = [rect.find(f"{SVG}title").text for rect in bars(chart)]
    assert tooltips == ["Tue 10 Feb 2026: 4,000 tokens", "Thu 5 Mar 2026: 1,234 tokens", "Fri 20 Mar 2026: 66 tokens"]
    heights = [float(rect.get("height")) for rect in bars(chart)]
    assert heights[0] / heights[1] == pytest.approx(4000 / 1234, rel=0.01)
    assert "<script" not in body.split("<svg", 1)[1].split("</svg>", 1)[0]


def test_daily_sums_are_not_drawn_against_the_monthly_allowance(reported, site):
    body = site("owner").get(PAGE).content.decode()

    assert 'class="reference"' not in body
    assert "Your plan includes 10,000 tokens per quota period, counted over the whole period, not per day." in body


def test_monthly_history_of_the_last_12_months_with_the_included_quantity_as_a_line(reported, site):
    body = site("owner").get(PAGE, {"granularity": "monthly"}).content.decode()

    assert "Tokens per month" in body and "Tue 1 Apr 2025 to Fri 20 Mar 2026" in body
    rows = table_rows(body)
    assert [month for month, _value in rows] == [f"2025-{m:02}" for m in range(4, 13)] + [
        "2026-01",
        "2026-02",
        "2026-03",
    ]
    assert dict(rows)["2025-12"] == "9" and dict(rows)["2026-02"] == "4,000" and dict(rows)["2026-03"] == "1,300"
    assert "March 2026 (1 Mar to 20 Mar)" in body  # the month so far
    chart = chart_of(body)
    reference = [line for line in chart.iter(f"{SVG}line") if line.get("class") == "reference"]
    assert len(reference) == 1
    assert "Included in the plan: 10,000 tokens per period, drawn as a line." in chart.find(f"{SVG}desc").text
    assert "The dashed line is the 10,000 tokens your plan includes per quota period." in body


def test_another_metric_and_your_own_dates(reported, site):
    query = {"metric": "requests", "range": "custom", "start_date": "2026-03-18", "end_date": "2026-03-20"}
    body = site("owner").get(PAGE, query).content.decode()

    assert "API requests per day" in body and "Wed 18 Mar 2026 to Fri 20 Mar 2026" in body
    assert table_rows(body) == [("2026-03-18", "0"), ("2026-03-19", "0"), ("2026-03-20", "3")]
    assert 'value="2026-03-18"' in body  # the form keeps the dates asked for
    assert "range=custom&amp;start_date=2026-03-18&amp;end_date=2026-03-20" in body  # and the CSV link


def test_dates_without_a_range_are_your_own_dates(reported, site):
    body = site("owner").get(PAGE, {"start_date": "2026-03-05", "end_date": "2026-03-05"}).content.decode()

    assert table_rows(body) == [("2026-03-05", "1,234")]
    assert '<option value="custom" selected>' in body


def test_a_max_metric_is_drawn_against_its_included_quantity_day_by_day(reported, site, free_plan):
    peak = BillableMetricFactory(code="peak_memory", name="Peak memory", unit="MB", aggregation="max")
    PlanChargeFactory(plan=free_plan, metric=peak, included_quantity=4096, policy="soft", unit_price=0)
    record_usage(reported.org, "peak_memory", utc(2026, 3, 19, 9), 5000)

    body = site("owner").get(PAGE, {"metric": "peak_memory", "range": "30d"}).content.decode()

    assert "Peak memory per day" in body and "<dt>Highest in a day</dt><dd>5,000 MB</dd>" in body
    assert "<dt>Total</dt>" not in body  # the largest of a day is not a sum
    assert 'class="reference"' in body
    assert "1 above it" not in body  # our own summary replaces the generic one
    assert "Included in the plan: 4,096 MB per period, drawn as a line." in body


def test_the_quota_periods_follow_the_subscription_anchor(team, site, pro, clock):
    clock.move_to(NOW, tick=False)
    subscribe(team.org, pro, start=utc(2026, 3, 10, 15))
    record_usage(team.org, "tokens", utc(2026, 3, 9, 9), 70)

    this = site("owner").get(PAGE, {"range": "period"}).content.decode()
    previous = site("owner").get(PAGE, {"range": "previous_period"}).content.decode()

    assert "Tue 10 Mar 2026 to Fri 20 Mar 2026" in this
    assert "Tue 10 Feb 2026 to Tue 10 Mar 2026" in previous
    assert dict(table_rows(previous))["2026-03-09"] == "70"
    assert "of 1,000,000 included" in this  # Pro's tokens


def test_no_usage_shows_an_empty_state(team, site, clock):
    clock.move_to(NOW, tick=False)

    page = site("owner").get(PAGE)

    body = page.content.decode()
    assert page.status_code == 200
    assert "No tokens recorded from Sun 1 Feb 2026 to Fri 20 Mar 2026." in body
    assert "<svg" not in body and "Download CSV" not in body and "<table" not in body


def test_text_of_the_catalogue_is_escaped(reported, site):
    BillableMetricFactory(code="hostile", name='<script>alert("x")</script>', unit="<b>u</b>")
    record_usage(reported.org, "hostile", utc(2026, 3, 20, 9), 5)

    body = site("owner").get(PAGE, {"metric": "hostile"}).content.decode()

    assert "<script>alert" not in body and "<b>u" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; per day" in body
    chart_of(body)  # still well-formed


@pytest.mark.parametrize(
    "query, message",
    [
        ({"granularity": "hourly"}, "Select a valid choice. hourly is not one of the available choices."),
        ({"metric": "nope"}, "Select a valid choice. nope is not one of the available choices."),
        ({"range": "forever"}, "Select a valid choice. forever is not one of the available choices."),
        (
            {"range": "custom", "start_date": "2026-02-30"},
            "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
        ),
        ({"start_date": "2026-03-02", "end_date": "2026-03-01"}, "Must not be after end_date."),
        ({"start_date": "2025-01-01", "end_date": "2026-01-02"}, "At most 366 days of daily history at once."),
    ],
    ids=["granularity", "metric", "range", "impossible date", "start after end", "367 days"],
)
def test_a_bad_query_is_400_with_the_message_on_the_page(reported, site, query, message):
    for path in (PAGE, CSV):
        response = site("owner").get(path, query)

        assert response.status_code == 400
        body = response.content.decode()
        assert message in body
        assert "<svg" not in body and '<form method="get" action="/account/usage"' in body


def test_366_days_of_daily_history_are_allowed(reported, site):
    response = site("owner").get(PAGE, {"start_date": "2025-03-20", "end_date": "2026-03-20"})

    assert response.status_code == 200
    assert len(table_rows(response.content.decode())) == 366


@pytest.mark.parametrize("path", [PAGE, CSV])
def test_signed_out_goes_to_the_sign_in_page(client, path):
    response = client.get(path, {"granularity": "monthly"})

    assert response.status_code == 302
    assert response["Location"] == f"/login?next={path}%3Fgranularity%3Dmonthly"


@pytest.mark.parametrize("role", [Role.MEMBER, Role.BILLING, Role.ADMIN])
def test_every_role_may_view_and_download(reported, site, role):
    page = site(role).get(PAGE)
    download = site(role).get(CSV)

    assert page.status_code == 200 and "4,000" in page.content.decode()
    assert download.status_code == 200 and [
        "2026-02-10",
        "2026-02-10",
        "2026-02-10",
        "tokens",
        "4000",
        "token",
    ] in csv_of(download)


def test_another_organizations_usage_never_shows(reported, other_team, site):
    record_usage(other_team.org, "tokens", utc(2026, 3, 19, 9), 777_777)
    owner = reported.users[Role.OWNER]

    own = site("owner").get(PAGE).content.decode()
    # The session naming an organization the viewer is not in falls back to their own.
    stranger = site_client(owner, other_team.org)
    foreign_page = stranger.get(PAGE).content.decode()
    foreign_csv = b"".join(stranger.get(CSV, {"metric": "all"}).streaming_content).decode()

    for body in (own, foreign_page, foreign_csv):
        assert "777,777" not in body and "777777" not in body
    assert "Someone Else Ltd" not in foreign_page


def test_the_free_plan_sees_its_history_on_the_page_and_in_the_api(reported, site, free_plan):
    assert free_plan.features["usage_history"] is False

    page = site("member").get(PAGE)
    api = reported.client(Role.MEMBER).get(
        "/api/v1/usage/history", {"start_date": "2026-03-05", "end_date": "2026-03-05"}
    )

    assert page.status_code == 200 and "1,234" in page.content.decode()
    assert assert_ok(api) == [
        {"date": "2026-03-05", "tokens_used": 1234, "requests_made": 0, "metrics": {"tokens": 1234}}
    ]


def test_the_page_shows_what_the_api_answers(reported, site):
    query = {"granularity": "monthly", "start_date": "2025-12-01", "end_date": "2026-03-20"}
    api = assert_ok(reported.client(Role.OWNER).get("/api/v1/usage/history", {**query, "limit": 100}))
    body = site("owner").get(PAGE, query).content.decode()

    assert [(point["date"][:7], f"{point['tokens_used']:,}") for point in api] == table_rows(body)


# --- the CSV ---------------------------------------------------------------------------------


def test_the_csv_has_the_pages_rows_and_a_named_attachment(reported, site):
    response = site("owner").get(CSV, {"range": "custom", "start_date": "2026-03-04", "end_date": "2026-03-06"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    slug = reported.org.slug
    assert response["Content-Disposition"] == f'attachment; filename="usage-{slug}-2026-03-04-2026-03-06.csv"'
    assert csv_of(response) == [
        ["period", "from", "to", "metric", "quantity", "unit"],
        ["2026-03-04", "2026-03-04", "2026-03-04", "tokens", "0", "token"],
        ["2026-03-05", "2026-03-05", "2026-03-05", "tokens", "1234", "token"],
        ["2026-03-06", "2026-03-06", "2026-03-06", "tokens", "0", "token"],
    ]


def test_the_monthly_csv_of_all_metrics(reported, site):
    query = {"granularity": "monthly", "metric": "all", "start_date": "2026-02-15", "end_date": "2026-03-20"}
    rows = csv_of(site("owner").get(CSV, query))

    assert rows[1:] == [
        ["2026-02", "2026-02-15", "2026-02-28", "requests", "0", "request"],
        ["2026-03", "2026-03-01", "2026-03-20", "requests", "3", "request"],
        ["2026-02", "2026-02-15", "2026-02-28", "tokens", "0", "token"],  # the 10th is before the window
        ["2026-03", "2026-03-01", "2026-03-20", "tokens", "1300", "token"],
    ]


def test_the_default_csv_is_the_default_page(reported, site):
    response = site("owner").get(CSV)

    assert f"usage-{reported.org.slug}-2026-02-01-2026-03-20.csv" in response["Content-Disposition"]
    assert len(csv_of(response)) == 1 + 48


def test_the_csv_cannot_carry_a_formula(reported, site):
    BillableMetricFactory(code="evil", name="Evil", unit='=HYPERLINK("http://x","y")')
    BillableMetricFactory(code="minus", name="Minus", unit="-1+2")
    BillableMetricFactory(code="at", name="At", unit="@SUM(A1)")
    BillableMetricFactory(code="plus", name="Plus", unit="+1")

    rows = csv_of(site("owner").get(CSV, {"metric": "all", "start_date": "2026-03-20", "end_date": "2026-03-20"}))

    units = {row[3]: row[5] for row in rows[1:]}
    assert units["evil"] == '\'=HYPERLINK("http://x","y")'
    assert (units["minus"], units["at"], units["plus"]) == ("'-1+2", "'@SUM(A1)", "'+1")
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_a_month_cut_to_one_day_is_still_a_month_in_the_csv(reported, site):
    query = {"granularity": "monthly", "start_date": "2026-03-05", "end_date": "2026-03-05"}

    rows = csv_of(site("owner").get(CSV, query))

    assert rows[1:] == [["2026-03", "2026-03-05", "2026-03-05", "tokens", "1234", "token"]]
