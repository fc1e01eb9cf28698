"""Helpers for the billing-cycle tests (test_cycle_year, test_cycle_concurrency_pg): a
customer who subscribes through checkout, reports usage with an API key and acts on the
subscription through the API; expected amounts computed from the plan's charges."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlparse

from django.conf import settings
from rest_framework.test import APIClient

from accounts.services import token_pair_for
from accounts.tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from apikeys.services import apikey_create
from billing.cycle import CycleReport, run_billing_cycle
from credits.models import CreditLedgerEntry
from invoices.models import Invoice, InvoiceReason
from organizations.models import Organization, Role
from payments.models import Payment
from plans.models import BillableMetric, Plan
from subscriptions.models import Subscription, SubscriptionEvent
from usage.models import DailyUsage
from webhooks.models import InboundEvent

REPORT = "/api/v1/usage/report"
CHECKOUT = "/api/v1/checkout/create"
UPGRADE = "/api/v1/subscriptions/upgrade"
CANCEL = "/api/v1/subscriptions/cancel"
REACTIVATE = "/api/v1/subscriptions/reactivate"
PAYMENT_METHOD = "/api/v1/subscriptions/payment-method"

# What the demo telephony metrics are reported as.
EVENT_TYPES = {"call_minutes": "call_completed", "sms": "sms_sent", "api_calls": "telephony_api_request"}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def grace() -> timedelta:
    return timedelta(seconds=settings.BILLING_GRACE_SECONDS)


def after_grace(period_end: datetime) -> datetime:
    """When the cycle runs for a period: its end, the grace window and a minute."""
    return period_end + grace() + timedelta(minutes=1)


def ok(response, status: int = 200):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is True, body
    return body["data"]


def error_code(response, status: int) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False, body
    return body["error"]["code"]


# --- money -------------------------------------------------------------------------------


def cents(amount: Decimal) -> int:
    """Half-up to whole cents (computed here, not with the rating engine under test)."""
    return int(Decimal(amount).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def usage_cents(plan: Plan, used: dict[str, int]) -> int:
    """What `used` (metric code -> units) costs on `plan`: per metric, units beyond the
    included quantity at the unit price, each line rounded half-up once."""
    total = 0
    for charge in plan.charges.select_related("metric"):
        units = used.get(charge.metric.code, 0)
        if not units or charge.included_quantity is None:
            continue
        assert charge.pricing_model == "per_unit", f"expected per-unit pricing for {charge.metric.code}"
        billable = max(units - charge.included_quantity, 0)
        if billable:
            total += cents(billable * charge.unit_price)
    return total


def usage_lines(invoice: Invoice) -> dict[str, tuple[int, int]]:
    """Metric code -> (billable quantity, amount) of the invoice's usage lines."""
    return {
        line.metric.code: (int(line.quantity), line.amount_cents)
        for line in invoice.lines.filter(kind="usage").select_related("metric")
    }


def base_fees(invoice: Invoice) -> list[tuple[int, datetime, datetime]]:
    return [(line.amount_cents, line.period_start, line.period_end) for line in invoice.lines.filter(kind="base_fee")]


# --- state snapshots -----------------------------------------------------------------------


def cycle_invoices(subscription: Subscription):
    return Invoice.objects.filter(subscription=subscription, reason=InvoiceReason.SUBSCRIPTION_CYCLE).order_by(
        "period_start"
    )


def world_counts() -> dict[str, object]:
    """Everything a billing-cycle run may write, counted (and invoice states)."""
    return {
        "invoices": Counter(Invoice.objects.values_list("status", flat=True)),
        "numbered": Invoice.objects.exclude(number=None).count(),
        "attempts": sum(Invoice.objects.values_list("attempt_count", flat=True)),
        "payments": Counter(Payment.objects.values_list("status", flat=True)),
        "ledger": CreditLedgerEntry.objects.count(),
        "subscription_events": SubscriptionEvent.objects.count(),
        "subscriptions": Counter(Subscription.objects.values_list("status", flat=True)),
        "inbound_events": InboundEvent.objects.count(),
    }


