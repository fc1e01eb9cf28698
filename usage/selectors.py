"""Reads over usage: period totals from the daily rollups, history, limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Max, Sum

from plans.catalogue import catalogue
from plans.selectors import plan_id_for_organization

from .models import DailyUsage, UsageCutoff, UsageUniqueValue


@dataclass(frozen=True)
class ServiceContext:
    plan_id: str | None
    usage_closed_before: float | None  # epoch seconds
    period_anchor: float | None  # epoch seconds


def quota_anchor(*, organization_id) -> datetime | None:
    """Where the organization's monthly quota windows are counted from (None: calendar months)."""
    from subscriptions.selectors import entitled_subscription

    subscription = entitled_subscription(organization_id=organization_id)
    return subscription.billing_anchor if subscription else None


def service_context(*, organization_id) -> ServiceContext:
    """What the service endpoints need to know about an organization (cached with its keys)."""
    cutoff = UsageCutoff.objects.filter(organization_id=organization_id).values_list("closed_before", flat=True).first()
    anchor = quota_anchor(organization_id=organization_id)
    return ServiceContext(
        plan_id=plan_id_for_organization(organization_id=organization_id),
        usage_closed_before=cutoff.timestamp() if cutoff else None,
        period_anchor=anchor.timestamp() if anchor else None,
    )


def usage_closed_before(*, organization_id) -> datetime | None:
    return UsageCutoff.objects.filter(organization_id=organization_id).values_list("closed_before", flat=True).first()


def usage_totals(*, organization_id, start: date, end: date, metric_codes=None) -> dict[str, int]:
    """Each metric's aggregate over the days [start, end), from the rollups.

    sum: total quantity; count: number of events; max: the largest quantity;
    unique_count: distinct values over the whole period (not a sum of daily counts).
    """
    return usage_totals_many(organization_ids=[organization_id], start=start, end=end, metric_codes=metric_codes)[
        str(organization_id)
    ]


def usage_totals_many(*, organization_ids, start: date, end: date, metric_codes=None) -> dict[str, dict[str, int]]:
    """`usage_totals` of many organizations over the same days, in one query per kind of
    aggregation (the billing cycle rates thousands of periods at once)."""
    metrics = catalogue().metrics_by_code
    wanted = {code: metrics[code] for code in (metric_codes or metrics) if code in metrics}
    org_ids = [str(org_id) for org_id in organization_ids]
    totals = {org_id: dict.fromkeys(wanted, 0) for org_id in org_ids}
    by_id = {info.id: info for info in wanted.values()}
    rows = (
        DailyUsage.objects.filter(organization_id__in=org_ids, day__gte=start, day__lt=end, metric_id__in=list(by_id))
        .values("organization_id", "metric_id")
        .annotate(total=Sum("quantity"), events=Sum("event_count"), largest=Max("max_quantity"))
    )
    for row in rows:
        info = by_id[str(row["metric_id"])]
        value = {"sum": row["total"], "count": row["events"], "max": row["largest"]}.get(info.aggregation)
        if value is not None:
            totals[str(row["organization_id"])][info.code] = value
    unique_ids = [info.id for info in wanted.values() if info.aggregation == "unique_count"]
    if unique_ids:
        distinct = (
            UsageUniqueValue.objects.filter(
                organization_id__in=org_ids, day__gte=start, day__lt=end, metric_id__in=unique_ids
            )
            .values("organization_id", "metric_id")
            .annotate(n=Count("value", distinct=True))
        )
        for row in distinct:
            totals[str(row["organization_id"])][by_id[str(row["metric_id"])].code] = row["n"]
    return totals


def daily_series(*, organization_id, start: date, end: date) -> dict[date, dict[str, int]]:
    """Per day in [start, end): each metric's value that day (unique_count: that day's distinct count)."""
    metrics = {info.id: info for info in catalogue().metrics_by_code.values()}
    series: dict[date, dict[str, int]] = {}
    rows = DailyUsage.objects.filter(organization_id=organization_id, day__gte=start, day__lt=end).values(
        "day", "metric_id", "quantity", "event_count", "max_quantity", "unique_count"
    )
    for row in rows:
        info = metrics.get(str(row["metric_id"]))
        if info is None:
            continue
        value = {
            "sum": row["quantity"],
            "count": row["event_count"],
            "max": row["max_quantity"],
            "unique_count": row["unique_count"],
        }[info.aggregation]
        series.setdefault(row["day"], {})[info.code] = value
    return series


