"""Usage ingestion, quota checks and the usage cutoff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed

from apikeys.authentication import ServicePrincipal, check_not_expired, confirm_principal
from apikeys.authentication import shared_cache_redis_key as principal_redis_key
from billing_project.errors import PermissionDenied, QuotaExceeded, ValidationFailed
from plans.catalogue import PlanTerms, catalogue
from plans.models import Aggregation, Policy
from subscriptions.selectors import quota_anchors

from . import counters
from .context import BillingContext, billing_context_forget, confirm_context
from .context import shared_cache_redis_key as context_redis_key
from .events import MAX_QUANTITY, EventError, ParsedEvent, parse_event
from .ingest import record_events
from .models import DailyUsage, UsageCutoff
from .periods import Buckets, OpenWindow, open_window, quota_period
from .selectors import usage_totals_between

MAX_BATCH = 1000


@dataclass(frozen=True)
class QuotaStatus:
    period_start: datetime
    period_end: datetime
    used: dict[str, int]
    remaining: dict[str, int | None]


def _plan_terms(context: BillingContext) -> PlanTerms | None:
    snapshot = catalogue()
    plan_id = context.plan_id or snapshot.default_plan_id
    return snapshot.plans.get(plan_id) if plan_id else None


def _remaining(plan: PlanTerms | None, used: dict[str, int]) -> dict[str, int | None]:
    if plan is None:
        return {}
    remaining: dict[str, int | None] = {}
    for code, charge in plan.charges.items():
        if charge.included is None:
            remaining[code] = None
        else:
            remaining[code] = max(charge.included - used.get(code, 0), 0)
    return remaining


def _open_window(context: BillingContext, buckets: Buckets) -> OpenWindow:
    """From when the organization may report usage (see usage.periods.open_window)."""
    return open_window(
        closed_before=context.usage_closed_before,
        subscription_started_at=context.subscription_started_at,
        period_start=buckets.start,
        grace_seconds=settings.BILLING_GRACE_SECONDS,
    )


def _db_totals(organization_id, codes, start: datetime, end: datetime) -> dict[str, int]:
    return usage_totals_between(organization_id=organization_id, start=start, end=end, metric_codes=codes)


def _counter_kind(code: str) -> str | None:
    info = catalogue().metrics_by_code.get(code)
    return info.aggregation if info and info.aggregation in counters.COUNTED else None


def quota_status(
    *,
    organization_id,
    plan: PlanTerms | None,
    now: datetime,
    anchor: datetime | None = None,
    known: dict[str, int] | None = None,
    raw_keys: list[str] | None = None,
    raw_out: dict | None = None,
) -> QuotaStatus:
    """Used and remaining quantities of the plan's metrics in the current period.

    With Redis the counters answer, in one round trip that first raises them to `known`
    (metric code -> a period total the database had, from a write just made); missing
    counters are rebuilt from the rollups. Without Redis, or while it is down, the
    rollups answer. `raw_keys` are read in the same Redis call into `raw_out` (left
    empty when Redis did not answer).
    """
    start, end = quota_period(anchor=anchor, at=now)
    codes = sorted(plan.charges) if plan else []
    known = known or {}
    used: dict[str, int] = {}
    from_db: list[str] = [code for code in codes if not _counter_kind(code)]
    counted = [code for code in codes if _counter_kind(code)]
    values = None
    if counters.enabled():
        keyed = {code: counters.key_for(organization_id, code, start) for code in counted}
        operations = [(key, "raise", known[code]) if code in known else (key, "get", 0) for code, key in keyed.items()]
        operations += [(key, "raw", 0) for key in raw_keys or []]
        ttl = counters.ttl_for(end, now)
        values = counters.run(organization_id, operations, ttl=ttl) if operations else {}
        if values is not None:
            if raw_out is not None:
                raw_out.update({key: values.get(key) for key in raw_keys or []})
            for code, key in keyed.items():
                if key in values:
                    used[code] = values[key]
                else:
                    from_db.append(code)
    if values is None:
        from_db = codes
    if from_db:
        totals = _db_totals(organization_id, from_db, start, end)
        used.update(totals)
        rebuilt = [(counters.key_for(organization_id, code, start), "raise", totals[code]) for code in from_db]
        if values is not None:  # Redis answered: rebuild the counters it lacked
            rebuilt = [operation for operation, code in zip(rebuilt, from_db, strict=True) if code in counted]
            if rebuilt:
                counters.run(organization_id, rebuilt, ttl=counters.ttl_for(end, now))
    return QuotaStatus(start, end, used, _remaining(plan, used))


@dataclass(frozen=True)
class ReportResult:
    recorded_at: datetime
    duplicate: bool
    remaining_quota: dict[str, int | None]


def _record(
    principal: ServicePrincipal, context: BillingContext, events: list[ParsedEvent], now: datetime, buckets: Buckets
) -> tuple[list[bool], QuotaStatus]:
    """Store the events, then answer the quota status with the counters raised to the
    period totals the write saw (live keys only; test-mode usage is never counted)."""
    period = (buckets.start, buckets.end)
    recorded = record_events(
        events,
        organization_id=principal.organization_id,
        api_key_id=principal.key_id,
        livemode=principal.livemode,
        received_at=now,
        period=period if principal.livemode and counters.enabled() else None,
        buckets=buckets,
    )
    known: dict[str, int] = {}
    by_id = {info.id: info for info in catalogue().metrics_by_code.values()}
    for metric_id, (quantity, count, largest) in recorded.totals.items():
        info = by_id.get(metric_id)
        if info is not None and info.aggregation in counters.COUNTED:
            known[info.code] = {"sum": quantity, "count": count, "max": largest}[info.aggregation]
    status = quota_status(
        organization_id=principal.organization_id,
        plan=_plan_terms(context),
        now=now,
        anchor=context.period_anchor,
        known=known,
    )
    return recorded.is_new, status


def usage_report(*, principal: ServicePrincipal, context: BillingContext, payload) -> ReportResult:
    """Record one event. A repeated idempotency key is acknowledged and counted once."""
    now = timezone.now()
    buckets = Buckets.around(anchor=context.period_anchor, now=now)
    try:
        event = parse_event(payload, now=now, catalogue=catalogue(), window=_open_window(context, buckets))
    except EventError as exc:
        raise ValidationFailed(f"{exc.field}: {exc.message}", details=exc.as_dict()) from None
    flags, status = _record(principal, context, [event], now, buckets)
    return ReportResult(recorded_at=now, duplicate=not flags[0], remaining_quota=status.remaining)


@dataclass(frozen=True)
class BatchResult:
    processed_count: int
    duplicate_count: int
    failed_count: int
    errors: list[dict]
    remaining_quota: dict[str, int | None]


def usage_batch_report(*, principal: ServicePrincipal, context: BillingContext, events) -> BatchResult:
    """Record up to MAX_BATCH events: the valid ones are kept, each invalid one is
    reported with its index; duplicates (also within the batch) count once."""
    if not isinstance(events, list):
        raise ValidationFailed.for_field("events", "Must be a list of events.")
    if not events:
        raise ValidationFailed.for_field("events", "Send at least one event.")
    if len(events) > MAX_BATCH:
        raise ValidationFailed.for_field("events", f"At most {MAX_BATCH} events per batch; got {len(events)}.")
    now = timezone.now()
    snapshot = catalogue()
    buckets = Buckets.around(anchor=context.period_anchor, now=now)
    window = _open_window(context, buckets)
    parsed: list[ParsedEvent] = []
    errors: list[dict] = []
    for index, raw in enumerate(events):
        try:
            parsed.append(parse_event(raw, now=now, catalogue=snapshot, window=window))
        except EventError as exc:
            errors.append({"index": index, "error": f"{exc.field}: {exc.message}", "field": exc.field})
    if parsed:
        flags, status = _record(principal, context, parsed, now, buckets)
        remaining = status.remaining
    else:
        flags, remaining = [], _remaining(_plan_terms(context), {})
    processed = sum(flags)
    return BatchResult(
        processed_count=processed,
        duplicate_count=len(flags) - processed,
        failed_count=len(errors),
        errors=errors,
        remaining_quota=remaining,
    )


# A quantity asked about is at most the largest one an event may report.
_MAX_QUERY_DIGITS = len(str(MAX_QUANTITY))


def _non_negative_int(params, name: str) -> int | None:
    """A query parameter of ASCII digits only (str.isdigit also takes "²" and "٣"), at most
    MAX_QUANTITY; None when absent or empty."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()):
        raise ValidationFailed.for_field(name, "Must be a whole number >= 0, in ASCII digits.")
    if len(raw.lstrip("0")) > _MAX_QUERY_DIGITS or int(raw) > MAX_QUANTITY:
        raise ValidationFailed.for_field(name, f"Must be at most {MAX_QUANTITY}.")
    return int(raw)


