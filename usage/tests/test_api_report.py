"""POST /api/v1/usage/report: one event, idempotent, validated before anything is stored."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from apikeys.models import Scope
from usage.models import DailyUsage, UsageEvent
from usage.services import usage_cutoff_advance

from .helpers import (
    FREE_REQUESTS,
    FREE_TOKENS,
    REPORT,
    USAGE,
    assert_error,
    assert_ok,
    events_of,
    iso,
    rollups_of,
    totals,
)

pytestmark = pytest.mark.django_db


# --- recording -----------------------------------------------------------------------


def test_report_answers_201_with_the_remaining_quota(service):
    data = assert_ok(service.report(event_type="tokens_used", quantity=120), 201)

    assert set(data) == {"recorded_at", "duplicate", "remaining_quota"}
    assert data["duplicate"] is False
    assert data["remaining_quota"] == {"tokens": FREE_TOKENS - 120, "requests": FREE_REQUESTS}
    recorded_at = datetime.fromisoformat(data["recorded_at"])
    assert abs((timezone.now() - recorded_at).total_seconds()) < 60


def test_report_stores_the_event_as_sent(service):
    moment = timezone.now() - timedelta(hours=1)
    assert_ok(
        service.report(
            event_type="tokens_used",
            quantity=42,
            timestamp=iso(moment),
            idempotency_key="evt-1",
            endpoint="/v1/chat",
            metadata={"model": "small"},
        ),
        201,
    )

    event = events_of(service.org).get()
    assert (event.event_type, event.quantity, event.timestamp) == ("tokens_used", 42, moment)
    assert (event.idempotency_key, event.endpoint, event.metadata) == ("evt-1", "/v1/chat", {"model": "small"})
    assert event.metric.code == "tokens"
    assert event.api_key_id == service.key.pk
    assert event.livemode is True


def test_report_adds_the_event_to_its_days_rollup(service):
    assert_ok(service.report(event_type="tokens_used", quantity=30), 201)
    assert_ok(service.report(event_type="tokens_used", quantity=70), 201)

    [rollup] = rollups_of(service.org, "tokens").values()
    assert rollup.day == timezone.now().date()
    assert (rollup.quantity, rollup.event_count, rollup.max_quantity) == (100, 2, 70)
    assert totals(service.org) == {"tokens": 100, "requests": 0}


def test_report_counts_an_api_call_as_one_request_whatever_its_quantity(service):
    data = assert_ok(service.report(event_type="api_call", quantity=5), 201)

    assert data["remaining_quota"] == {"tokens": FREE_TOKENS, "requests": FREE_REQUESTS - 1}
    assert totals(service.org)["requests"] == 1


def test_report_defaults_quantity_to_one_and_timestamp_to_now(service):
    assert_ok(service.report(event_type="tokens_used"), 201)

    event = events_of(service.org).get()
    assert event.quantity == 1
    assert abs((timezone.now() - event.timestamp).total_seconds()) < 60


def test_report_accepts_a_whole_float_quantity(service):
    data = assert_ok(service.report(event_type="tokens_used", quantity=2.0), 201)

    assert data["remaining_quota"]["tokens"] == FREE_TOKENS - 2
    assert events_of(service.org).get().quantity == 2


def test_report_accepts_a_timestamp_four_minutes_ahead(service):
    assert_ok(service.report(event_type="api_call", timestamp=iso(timezone.now() + timedelta(minutes=4))), 201)

    assert events_of(service.org).count() == 1


def test_report_accepts_metadata_of_exactly_4_kb(service):
    metadata = {"x": "a" * (4096 - len('{"x":""}'))}

    assert_ok(service.report(event_type="api_call", metadata=metadata), 201)

    assert events_of(service.org).get().metadata == metadata


# --- idempotency -----------------------------------------------------------------------


def test_repeated_idempotency_key_is_200_duplicate(service):
    first = assert_ok(service.report(event_type="tokens_used", quantity=500, idempotency_key="k-1"), 201)

    again = assert_ok(service.report(event_type="tokens_used", quantity=500, idempotency_key="k-1"), 200)

    assert again["duplicate"] is True
    assert again["remaining_quota"] == first["remaining_quota"] == {"tokens": 9_500, "requests": FREE_REQUESTS}


def test_repeated_idempotency_key_is_counted_once(service, people):
    for _ in range(3):
        service.report(event_type="tokens_used", quantity=500, idempotency_key="k-1")

    assert events_of(service.org).count() == 1
    [rollup] = rollups_of(service.org, "tokens").values()
    assert (rollup.quantity, rollup.event_count) == (500, 1)
    assert assert_ok(people.get(USAGE))["tokens_used"] == 500


def test_repeated_idempotency_key_keeps_the_first_event(service):
    service.report(event_type="tokens_used", quantity=500, idempotency_key="k-1")

    data = assert_ok(service.report(event_type="tokens_used", quantity=9_000, idempotency_key="k-1"), 200)

    assert data["duplicate"] is True
    assert events_of(service.org).get().quantity == 500
    assert totals(service.org)["tokens"] == 500


def test_same_idempotency_key_in_another_organization_is_a_new_event(service, other_service):
    service.report(event_type="tokens_used", quantity=5, idempotency_key="shared")

    data = assert_ok(other_service.report(event_type="tokens_used", quantity=7, idempotency_key="shared"), 201)

    assert data["duplicate"] is False
    assert totals(service.org)["tokens"] == 5
    assert totals(other_service.org)["tokens"] == 7


def test_events_without_idempotency_key_each_count(service):
    for _ in range(3):
        assert_ok(service.report(event_type="tokens_used", quantity=10), 201)

    assert totals(service.org)["tokens"] == 30


# --- validation --------------------------------------------------------------------------


def _ahead(minutes: int) -> str:
    return iso(timezone.now() + timedelta(minutes=minutes))


INVALID_EVENTS = {
    "unknown event type": (lambda: {"event_type": "coffee_brewed", "quantity": 1}, "event_type"),
    "missing event type": (lambda: {"quantity": 1}, "event_type"),
    "empty event type": (lambda: {"event_type": "", "quantity": 1}, "event_type"),
    "negative quantity": (lambda: {"event_type": "tokens_used", "quantity": -1}, "quantity"),
    "quantity as a string": (lambda: {"event_type": "tokens_used", "quantity": "5"}, "quantity"),
    "quantity as a boolean": (lambda: {"event_type": "tokens_used", "quantity": True}, "quantity"),
    "fractional quantity": (lambda: {"event_type": "tokens_used", "quantity": 1.5}, "quantity"),
    "quantity over the maximum": (lambda: {"event_type": "tokens_used", "quantity": 10**12 + 1}, "quantity"),
    "timestamp 6 minutes ahead": (lambda: {"event_type": "api_call", "timestamp": _ahead(6)}, "timestamp"),
    "timestamp a year ahead": (lambda: {"event_type": "api_call", "timestamp": _ahead(525_600)}, "timestamp"),
    "malformed timestamp": (lambda: {"event_type": "api_call", "timestamp": "yesterday at noon"}, "timestamp"),
    "timestamp as a number": (lambda: {"event_type": "api_call", "timestamp": 1_790_000_000}, "timestamp"),
    "timestamp beyond year 9999 in UTC": (
        lambda: {"event_type": "api_call", "timestamp": "9999-12-31T23:59:59-01:00"},
        "timestamp",
    ),
    "timestamp before year 1 in UTC": (
        lambda: {"event_type": "api_call", "timestamp": "0001-01-01T00:00:00+01:00"},
        "timestamp",
    ),
    "metadata over 4 KB": (
        lambda: {"event_type": "api_call", "metadata": {"x": "a" * (4097 - len('{"x":""}'))}},
        "metadata",
    ),
    "metadata a list": (lambda: {"event_type": "api_call", "metadata": ["a", "b"]}, "metadata"),
    "metadata a string": (lambda: {"event_type": "api_call", "metadata": "{}"}, "metadata"),
    "empty idempotency key": (lambda: {"event_type": "api_call", "idempotency_key": ""}, "idempotency_key"),
    "idempotency key too long": (lambda: {"event_type": "api_call", "idempotency_key": "k" * 256}, "idempotency_key"),
    "endpoint too long": (lambda: {"event_type": "api_call", "endpoint": "/" * 256}, "endpoint"),
}


@pytest.mark.parametrize("make_payload, field", INVALID_EVENTS.values(), ids=INVALID_EVENTS.keys())
def test_report_refuses_an_invalid_event_and_stores_nothing(service, make_payload, field):
    service.report(event_type="tokens_used", quantity=1)  # something stored already

    error = assert_error(service.report(**make_payload()), 400, "validation_error")

    assert field in error["details"]
    assert error["details"][field]
    assert events_of(service.org).count() == 1
    assert totals(service.org) == {"tokens": 1, "requests": 0}


def test_report_refuses_a_body_that_is_not_an_object(service):
    error = assert_error(
        service.client.post(REPORT, [{"event_type": "api_call"}], format="json"), 400, "validation_error"
    )

    assert "non_field_errors" in error["details"]
    assert not events_of(service.org).exists()


def test_report_refuses_a_unique_count_event_without_its_key(service, extra_metrics):
    error = assert_error(service.report(event_type="user_active", metadata={"account": "a-1"}), 400, "validation_error")

    assert "metadata" in error["details"]
    assert "user_id" in error["details"]["metadata"][0]
    assert not events_of(service.org).exists()
    assert not DailyUsage.objects.filter(organization=service.org).exists()


def test_report_counts_distinct_values_of_a_unique_count_metric(service, extra_metrics):
    for user_id in ["u-1", "u-2", "u-1"]:
        assert_ok(service.report(event_type="user_active", metadata={"user_id": user_id}), 201)

    assert totals(service.org)["active_users"] == 2
    assert events_of(service.org).count() == 3


# --- the usage cutoff --------------------------------------------------------------------


def test_report_refuses_usage_before_the_cutoff_although_the_key_was_cached(service, long_grace):
    # The first request caches the key's principal, with no cutoff yet.
    assert_ok(service.report(event_type="api_call", timestamp=iso(timezone.now() - timedelta(days=3))), 201)
    usage_cutoff_advance(organization_id=service.org.pk, closed_before=timezone.now() - timedelta(days=1))

    error = assert_error(
        service.report(event_type="api_call", timestamp=iso(timezone.now() - timedelta(days=2))),
        400,
        "validation_error",
    )

    assert "timestamp" in error["details"]
    assert events_of(service.org).count() == 1


def test_report_accepts_usage_after_the_cutoff(service, long_grace):
    usage_cutoff_advance(organization_id=service.org.pk, closed_before=timezone.now() - timedelta(days=1))

    assert_ok(service.report(event_type="api_call", timestamp=iso(timezone.now() - timedelta(hours=23))), 201)

    assert events_of(service.org).count() == 1


def test_usage_cutoff_only_moves_forward(service, long_grace):
    later = timezone.now() - timedelta(days=1)
    usage_cutoff_advance(organization_id=service.org.pk, closed_before=later)

    cutoff = usage_cutoff_advance(organization_id=service.org.pk, closed_before=later - timedelta(days=10))

    assert cutoff.closed_before == later
    error = assert_error(
        service.report(event_type="api_call", timestamp=iso(later - timedelta(days=5))), 400, "validation_error"
    )
    assert "timestamp" in error["details"]


# --- authentication and scopes ------------------------------------------------------------


def test_report_without_credentials_is_401(api_client, org):
    assert_error(api_client.post(REPORT, {"event_type": "api_call"}, format="json"), 401, "not_authenticated")

    assert not UsageEvent.objects.exists()


def test_report_with_a_users_jwt_is_401(auth_client):
    assert_error(auth_client.post(REPORT, {"event_type": "api_call"}, format="json"), 401, "authentication_failed")

    assert not UsageEvent.objects.exists()


def test_report_with_an_unknown_key_is_401(api_client, service):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {service.secret}x")

    assert_error(api_client.post(REPORT, {"event_type": "api_call"}, format="json"), 401, "authentication_failed")


def test_report_with_a_key_lacking_usage_write_is_403(org, make_service):
    reader = make_service(org, scopes=[Scope.USAGE_READ])

    assert_error(reader.report(event_type="api_call"), 403, "permission_denied")

    assert not events_of(org).exists()


# --- test mode ----------------------------------------------------------------------------


def test_test_mode_event_is_stored_as_not_live(test_service):
    assert_ok(test_service.report(event_type="tokens_used", quantity=300), 201)

    event = events_of(test_service.org).get()
    assert event.livemode is False
    assert event.quantity == 300


def test_test_mode_event_is_not_counted(test_service, service, people):
    service.report(event_type="tokens_used", quantity=100)

    data = assert_ok(test_service.report(event_type="tokens_used", quantity=300), 201)

    assert data["remaining_quota"] == {"tokens": FREE_TOKENS - 100, "requests": FREE_REQUESTS}
    [rollup] = rollups_of(test_service.org, "tokens").values()
    assert (rollup.quantity, rollup.event_count) == (100, 1)
    assert assert_ok(people.get(USAGE))["tokens_used"] == 100
