"""Writes for plans: editing a plan without repricing the people already billed on it."""

from __future__ import annotations

import copy
import logging
import uuid

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from .catalogue import invalidate
from .models import FROZEN_PLAN_FIELDS, BillableMetric, Plan, PlanCharge

logger = logging.getLogger(__name__)

# What an edit may change on a plan (the rest, id, version, replaced_by and the
# timestamps, belongs to the versioning itself).
REVISABLE_FIELDS = (
    "code",
    "name",
    "description",
    "price_cents",
    "currency",
    "interval",
    "trial_days",
    "features",
    "is_active",
    "is_default",
    "sort_order",
)
# The terms of one charge (its metric is how charges are matched).
CHARGE_TERMS = ("included_quantity", "policy", "pricing_model", "unit_price", "package_size", "tiers")
# Copied as they are from one version to the next.
_COPIED_FIELDS = tuple(name for name in REVISABLE_FIELDS if name != "is_default")


def _value(model_field, value):
    return value if model_field.is_relation else model_field.to_python(value)


def _differs(instance, name: str, value) -> bool:
    field = instance._meta.get_field(name)
    return _value(field, getattr(instance, name)) != _value(field, value)


def _charges_wanted(plan: Plan, charges: list[dict]) -> dict:
    """Metric id -> an unsaved PlanCharge of `plan` with the wanted terms (missing terms
    take the model's defaults), each checked like the admin checks a charge."""
    wanted: dict = {}
    for spec in charges:
        spec = dict(spec)
        metric = spec.pop("metric", None)
        if metric is None:
            raise ValidationError({"charges": "Each charge names its metric."})
        metric_id = metric.pk if isinstance(metric, BillableMetric) else metric
        unknown = set(spec) - set(CHARGE_TERMS)
        if unknown:
            raise ValueError(f"Not terms of a charge: {', '.join(sorted(unknown))}")
        if metric_id in wanted:
            raise ValidationError({"charges": "A plan charges each metric once."})
        charge = PlanCharge(plan=plan, metric_id=metric_id, **spec)
        charge.clean_fields(exclude=["plan"])
        charge.clean()
        wanted[metric_id] = charge
    return wanted


def _charges_differ(current: dict, wanted: dict) -> bool:
    if set(current) != set(wanted):
        return True
    return any(
        _differs(current[metric_id], name, getattr(charge, name))
        for metric_id, charge in wanted.items()
        for name in CHARGE_TERMS
    )


def _revise_in_place(plan: Plan, changes: dict, current: dict, wanted: dict | None) -> Plan:
    for name, value in changes.items():
        setattr(plan, name, value)
    plan.full_clean()
    plan.save()
    if wanted is not None and _charges_differ(current, wanted):
        for metric_id, charge in current.items():
            if metric_id not in wanted:
                charge.delete()
        for metric_id, charge in wanted.items():
            kept = current.get(metric_id)
            if kept is None:
                charge.save()
            elif any(_differs(kept, name, getattr(charge, name)) for name in CHARGE_TERMS):
                for name in CHARGE_TERMS:
                    setattr(kept, name, getattr(charge, name))
                kept.save()
    return plan


def _next_version(old: Plan, changes: dict, charges: list[PlanCharge]) -> Plan:
    version = (Plan.objects.filter(code=old.code).aggregate(latest=Max("version"))["latest"] or 0) + 1
    new_id = uuid.uuid4()
    # The old row stops being current before the new one is inserted (the code is unique
    # among current versions); its replaced_by names the row inserted next, which the
    # deferred foreign-key check sees at commit.
    Plan.objects.filter(pk=old.pk).update(
        replaced_by_id=new_id, is_active=False, is_default=False, updated_at=timezone.now()
    )
    new = Plan(
        id=new_id,
        version=version,
        is_default=old.is_default,
        **{name: copy.deepcopy(getattr(old, name)) for name in _COPIED_FIELDS},
    )
    for name, value in changes.items():
        setattr(new, name, value)
    new.full_clean()
    new.save(force_insert=True)
    for charge in charges:
        copied = PlanCharge(plan=new, metric_id=charge.metric_id)
        for name in CHARGE_TERMS:
            setattr(copied, name, copy.deepcopy(getattr(charge, name)))
        copied.save(force_insert=True)
    return new


@transaction.atomic
def plan_revise(*, plan: Plan, changes: dict, charges: list[dict] | None = None, actor=None) -> Plan:
    """Edit a plan: `changes` maps plan fields (REVISABLE_FIELDS) to new values; `charges`,
    when given, is the whole list of charges the plan should carry afterwards, each a dict
    of `metric` (a BillableMetric or its id) and its terms (CHARGE_TERMS).

    The edit is made in place when the plan has no subscribers or when it changes none of
    the frozen terms (price, currency, interval, the charges). Otherwise it becomes the
    plan's next version: a new row with every field and charge of this one and the edit
    applied, while this one is marked replaced (inactive, no longer the default; the
    default flag moves to the new version) and keeps billing its subscribers until they
    are moved (by the subscriptions app, e.g. the plan admin's actions). Returns the plan that
    carries the edit. A replaced version's terms cannot be edited (ValidationError), nor can
    the code of a plan with several versions."""
    unknown = set(changes) - set(REVISABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable plan fields: {', '.join(sorted(unknown))}")
    # The lock also waits out a checkout subscribing to this plan right now (the new
    # subscription's foreign key holds a share lock on the row), so the check below sees it.
    locked = Plan.objects.select_for_update().get(pk=plan.pk)
    changes = {name: value for name, value in changes.items() if _differs(locked, name, value)}
    current = {charge.metric_id: charge for charge in PlanCharge.objects.filter(plan=locked)}
    wanted = None if charges is None else _charges_wanted(locked, charges)
    frozen = [name for name in FROZEN_PLAN_FIELDS if name in changes]
    if wanted is not None and _charges_differ(current, wanted):
        frozen.append("charges")
    if "code" in changes and (not locked.is_current or Plan.objects.filter(code=locked.code).count() > 1):
        raise ValidationError({"code": "The code names every version of this plan; it cannot change."})
    if frozen and not locked.is_current:
        raise ValidationError(
            f"Version {locked.version} of '{locked.code}' has been replaced: edit the current version instead."
        )
    if not frozen or not locked.has_subscribers():
        revised = _revise_in_place(locked, changes, current, wanted)
    else:
        if "code" in changes:
            raise ValidationError({"code": "Change the code and the terms of a plan with subscribers separately."})
        kept = list(wanted.values()) if wanted is not None else list(current.values())
        revised = _next_version(locked, changes, kept)
        logger.info(
            "Plan %s version %s replaced by version %s (%s changed) by %s",
            locked.code,
            locked.version,
            revised.version,
            ", ".join(frozen),
            getattr(actor, "pk", None),
        )
    invalidate()
    return revised
