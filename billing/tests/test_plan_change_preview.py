"""billing.subscriptions.subscription_change_plan_preview: the dry run of a plan change
shows what the change then does (its credit notes, its invoice, the charge, the balance),
and writes nothing; invoices.selectors.cancellation_invoice_preview: what an immediate
cancellation invoices; billing.selectors.checkout_preview: what a checkout starts."""

from decimal import Decimal

import pytest

from billing.selectors import checkout_preview
from billing.services import checkout_create
from billing.subscriptions import (
    PlanChangeMode,
    subscription_cancel,
    subscription_change_plan_and_collect,
    subscription_change_plan_preview,
)
from billing_project.errors import Conflict, ValidationFailed
from billing_project.tests.world import plans_trial_days, utc
from credits.models import CreditLedgerEntry
from credits.selectors import balance_of
from credits.services import credits_adjust
from invoices.models import CreditNote, Invoice, InvoiceReason, InvoiceStatus
from invoices.selectors import cancellation_invoice_preview
from payments.models import Payment
from plans.models import Interval, Plan
from subscriptions.models import Subscription

pytestmark = pytest.mark.django_db

START = utc(2026, 10, 1, 9)
MID = utc(2026, 10, 17, 13, 47, 29)


@pytest.fixture
def subscribed(customer, clock):
    """The customer on Pro since START, paid at checkout on the sandbox page (its card
    saved), the clock then mid-period."""
    clock.move_to(START, tick=False)
    customer.subscribe("pro")
    clock.move_to(MID, tick=False)
    return customer


def written() -> tuple:
    return (
        Invoice.objects.count(),
        CreditNote.objects.count(),
        CreditLedgerEntry.objects.count(),
        Payment.objects.count(),
    )


def change_and_compare(customer, plan_code: str):
    subscription = customer.subscription
    new_plan = Plan.objects.get(code=plan_code)
    before = written()
    preview = subscription_change_plan_preview(subscription=subscription, new_plan=new_plan, prorate=True)
    assert written() == before  # a dry run

    changed, invoice = subscription_change_plan_and_collect(subscription=subscription, new_plan=new_plan, prorate=True)

    assert changed.plan == new_plan
    notes = list(CreditNote.objects.filter(organization=customer.organization).order_by("issued_at"))
    assert [c.invoice.pk for c in preview.credits] == [note.invoice_id for note in notes]
    for credit, note in zip(preview.credits, notes, strict=True):
        assert credit.amounts.subtotal_cents == note.subtotal_cents
        assert credit.amounts.tax_cents == note.tax_cents
        assert credit.amounts.total_cents == note.total_cents
        assert credit.amounts.credited_cents == note.credited_cents
        assert credit.amounts.off_invoice_cents == note.off_invoice_cents
        assert credit.amounts.refunded_cents == note.refunded_cents
        assert [line.amount_cents for line in credit.lines] == [line.amount_cents for line in note.lines.all()]
    if preview.invoice is None:
        assert invoice is None
    else:
        assert [line.amount_cents for line in preview.invoice["line_items"]] == [
            line.amount_cents for line in invoice.lines.order_by("position")
        ]
        assert [line.description for line in preview.invoice["line_items"]] == [
            line.description for line in invoice.lines.order_by("position")
        ]
        assert preview.invoice["subtotal_cents"] == invoice.subtotal_cents
        assert preview.invoice["tax_cents"] == invoice.tax_cents
        assert preview.invoice["credit_applied_cents"] == invoice.credit_applied_cents
        assert preview.invoice["total_cents"] == invoice.total_cents
        assert (preview.invoice["period_start"], preview.invoice["period_end"]) == (
            invoice.period_start,
            invoice.period_end,
        )
    charged = sum(p.amount_cents for p in Payment.objects.filter(invoice__reason=InvoiceReason.SUBSCRIPTION_UPDATE))
    assert preview.charge_now_cents == charged
    assert preview.balance_after_cents == balance_of(organization=customer.organization)[0]
    return preview, invoice


def test_an_upgrade_mid_period_credits_and_charges_what_the_preview_shows(subscribed):
    preview, invoice = change_and_compare(subscribed, "team")

    assert preview.mode == PlanChangeMode.PRORATE
    assert len(preview.credits) == 1 and preview.credits[0].amounts.total_cents > 0
    assert preview.charge_now_cents > 0
    assert invoice.status == InvoiceStatus.PAID


def test_with_tax_and_a_credit_balance_the_preview_still_matches(subscribed):
    organization = subscribed.organization
    organization.tax_rate = Decimal("11.00")
    organization.save(update_fields=["tax_rate"])
    credits_adjust(organization=organization, amount_cents=1234, reason="goodwill")

    preview, _invoice = change_and_compare(subscribed, "team")

    assert preview.invoice["tax_cents"] > 0
    assert preview.invoice["credit_applied_cents"] > 1234  # the goodwill and the unused time