def quota_needs_from_query(params) -> dict[str, int]:
    """`?tokens_needed=&requests_needed=` and/or `?metric=&quantity=` -> metric code -> units.

    Parsed by hand: this is the hottest read path, and a serializer costs more than the check.
    """
    needs: dict[str, int] = {}
    tokens = _non_negative_int(params, "tokens_needed")
    if tokens is not None:
        needs["tokens"] = tokens
    requests = _non_negative_int(params, "requests_needed")
    if requests is not None:
        needs["requests"] = requests
    metric = params.get("metric")
    if metric:
        quantity = _non_negative_int(params, "quantity")
        needs[metric] = needs.get(metric, 0) + (1 if quantity is None else quantity)
    if not needs:
        raise ValidationFailed.for_field("metric", "Give tokens_needed / requests_needed, or metric and quantity.")
    return needs


@dataclass(frozen=True)
class QuotaCheck:
    allowed: bool
    remaining: dict[str, int | None]
    resets_at: datetime


def _confirmed(principal: ServicePrincipal, raw: dict, raw_key: str | None) -> ServicePrincipal:
    """The principal as the shared cache holds it now (see apikeys.authentication)."""
    current = confirm_principal(principal, raw.get(raw_key) if raw_key in raw else None)
    if current is None:
        raise AuthenticationFailed("Invalid or revoked API key.")
    check_not_expired(current)
    if not current.has_scope("usage:read"):
        raise PermissionDenied("This API key lacks the 'usage:read' scope.")
    return current