def cycle(now: datetime, clock) -> CycleReport:
    """Travel to `now` and run the billing cycle for it; a run that reports an error fails."""
    clock.move_to(now, tick=False)
    report = run_billing_cycle(now=now)
    assert report.errors == [], report.errors
    return report


def add_rollup(organization: Organization, metric_code: str, day: date, units: int) -> None:
    """Usage written straight to the daily rollup (events and quantity alike)."""
    row, _ = DailyUsage.objects.get_or_create(
        organization=organization, metric=BillableMetric.objects.get(code=metric_code), day=day
    )
    row.quantity += units
    row.event_count += units
    row.max_quantity = max(row.max_quantity, units)
    row.save()


# --- a customer ----------------------------------------------------------------------------


@dataclass
class Customer:
    organization: Organization
    owner: object
    api_key: str
    subscription_id: object = None

    def client(self) -> APIClient:
        """The owner acting on the organization (a token minted at the current, travelled, time)."""
        client = APIClient()
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {token_pair_for(self.owner).token}",
            HTTP_X_CURRENT_ORG=str(self.organization.pk),
        )
        return client

    def service(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.api_key}")
        return client

    @property
    def subscription(self) -> Subscription:
        return Subscription.objects.select_related("plan", "scheduled_plan").get(
            organization=self.organization, pk=self.subscription_id
        )

    def report(self, metric_code: str, at: datetime, quantity: int = 1):
        """POST /usage/report one event of `metric_code` dated `at` (the response)."""
        body = {"event_type": EVENT_TYPES[metric_code], "quantity": quantity, "timestamp": iso(at)}
        return self.service().post(REPORT, body, format="json")

    def report_ok(self, metric_code: str, at: datetime, quantity: int = 1) -> None:
        ok(self.report(metric_code, at, quantity), 201)

    def subscribe(self, plan_code: str) -> dict:
        """Checkout through the API and pay on the sandbox page (a plan without trial days),
        or start the trial; returns the checkout data."""
        plan = Plan.objects.get(code=plan_code)
        data = ok(
            self.client().post(
                CHECKOUT,
                {
                    "plan_id": str(plan.pk),
                    "success_url": "http://localhost/done",
                    "cancel_url": "http://localhost/cancel",
                },
                format="json",
            )
        )
        self.subscription_id = data["subscription_id"]
        if data["status"] == "incomplete":
            pay_on_sandbox_page(self.client(), data["checkout_url"])
        return data

    def set_payment_method(self, payment_method: str) -> None:
        ok(self.client().put(PAYMENT_METHOD, {"payment_method_id": payment_method}, format="json"))

    def change_plan(self, plan_code: str, *, prorate: bool) -> dict:
        plan = Plan.objects.get(code=plan_code)
        return ok(self.client().put(UPGRADE, {"new_plan_id": str(plan.pk), "prorate": prorate}, format="json"))

    def cancel(self) -> dict:
        return ok(self.client().post(CANCEL, {}, format="json"))

    def reactivate(self) -> dict:
        return ok(self.client().post(REACTIVATE, format="json"))

    def pay_by_link(self, invoice: Invoice) -> None:
        data = ok(self.client().post(f"/api/v1/invoices/{invoice.pk}/pay", format="json"))
        pay_on_sandbox_page(self.client(), data["payment_intent_url"])


def pay_on_sandbox_page(client: APIClient, url: str) -> None:
    """Click Pay on the sandbox gateway's hosted page."""
    path = urlparse(url).path
    assert client.get(path).status_code == 200
    response = client.post(path, {"action": "pay"})
    assert response.status_code == 302, response.content


def customer_create() -> Customer:
    """An organization with an owner and a live API key for usage reports."""
    owner = UserFactory()
    organization = OrganizationFactory()
    MembershipFactory(organization=organization, user=owner, role=Role.OWNER)
    _key, secret = apikey_create(
        organization=organization, created_by=owner, name="backend", scopes=["usage:write", "usage:read"]
    )
    return Customer(organization=organization, owner=owner, api_key=secret)


def plans_trial_days(days: int) -> None:
    """Set the demo plans' trial days (what checkout starts with)."""
    Plan.objects.filter(code__in=["pro", "team"]).update(trial_days=days)
    from plans.catalogue import invalidate

    invalidate()
