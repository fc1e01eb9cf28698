"""GET, POST /api/v1/disputes, GET /disputes/{id}, POST /disputes/{id}/messages."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from billing_project.testing import assert_error, assert_ok
from credits.services import credits_grant, credits_spend
from idempotency.models import IdempotencyRecord
from invoices.services import invoice_mark_paid
from invoices.tests.factories import InvoiceFactory
from organizations.models import Role
from payments import disputes
from payments.models import Dispute, DisputeResolution, DisputeStatus
from payments.tests.factories import chargeback as chargeback_of

pytestmark = pytest.mark.django_db

DISPUTES = "/api/v1/disputes"


def detail(dispute_id) -> str:
    return f"{DISPUTES}/{dispute_id}"


def messages_of(dispute_id) -> str:
    return f"{DISPUTES}/{dispute_id}/messages"


def paid_invoice(org, amount=2999):
    return invoice_mark_paid(invoice=InvoiceFactory(organization=org, lines=[amount], finalized=True))


def spend_entry(org, amount=500, reference="job-7"):
    credits_grant(organization=org, amount_cents=10_000, reason="Goodwill")
    return credits_spend(organization=org, amount_cents=amount, reference=reference, idempotency_key=reference).entry


def body_for(invoice=None, entry=None, **changes) -> dict:
    body = {"reason": "duplicate", "description": "We were charged twice for November.", "requested_refund_cents": 0}
    if invoice is not None:
        body["invoice_id"] = str(invoice.pk)
    if entry is not None:
        body["transaction_id"] = str(entry.pk)
    return {**body, **changes}


def chargeback(org, reference="du_api"):
    return chargeback_of(org, reference=reference)


@pytest.fixture
def owner(team):
    return team.client(Role.OWNER)


@pytest.fixture
def invoice(team):
    return paid_invoice(team.org)


# --- happy paths -------------------------------------------------------------------------------


def test_open_a_dispute_about_an_invoice(owner, team, invoice):
    response = owner.post(DISPUTES, body_for(invoice, requested_refund_cents=2999), format="json")

    data = assert_ok(response, 201)
    assert response.json()["message"] == "Dispute opened."
    dispute = Dispute.objects.get()
    assert data["id"] == str(dispute.pk)
    assert {key: data[key] for key in ("source", "status", "invoice_id", "invoice_number", "transaction_id")} == {
        "source": "customer",
        "status": "open",
        "invoice_id": str(invoice.pk),
        "invoice_number": invoice.number,
        "transaction_id": None,
    }
    assert (data["reason"], data["requested_refund_cents"], data["amount_cents"], data["currency"]) == (
        "duplicate",
        2999,
        2999,
        "USD",
    )
    assert (data["resolution"], data["resolved_at"], data["gateway"]) == (None, None, "")
    [opened] = data["history"]
    assert {key: opened[key] for key in ("kind", "actor", "from_status", "to_status")} == {
        "kind": "status_changed",
        "actor": "customer",
        "from_status": None,
        "to_status": "open",
    }
    assert opened["author_name"] == team.users[Role.OWNER].get_full_name()
    assert dispute.opened_by == team.users[Role.OWNER]


def test_open_a_dispute_about_a_credit_charge(owner, team):
    entry = spend_entry(team.org, 500)
    data = assert_ok(owner.post(DISPUTES, body_for(entry=entry, requested_refund_cents=500), format="json"), 201)
    assert (data["transaction_id"], data["invoice_id"], data["requested_refund_cents"]) == (str(entry.pk), None, 500)


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.BILLING])
def test_billing_roles_open_and_read_disputes(team, invoice, role):
    client = team.client(role)
    created = assert_ok(client.post(DISPUTES, body_for(invoice), format="json"), 201)
    assert assert_ok(client.get(detail(created["id"])))["id"] == created["id"]


def test_the_list_holds_both_kinds_with_their_history_newest_first(owner, team, invoice):
    gateway = chargeback(team.org)
    Dispute.objects.filter(pk=gateway.pk).update(opened_at=timezone.now() - timedelta(days=1))
    customer = assert_ok(owner.post(DISPUTES, body_for(invoice), format="json"), 201)

    body = owner.get(DISPUTES).json()
    assert body["success"] is True
    assert body["meta"] == {"total": 2, "limit": 20, "offset": 0}
    assert [row["id"] for row in body["data"]] == [customer["id"], str(gateway.pk)]
    theirs = body["data"][1]
    assert (theirs["source"], theirs["status"], theirs["gateway"], theirs["reason"], theirs["amount_cents"]) == (
        "gateway",
        "open",
        "stripe",
        "fraudulent",
        2999,
    )
    assert body["data"][0]["history"][0]["to_status"] == "open"


def test_the_list_pages_and_filters(owner, team):
    for number in range(3):
        disputes.dispute_open(
            organization=team.org,
            opened_by=team.users[Role.OWNER],
            reason="other",
            description=f"Number {number}",
            requested_refund_cents=0,
            invoice_id=paid_invoice(team.org).pk,
        )
    chargeback(team.org)

    page = owner.get(DISPUTES, {"limit": 2, "offset": 1}).json()
    assert page["meta"] == {"total": 4, "limit": 2, "offset": 1} and len(page["data"]) == 2
    assert {row["source"] for row in assert_ok(owner.get(DISPUTES, {"source": "gateway"}))} == {"gateway"}
    assert len(assert_ok(owner.get(DISPUTES, {"source": "customer", "status": "open"}))) == 3
    assert assert_ok(owner.get(DISPUTES, {"status": "resolved"})) == []
    error = assert_error(owner.get(DISPUTES, {"status": "bogus"}), 400, "validation_error")
    assert "status" in error["details"]


def test_one_dispute_with_its_messages_and_staff_decision(owner, team, invoice):
    created = assert_ok(owner.post(DISPUTES, body_for(invoice, requested_refund_cents=1000), format="json"), 201)

    response = owner.post(messages_of(created["id"]), {"message": "Statement attached by email."}, format="json")
    message = assert_ok(response, 201)
    assert (message["kind"], message["actor"], message["message"], message["to_status"]) == (
        "message",
        "customer",
        "Statement attached by email.",
        None,
    )
    dispute = Dispute.objects.get(pk=created["id"])
    disputes.dispute_transition(dispute=dispute, to_status=DisputeStatus.UNDER_REVIEW)
    disputes.dispute_message_add(dispute=dispute, message="We are checking with the bank.", actor="staff")
    disputes.dispute_transition(
        dispute=dispute, to_status=DisputeStatus.RESOLVED, resolution=DisputeResolution.REFUND, note="Refunded $10.00."
    )

    data = assert_ok(owner.get(detail(created["id"])))
    assert (data["status"], data["resolution"], data["resolution_note"]) == ("resolved", "refund", "Refunded $10.00.")
    assert data["resolved_at"] is not None
    assert [(line["kind"], line["actor"], line["to_status"]) for line in data["history"]] == [
        ("status_changed", "customer", "open"),
        ("message", "customer", None),
        ("status_changed", "staff", "under_review"),
        ("message", "staff", None),
        ("status_changed", "staff", "resolved"),
    ]
    assert data["history"][3]["author_name"] is None  # staff are "Support", never named

    refused = owner.post(messages_of(created["id"]), {"message": "Thanks"}, format="json")
    assert_error(refused, 409, "conflict")


def test_unknown_fields_in_the_body_are_ignored(owner, invoice):
    assert_ok(owner.post(DISPUTES, body_for(invoice, status="resolved", priority="urgent"), format="json"), 201)
    assert Dispute.objects.get().status == "open"


# --- validation, field by field ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reason": "fraudulent"}, "reason"),
        ({"reason": None}, "reason"),
        ({"description": ""}, "description"),
        ({"description": "   "}, "description"),
        ({"description": "x" * 2001}, "description"),
        ({"description": ["a list"]}, "description"),
        ({"requested_refund_cents": -1}, "requested_refund_cents"),
        ({"requested_refund_cents": "100"}, "requested_refund_cents"),
        ({"requested_refund_cents": 10.5}, "requested_refund_cents"),
        ({"requested_refund_cents": 1.0}, "requested_refund_cents"),
        ({"requested_refund_cents": True}, "requested_refund_cents"),
        ({"requested_refund_cents": 10**13}, "requested_refund_cents"),
        ({"requested_refund_cents": 3000}, "requested_refund_cents"),  # more than was paid
        ({"invoice_id": "INV-1"}, "invoice_id"),
    ],
)
def test_a_bad_field_is_a_400_naming_it_and_nothing_is_written(owner, invoice, changes, field):
    response = owner.post(DISPUTES, body_for(invoice, **changes), format="json")
    error = assert_error(response, 400, "validation_error")
    assert field in error["details"]
    assert not Dispute.objects.exists()


@pytest.mark.parametrize("missing", ["reason", "description", "requested_refund_cents"])
def test_a_missing_field_is_a_400(owner, invoice, missing):
    body = body_for(invoice)
    del body[missing]
    assert missing in assert_error(owner.post(DISPUTES, body, format="json"), 400, "validation_error")["details"]


def test_exactly_one_of_invoice_id_and_transaction_id(owner, team, invoice):
    entry = spend_entry(team.org)
    for body in (body_for(), body_for(invoice, entry), body_for(invoice_id=None, transaction_id=None)):
        error = assert_error(owner.post(DISPUTES, body, format="json"), 400, "validation_error")
        assert set(error["details"]) == {"invoice_id", "transaction_id"}
    assert not Dispute.objects.exists()


@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800"])
def test_text_no_database_stores_is_a_400(owner, invoice, escape):
    raw = json.dumps(body_for(invoice, description="DESC")).replace("DESC", f"bad {escape} text")
    response = owner.post(DISPUTES, raw, content_type="application/json")
    assert "description" in assert_error(response, 400, "validation_error")["details"]
    assert not Dispute.objects.exists()


def test_a_void_invoice_or_credit_that_came_in_is_a_400(owner, team):
    from invoices.services import invoice_void

    void = invoice_void(invoice=InvoiceFactory(organization=team.org, lines=[1000], finalized=True))
    assert (
        "invoice_id"
        in assert_error(owner.post(DISPUTES, body_for(void), format="json"), 400, "validation_error")["details"]
    )
    grant = credits_grant(organization=team.org, amount_cents=100, reason="Goodwill")
    response = owner.post(DISPUTES, body_for(entry=grant), format="json")
    assert "transaction_id" in assert_error(response, 400, "validation_error")["details"]


@pytest.mark.parametrize("message", ["", "x" * 2001])
def test_a_bad_message_is_a_400(owner, invoice, message):
    created = assert_ok(owner.post(DISPUTES, body_for(invoice), format="json"), 201)
    response = owner.post(messages_of(created["id"]), {"message": message}, format="json")
    assert "message" in assert_error(response, 400, "validation_error")["details"]
    assert Dispute.objects.get().events.count() == 1


# --- who may --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [("get", DISPUTES), ("post", DISPUTES), ("get", detail(uuid.uuid4())), ("post", messages_of(uuid.uuid4()))],
)
def test_without_credentials_it_is_a_401(method, url):
    response = getattr(APIClient(), method)(url, {}, format="json")
    assert_error(response, 401, "not_authenticated")


def test_members_are_refused_403_and_nothing_is_written(team, invoice):
    member = team.client(Role.MEMBER)
    assert_error(member.get(DISPUTES), 403, "permission_denied")
    assert_error(member.post(DISPUTES, body_for(invoice), format="json"), 403, "permission_denied")
    dispute = disputes.dispute_open(
        organization=team.org,
        opened_by=team.users[Role.OWNER],
        reason="other",
        description="Theirs.",
        requested_refund_cents=0,
        invoice_id=invoice.pk,
    )
    assert_error(member.get(detail(dispute.pk)), 403, "permission_denied")
    assert_error(member.post(messages_of(dispute.pk), {"message": "Hi"}, format="json"), 403, "permission_denied")
    assert Dispute.objects.count() == 1 and dispute.events.count() == 1


def test_another_organizations_invoice_transaction_and_dispute_are_404(owner, other_team):
    their_invoice, their_entry = paid_invoice(other_team.org), spend_entry(other_team.org)
    assert_error(owner.post(DISPUTES, body_for(their_invoice), format="json"), 404, "not_found")
    assert_error(owner.post(DISPUTES, body_for(entry=their_entry), format="json"), 404, "not_found")
    assert_error(owner.post(DISPUTES, body_for(invoice_id=str(uuid.uuid4())), format="json"), 404, "not_found")

    theirs = disputes.dispute_open(
        organization=other_team.org,
        opened_by=other_team.users[Role.OWNER],
        reason="other",
        description="Theirs.",
        requested_refund_cents=0,
        invoice_id=their_invoice.pk,
    )
    assert_error(owner.get(detail(theirs.pk)), 404, "not_found")
    assert_error(owner.post(messages_of(theirs.pk), {"message": "Hi"}, format="json"), 404, "not_found")
    assert assert_ok(owner.get(DISPUTES)) == []
    assert theirs.events.count() == 1


def test_a_draft_invoice_is_404(owner, team):
    draft = InvoiceFactory(organization=team.org, lines=[1000])
    assert_error(owner.post(DISPUTES, body_for(draft), format="json"), 404, "not_found")


def test_an_unknown_dispute_id_is_404(owner):
    assert_error(owner.get(detail(uuid.uuid4())), 404, "not_found")
    assert_error(owner.get(f"{DISPUTES}/not-a-uuid"), 404, "not_found")


# --- one at a time, chargebacks, idempotency ----------------------------------------------------------


def test_a_second_open_dispute_of_the_same_invoice_is_409(owner, invoice):
    assert_ok(owner.post(DISPUTES, body_for(invoice), format="json"), 201)
    error = assert_error(owner.post(DISPUTES, body_for(invoice, reason="other"), format="json"), 409, "conflict")
    assert "already has an open dispute" in error["message"]
    assert Dispute.objects.count() == 1


def test_a_chargeback_takes_no_messages(owner, team):
    dispute = chargeback(team.org)
    assert_error(owner.post(messages_of(dispute.pk), {"message": "Hello"}, format="json"), 409, "conflict")
    assert dispute.events.count() == 0


def test_a_replayed_idempotency_key_answers_the_first_response_and_opens_once(owner, invoice):
    body = body_for(invoice, requested_refund_cents=100)
    first = owner.post(DISPUTES, body, format="json", HTTP_IDEMPOTENCY_KEY="dispute-1")
    again = owner.post(DISPUTES, body, format="json", HTTP_IDEMPOTENCY_KEY="dispute-1")

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Dispute.objects.count() == 1
    other = owner.post(DISPUTES, {**body, "reason": "other"}, format="json", HTTP_IDEMPOTENCY_KEY="dispute-1")
    assert_error(other, 422, "idempotency_key_reused")
    assert IdempotencyRecord.objects.filter(key="dispute-1").count() == 1


def test_a_replayed_message_is_added_once(owner, invoice):
    created = assert_ok(owner.post(DISPUTES, body_for(invoice), format="json"), 201)
    for _ in range(2):
        response = owner.post(
            messages_of(created["id"]), {"message": "Once."}, format="json", HTTP_IDEMPOTENCY_KEY="msg-1"
        )
        assert response.status_code == 201
    assert Dispute.objects.get().events.filter(kind="message").count() == 1


def test_the_schema_documents_the_disputes_endpoints_and_their_errors(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    create = paths["/api/v1/disputes"]["post"]
    assert {"201", "400", "401", "403", "404", "409", "422"} <= set(create["responses"])
    assert "502" not in create["responses"]  # no gateway is called
    assert create["summary"] and create["requestBody"]["content"]["application/json"]["examples"]
    assert {"200", "401", "403", "404"} <= set(paths["/api/v1/disputes/{dispute_id}"]["get"]["responses"])
    assert "409" in paths["/api/v1/disputes/{dispute_id}/messages"]["post"]["responses"]
    parameters = {parameter["name"] for parameter in paths["/api/v1/disputes"]["get"]["parameters"]}
    assert {"limit", "offset", "status", "source", "X-Current-Org"} <= parameters