def quota_check(*, principal: ServicePrincipal, context: BillingContext, needs: dict[str, int]) -> QuotaCheck:
    """Would using `needs` (metric code -> quantity) stay within the plan's hard quotas?

    Only `hard` charges refuse; `soft` ones bill the overage and metrics the plan does
    not charge are unmetered. Refusal is a 429 `quota_exceeded` carrying the remaining
    quantities and when the period resets. A provisional principal or context (this
    process's memory, see usage.context) is confirmed in the same Redis call that reads
    the counters; if either changed, the check runs again with the current ones.
    """
    snapshot = catalogue()
    unknown = sorted(code for code in needs if code not in snapshot.metrics_by_code)
    if unknown:
        raise ValidationFailed.for_field("metric", f"Unknown metric: {', '.join(unknown)}.")
    now = timezone.now()
    principal_key = None if principal.verified else principal_redis_key(principal.key_hash)
    context_key = None if context.verified else context_redis_key(context.organization_id)
    raw: dict = {}
    status = quota_status(
        organization_id=principal.organization_id,
        plan=_plan_terms(context),
        now=now,
        anchor=context.period_anchor,
        raw_keys=[key for key in (principal_key, context_key) if key],
        raw_out=raw,
    )
    changed = False
    if not principal.verified:
        current = _confirmed(principal, raw, principal_key)
        changed, principal = current != principal, current
    if not context.verified:
        current = confirm_context(context, raw.get(context_key) if context_key in raw else None)
        changed, context = changed or current != context, current
    if changed:
        status = quota_status(
            organization_id=principal.organization_id,
            plan=_plan_terms(context),
            now=now,
            anchor=context.period_anchor,
        )
    plan = _plan_terms(context)
    exceeded = []
    for code, quantity in needs.items():
        charge = plan.charges.get(code) if plan else None
        if charge is None or charge.policy != Policy.HARD or charge.included is None:
            continue
        used = status.used.get(code, 0)
        # A max metric's period value is its peak: one more reading raises it only to that reading.
        after = max(used, quantity) if _counter_kind(code) == Aggregation.MAX else used + quantity
        if after > charge.included:
            exceeded.append(code)
    result = QuotaCheck(allowed=not exceeded, remaining=status.remaining, resets_at=status.period_end)
    if exceeded:
        raise QuotaExceeded(
            f"Quota exceeded for {', '.join(sorted(exceeded))} until {status.period_end:%Y-%m-%d %H:%M} UTC.",
            data={"allowed": False, "remaining": status.remaining, "resets_at": _iso(status.period_end)},
        )
    return result


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@transaction.atomic
def usage_cutoff_advance(*, organization_id, closed_before: datetime) -> UsageCutoff:
    """Refuse usage dated before `closed_before` from now on (its period is invoiced).
    The cutoff only moves forward."""
    usage_cutoffs_advance(cutoffs={organization_id: closed_before})
    return UsageCutoff.objects.get(organization_id=organization_id)


