"""/account/disputes: the organization's disputes (its own and the gateways' chargebacks),
the form to dispute an invoice or a credit charge, and one dispute's history with a form
to add a message. The rules are payments.disputes' (the API's POST /disputes); owners,
admins and billing managers, as the API."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.http import require_http_methods

from billing_project.errors import Conflict, DomainError, NotFound
from billing_project.money import exponent, format_money
from payments import disputes
from payments.models import Dispute, DisputeActor, DisputeReason, DisputeResolution, DisputeSource, DisputeStatus

from ..context import BILLING_ROLES, account_page
from ..once import once

PAGE_SIZE = 25
INVOICE = "invoice"
TRANSACTION = "transaction"


def _day(moment) -> str:
    return date_format(timezone.localtime(moment), "DATE_FORMAT") if moment else ""


def _invoice_label(invoice) -> str:
    paid = f"paid {format_money(invoice.amount_paid_cents, invoice.currency)}"
    return f"{invoice.number} · {invoice.get_status_display().lower()} · {paid} · issued {_day(invoice.finalized_at)}"


def _entry_label(entry) -> str:
    label = f"{entry.get_kind_display()} of {format_money(-entry.amount_cents, entry.currency)}"
    if entry.reference:
        label += f" · {entry.reference}"
    return f"{label} · {_day(entry.created_at)}"


class DisputeOpenForm(forms.Form):
    about = forms.ChoiceField(
        label="What do you dispute?", help_text="An issued invoice, or a charge to your credit balance."
    )
    reason = forms.ChoiceField(label="Reason", choices=[("", "Choose a reason"), *DisputeReason.choices])
    description = forms.CharField(
        label="What is wrong",
        max_length=disputes.MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=f"Up to {disputes.MAX_TEXT} characters. Our support team reads it.",
    )
    requested_refund = forms.DecimalField(
        label="Amount to refund",
        required=False,
        min_value=Decimal(0),
        max_digits=16,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
        help_text="In the invoice's or transaction's currency, e.g. 29.99; at most what it took. "
        "Leave empty to ask for no refund.",
    )

    def __init__(self, *args, invoices, entries, **kwargs):
        super().__init__(*args, **kwargs)
        self.subjects = {f"{INVOICE}:{invoice.pk}": invoice for invoice in invoices}
        self.subjects.update({f"{TRANSACTION}:{entry.pk}": entry for entry in entries})
        choices: list = [("", "Choose an invoice or a transaction")]
        if invoices:
            choices.append(("Invoices", [(f"{INVOICE}:{invoice.pk}", _invoice_label(invoice)) for invoice in invoices]))
        if entries:
            choices.append(
                ("Credit transactions", [(f"{TRANSACTION}:{entry.pk}", _entry_label(entry)) for entry in entries])
            )
        self.fields["about"].choices = choices

    def clean(self):
        data = super().clean()
        subject = self.subjects.get(data.get("about") or "")
        if subject is None:
            return data
        kind = data["about"].split(":", 1)[0]
        data["invoice_id" if kind == INVOICE else "transaction_id"] = subject.pk
        amount = data.get("requested_refund")
        if amount is None:
            data["requested_refund_cents"] = 0
            return data
        try:
            cents = amount.scaleb(exponent(subject.currency))
            if cents != cents.to_integral_value():
                raise InvalidOperation
        except InvalidOperation:
            self.add_error(
                "requested_refund", f"{subject.currency} takes at most {exponent(subject.currency)} decimals."
            )
            return data
        data["requested_refund_cents"] = int(cents)
        return data


class DisputeMessageForm(forms.Form):
    message = forms.CharField(
        label="Your message",
        max_length=disputes.MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=f"Up to {disputes.MAX_TEXT} characters, for the support team reviewing the dispute.",
    )


# Where a service's field errors go on the forms.
OPEN_FIELDS = {
    "invoice_id": "about",
    "transaction_id": "about",
    "reason": "reason",
    "description": "description",
    "requested_refund_cents": "requested_refund",
}


def _errors_onto(form: forms.Form, exc: DomainError, fields: dict[str, str]) -> None:
    placed = set()
    for field, field_messages in (getattr(exc, "details", None) or {}).items():
        target = fields.get(field)
        if target is None:
            continue
        for message in field_messages if isinstance(field_messages, list) else [field_messages]:
            if (target, str(message)) not in placed:
                form.add_error(target, str(message))
                placed.add((target, str(message)))
    if not placed:
        form.add_error(None, exc.message)


# --- how a dispute is shown --------------------------------------------------------------------


def _reason_label(dispute: Dispute) -> str:
    if dispute.source == DisputeSource.CUSTOMER and dispute.reason in DisputeReason.values:
        return DisputeReason(dispute.reason).label
    return dispute.reason.replace("_", " ").capitalize() if dispute.reason else "Not given"


def _status_of(dispute: Dispute) -> tuple[str, str]:
    """(label, badge class)."""
    if dispute.status == DisputeStatus.RESOLVED:
        resolution = DisputeResolution(dispute.resolution)
        level = "bad" if resolution == DisputeResolution.REJECTED else "ok"
        return f"Resolved: {resolution.label.lower()}", level
    label = dispute.get_status_display()
    if dispute.source == DisputeSource.GATEWAY:
        level = {DisputeStatus.WON: "ok", DisputeStatus.LOST: "bad", DisputeStatus.CLOSED: ""}.get(
            dispute.status, "warn"
        )
        return f"Chargeback {label.lower()}", level
    return label, "warn"


def _about(dispute: Dispute) -> dict:
    if dispute.invoice_id:
        return {"text": f"Invoice {dispute.invoice.number}", "url": f"/account/invoices/{dispute.invoice_id}"}
    if dispute.credit_entry_id:
        return {"text": disputes.dispute_subject_label(dispute).capitalize(), "url": "/account/credits"}
    return {"text": "A payment", "url": ""}


def _row(dispute: Dispute) -> dict:
    status, level = _status_of(dispute)
    return {
        "dispute": dispute,
        "is_chargeback": dispute.source == DisputeSource.GATEWAY,
        "source": "Chargeback" if dispute.source == DisputeSource.GATEWAY else "Yours",
        "about": _about(dispute),
        "reason": _reason_label(dispute),
        "status": status,
        "level": level,
    }


def _history(dispute: Dispute) -> list[dict]:
    lines = []
    for event in dispute.events.all():
        if event.actor == DisputeActor.CUSTOMER:
            who = event.author.get_full_name() if event.author else "A member"
        else:
            who = "Support" if event.actor == DisputeActor.STAFF else "The gateway"
        lines.append(
            {
                "event": event,
                "who": who,
                "to_status": DisputeStatus(event.to_status).label if event.to_status else "",
                "from_status": DisputeStatus(event.from_status).label if event.from_status else "",
            }
        )
    return lines


# --- pages -------------------------------------------------------------------------------------


def _open_form(request, data=None) -> DisputeOpenForm:
    organization = request.organization
    return DisputeOpenForm(
        data,
        invoices=disputes.disputable_invoices(organization=organization),
        entries=disputes.disputable_entries(organization=organization),
    )


def _list_page(request, form: DisputeOpenForm, *, status: int = 200):
    page = Paginator(disputes.disputes_of(organization=request.organization), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"page": page, "rows": [_row(dispute) for dispute in page.object_list], "form": form}
    return render(request, "web/disputes/list.html", context, status=status)


@require_http_methods(["GET", "POST"])
@account_page(view_roles=BILLING_ROLES, post_roles=BILLING_ROLES)
def disputes_page(request):
    if request.method != "POST":
        return _list_page(request, _open_form(request))

    def open_it():
        # Inside once(): a second submission of the same form gets the first answer, even
        # though the invoice it chose is no longer offered (its dispute is open now).
        form = _open_form(request, request.POST)
        if not form.is_valid():
            return _list_page(request, form, status=400)
        try:
            dispute = disputes.dispute_open(
                organization=request.organization,
                opened_by=request.user,
                reason=form.cleaned_data["reason"],
                description=form.cleaned_data["description"],
                requested_refund_cents=form.cleaned_data["requested_refund_cents"],
                invoice_id=form.cleaned_data.get("invoice_id"),
                transaction_id=form.cleaned_data.get("transaction_id"),
            )
        except DomainError as exc:
            _errors_onto(form, exc, OPEN_FIELDS)
            return _list_page(request, form, status=exc.status_code if isinstance(exc, Conflict | NotFound) else 400)
        messages.success(request, "Dispute opened. We emailed a confirmation; our support team will review it.")
        return redirect("web-dispute", dispute_id=dispute.pk)

    return once(request, open_it)


def _detail_page(request, dispute: Dispute, form: DisputeMessageForm, *, status: int = 200):
    status_label, level = _status_of(dispute)
    context = {
        "dispute": dispute,
        "row": _row(dispute),
        "status_label": status_label,
        "level": level,
        "history": _history(dispute),
        "can_message": dispute.source == DisputeSource.CUSTOMER and not dispute.is_resolved,
        "form": form,
    }
    return render(request, "web/disputes/detail.html", context, status=status)


@require_http_methods(["GET", "POST"])
@account_page(view_roles=BILLING_ROLES, post_roles=BILLING_ROLES)
def dispute_page(request, dispute_id):
    dispute = disputes.dispute_of(organization=request.organization, dispute_id=dispute_id)
    if dispute is None:
        return render(request, "web/refused.html", {"message": "There is no such dispute here."}, status=404)
    if request.method != "POST":
        return _detail_page(request, dispute, DisputeMessageForm())

    def add_it():
        form = DisputeMessageForm(request.POST)
        if not form.is_valid():
            return _detail_page(request, dispute, form, status=400)
        try:
            disputes.dispute_message_add(dispute=dispute, message=form.cleaned_data["message"], author=request.user)
        except DomainError as exc:
            _errors_onto(form, exc, {"message": "message"})
            fresh = disputes.dispute_of(organization=request.organization, dispute_id=dispute.pk)
            return _detail_page(request, fresh, form, status=exc.status_code)
        messages.success(request, "Message added.")
        return redirect("web-dispute", dispute_id=dispute.pk)

    return once(request, add_it)


urlpatterns = [
    path("account/disputes", disputes_page, name="web-disputes"),
    path("account/disputes/<uuid:dispute_id>", dispute_page, name="web-dispute"),
]
