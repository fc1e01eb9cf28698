"""Hostile input on the usage service endpoints: text no database stores (NUL, lone
surrogates), nesting deeper than anyone needs, and integers that are not ASCII digits.
Each is a clear 4xx for the event it is in; the batch keeps its other events."""

import json

import pytest

from usage.events import MAX_METADATA_DEPTH

from .helpers import BATCH, REPORT, assert_error, assert_ok, events_of, totals

pytestmark = pytest.mark.django_db

# Bodies are written by hand: a JSON escape (`\u0000`, `\ud800`) reaches the server as six
# ASCII characters, the way any client library sends a NUL or a lone surrogate.
NUL = "\\u0000"
SURROGATE = "\\ud800"


def post_raw(service, path: str, body: str):
    return service.client.generic("POST", path, body.encode(), content_type="application/json")


def event_json(**fields: str) -> str:
    """A tokens_used event whose fields are JSON texts, given verbatim."""
    members = {"event_type": '"tokens_used"', "quantity": "5", **fields}
    return "{" + ",".join(f'"{name}":{value}' for name, value in members.items()) + "}"


BAD_EVENTS = [
    pytest.param({"endpoint": f'"/v1/chat{NUL}"'}, "endpoint", id="nul-in-endpoint"),
    pytest.param({"endpoint": f'"/v1/{SURROGATE}chat"'}, "endpoint", id="surrogate-in-endpoint"),
    pytest.param({"idempotency_key": f'"key{NUL}"'}, "idempotency_key", id="nul-in-idempotency-key"),
    pytest.param({"idempotency_key": f'"key-{SURROGATE}"'}, "idempotency_key", id="surrogate-in-idempotency-key"),
    pytest.param({"metadata": f'{{"model":"gpt{NUL}"}}'}, "metadata", id="nul-in-metadata-value"),
    pytest.param({"metadata": f'{{"mo{NUL}del":"gpt"}}'}, "metadata", id="nul-in-metadata-key"),
    pytest.param({"metadata": f'{{"a":{{"b":["ok","x{SURROGATE}"]}}}}'}, "metadata", id="surrogate-nested-in-metadata"),
    pytest.param({"metadata": f'{{"{SURROGATE}":1}}'}, "metadata", id="surrogate-in-metadata-key"),
    pytest.param({"metadata": "\\udfff".join(['{"a":"', '"}'])}, "metadata", id="low-surrogate-in-metadata"),
    pytest.param({"timestamp": f'"2026-01-01T00:00:00{SURROGATE}"'}, "timestamp", id="surrogate-in-timestamp"),
    pytest.param({"metadata": '{"ratio":1e400}'}, "metadata", id="infinite-number-in-metadata"),
]


@pytest.mark.parametrize(("fields", "field"), BAD_EVENTS)
def test_report_of_an_event_with_unstorable_text_is_400_and_stores_nothing(service, fields, field):
    response = post_raw(service, REPORT, event_json(**fields))

    error = assert_error(response, 400, "validation_error")
    assert field in error["details"]
    assert events_of(service.org).count() == 0
    assert totals(service.org).get("tokens", 0) == 0


def test_report_with_a_surrogate_in_the_event_type_is_400(service):
    response = post_raw(service, REPORT, f'{{"event_type":"tokens{SURROGATE}"}}')

    error = assert_error(response, 400, "validation_error")
    assert "event_type" in error["details"]
    assert events_of(service.org).count() == 0


@pytest.mark.parametrize(("fields", "field"), BAD_EVENTS)
def test_batch_reports_the_event_with_unstorable_text_and_keeps_the_others(service, fields, field):
    good_before = event_json(idempotency_key='"good-1"')
    good_after = event_json(idempotency_key='"good-2"')
    body = f'{{"events":[{good_before},{event_json(**fields)},{good_after}]}}'

    data = assert_ok(post_raw(service, BATCH, body))

    assert data["processed_count"] == 2
    assert data["failed_count"] == 1
    assert [(error["index"], error["field"]) for error in data["errors"]] == [(1, field)]
    assert set(events_of(service.org).values_list("idempotency_key", flat=True)) == {"good-1", "good-2"}
    assert totals(service.org)["tokens"] == 10


def test_escaped_emoji_and_other_valid_non_ascii_text_are_stored(service):
    # `\ud83d\ude00` is a valid surrogate pair (U+1F600): only lone surrogates are refused.
    metadata = '{"mood":"\\ud83d\\ude00","city":"Z\\u00fcrich","raw":"\u65e5\u672c"}'
    body = event_json(endpoint='"/v1/\\u00e9"', idempotency_key='"k-\\ud83d\\ude00"', metadata=metadata)

    assert_ok(post_raw(service, REPORT, body), 201)

    event = events_of(service.org).get()
    assert event.endpoint == "/v1/\u00e9"
    assert event.idempotency_key == "k-\U0001f600"
    assert event.metadata == {"mood": "\U0001f600", "city": "Z\u00fcrich", "raw": "\u65e5\u672c"}