@transaction.atomic
def usage_cutoffs_advance(*, cutoffs: dict) -> None:
    """`usage_cutoff_advance` for many organizations (organization id -> closed before),
    in one upsert; the service endpoints' cached context of those organizations is dropped."""
    if not cutoffs:
        return
    from django.db import connection

    from .ingest import _dt, _uuid

    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    now = _dt(timezone.now())
    rows = sorted((str(org_id), closed_before) for org_id, closed_before in cutoffs.items())
    params: list = []
    for org_id, closed_before in rows:
        params += [_uuid(org_id), _dt(closed_before), now]
    table = UsageCutoff._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (organization_id, closed_before, updated_at) VALUES "  # noqa: S608 - no input
            + ",".join(["(%s, %s, %s)"] * len(rows))
            + f" ON CONFLICT (organization_id) DO UPDATE SET closed_before = "
            f"{greatest}({table}.closed_before, excluded.closed_before), updated_at = excluded.updated_at",
            params,
        )
    billing_context_forget(organization_ids=[org_id for org_id, _ in rows])


def quota_counters_reconcile(*, now: datetime | None = None) -> int:
    """Rewrite every counter of the current quota periods from the rollups; returns how
    many. Counters without rollups behind them are dropped (rebuilt when next read).

    Each organization's period is its own (counted from its subscription's billing anchor,
    or the calendar month), so rollups of the last 32 days are read once and summed per
    organization over its period.
    """
    if not counters.enabled():
        return 0

    now = now or timezone.now()
    anchors = quota_anchors()
    metrics = {info.id: info for info in catalogue().metrics_by_code.values() if info.aggregation in counters.COUNTED}
    earliest = now - timedelta(days=32)
    periods: dict[str, tuple[datetime, datetime]] = {}
    values: dict[str, int] = {}
    ttls: dict[str, int] = {}
    rows = DailyUsage.objects.filter(starts_at__gte=earliest, metric_id__in=list(metrics)).values_list(
        "organization_id", "metric_id", "starts_at", "quantity", "event_count", "max_quantity"
    )
    for org_id, metric_id, starts_at, quantity, events, largest in rows.iterator(chunk_size=5000):
        org = str(org_id)
        if org not in periods:
            periods[org] = quota_period(anchor=anchors.get(org), at=now)
        start, end = periods[org]
        if not (start <= starts_at < end):
            continue
        info = metrics[str(metric_id)]
        key = counters.key_for(org, info.code, start)
        value = {"sum": quantity, "count": events, "max": largest}[info.aggregation]
        values[key] = (
            max(values.get(key, 0), value) if info.aggregation == Aggregation.MAX else values.get(key, 0) + value
        )
        ttls[key] = counters.ttl_for(end, now)
    counters.overwrite(values, ttl=max(ttls.values(), default=60))
    for start in {start for start, _ in periods.values()} | {quota_period(anchor=None, at=now)[0]}:
        counters.drop_period(start, keep=set(values))
    return len(values)
