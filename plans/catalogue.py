"""An in-process snapshot of metrics and plans for the hot paths.

Usage ingestion and quota checks look up event types, metrics and plan terms on every
request; reading them from the database each time would cost more than the work itself.
The snapshot is rebuilt when a plan, charge or metric is saved in this process (signals)
and at most CATALOGUE_TTL seconds after a change made by another process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from django.conf import settings


@dataclass(frozen=True)
class MetricInfo:
    id: str
    code: str
    name: str
    unit: str
    aggregation: str
    aggregation_key: str


@dataclass(frozen=True)
class ChargeTerms:
    metric_code: str
    included: int | None  # None: unlimited
    policy: str  # "hard" | "soft"


@dataclass(frozen=True)
class PlanTerms:
    id: str
    code: str
    name: str
    currency: str
    features: dict
    charges: dict[str, ChargeTerms] = field(default_factory=dict)


@dataclass(frozen=True)
class Catalogue:
    metrics_by_code: dict[str, MetricInfo]
    metrics_by_event_type: dict[str, MetricInfo]
    plans: dict[str, PlanTerms]
    default_plan_id: str | None


_lock = threading.Lock()
_snapshot: Catalogue | None = None
_loaded_at = 0.0


def _load() -> Catalogue:
    from .models import BillableMetric, Plan

    metrics_by_code: dict[str, MetricInfo] = {}
    metrics_by_event_type: dict[str, MetricInfo] = {}
    for metric in BillableMetric.objects.filter(is_active=True):
        info = MetricInfo(
            id=str(metric.id),
            code=metric.code,
            name=metric.name,
            unit=metric.unit,
            aggregation=metric.aggregation,
            aggregation_key=metric.aggregation_key,
        )
        metrics_by_code[metric.code] = info
        for event_type in metric.event_types:
            metrics_by_event_type.setdefault(event_type, info)
    plans: dict[str, PlanTerms] = {}
    default_plan_id = None
    for plan in Plan.objects.prefetch_related("charges__metric"):
        charges = {
            charge.metric.code: ChargeTerms(charge.metric.code, charge.included_quantity, charge.policy)
            for charge in plan.charges.all()
            if charge.metric.is_active
        }
        plans[str(plan.id)] = PlanTerms(
            id=str(plan.id),
            code=plan.code,
            name=plan.name,
            currency=plan.currency,
            features=dict(plan.features or {}),
            charges=charges,
        )
        if plan.is_default:
            default_plan_id = str(plan.id)
    return Catalogue(metrics_by_code, metrics_by_event_type, plans, default_plan_id)


def catalogue() -> Catalogue:
    global _snapshot, _loaded_at
    snapshot = _snapshot
    if snapshot is not None and time.monotonic() - _loaded_at < settings.CATALOGUE_TTL:
        return snapshot
    with _lock:
        if _snapshot is None or time.monotonic() - _loaded_at >= settings.CATALOGUE_TTL:
            _snapshot = _load()
            _loaded_at = time.monotonic()
        return _snapshot


def _drop() -> None:
    global _snapshot
    _snapshot = None


def invalidate(**_kwargs) -> None:
    """Drop the snapshot now and again after the surrounding transaction commits, so a
    reload that ran before the commit (and saw the old rows) does not linger."""
    from django.db import connection, transaction

    _drop()
    if connection.in_atomic_block:
        transaction.on_commit(_drop)