def test_a_backslash_followed_by_u0000_is_ordinary_text(service):
    # The JSON text `\\u0000` is a backslash and five characters, not a NUL.
    body = event_json(metadata='{"path":"C:\\\\u0000"}', endpoint='"a\\\\u0000"')

    assert_ok(post_raw(service, REPORT, body), 201)

    event = events_of(service.org).get()
    assert event.metadata == {"path": "C:\\u0000"}
    assert event.endpoint == "a\\u0000"


# --- nesting ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [REPORT, BATCH])
@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_a_body_nested_100000_levels_deep_is_400(service, path, opening):
    response = post_raw(service, path, opening * 100_000)

    error = assert_error(response, 400, "validation_error")
    assert "nested" in error["message"].lower()
    assert events_of(service.org).count() == 0


def nested_metadata(depth: int) -> str:
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def test_metadata_nested_deeper_than_the_limit_is_400(service):
    response = post_raw(service, REPORT, event_json(metadata=nested_metadata(MAX_METADATA_DEPTH + 1)))

    error = assert_error(response, 400, "validation_error")
    assert "metadata" in error["details"]
    assert events_of(service.org).count() == 0


def test_metadata_nested_at_the_limit_is_stored(service):
    assert_ok(post_raw(service, REPORT, event_json(metadata=nested_metadata(MAX_METADATA_DEPTH))), 201)

    assert events_of(service.org).count() == 1


def test_metadata_nested_hundreds_of_levels_deep_fails_only_its_event(service):
    deep_event = event_json(metadata='{"a":' + "[" * 500 + "]" * 500 + "}")
    body = '{"events":[' + deep_event + "," + event_json(idempotency_key='"ok"') + "]}"

    data = assert_ok(post_raw(service, BATCH, body))

    assert (data["processed_count"], data["failed_count"]) == (1, 1)
    assert data["errors"][0]["index"] == 0
    assert data["errors"][0]["field"] == "metadata"
    assert list(events_of(service.org).values_list("idempotency_key", flat=True)) == ["ok"]


def test_metadata_with_many_sibling_objects_is_not_deep(service):
    metadata = json.dumps({f"k{i}": {"v": [i]} for i in range(100)})

    assert_ok(post_raw(service, REPORT, event_json(metadata=metadata)), 201)


# --- query integers -----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["\u00b2", "\u0663", "\uff11", "1\u00b2", "+1", " 1", "1_000", "0x10", "-0"])
@pytest.mark.parametrize("name", ["tokens_needed", "requests_needed", "quantity"])
def test_quota_check_refuses_anything_but_ascii_digits(service, name, value):
    params = {name: value} if name != "quantity" else {"metric": "tokens", "quantity": value}

    error = assert_error(service.quota(**params), 400, "validation_error")

    assert name in error["details"]


def test_quota_check_refuses_an_absurdly_long_number(service):
    error = assert_error(service.quota(tokens_needed="9" * 4000), 400, "validation_error")

    assert "tokens_needed" in error["details"]


def test_quota_check_still_reads_plain_digits(service):
    assert assert_ok(service.quota(tokens_needed="0012", requests_needed="1"))["allowed"] is True


def test_quota_check_with_a_nul_metric_is_400(service):
    assert_error(service.quota(metric="tokens\x00"), 400, "validation_error")


# --- PostgreSQL: what it refuses to store -------------------------------------------------


@pytest.mark.postgres
def test_postgres_keeps_the_rest_of_a_batch_around_nul_and_surrogates(service):
    bad = [
        event_json(endpoint=f'"{NUL}"'),
        event_json(metadata=f'{{"k":"{SURROGATE}"}}'),
        event_json(idempotency_key=f'"{NUL}{SURROGATE}"'),
    ]
    good = [event_json(idempotency_key=f'"g-{i}"', metadata='{"emoji":"\\ud83d\\ude00"}') for i in range(3)]
    body = '{"events":[' + ",".join([good[0], *bad, good[1], good[2]]) + "]}"

    data = assert_ok(post_raw(service, BATCH, body))

    assert (data["processed_count"], data["failed_count"]) == (3, 3)
    assert [error["index"] for error in data["errors"]] == [1, 2, 3]
    assert events_of(service.org).count() == 3
    assert totals(service.org)["tokens"] == 15
