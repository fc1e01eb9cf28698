"""The sandbox gateway's hosted checkout page (GET /sandbox/checkout/<reference>).

It plays the gateway's side: Pay and Decline post a signed sandbox event into the inbound
pipeline (event_receive), as the gateway's webhook would, so the page pays exactly the way
a real gateway's webhook does. The event and its signature are the sandbox gateway's
(payments.gateways.sandbox: `event_body`, `sign`)."""

from __future__ import annotations

from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from billing.services import with_query
from billing_project.money import format_money
from billing_project.redirects import safe_redirect_url
from payments.gateways import sandbox
from payments.gateways.base import EventType
from payments.models import Payment, PaymentStatus

from .services import event_receive


def _deliver(event_type: EventType, **data) -> None:
    """Send a sandbox event through the inbound pipeline, signed as the gateway's webhook."""
    body = sandbox.event_body(event_type, **data)
    event_receive(
        gateway=sandbox.SandboxGateway.name, body=body, headers={sandbox.SIGNATURE_HEADER: sandbox.sign(body)}
    )


@require_http_methods(["GET", "POST"])
def sandbox_checkout(request, reference: str):
    if not sandbox.is_enabled():  # the page pays at a click: it exists only where the sandbox is on
        raise Http404("Unknown checkout.")
    payment = (
        Payment.objects.select_related("invoice", "organization").filter(gateway="sandbox", reference=reference).first()
    )
    if payment is None:
        raise Http404("Unknown checkout.")
    if request.method == "POST" and payment.status == PaymentStatus.PENDING:
        if request.POST.get("action") == "pay":
            _deliver(
                EventType.PAYMENT_SUCCEEDED,
                payment_reference=payment.reference,
                amount_cents=payment.amount_cents,
                currency=payment.currency,
                payment_method=sandbox.PM_OK,
            )
            payment.refresh_from_db()
            if safe_redirect_url(payment.success_url):  # as stored: re-checked against today's allow-list
                return HttpResponseRedirect(with_query(payment.success_url, session_id=str(payment.pk)))
        elif request.POST.get("action") == "decline":
            _deliver(
                EventType.PAYMENT_FAILED, payment_reference=payment.reference, failure_reason=sandbox.DECLINE_REASON
            )
            payment.refresh_from_db()
            if safe_redirect_url(payment.cancel_url):
                return HttpResponseRedirect(with_query(payment.cancel_url, session_id=str(payment.pk)))
        return HttpResponseRedirect(request.path)
    invoice = payment.invoice
    context = {
        "payment": payment,
        "invoice": invoice,
        "organization": payment.organization,
        "amount": format_money(payment.amount_cents, payment.currency),
        "description": invoice.get_reason_display(),
        "lines": [
            {"description": line.description, "amount": format_money(line.amount_cents, invoice.currency)}
            for line in invoice.lines.all()
        ],
        "continue_url": with_query(payment.success_url, session_id=str(payment.pk)) if payment.success_url else "",
    }
    return render(request, "billing/sandbox_checkout.html", context)
