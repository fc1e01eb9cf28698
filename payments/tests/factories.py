"""Payments and refunds for tests, consistent with their invoice: a payment belongs to
its invoice's organization, in its currency, for what it owes. The rows are what a
gateway reported; applying them to the invoice (paid, credit, credit notes) is billing's
work (billing.services), which these factories do not do."""

from __future__ import annotations

import factory
from django.utils import timezone

from payments.gateways.sandbox import PM_OK
from payments.models import Payment, PaymentKind, PaymentStatus, Refund, RefundStatus


class PaymentFactory(factory.django.DjangoModelFactory):
    """A pending sandbox checkout of an issued $29.99 invoice, for its amount due.
    `succeeded=True`: the gateway took the money (with the sandbox's good method)."""

    class Meta:
        model = Payment

    class Params:
        succeeded = factory.Trait(
            status=PaymentStatus.SUCCEEDED,
            succeeded_at=factory.LazyFunction(timezone.now),
            payment_method=PM_OK,
        )

    invoice = factory.SubFactory("invoices.tests.factories.InvoiceFactory", lines=[2999], finalized=True)
    organization = factory.LazyAttribute(lambda o: o.invoice.organization)
    gateway = "sandbox"
    kind = PaymentKind.CHECKOUT
    reference = factory.Sequence(lambda n: f"sbx_test_{n}")
    amount_cents = factory.LazyAttribute(lambda o: o.invoice.amount_due_cents)
    currency = factory.LazyAttribute(lambda o: o.invoice.currency)
    status = PaymentStatus.PENDING


class RefundFactory(factory.django.DjangoModelFactory):
    """A refund of the whole of a succeeded payment, as the gateway reported it before it
    settled (pending, no credit note yet)."""

    class Meta:
        model = Refund

    payment = factory.SubFactory(PaymentFactory, succeeded=True)
    amount_cents = factory.LazyAttribute(lambda o: o.payment.refundable_cents)
    reference = factory.Sequence(lambda n: f"re_test_{n}")
    reason = "requested_by_customer"
    status = RefundStatus.PENDING


def chargeback(organization, *, reference: str = "du_1", status: str = "open", reason: str = "fraudulent"):
    """A gateway chargeback of a paid 29.99 invoice of `organization`, as the Stripe
    webhook records one (billing.services._dispute_update)."""
    from invoices.tests.factories import InvoiceFactory
    from payments.models import Dispute

    payment = PaymentFactory(
        invoice=InvoiceFactory(organization=organization, lines=[2999], finalized=True), succeeded=True
    )
    return Dispute.objects.create(
        organization=organization,
        payment=payment,
        invoice=payment.invoice,
        gateway="stripe",
        reference=reference,
        amount_cents=2999,
        currency="USD",
        reason=reason,
        status=status,
    )
