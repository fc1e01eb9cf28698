"""Admin actions that run billing use cases: the money-moving actions are added here, to
the admin classes of the apps below, because the use cases they call live in billing."""

from django import forms
from django.contrib import admin, messages
from django.shortcuts import render

from billing_project.errors import DomainError
from invoices.admin import InvoiceAdmin
from invoices.models import CreditNoteReason, CreditNoteRefundMethod, Invoice
from payments.admin import PaymentAdmin
from payments.models import Payment, RefundStatus
from plans import selectors as plan_selectors
from plans.admin import PlanAdmin, subscriptions_text
from plans.models import Plan
from subscriptions.admin import SubscriptionAdmin
from subscriptions.models import Subscription

from .credit_notes import credit_note_issue, credit_note_refund, creditable_cents, gross_to_lines
from .subscriptions import subscription_cancel, subscription_change_plan, subscriptions_move_to_version


class RefundForm(forms.Form):
    amount_cents = forms.IntegerField(
        min_value=1, required=False, help_text="Minor units; empty refunds what is left of each payment."
    )
    reason = forms.CharField(max_length=500)


admin.site.unregister(Payment)


@admin.register(Payment)
class PaymentWithRefundsAdmin(PaymentAdmin):
    actions = ["refund"]

    @admin.action(description="Refund through the gateway (with a credit note)")
    def refund(self, request, queryset):
        if "apply" in request.POST:
            form = RefundForm(request.POST)
            if form.is_valid():
                done = 0
                for payment in queryset:
                    try:
                        refund = credit_note_refund(
                            payment=payment,
                            amount_cents=form.cleaned_data["amount_cents"],
                            reason=form.cleaned_data["reason"],
                            actor=request.user,
                        )
                        done += 1
                        if refund is None:
                            self.message_user(
                                request, f"{payment}: nothing could be refunded; credited instead", messages.WARNING
                            )
                        elif refund.status == RefundStatus.MANUAL:
                            self.message_user(request, f"{payment}: {refund.failure_reason}", messages.WARNING)
                        elif refund.status == RefundStatus.FAILED:
                            self.message_user(
                                request, f"{payment}: the refund failed ({refund.failure_reason})", messages.ERROR
                            )
                    except DomainError as exc:
                        self.message_user(request, f"{payment}: {exc.message}", messages.ERROR)
                if done:
                    self.message_user(request, f"Refunded {done} payment(s).", messages.SUCCESS)
                return None
        else:
            form = RefundForm()
        return render(
            request,
            "admin/payments/refund.html",
            {"form": form, "payments": queryset, "action": "refund", **self.admin_site.each_context(request)},
        )


class CreditNoteForm(forms.Form):
    amount_cents = forms.IntegerField(
        min_value=1,
        required=False,
        help_text="Tax included, in minor units. Empty credits everything that is left to credit.",
    )
    reason = forms.ChoiceField(choices=CreditNoteReason.choices)
    refund_method = forms.ChoiceField(
        choices=CreditNoteRefundMethod.choices,
        initial=CreditNoteRefundMethod.REFUND,
        help_text="For what was already paid; what is still owed is always taken off first.",
    )
    memo = forms.CharField(max_length=500, help_text="Printed on the credit note.")


admin.site.unregister(Invoice)


@admin.register(Invoice)
class InvoiceWithCreditNotesAdmin(InvoiceAdmin):
    """The invoice admin of invoices.admin, with the action that issues a credit note (it can
    refund through a gateway, so it lives here, above invoices)."""

    actions = ["finalize", "void", "credit", "reissue", "render_pdf"]

    @admin.action(description="Issue a credit note (refund, credit or take off what is owed)")
    def credit(self, request, queryset):
        if "apply" in request.POST:
            form = CreditNoteForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                issued = []
                for invoice in queryset:
                    amount = data["amount_cents"] or creditable_cents(invoice)
                    try:
                        if amount <= 0:
                            raise DomainError("Nothing is left to credit on this invoice.")
                        lines, tax = gross_to_lines(invoice, amount, data["memo"])
                        note = credit_note_issue(
                            invoice=invoice,
                            lines=lines,
                            tax_cents=tax,
                            reason=data["reason"],
                            refund_method=data["refund_method"],
                            memo=data["memo"],
                            actor=request.user,
                        )
                        issued.append(note.number)
                    except DomainError as exc:
                        self.message_user(request, f"{invoice}: {exc.message}", messages.ERROR)
                if issued:
                    self.message_user(request, f"Issued {', '.join(issued)}.", messages.SUCCESS)
                return None
        else:
            form = CreditNoteForm()
        return render(
            request,
            "admin/subscriptions/action_form.html",
            {
                "form": form,
                "objects": queryset,
                "action": "credit",
                "title": "Issue a credit note",
                **self.admin_site.each_context(request),
            },
        )


class CancelForm(forms.Form):
    immediately = forms.BooleanField(required=False, help_text="Otherwise at the end of the current period.")
    reason = forms.CharField(max_length=500)


class ChangePlanForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=Plan.objects.filter(is_active=True))


admin.site.unregister(Subscription)


@admin.register(Subscription)
class SubscriptionWithChangesAdmin(SubscriptionAdmin):
    actions = ["cancel", "extend_trial", "change_plan_without_charge"]

    @admin.action(description="Cancel (at period end or immediately)")
    def cancel(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            CancelForm,
            "cancel",
            "Cancel",
            lambda sub, data: subscription_cancel(
                subscription=sub, at_period_end=not data["immediately"], reason=data["reason"], actor=request.user
            ),
        )

    @admin.action(description="Change the plan without charge")
    def change_plan_without_charge(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            ChangePlanForm,
            "change_plan_without_charge",
            "Plan changed",
            lambda sub, data: subscription_change_plan(
                subscription=sub, new_plan=data["plan"], prorate=False, actor=request.user, charge=False
            ),
        )


# The plan admin, with the actions that move the subscribers of a replaced version to the
# current one (a billing use case: plans imports none of the apps above it).
admin.site.unregister(Plan)


@admin.register(Plan)
class SubscribersPlanAdmin(PlanAdmin):
    actions = [*PlanAdmin.actions, "move_subscribers_at_renewal", "move_subscribers_now"]

    @admin.action(description="Move subscribers to the current version at their next renewal")
    def move_subscribers_at_renewal(self, request, queryset):
        self._move_subscribers(request, queryset, at_renewal=True)

    @admin.action(description="Move subscribers to the current version now")
    def move_subscribers_now(self, request, queryset):
        self._move_subscribers(request, queryset, at_renewal=False)

    def _move_subscribers(self, request, queryset, *, at_renewal: bool) -> None:
        for plan in queryset:
            if plan.is_current:
                self.message_user(request, f"{plan}: this is the current version.", messages.WARNING)
                continue
            current = plan_selectors.plan_current_version(code=plan.code)
            try:
                moved = subscriptions_move_to_version(
                    from_plan=plan, to_plan=current, at_renewal=at_renewal, actor=request.user
                )
            except DomainError as exc:
                self.message_user(request, f"{plan}: {exc.message}", messages.ERROR)
                continue
            when = "at their next renewal" if at_renewal else "now"
            self.message_user(
                request,
                f"{subscriptions_text(moved)} of version {plan.version} of {plan.code} move to "
                f"version {current.version} {when}.",
                messages.SUCCESS,
            )
