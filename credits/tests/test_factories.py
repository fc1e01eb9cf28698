"""The credit factories write through credits.services: the ledger, the cached balance
and the lots agree."""

import pytest

from credits.models import EntryKind
from credits.tests.factories import CreditGrantFactory, CreditPurchaseFactory
from organizations.tests.factories import OrganizationFactory

from .helpers import assert_consistent

pytestmark = pytest.mark.django_db


def test_grants_and_purchases_keep_the_ledger_consistent():
    organization = OrganizationFactory(currency="EUR")

    grant = CreditGrantFactory(organization=organization, amount_cents=1000)
    purchase = CreditPurchaseFactory(organization=organization, amount_cents=250)

    assert (grant.kind, grant.sequence, grant.currency) == (EntryKind.GRANT, 1, "EUR")
    assert (purchase.kind, purchase.sequence, purchase.balance_after_cents) == (EntryKind.PURCHASE, 2, 1250)
    assert assert_consistent(organization) == 1250


def test_an_unsaved_ledger_entry_is_refused():
    with pytest.raises(TypeError, match=r"credits\.services"):
        CreditGrantFactory.build()
