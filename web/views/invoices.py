"""Invoices, payment and credits of the customer site: the invoice list and each invoice
(lines, credit notes, payments, PDF, Pay), the payment methods of the organization's
gateway and the billing details printed on invoices, the credit balance, its ledger and
a top-up. The rules are the API's: invoices, credits and payment methods are owners',
admins' and billing managers' (BILLING_ROLES), the billing details an organization's
setting that owners and admins change (PATCH /orgs/{id}: MANAGER_ROLES)."""

from __future__ import annotations

import functools
import uuid
from decimal import Decimal, InvalidOperation

from babel import Locale
from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing import services as billing
from billing.serializers import CreditsPurchaseInputSerializer
from billing_project.errors import DomainError, ValidationFailed
from billing_project.money import exponent, format_money
from credits.filters import LedgerEntryFilter
from credits.models import EntryKind
from credits.selectors import balance_of, ledger_entries
from invoices.filters import ISSUED_STATUS_CHOICES, InvoiceFilter
from invoices.models import InvoiceReason, InvoiceStatus
from invoices.pdf import credit_note_pdf_bytes, credit_note_pdf_store, invoice_pdf_bytes, invoice_pdf_store
from invoices.selectors import credit_note_of, credit_notes_of, invoice_of, invoices_of
from organizations.services import organization_update
from payments.models import Payment, PaymentStatus, Refund

from ..context import BILLING_ROLES, MANAGER_ROLES, account_page
from ..forms import errors_onto
from ..once import once

PAGE_SIZE = 25
# The amounts POST /credits/purchase takes, in minor units (its serializer's bounds).
_PURCHASE_AMOUNT = CreditsPurchaseInputSerializer().fields["amount_cents"]
PURCHASE_MIN_CENTS, PURCHASE_MAX_CENTS = _PURCHASE_AMOUNT.min_value, _PURCHASE_AMOUNT.max_value


def _site_url(name: str, *args, query: str = "") -> str:
    """An absolute URL of this site, for a gateway to send the browser back to."""
    return f"{settings.SITE_URL}{reverse(name, args=args)}{'?' + query if query else ''}"


def _page(request, queryset, param: str = "page"):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get(param))


