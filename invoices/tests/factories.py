"""Invoices for tests, stored the way the application stores them: through the builder
(invoices.builder.save_draft: the lines and a subtotal and total that are their sum) and,
when issued, invoices.services.invoice_finalize (number, tax, credit applied, due date).
A raw Invoice row would let the totals disagree with the lines."""

from __future__ import annotations

from decimal import Decimal

import factory

from invoices import rating
from invoices.builder import Draft, save_draft
from invoices.models import Invoice, InvoiceReason, LineKind, PendingLineItem
from invoices.services import invoice_finalize


def manual_line(amount_cents: int) -> rating.RatedLine:
    """One line of a manual invoice: a charge as an adjustment, a negative amount as a credit."""
    kind = rating.CREDIT if amount_cents < 0 else rating.ADJUSTMENT
    return rating.RatedLine(
        kind=kind,
        description=f"{kind} of {amount_cents}",
        quantity=Decimal(1),
        unit_price=Decimal(amount_cents),
        amount_cents=amount_cents,
    )


class InvoiceFactory(factory.django.DjangoModelFactory):
    """A manual draft of a new organization in its currency, one line per amount in
    `lines` (none by default). `finalized=True` issues it at `now` (default: now)."""

    class Meta:
        model = Invoice

    organization = factory.SubFactory("organizations.tests.factories.OrganizationFactory")
    currency = factory.LazyAttribute(lambda o: o.organization.currency)
    reason = InvoiceReason.MANUAL
    subscription = None
    period_start = None
    period_end = None
    lines = ()
    finalized = False
    now = None

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise TypeError("Invoices are only stored through the builder (save_draft): create(), not build().")

    @classmethod
    def _create(cls, model_class, *args, lines=(), finalized=False, now=None, organization, **kwargs):
        draft = Draft(organization_id=organization.pk, **kwargs)
        draft.lines.extend(line if isinstance(line, rating.RatedLine) else manual_line(line) for line in lines)
        invoice = save_draft(draft)
        return invoice_finalize(invoice=invoice, now=now) if finalized else invoice


def manual_draft(organization, *amounts: int, currency: str = "USD") -> Invoice:
    """A stored manual draft with one line per amount (charges as adjustments, negatives
    as credits), in `currency`."""
    return InvoiceFactory(organization=organization, currency=currency, lines=amounts)


class PendingLineItemFactory(factory.django.DjangoModelFactory):
    """A line waiting for the subscription's next invoice (a one-off charge by default)."""

    class Meta:
        model = PendingLineItem

    subscription = factory.SubFactory("subscriptions.tests.factories.SubscriptionFactory")
    organization = factory.LazyAttribute(lambda o: o.subscription.organization)
    kind = LineKind.ADJUSTMENT
    amount_cents = 500
    description = factory.LazyAttribute(lambda o: f"{o.kind} {o.amount_cents}")
    quantity = Decimal(1)
    unit_price = factory.LazyAttribute(lambda o: Decimal(o.amount_cents))
