"""Prepare a benchmark database: an organization, an API key with every scope, and a
default plan whose quotas the run will not exhaust. Prints the key as JSON."""

import json
import os
import sys

import django

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_project.settings")
django.setup()

from apikeys.services import apikey_create  # noqa: E402
from billing.accounts import account_register  # noqa: E402
from organizations.models import Membership  # noqa: E402
from plans.models import BillableMetric, Plan, PlanCharge  # noqa: E402

user = account_register(email="bench@example.com", password="bench-pass-2026", name="Bench")
organization = Membership.objects.get(user=user).organization
Plan.objects.filter(is_default=True).update(is_default=False)
plan = Plan.objects.create(
    code="bench", name="Bench", price_cents=0, is_default=True, features={"api_keys": 100, "usage_history": True}
)
for metric in BillableMetric.objects.filter(code__in=["tokens", "requests"]):
    PlanCharge.objects.create(plan=plan, metric=metric, included_quantity=10**15, policy="hard")
_, secret = apikey_create(
    organization=organization, created_by=user, name="bench", scopes=["usage:write", "usage:read", "credits:write"]
)
print(json.dumps({"key": secret, "organization_id": str(organization.pk)}))