def _uuid_or_none(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _quantity(value: Decimal) -> str:
    normalized = value.normalize()
    if normalized == normalized.to_integral():
        return f"{int(normalized):,}"
    return f"{normalized:,f}"


def _pdf_response(document, *, store, render_pdf, filename: str):
    """The stored PDF (rendered and stored first when it is not yet), or, with the storage
    unavailable, the rendering itself: as GET /invoices/{id}/pdf answers."""
    if not document.pdf:
        document = store()
    if document.pdf:
        response = FileResponse(document.pdf.open("rb"), content_type="application/pdf")
    else:
        response = HttpResponse(render_pdf(document), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


# --- invoices ---------------------------------------------------------------------------


@require_GET
@account_page(view_roles=BILLING_ROLES)
def invoices_page(request):
    organization = request.organization
    invoices = InvoiceFilter(request.GET, queryset=invoices_of(organization=organization))
    status = 200
    if invoices.is_valid():
        page = _page(request, invoices.qs)
    else:
        page, status = None, 400
    context = {
        "filter": invoices,
        "status_choices": ISSUED_STATUS_CHOICES,
        "chosen_status": request.GET.get("status", ""),
        "page": page,
        "notes": _page(request, credit_notes_of(organization=organization), "notes_page"),
    }
    return render(request, "web/invoices/list.html", context, status=status)


def _invoice_or_404(request, invoice_id):
    invoice = invoice_of(organization=request.organization, invoice_id=invoice_id)
    if invoice is None:
        raise Http404("Invoice not found.")
    return invoice


def _return_notice(request, invoice) -> dict | None:
    """Back from the gateway's page (`?session_id=`): what became of that payment."""
    session_id = _uuid_or_none(request.GET.get("session_id"))
    payment = Payment.objects.filter(invoice=invoice, pk=session_id).first() if session_id else None
    if payment is None:
        return None
    if payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED):
        return {"level": "ok", "text": f"Payment of {format_money(payment.amount_cents, payment.currency)} received."}
    if payment.status == PaymentStatus.FAILED:
        reason = f" ({payment.failure_reason})" if payment.failure_reason else ""
        return {"level": "bad", "text": f"The payment was declined{reason}. Nothing was charged; you can try again."}
    if payment.status == PaymentStatus.CANCELED:
        return {"level": "warn", "text": "That payment page was closed; nothing was charged."}
    return {
        "level": "warn",
        "text": "The gateway has not confirmed the payment yet. Reload this page in a moment.",
    }


@require_GET
@account_page(view_roles=BILLING_ROLES)
def invoice_page(request, invoice_id):
    invoice = _invoice_or_404(request, invoice_id)
    payments = list(Payment.objects.filter(invoice=invoice).order_by("created_at"))
    refunds = list(Refund.objects.filter(payment__invoice=invoice).select_related("payment").order_by("created_at"))
    lines = [
        {"line": line, "quantity": _quantity(line.quantity), "is_credit": line.amount_cents < 0}
        for line in invoice.lines.all()
    ]
    context = {
        "invoice": invoice,
        "lines": lines,
        "credit_notes": sorted(invoice.credit_notes.all(), key=lambda note: (note.issued_at, note.number)),
        "payments": payments,
        "refunds": refunds,
        "credit_issued_cents": -invoice.credit_applied_cents,
        "can_pay": invoice.status == InvoiceStatus.OPEN,
        "notice": _return_notice(request, invoice),
        "buyer": {
            "name": invoice.billing_name or request.organization.name,
            "email": invoice.billing_email or request.organization.billing_email,
            "country": invoice.billing_country or request.organization.country,
        },
    }
    return render(request, "web/invoices/detail.html", context)


@require_GET
@account_page(view_roles=BILLING_ROLES)
def invoice_pdf(request, invoice_id):
    invoice = _invoice_or_404(request, invoice_id)
    return _pdf_response(
        invoice,
        store=lambda: invoice_pdf_store(invoice_id=invoice.pk),
        render_pdf=invoice_pdf_bytes,
        filename=f"{invoice.number}.pdf",
    )


@require_GET
@account_page(view_roles=BILLING_ROLES)
def credit_note_pdf(request, credit_note_id):
    note = credit_note_of(organization=request.organization, credit_note_id=credit_note_id)
    if note is None:
        raise Http404("Credit note not found.")
    return _pdf_response(
        note,
        store=lambda: credit_note_pdf_store(credit_note_id=note.pk),
        render_pdf=credit_note_pdf_bytes,
        filename=f"{note.number}.pdf",
    )


@require_POST
@account_page(view_roles=BILLING_ROLES, post_roles=BILLING_ROLES)
def invoice_pay(request, invoice_id):
    """Pay: the gateway's hosted page (which is the confirmation, with the amount), or paid
    at once when nothing is left to pay. A double submission opens one payment."""
    invoice = _invoice_or_404(request, invoice_id)
    here = reverse("web-invoice", args=[invoice.pk])
    back = _site_url("web-invoice", invoice.pk)

    def perform():
        try:
            result = billing.invoice_pay_link(
                organization=request.organization, invoice_id=invoice.pk, success_url=back, cancel_url=back
            )
        except DomainError as exc:  # paid meanwhile, void, the gateway down
            messages.error(request, exc.message)
            return redirect(here)
        if result.get("payment_intent_url"):
            return HttpResponseRedirect(result["payment_intent_url"])
        messages.success(request, f"{invoice.number} is paid.")
        return redirect(here)

    return once(request, perform)


# --- payment methods and billing details -------------------------------------------------


@functools.cache
def _countries() -> list[tuple[str, str]]:
    """ISO 3166 alpha-2 codes with their English names (Babel), regions left out."""
    not_countries = {"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ"}
    names = Locale("en").territories
    codes = [code for code in names if len(code) == 2 and code.isalpha() and code not in not_countries]
    return sorted(((code, names[code]) for code in codes), key=lambda pair: pair[1])


class BillingDetailsForm(forms.Form):
    """What invoices print about the buyer (invoices.pdf: name, email, tax id, address, country)."""

    name = forms.CharField(
        label="Name on invoices",
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
        help_text="Your organization's name, printed as the buyer.",
    )
    billing_email = forms.EmailField(
        label="Billing email",
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        help_text="Printed on invoices; invoices and payment emails go to it. Empty: they go to the owners.",
    )
    tax_id = forms.CharField(
        label="Tax id",
        max_length=64,
        required=False,
        help_text="Your VAT number, NPWP or other tax registration, printed on invoices.",
    )
    billing_address = forms.CharField(
        label="Address",
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "street-address"}),
        help_text="Printed on invoices as the buyer's address.",
    )
    country = forms.ChoiceField(
        label="Country",
        required=False,
        help_text="Printed on invoices. In Indonesia, payments go through the local gateway where one is set up.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["country"].choices = [("", "Not set"), *_countries()]


def _details_form(organization, data=None) -> BillingDetailsForm:
    initial = {
        "name": organization.name,
        "billing_email": organization.billing_email,
        "tax_id": organization.tax_id,
        "billing_address": organization.billing_address,
        "country": organization.country,
    }
    return BillingDetailsForm(data, initial=initial)


def _payment_context(request, details_form=None) -> dict:
    organization = request.organization
    context = {
        "details_form": details_form or _details_form(organization),
        "can_edit_details": request.membership.role in MANAGER_ROLES,
        "wallet": None,
        "wallet_error": "",
        "added": request.GET.get("added") == "1",
    }
    try:
        context["wallet"] = billing.payment_methods_of(organization=organization)
    except DomainError as exc:  # the gateway down or not configured here
        context["wallet_error"] = exc.message
    return context


@require_GET
@account_page(view_roles=BILLING_ROLES)
def payment_page(request):
    return render(request, "web/payment/page.html", _payment_context(request))


def _payment_action(request, act) -> HttpResponse:
    """A payment-method change through once(): `act()` returns the success message or a
    URL to send the browser to (the gateway's page); a refusal is an error message."""

    def perform():
        try:
            outcome = act()
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("web-payment")
        if outcome.startswith(("http://", "https://")):
            return HttpResponseRedirect(outcome)
        messages.success(request, outcome)
        return redirect("web-payment")

    return once(request, perform)


@require_POST
@account_page(view_roles=BILLING_ROLES, post_roles=BILLING_ROLES)
def payment_method_add(request):
    return _payment_action(
        request,
        lambda: billing.payment_method_setup_url(
            organization=request.organization,
            success_url=_site_url("web-payment", query="added=1"),
            cancel_url=_site_url("web-payment"),
        ),
    )


def _method_label(method) -> str:
    return f"{method.brand} •••• {method.last4}" if method.last4 else method.brand


def _listed_method(request, payment_method_id: str):
    wallet = billing.payment_methods_of(organization=request.organization)
    for method in wallet.methods:
        if method.id == payment_method_id:
            return method
    raise ValidationFailed.for_field("payment_method_id", "That payment method is not one of this organization's.")


@require_POST
@account_page(view_roles=BILLING_ROLES, post_roles=BILLING_ROLES)
def payment_method_default(request):
    payment_method_id = request.POST.get("payment_method_id", "")

    def act():
        method = _listed_method(request, payment_method_id)
        billing.payment_method_update(organization=request.organization, payment_method_id=method.id)
        return f"Renewals now charge {_method_label(method)}."

    return _payment_action(request, act)


@require_POST
@account_page(view_roles=BILLING_ROLES, post_roles=BILLING_ROLES)
def payment_method_remove(request):
    payment_method_id = request.POST.get("payment_method_id", "")

    def act():
        method = _listed_method(request, payment_method_id)
        billing.payment_method_remove(organization=request.organization, payment_method_id=method.id)
        return f"{_method_label(method)} is removed."

    return _payment_action(request, act)


@require_POST
@account_page(view_roles=BILLING_ROLES, post_roles=MANAGER_ROLES)
def billing_details(request):
    """The billing details, saved as PATCH /orgs/{id} saves them (owners and admins)."""
    form = _details_form(request.organization, request.POST)

    def perform():
        if form.is_valid():
            try:
                organization_update(organization=request.organization, **form.cleaned_data)
            except ValidationFailed as exc:
                errors_onto(form, exc)
            else:
                messages.success(request, "Billing details saved. New invoices print them.")
                return redirect("web-payment")
        request.organization.refresh_from_db()
        return render(request, "web/payment/page.html", _payment_context(request, form), status=400)

    return once(request, perform)


# --- credits -------------------------------------------------------------------------------


class TopUpForm(forms.Form):
    """An amount of credit in major units (25.00), read with Decimal into minor units by
    the currency's exponent, within POST /credits/purchase's bounds."""

    amount = forms.CharField(
        label="Amount",
        max_length=32,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency
        digits = exponent(currency)
        example = "25" if digits == 0 else "25." + "0" * digits
        self.fields["amount"].label = f"Amount ({currency})"
        self.fields["amount"].help_text = (
            f"In {currency}, e.g. {example}: from {format_money(PURCHASE_MIN_CENTS, currency)} "
            f"to {format_money(PURCHASE_MAX_CENTS, currency)}."
        )

    def clean_amount(self) -> int:
        text = self.cleaned_data["amount"].strip().replace(",", "")
        digits = exponent(self.currency)
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise forms.ValidationError("Enter an amount as a number, e.g. 25.00.") from None
        if not amount.is_finite():
            raise forms.ValidationError("Enter an amount as a number, e.g. 25.00.")
        minor = amount.scaleb(digits)
        if minor != minor.to_integral_value():
            if digits == 0:
                raise forms.ValidationError(f"{self.currency} is bought in whole units, without decimals.")
            raise forms.ValidationError(f"{self.currency} has at most {digits} decimals.")
        minor = int(minor)
        if minor < PURCHASE_MIN_CENTS:
            raise forms.ValidationError(f"Buy at least {format_money(PURCHASE_MIN_CENTS, self.currency)}.")
        if minor > PURCHASE_MAX_CENTS:
            raise forms.ValidationError(f"Buy at most {format_money(PURCHASE_MAX_CENTS, self.currency)} at a time.")
        return minor


def _purchase_notice(request) -> dict | None:
    """Back from the gateway's page with `?session_id=`: where that top-up stands."""
    if "purchase" not in request.GET:
        return None
    session_id = _uuid_or_none(request.GET.get("session_id"))
    payment = (
        Payment.objects.filter(
            organization=request.organization, pk=session_id, invoice__reason=InvoiceReason.CREDIT_PURCHASE
        ).first()
        if session_id
        else None
    )
    if payment is None:
        return None
    amount = format_money(payment.amount_cents, payment.currency)
    if payment.status == PaymentStatus.SUCCEEDED:
        return {"level": "ok", "text": f"Your top-up of {amount} is paid: the credit is in your balance."}
    if payment.status == PaymentStatus.FAILED:
        reason = f" ({payment.failure_reason})" if payment.failure_reason else ""
        return {"level": "bad", "text": f"The payment of {amount} was declined{reason}. No credit was added."}
    if payment.status == PaymentStatus.CANCELED or request.GET.get("purchase") == "canceled":
        return {"level": "warn", "text": f"The top-up of {amount} was not paid. No credit was added."}
    return {
        "level": "warn",
        "text": f"The gateway has not confirmed your payment of {amount} yet. Reload this page in a moment.",
    }


@require_GET
@account_page(view_roles=BILLING_ROLES)
def credits_page(request):
    organization = request.organization
    balance_cents, currency = balance_of(organization=organization)
    ledger = LedgerEntryFilter(
        request.GET, queryset=ledger_entries(organization=organization).select_related("invoice")
    )
    status = 200
    if ledger.is_valid():
        page = _page(request, ledger.qs)
    else:
        page, status = None, 400
    context = {
        "balance_cents": balance_cents,
        "currency": currency,
        "ledger": ledger,
        "kind_choices": EntryKind.choices,
        "page": page,
        "topup_form": TopUpForm(currency=organization.currency),
        "notice": _purchase_notice(request),
    }
    return render(request, "web/credits/page.html", context, status=status)


@require_http_methods(["GET", "POST"])
@account_page(view_roles=BILLING_ROLES, post_roles=BILLING_ROLES)
def credits_topup(request):
    """GET ?amount=: the confirmation showing the amount (or the form with its errors);
    POST: the checkout for it, through once(), to the gateway's hosted page."""
    organization = request.organization
    data = request.POST if request.method == "POST" else (request.GET if "amount" in request.GET else None)
    form = TopUpForm(data, currency=organization.currency)
    if data is None:
        return render(request, "web/credits/topup.html", {"form": form})
    if not form.is_valid():
        return render(request, "web/credits/topup.html", {"form": form}, status=400)
    amount_cents = form.cleaned_data["amount"]
    if request.method == "GET":
        context = {
            "form": form,
            "amount_cents": amount_cents,
            "currency": organization.currency,
            "amount_text": form.data["amount"].strip(),
        }
        return render(request, "web/credits/confirm.html", context)

    def perform():
        try:
            result = billing.credits_purchase_checkout(
                organization=organization,
                amount_cents=amount_cents,
                success_url=_site_url("web-credits", query="purchase=done"),
                cancel_url=_site_url("web-credits", query="purchase=canceled"),
            )
        except DomainError as exc:  # the gateway refused the amount or is down
            messages.error(request, exc.message)
            return redirect("web-credits")
        return HttpResponseRedirect(result.checkout_url)

    return once(request, perform)


urlpatterns = [
    path("account/invoices", invoices_page, name="web-invoices"),
    path("account/invoices/<uuid:invoice_id>", invoice_page, name="web-invoice"),
    path("account/invoices/<uuid:invoice_id>.pdf", invoice_pdf, name="web-invoice-pdf"),
    path("account/invoices/<uuid:invoice_id>/pay", invoice_pay, name="web-invoice-pay"),
    path("account/credit-notes/<uuid:credit_note_id>.pdf", credit_note_pdf, name="web-credit-note-pdf"),
    path("account/payment", payment_page, name="web-payment"),
    path("account/payment/methods/add", payment_method_add, name="web-payment-method-add"),
    path("account/payment/methods/default", payment_method_default, name="web-payment-method-default"),
    path("account/payment/methods/remove", payment_method_remove, name="web-payment-method-remove"),
    path("account/payment/details", billing_details, name="web-billing-details"),
    path("account/credits", credits_page, name="web-credits"),
    path("account/credits/top-up", credits_topup, name="web-credits-topup"),
]
