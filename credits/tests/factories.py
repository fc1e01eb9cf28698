"""Credit for tests, written through credits.services so that the ledger, the cached
balance (in the organization's currency) and the lots stay consistent: each factory
returns the ledger entry its service wrote."""

from __future__ import annotations

import factory

from credits.models import CreditLedgerEntry
from credits.services import credits_grant, credits_purchase


class _LedgerEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CreditLedgerEntry
        abstract = True

    organization = factory.SubFactory("organizations.tests.factories.OrganizationFactory")
    amount_cents = 1000

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise TypeError("Ledger entries are only written through credits.services: create(), not build().")


class CreditGrantFactory(_LedgerEntryFactory):
    """Free credit granted to the organization (credits_grant), optionally expiring."""

    reason = "Granted by a test"
    created_by = None
    expires_at = None

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return credits_grant(**kwargs)


class CreditPurchaseFactory(_LedgerEntryFactory):
    """Credit the organization paid for (credits_purchase), optionally for an invoice."""

    reference = factory.Sequence(lambda n: f"purchase-{n}")
    idempotency_key = None
    invoice = None

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return credits_purchase(**kwargs)
