"""GET /invoices and /credit-notes read their queries with invoices.filters: the same
parameters as documented, read as DRF reads them, refused in the same words."""

import pytest

from invoices.filters import CreditNoteFilter, InvoiceFilter
from invoices.serializers import CreditNoteListQuerySerializer, InvoiceListQuerySerializer

pytestmark = pytest.mark.django_db

INVOICES = "/api/v1/invoices"
CREDIT_NOTES = "/api/v1/credit-notes"


@pytest.mark.parametrize(
    "filterset, serializer",
    [(InvoiceFilter, InvoiceListQuerySerializer), (CreditNoteFilter, CreditNoteListQuerySerializer)],
)
def test_the_filters_read_exactly_the_documented_parameters(filterset, serializer):
    assert list(filterset.base_filters) == list(serializer().fields)


@pytest.mark.parametrize("status", ["draft", "OPEN", " open", "null"])
def test_a_status_that_is_not_an_issued_one_is_refused_in_drfs_words(team, status):
    response = team.owner.get(INVOICES, {"status": status})

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"status": [f'"{status}" is not a valid choice.']}


def test_an_empty_status_lists_every_issued_invoice(team):
    assert team.owner.get(INVOICES, {"status": ""}).status_code == 200


@pytest.mark.parametrize("invoice_id", ["not-a-uuid", " 5f0c8e0a-8d6b-4c55-9d4c-0d6c3f6f9a11", "\x00"])
def test_an_invoice_id_that_is_not_a_uuid_is_refused_in_drfs_words(team, invoice_id):
    response = team.owner.get(CREDIT_NOTES, {"invoice_id": invoice_id})

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"invoice_id": ["Must be a valid UUID."]}


@pytest.mark.parametrize(
    "invoice_id", ["5f0c8e0a8d6b4c559d4c0d6c3f6f9a11", "{5F0C8E0A-8D6B-4C55-9D4C-0D6C3F6F9A11}", ""]
)
def test_the_forms_of_a_uuid_drf_reads_are_read(team, invoice_id):
    assert team.owner.get(CREDIT_NOTES, {"invoice_id": invoice_id}).status_code == 200