def test_a_downgrade_is_paid_by_the_unused_time_and_leaves_the_rest_on_the_balance(customer, clock):
    clock.move_to(START, tick=False)
    customer.subscribe("team")
    clock.move_to(MID, tick=False)

    preview, invoice = change_and_compare(customer, "pro")

    assert preview.charge_now_cents == 0
    assert invoice.status == InvoiceStatus.PAID
    assert preview.balance_after_cents > 0


def test_a_change_at_the_next_period_moves_no_money(subscribed):
    team = Plan.objects.get(code="team")
    before = written()

    preview = subscription_change_plan_preview(subscription=subscribed.subscription, new_plan=team, prorate=False)

    assert preview.mode == PlanChangeMode.SCHEDULE
    assert (preview.credits, preview.invoice, preview.charge_now_cents) == ([], None, 0)
    assert preview.at == subscribed.subscription.current_period_end
    assert written() == before


def test_the_preview_refuses_what_the_change_refuses(subscribed):
    subscription = subscribed.subscription
    with pytest.raises(ValidationFailed, match="already on this plan"):
        subscription_change_plan_preview(subscription=subscription, new_plan=subscription.plan, prorate=True)
    yearly = Plan.objects.create(code="pro-yearly", name="Pro yearly", price_cents=29900, interval=Interval.YEAR)
    with pytest.raises(ValidationFailed, match="monthly and yearly"):
        subscription_change_plan_preview(subscription=subscription, new_plan=yearly, prorate=True)
    assert subscription_change_plan_preview(subscription=subscription, new_plan=yearly, prorate=False).mode == (
        PlanChangeMode.SCHEDULE
    )


def test_a_period_the_cycle_has_not_rolled_over_is_not_previewed(subscribed, clock):
    clock.move_to(utc(2026, 11, 2), tick=False)
    with pytest.raises(Conflict, match="being renewed"):
        subscription_change_plan_preview(
            subscription=subscribed.subscription, new_plan=Plan.objects.get(code="team"), prorate=True
        )


def test_the_cancellation_preview_is_the_final_invoice(subscribed):
    subscribed.report_ok("call_minutes", utc(2026, 10, 5), 3000)
    subscribed.report_ok("sms", utc(2026, 10, 6), 2500)
    subscription = subscribed.subscription
    before = written()

    preview = cancellation_invoice_preview(subscription=subscription, now=MID)

    assert written() == before
    assert preview["total_cents"] > 0
    subscription_cancel(subscription=subscription, at_period_end=False, now=MID)
    final = Invoice.objects.get(subscription=subscription, reason=InvoiceReason.SUBSCRIPTION_CANCEL)
    assert [line.amount_cents for line in preview["line_items"]] == [line.amount_cents for line in final.lines.all()]
    assert (preview["subtotal_cents"], preview["tax_cents"], preview["credit_applied_cents"]) == (
        final.subtotal_cents,
        final.tax_cents,
        final.credit_applied_cents,
    )
    assert preview["total_cents"] == final.total_cents


def test_the_checkout_preview_is_the_first_invoice_checkout_then_opens(customer, clock):
    clock.move_to(START, tick=False)
    organization = customer.organization
    organization.tax_rate = Decimal("10.00")
    organization.save(update_fields=["tax_rate"])
    credits_adjust(organization=organization, amount_cents=500, reason="goodwill")
    pro = Plan.objects.get(code="pro")
    before = written()

    preview = checkout_preview(organization=organization, plan=pro, now=START)

    assert written() == before
    result = checkout_create(
        organization=organization,
        plan=pro,
        success_url="http://localhost/done",
        cancel_url="http://localhost/cancel",
        now=START,
    )
    invoice = Invoice.objects.get(subscription_id=result.subscription_id)
    subscription = invoice.subscription
    assert preview["first_period"] == (subscription.current_period_start, subscription.current_period_end)
    assert [line.description for line in preview["invoice"]["line_items"]] == [
        line.description for line in invoice.lines.all()
    ]
    assert (
        preview["invoice"]["subtotal_cents"],
        preview["invoice"]["tax_cents"],
        preview["invoice"]["credit_applied_cents"],
        preview["invoice"]["total_cents"],
    ) == (invoice.subtotal_cents, invoice.tax_cents, invoice.credit_applied_cents, invoice.total_cents)
    assert preview["invoice"]["credit_applied_cents"] == 500


def test_the_checkout_preview_of_a_trial_is_the_trial_checkout_starts(customer, clock):
    clock.move_to(START, tick=False)
    plans_trial_days(14)
    pro = Plan.objects.get(code="pro")

    preview = checkout_preview(organization=customer.organization, plan=pro, now=START)

    result = checkout_create(
        organization=customer.organization,
        plan=pro,
        success_url="http://localhost/done",
        cancel_url="http://localhost/cancel",
        now=START,
    )
    subscription = Subscription.objects.get(pk=result.subscription_id)
    assert (preview["trial_days"], preview["trial_end"], preview["invoice"]) == (14, subscription.trial_end, None)
