"""The plan pages of the customer site: the current plan and the catalogue
(/account/plans), checkout for a first paid plan, a change of plan with its proration
preview, cancel (at the period end or now, with what it costs) and reactivate; and the
page the gateway sends the customer back to after a checkout (/account/checkout/done),
with a retry for a declined one.

The rules are the API's: every member sees the plan, only BILLING_ROLES change it (the
/checkout/* and /subscriptions/* endpoints), and the checkout's status is theirs too
(GET /checkout/success). Each change runs the service its endpoint runs, through once()
(a double submit acts once); what a change costs is shown before it is confirmed,
computed by the code the change runs (billing.subscriptions.subscription_change_plan_preview,
invoices.selectors.cancellation_invoice_preview, billing.selectors.checkout_preview)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from billing import services as billing
from billing.selectors import checkout_preview
from billing.subscriptions import (
    PlanChangeMode,
    subscription_cancel,
    subscription_change_plan_and_collect,
    subscription_change_plan_preview,
)
from billing_project.errors import DomainError
from billing_project.money import format_money
from invoices.models import Invoice, InvoiceReason, InvoiceStatus
from invoices.selectors import cancellation_invoice_preview
from payments.models import Payment, PaymentStatus
from plans.catalogue import catalogue
from plans.models import Plan
from plans.selectors import plan_for_organization, plans_public
from subscriptions.models import Status, Subscription
from subscriptions.selectors import latest_subscription, live_subscription
from subscriptions.services import months_of, subscription_reactivate

from ..context import BILLING_ROLES, account_page
from ..once import once
from .public import plan_cards

NOW, NEXT_PERIOD = "now", "next_period"
AT_PERIOD_END = "period_end"
REASON_MAX = 500  # the cancel reason POST /subscriptions/cancel takes
# checkout_status's answers, as the done page groups them
PAID_STATES = {"paid", Status.ACTIVE, Status.TRIALING}
FAILED_STATES = {"failed", "canceled"}


def _site_url(name: str) -> str:
    """An absolute URL of this site, for a gateway to send the browser back to."""
    return settings.SITE_URL + reverse(name)


def _message(exc: DomainError) -> str:
    """A domain error as a sentence (without the API's `field: ` prefix)."""
    if exc.details:
        for messages_of_field in exc.details.values():
            if messages_of_field:
                return str(messages_of_field[0])
    return exc.message


def _uuid_or_none(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _catalogue():
    """The plans on sale, as the pricing page lists them."""
    return plans_public().filter(is_active=True).order_by("sort_order", "price_cents")


def _plan_on_sale(plan_id) -> Plan | None:
    plan_id = _uuid_or_none(plan_id)
    return _catalogue().filter(pk=plan_id).first() if plan_id else None


def _paid_subscription(organization) -> Subscription | None:
    """The subscription a plan change applies to: the live one, unless it is a checkout
    still waiting for its first payment (a new checkout replaces that)."""
    subscription = live_subscription(organization_id=organization.pk)
    if subscription is None or subscription.status == Status.INCOMPLETE:
        return None
    return subscription


def _plans_url(**query) -> str:
    url = reverse("web-plans")
    query = {key: value for key, value in query.items() if value}
    return f"{url}?{urlencode(query)}#confirm" if query else url


# --- the page -----------------------------------------------------------------------------


def _checkout_notice(request) -> dict | None:
    """Back on this page from the gateway's page (`?session_id=`, a declined card or an
    abandoned checkout): where that checkout stands. Another organization's is a 404."""
    session_id = request.GET.get("session_id")
    if not session_id or request.membership.role not in BILLING_ROLES:
        return None
    return _checkout_state(request.organization, session_id)


def _plans_context(request, *, selected_code: str | None = None, when: str | None = None, cancel=False) -> dict:
    organization = request.organization
    now = timezone.now()
    subscription = live_subscription(organization_id=organization.pk)
    paid = _paid_subscription(organization)
    current_plan = paid.plan if paid else plan_for_organization(organization_id=organization.pk)
    can_bill = request.membership.role in BILLING_ROLES
    plans = list(_catalogue())
    selected = next((plan for plan in plans if plan.code == selected_code), None) if selected_code else None
    cards = plan_cards(plans)
    for card in cards:
        plan = card["plan"]
        card["current"] = current_plan is not None and plan.code == current_plan.code
        card["selected"] = selected is not None and plan.pk == selected.pk
        if card["current"] or not can_bill:
            card["action"] = None
        elif paid is None:
            card["action"] = "checkout" if plan.price_cents > 0 else None
        else:
            card["action"] = "change"
    context = {
        "now": now,
        "subscription": subscription,
        "paid": paid,
        "current_plan": current_plan,
        "cards": cards,
        "selected": selected,
        "unknown_plan": selected_code if selected_code and selected is None else "",
        "confirm": None,
        "cancel": None,
        "error": "",
        "fallback_plan": Plan.objects.filter(pk=catalogue().default_plan_id).first(),
    }
    if can_bill and selected is not None:
        context["confirm"] = _confirmation(organization, paid=paid, current_plan=current_plan, plan=selected, when=when)
    if can_bill and cancel and paid is not None:
        context["cancel"] = {
            "final": cancellation_invoice_preview(subscription=paid, now=now),
            "ends_at": paid.current_period_end,
            "at_period_end_allowed": not paid.cancel_at_period_end,
            "open_invoices": Invoice.objects.filter(subscription=paid, status=InvoiceStatus.OPEN).count(),
        }
    return context


def _confirmation(organization, *, paid, current_plan, plan, when) -> dict:
    """The confirmation of choosing `plan`: a checkout (no paid subscription yet), or the
    change's preview, or why neither can be done."""
    now = timezone.now()
    if current_plan is not None and plan.code == current_plan.code:
        return {"kind": "current"}
    if paid is None:
        if plan.price_cents <= 0:
            return {"kind": "free"}
        return {"kind": "checkout", "checkout": checkout_preview(organization=organization, plan=plan, now=now)}
    same_interval = months_of(plan) == months_of(paid.plan)
    if when not in (NOW, NEXT_PERIOD):
        when = NOW if same_interval and paid.status != Status.TRIALING else NEXT_PERIOD
    try:
        preview = subscription_change_plan_preview(subscription=paid, new_plan=plan, prorate=when == NOW, now=now)
    except DomainError as exc:
        return {"kind": "refused", "message": _message(exc), "status": exc.status_code}
    return {
        "kind": "change",
        "preview": preview,
        "when": when,
        "prorated": preview.mode == PlanChangeMode.PRORATE,
        "can_switch_now": same_interval and paid.status != Status.TRIALING,
    }


@require_GET
@account_page
def plans_page(request):
    notice = _checkout_notice(request)
    if notice is not None and notice["state"] == "paid":
        return redirect(f"{reverse('web-checkout-done')}?{urlencode({'session_id': notice['session_id']})}")
    context = _plans_context(
        request,
        selected_code=(request.GET.get("plan") or "").strip() or None,
        when=request.GET.get("when"),
        cancel=request.GET.get("cancel") == "1",
    )
    context["notice"] = notice
    status = 200
    if context["unknown_plan"]:
        status = 404
    elif context["confirm"] and context["confirm"]["kind"] == "refused":
        status = context["confirm"]["status"]
    return render(request, "web/plans/page.html", context, status=status)


def _refused(request, exc: DomainError, *, plan: Plan | None = None, when=None, cancel=False):
    """A change the service refused: the page again with why (a 4xx, nothing written)."""
    context = _plans_context(request, selected_code=plan.code if plan else None, when=when, cancel=cancel)
    context["error"] = _message(exc)
    context["notice"] = None
    return render(request, "web/plans/page.html", context, status=exc.status_code)


def _unknown_plan(request):
    context = _plans_context(request)
    context.update(error="Choose one of the plans below.", notice=None)
    return render(request, "web/plans/page.html", context, status=400)


# --- checkout -----------------------------------------------------------------------------


def _start_checkout(request, plan: Plan):
    """POST /checkout/create for `plan`: to the gateway's hosted page (or, for a trial or a
    first invoice the credit balance paid, straight to the done page)."""
    result = billing.checkout_create(
        organization=request.organization,
        plan=plan,
        success_url=_site_url("web-checkout-done"),
        cancel_url=_site_url("web-plans"),
        actor=request.user,
    )
    return HttpResponseRedirect(result.checkout_url)


@require_POST
@account_page(post_roles=BILLING_ROLES)
def checkout_start(request):
    plan = _plan_on_sale(request.POST.get("plan"))
    if plan is None:
        return _unknown_plan(request)

    def perform():
        try:
            return _start_checkout(request, plan)
        except DomainError as exc:
            return _refused(request, exc, plan=plan)

    return once(request, perform)


# --- change ------------------------------------------------------------------------------


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _after_change(request, subscription: Subscription, invoice: Invoice | None, preview):
    """Where a change lands: the plans page with what happened, or the gateway's page when
    its invoice is to be paid there (no saved payment method, or the card declined)."""
    new_plan = preview.new_plan
    if preview.mode == PlanChangeMode.SCHEDULE:
        messages.success(
            request,
            f"You will move to {new_plan.name} on {subscription.current_period_end:%Y-%m-%d}. Nothing is charged now.",
        )
        return redirect("web-plans")
    if invoice is None or invoice.status == InvoiceStatus.PAID:
        paid = f" Invoice {invoice.number} is paid." if invoice is not None else ""
        messages.success(request, f"You are now on {new_plan.name}.{paid}")
        return redirect("web-plans")
    if invoice.status != InvoiceStatus.OPEN or invoice.amount_due_cents <= 0:
        messages.success(request, f"You are now on {new_plan.name}.")
        return redirect("web-plans")
    due = format_money(invoice.amount_due_cents, invoice.currency)
    payments = Payment.objects.filter(invoice=invoice)
    if payments.filter(status=PaymentStatus.PENDING).exists():
        messages.success(request, f"You are now on {new_plan.name}. The payment of {due} is being processed.")
        return redirect("web-plans")
    failed = payments.filter(status=PaymentStatus.FAILED).order_by("-created_at").first()
    back = settings.SITE_URL + reverse("web-invoice", args=[invoice.pk])
    try:
        link = billing.invoice_pay_link(
            organization=request.organization, invoice_id=invoice.pk, success_url=back, cancel_url=back
        )
    except DomainError as exc:
        messages.warning(
            request, f"You are now on {new_plan.name}. Invoice {invoice.number} ({due}) is open: {_message(exc)}"
        )
        return redirect("web-plans")
    if not link.get("payment_intent_url"):
        messages.success(request, f"You are now on {new_plan.name}.")
        return redirect("web-plans")
    if failed is not None:
        reason = f" ({failed.failure_reason})" if failed.failure_reason else ""
        messages.error(request, f"Your card was declined{reason}. Pay invoice {invoice.number} ({due}) here.")
    else:
        messages.info(request, f"You are now on {new_plan.name}. Pay invoice {invoice.number} ({due}) here.")
    return HttpResponseRedirect(link["payment_intent_url"])


@require_POST
@account_page(post_roles=BILLING_ROLES)
def change_plan(request):
    plan = _plan_on_sale(request.POST.get("plan"))
    when = request.POST.get("when")
    if plan is None or when not in (NOW, NEXT_PERIOD):
        return _unknown_plan(request)
    expected_charge = _int_or_none(request.POST.get("expected_charge_cents"))
    expected_credit = _int_or_none(request.POST.get("expected_credit_cents"))

    def perform():
        subscription = _paid_subscription(request.organization)
        if subscription is None:
            messages.error(request, "There is no subscription to change: choose a plan to start one.")
            return redirect(_plans_url(plan=plan.code))
        now = timezone.now()
        try:
            preview = subscription_change_plan_preview(
                subscription=subscription, new_plan=plan, prorate=when == NOW, now=now
            )
            if preview.mode == PlanChangeMode.PRORATE and (
                preview.charge_now_cents != expected_charge or preview.credit_total_cents != expected_credit
            ):
                # Time passed (the proration is by the second) or the balance moved: what
                # the customer confirmed is not what would happen now.
                messages.warning(request, "The amounts have changed since the preview. Check them and confirm again.")
                return redirect(_plans_url(plan=plan.code, when=when))
            changed, invoice = subscription_change_plan_and_collect(
                subscription=subscription, new_plan=plan, prorate=when == NOW, actor=request.user, now=now
            )
        except DomainError as exc:
            return _refused(request, exc, plan=plan, when=when)
        return _after_change(request, changed, invoice, preview)

    return once(request, perform)


# --- cancel and reactivate ---------------------------------------------------------------


@require_POST
@account_page(post_roles=BILLING_ROLES)
def cancel_subscription(request):
    when = request.POST.get("when")
    reason = (request.POST.get("reason") or "").strip()
    if when not in (NOW, AT_PERIOD_END):
        return _unknown_plan(request)
    if len(reason) > REASON_MAX:
        context = _plans_context(request, cancel=True)
        context.update(error=f"The reason can be at most {REASON_MAX} characters.", notice=None)
        return render(request, "web/plans/page.html", context, status=400)

    def perform():
        subscription = latest_subscription(organization_id=request.organization.pk)
        if subscription is None:
            messages.error(request, "This organization has no subscription.")
            return redirect("web-plans")
        try:
            canceled = subscription_cancel(
                subscription=subscription, at_period_end=when == AT_PERIOD_END, reason=reason, actor=request.user
            )
        except DomainError as exc:
            return _refused(request, exc, cancel=True)
        if canceled.status == Status.CANCELED:
            final = (
                Invoice.objects.filter(subscription=canceled, reason=InvoiceReason.SUBSCRIPTION_CANCEL)
                .exclude(status=InvoiceStatus.DRAFT)
                .order_by("-created_at")
                .first()
            )
            owed = (
                f" Final invoice {final.number}: {format_money(final.total_cents, final.currency)}."
                if final is not None
                else ""
            )
            messages.success(request, f"Your {canceled.plan.name} subscription is canceled.{owed}")
        else:
            messages.success(
                request,
                f"Your {canceled.plan.name} subscription ends on {canceled.current_period_end:%Y-%m-%d}. "
                "You keep it until then.",
            )
        return redirect("web-plans")

    return once(request, perform)


@require_POST
@account_page(post_roles=BILLING_ROLES)
def reactivate_subscription(request):
    def perform():
        subscription = latest_subscription(organization_id=request.organization.pk)
        if subscription is None:
            messages.error(request, "This organization has no subscription.")
            return redirect("web-plans")
        try:
            reactivated = subscription_reactivate(subscription=subscription, actor=request.user)
        except DomainError as exc:
            return _refused(request, exc)
        messages.success(
            request,
            f"Your {reactivated.plan.name} subscription continues: it renews on "
            f"{reactivated.current_period_end:%Y-%m-%d}.",
        )
        return redirect("web-plans")

    return once(request, perform)


# --- back from the gateway ------------------------------------------------------------------


def _reason_text(reason: str) -> str:
    """A gateway's failure reason for people: `card_declined: The card was declined.`
    without its code."""
    code, separator, text = (reason or "").partition(": ")
    if separator and text and code.replace("_", "").isalnum() and code == code.lower():
        return text
    return reason or ""


def _checkout_state(organization, session_id) -> dict:
    """GET /checkout/success for the organization: the state of a checkout (`paid`,
    `pending`, `failed`, or other), its plan, its first invoice and the payment's failure
    reason. Another organization's session, or none, is a 404."""
    try:
        status = billing.checkout_status(organization=organization, session_id=session_id)
    except DomainError:
        raise Http404("This checkout was not found.") from None
    subscription = status["subscription"]
    payment = Payment.objects.filter(organization=organization, pk=session_id).select_related("invoice").first()
    if payment is not None:
        invoice = payment.invoice
    else:  # a trial, or a first invoice the credit balance paid: the session is the subscription
        invoice = (
            Invoice.objects.filter(subscription=subscription, reason=InvoiceReason.SUBSCRIPTION_CREATE)
            .exclude(status=InvoiceStatus.DRAFT)
            .first()
        )
    state = status["status"]
    if state in PAID_STATES:
        group = "paid"
    elif state == "pending":
        group = "pending"
    elif state in FAILED_STATES:
        group = "failed"
    else:
        group = "other"
    return {
        "session_id": str(session_id),
        "status": state,
        "state": group,
        "subscription": subscription,
        "plan": subscription.plan if subscription else None,
        "invoice": invoice,
        "payment": payment,
        "reason": _reason_text(payment.failure_reason if payment is not None else ""),
        "label": str(state).replace("_", " "),
    }


@require_GET
@account_page(view_roles=BILLING_ROLES)
def checkout_done(request):
    session_id = request.GET.get("session_id")
    if not session_id:
        raise Http404("This checkout was not found.")
    checkout = _checkout_state(request.organization, session_id)
    live = live_subscription(organization_id=request.organization.pk)
    return render(request, "web/plans/done.html", {"checkout": checkout, "live": live})


@require_POST
@account_page(view_roles=BILLING_ROLES, post_roles=BILLING_ROLES)
def checkout_retry(request):
    checkout = _checkout_state(request.organization, request.POST.get("session_id"))
    done = f"{reverse('web-checkout-done')}?{urlencode({'session_id': checkout['session_id']})}"
    plan = checkout["plan"]
    if plan is not None and plan.replaced_by_id is not None:  # the plan's current version is on sale
        plan = Plan.objects.filter(code=plan.code, replaced_by__isnull=True).first() or plan

    def perform():
        if checkout["state"] == "paid":
            messages.success(request, "This checkout is paid already.")
            return redirect(done)
        if plan is None:
            messages.error(request, "Choose a plan to start a new checkout.")
            return redirect("web-plans")
        try:
            return _start_checkout(request, plan)
        except DomainError as exc:
            messages.error(request, _message(exc))
            return redirect(done)

    return once(request, perform)


urlpatterns = [
    path("account/plans", plans_page, name="web-plans"),
    path("account/plans/checkout", checkout_start, name="web-plans-checkout"),
    path("account/plans/change", change_plan, name="web-plans-change"),
    path("account/plans/cancel", cancel_subscription, name="web-plans-cancel"),
    path("account/plans/reactivate", reactivate_subscription, name="web-plans-reactivate"),
    path("account/checkout/done", checkout_done, name="web-checkout-done"),
    path("account/checkout/retry", checkout_retry, name="web-checkout-retry"),
]
