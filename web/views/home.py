"""The organization's billing home (/account/) and the organization switcher."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from billing.selectors import billing_overview
from billing_project.errors import NotFound
from invoices.models import InvoiceStatus
from invoices.selectors import invoices_of, upcoming_invoice
from organizations.context import membership_for
from payments.models import Payment, PaymentStatus
from plans.catalogue import catalogue
from subscriptions.models import Status
from subscriptions.selectors import live_subscription
from usage.selectors import usage_overview

from ..context import BILLING_ROLES, SESSION_ORG, account_page

TRIAL_ENDING_DAYS = 3


def usage_rows(metrics: dict) -> list[dict]:
    """The period's usage per metric, in the shape the bars need."""
    names = {code: info.name for code, info in catalogue().metrics_by_code.items()}
    rows = []
    for code, metric in sorted(metrics.items()):
        included = metric["included"]
        rows.append(
            {
                "code": code,
                "name": names.get(code, code),
                "unit": metric["unit"],
                "used": metric["used"],
                "included": included,
                "over": included is not None and metric["used"] > included,
                "policy": metric["policy"],
                # The meter's scale: the allowance, or the usage itself when over it.
                "scale": max(included or 0, metric["used"], 1),
            }
        )
    return rows


def alerts_for(*, organization, subscription, now) -> list[dict]:
    alerts = []
    if subscription and subscription.status == Status.PAST_DUE:
        alerts.append(
            {
                "level": "bad",
                "text": "Your last payment failed and the subscription is past due. "
                "Pay the open invoice to keep your plan.",
            }
        )
    last_payment = Payment.objects.filter(organization=organization).order_by("-created_at").first()
    if last_payment and last_payment.status == PaymentStatus.FAILED:
        reason = f" ({last_payment.failure_reason})" if last_payment.failure_reason else ""
        alerts.append({"level": "bad", "text": f"Your card was declined{reason}. Update your payment method."})
    if (
        subscription
        and subscription.status == Status.TRIALING
        and subscription.trial_end
        and subscription.trial_end - now <= timedelta(days=TRIAL_ENDING_DAYS)
    ):
        alerts.append({"level": "warn", "text": "Your trial ends soon.", "at": subscription.trial_end})
    if subscription and subscription.cancel_at_period_end:
        alerts.append(
            {
                "level": "warn",
                "text": "Your subscription ends at the end of this period.",
                "at": subscription.current_period_end,
            }
        )
    return alerts


@account_page
def account_home(request):
    organization = request.organization
    now = timezone.now()
    subscription = live_subscription(organization_id=organization.pk)
    usage = usage_overview(organization_id=organization.pk, period="current_month", now=now, with_series=False)
    context = {
        "subscription": subscription,
        "usage": usage,
        "usage_rows": usage_rows(usage["metrics"]),
        "alerts": alerts_for(organization=organization, subscription=subscription, now=now),
    }
    if request.membership.role in BILLING_ROLES:  # the money, as GET /billing/overview shows it
        overview = billing_overview(organization=organization)
        context.update(
            credit_balance_cents=overview["credit_balance_cents"],
            credit_currency=overview["currency"],
            upcoming=upcoming_invoice(organization=organization, now=now),
            open_invoices=list(invoices_of(organization=organization).filter(status=InvoiceStatus.OPEN)[:10]),
        )
    return render(request, "web/account/home.html", context)


@require_POST
@account_page
def switch_organization(request):
    try:
        membership = membership_for(user=request.user, org_id=request.POST.get("organization"))
    except NotFound:
        messages.error(request, "You are not a member of that organization.")
        return redirect("web-account")
    request.session[SESSION_ORG] = str(membership.organization_id)
    messages.success(request, f"Now showing {membership.organization.name}.")
    return redirect("web-account")