def _month_bounds(day: date) -> tuple[date, date]:
    start = day.replace(day=1)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def usage_overview(*, organization_id, period: str, now: datetime, with_series: bool) -> dict:
    """`GET /usage`: a quota period's totals per metric against the plan's included quantities.

    `current_month` is the quota period containing now (counted from the subscription's
    billing anchor, or the calendar month without one); `previous_month` the one before.
    """
    from plans.selectors import plan_terms_for_organization

    from .periods import quota_period

    anchor = quota_anchor(organization_id=organization_id)
    start_at, end_at = quota_period(anchor=anchor, at=now)
    if period == "previous_month":
        start_at, end_at = quota_period(anchor=anchor, at=start_at - timedelta(seconds=1))
    start, end = start_at.date(), end_at.date()
    plan = plan_terms_for_organization(organization_id=organization_id)
    totals = usage_totals(organization_id=organization_id, start=start, end=end)
    metrics = {}
    for code, info in catalogue().metrics_by_code.items():
        charge = plan.charges.get(code) if plan else None
        included = charge.included if charge else None
        used = totals.get(code, 0)
        metrics[code] = {
            "used": used,
            "included": included,
            "remaining": None if included is None else max(included - used, 0),
            "unit": info.unit,
            "policy": charge.policy if charge else None,
        }
    overview = {
        "period_start": start_at,
        "period_end": end_at,
        "plan": {"id": plan.id, "code": plan.code, "name": plan.name} if plan else None,
        "tokens_used": totals.get("tokens", 0),
        "requests_made": totals.get("requests", 0),
        "quota": {
            "tokens": metrics.get("tokens", {}).get("included"),
            "requests": metrics.get("requests", {}).get("included"),
        },
        "metrics": metrics,
    }
    if with_series:
        series = daily_series(organization_id=organization_id, start=start, end=end)
        last = min(end, now.date() + timedelta(days=1))
        overview["series"] = [
            {"date": start + timedelta(days=offset), "metrics": series.get(start + timedelta(days=offset), {})}
            for offset in range((last - start).days)
        ]
    return overview


def usage_history(*, organization_id, start: date, end: date, granularity: str) -> list[dict]:
    """`GET /usage/history`: one point per day (or month) in [start, end], oldest first.

    Monthly points sum daily values for sum and count metrics, take the largest for max
    metrics, and count distinct values over the month for unique_count metrics.
    """
    stop = end + timedelta(days=1)
    if granularity == "daily":
        series = daily_series(organization_id=organization_id, start=start, end=stop)
        days = (start + timedelta(days=offset) for offset in range((stop - start).days))
        points = [(day, series.get(day, {})) for day in days]
    else:
        points = []
        month_start = start.replace(day=1)
        while month_start < stop:
            month_first, month_end = _month_bounds(month_start)
            window_start, window_end = max(month_first, start), min(month_end, stop)
            points.append(
                (month_first, usage_totals(organization_id=organization_id, start=window_start, end=window_end))
            )
            month_start = month_end
    return [
        {
            "date": day,
            "tokens_used": values.get("tokens", 0),
            "requests_made": values.get("requests", 0),
            "metrics": {code: value for code, value in values.items() if value},
        }
        for day, values in points
    ]


def usage_limits(*, organization_id) -> dict:
    """`GET /usage/limits`: the plan's included quantities per month."""
    from plans.selectors import plan_terms_for_organization

    plan = plan_terms_for_organization(organization_id=organization_id)
    limits = {f"{code}_monthly": charge.included for code, charge in (plan.charges.items() if plan else [])}
    return {"plan": {"id": plan.id, "code": plan.code, "name": plan.name} if plan else None, "limits": limits}
