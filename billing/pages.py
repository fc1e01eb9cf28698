"""Server-rendered pages: the billing portal the sandbox gateway links to (reached with a
signed, hour-long link from `billing/portal`). The sandbox gateway's hosted checkout plays
the gateway's side and is at the edge: webhooks.sandbox_page."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.signing import BadSignature, SignatureExpired, TimestampSigner
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from billing_project.errors import DomainError, NotFound
from billing_project.money import format_money
from billing_project.redirects import safe_redirect_url
from invoices.models import Invoice, InvoiceStatus
from invoices.pdf import invoice_pdf_store
from organizations.models import Organization
from payments.gateways import sandbox
from subscriptions.selectors import live_subscription
from subscriptions.services import subscription_reactivate

PORTAL_MAX_AGE = 3600


def _portal_organization(token: str) -> Organization:
    try:
        organization_id = TimestampSigner(salt="billing-portal").unsign(token, max_age=PORTAL_MAX_AGE)
    except (BadSignature, SignatureExpired):
        raise Http404("This billing link has expired. Open the billing portal again from the app.") from None
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        raise Http404("Unknown organization.")
    return organization


def _portal_action(request, organization: Organization) -> tuple[str, str]:
    """Apply the portal form's action: (message to show, URL to send the browser to)."""

    from .services import invoice_pay_link, payment_method_update
    from .subscriptions import subscription_cancel

    action = request.POST.get("action")
    subscription = live_subscription(organization_id=organization.pk)
    if action == "payment_method":
        payment_method_update(organization=organization, payment_method_id=request.POST.get("payment_method", ""))
        return "Payment method saved.", ""
    if action == "cancel" and subscription:
        subscription_cancel(subscription=subscription, at_period_end=True, reason="canceled in the billing portal")
        return "Your subscription will end at the end of the period.", ""
    if action == "reactivate" and subscription:
        subscription_reactivate(subscription=subscription)
        return "Your subscription continues.", ""
    if action == "pay":
        try:
            invoice_id = uuid.UUID(request.POST.get("invoice", ""))
        except ValueError:
            raise NotFound("Invoice not found.") from None
        result = invoice_pay_link(organization=organization, invoice_id=invoice_id)
        if "payment_intent_url" in result:
            return "", result["payment_intent_url"]  # the gateway's hosted page
        return "The invoice is paid.", ""
    return "", ""


def _charged_through_sandbox(subscription) -> bool:
    gateway = subscription.gateway if subscription and subscription.gateway else settings.DEFAULT_GATEWAY
    return gateway == sandbox.SandboxGateway.name and sandbox.is_enabled()


@require_http_methods(["GET", "POST"])
def billing_portal(request, token: str):
    organization = _portal_organization(token)
    # The app's "Return" link: only to an allowed redirect host, else no link at all.
    return_url = safe_redirect_url(request.GET.get("return_url"))
    message = ""
    if request.method == "POST":
        try:
            message, redirect_to = _portal_action(request, organization)
        except DomainError as exc:
            message, redirect_to = exc.message, ""
        if redirect_to:
            return HttpResponseRedirect(redirect_to)
    subscription = live_subscription(organization_id=organization.pk)
    invoices = Invoice.objects.filter(organization=organization).exclude(status=InvoiceStatus.DRAFT)
    context = {
        "organization": organization,
        "subscription": subscription,
        "plan_price": format_money(subscription.plan.price_cents, subscription.plan.currency) if subscription else "",
        # The cards this page offers are the sandbox's test cards: only where the sandbox is
        # the gateway that will charge them. Xendit and Midtrans are paid by link.
        "payment_methods": sandbox.PAYMENT_METHODS if _charged_through_sandbox(subscription) else (),
        "gateway": subscription.gateway if subscription else "",
        "invoices": [
            {
                "invoice": invoice,
                "total": format_money(invoice.total_cents, invoice.currency),
                "pdf_url": reverse("billing-portal-invoice-pdf", args=[token, invoice.pk]),
            }
            for invoice in invoices.order_by("-finalized_at")[:50]
        ],
        "return_url": return_url,
        "message": message,
    }
    return render(request, "billing/portal.html", context)


def billing_portal_invoice_pdf(request, token: str, invoice_id):
    organization = _portal_organization(token)
    invoice = Invoice.objects.filter(organization=organization, pk=invoice_id).exclude(status="draft").first()
    if invoice is None:
        raise Http404("Unknown invoice.")
    if not invoice.pdf:
        invoice = invoice_pdf_store(invoice_id=invoice.pk)
    response = FileResponse(invoice.pdf.open("rb"), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{invoice.number}.pdf"'
    return response
