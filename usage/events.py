"""Parsing one reported usage event. Hand-written rather than a DRF serializer: this runs
for every event of every batch, and a serializer costs more than the whole insert."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from billing_project.api.text import find_text_problem, shown, text_problem
from plans.catalogue import Catalogue, MetricInfo
from plans.models import Aggregation

from .periods import OpenWindow

MAX_QUANTITY = 10**12
MAX_METADATA_BYTES = 4096
MAX_METADATA_DEPTH = 32
MAX_FUTURE = timedelta(minutes=5)


@dataclass(slots=True)
class ParsedEvent:
    metric: MetricInfo
    event_type: str
    quantity: int
    timestamp: datetime
    idempotency_key: str | None
    endpoint: str
    metadata: str  # JSON text
    unique_value: str | None


class EventError(Exception):
    """Why one event was refused: `field` and a message for the client."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(message)

    def as_dict(self) -> dict:
        return {self.field: [self.message]}


def _check_text(field: str, value: str) -> None:
    """Refuse text no database stores (a NUL, a lone surrogate)."""
    problem = text_problem(value)
    if problem:
        raise EventError(field, problem)


def _parse_timestamp(value, now: datetime) -> datetime:
    if value is None:
        return now
    if not isinstance(value, str):
        raise EventError("timestamp", "Must be an ISO 8601 date-time string, e.g. 2026-11-24T10:30:00Z.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise EventError("timestamp", f"'{shown(value, 40)}' is not an ISO 8601 date-time.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00 is past year 9999 in UTC
        raise EventError("timestamp", f"'{shown(value, 40)}' is out of range.") from None


def _depth(value) -> int:
    """How deeply objects and arrays nest in `value` (a scalar is 0)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


# Built once: json.dumps with any option builds a new encoder on every call.
_METADATA_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _metadata_json(metadata: dict) -> str:
    """`metadata` as compact JSON text, if it can be stored: finite numbers, no NUL or lone
    surrogate in a key or a value, at most MAX_METADATA_BYTES and MAX_METADATA_DEPTH.
    The checks cost next to nothing for ordinary metadata (ASCII, shallow)."""
    try:
        text = _METADATA_ENCODER.encode(metadata)
    except RecursionError:
        raise EventError("metadata", f"Must be nested at most {MAX_METADATA_DEPTH} levels deep.") from None
    except ValueError:  # a float that overflowed to infinity, e.g. 1e400
        raise EventError("metadata", "Numbers must be finite.") from None
    # json.dumps writes a NUL as the escape \u0000 (an escaped backslash before `u0000`
    # looks the same: the walk tells them apart) and keeps a lone surrogate as is.
    if "\\u0000" in text or (not text.isascii() and text_problem(text)):
        problem = find_text_problem(metadata, "metadata")
        if problem:
            where, message = problem
            raise EventError("metadata", f"{message[:-1]} (at {where}).")
    if len(text) > MAX_METADATA_BYTES or len(text.encode()) > MAX_METADATA_BYTES:
        raise EventError("metadata", f"Must be at most {MAX_METADATA_BYTES} bytes as JSON.")
    # More brackets than the limit are needed to nest that deep: count before walking.
    if text.count("{") + text.count("[") > MAX_METADATA_DEPTH and _depth(metadata) > MAX_METADATA_DEPTH:
        raise EventError("metadata", f"Must be nested at most {MAX_METADATA_DEPTH} levels deep.")
    return text


def distinct_value(value) -> str:
    """A unique_count metric's value as it is counted and stored: its text, at most 255
    characters (1 and "1" are one value). Readers of raw events' metadata use this too."""
    return str(value)[:255]


def parse_event(raw, *, now: datetime, catalogue: Catalogue, window: OpenWindow | None) -> ParsedEvent:
    """Validate one event dict; raise EventError with the first problem found. An event
    dated before the organization's open billing `window` is refused."""
    if not isinstance(raw, dict):
        raise EventError("non_field_errors", "Each event must be a JSON object.")
    event_type = raw.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise EventError("event_type", "This field is required.")
    metric = catalogue.metrics_by_event_type.get(event_type)
    if metric is None:
        _check_text("event_type", event_type)
        raise EventError("event_type", f"Unknown event type '{shown(event_type, 64)}'.")

    quantity = raw.get("quantity", 1)
    if isinstance(quantity, bool) or not isinstance(quantity, (int, float)):
        raise EventError("quantity", "Must be a number.")
    if isinstance(quantity, float):
        if not quantity.is_integer():
            raise EventError("quantity", "Must be a whole number.")
        quantity = int(quantity)
    if quantity < 0:
        raise EventError("quantity", "Must not be negative.")
    if quantity > MAX_QUANTITY:
        raise EventError("quantity", f"Must be at most {MAX_QUANTITY}.")

    timestamp = _parse_timestamp(raw.get("timestamp"), now)
    if timestamp > now + MAX_FUTURE:
        raise EventError("timestamp", "Must not be more than 5 minutes in the future.")
    if window is not None and window.since is not None and timestamp < window.since:
        raise EventError("timestamp", window.refusal())

    key = raw.get("idempotency_key")
    if key is not None:
        if not isinstance(key, str) or not key or len(key) > 255:
            raise EventError("idempotency_key", "Must be a non-empty string of at most 255 characters.")
        if "\x00" in key or not key.isascii():
            _check_text("idempotency_key", key)
    endpoint = raw.get("endpoint") or ""
    if not isinstance(endpoint, str) or len(endpoint) > 255:
        raise EventError("endpoint", "Must be a string of at most 255 characters.")
    if "\x00" in endpoint or not endpoint.isascii():
        _check_text("endpoint", endpoint)

    metadata = raw.get("metadata")
    if metadata is None:
        metadata_json = "{}"
        metadata = {}
    elif not isinstance(metadata, dict):
        raise EventError("metadata", "Must be a JSON object.")
    else:
        metadata_json = _metadata_json(metadata)

    unique_value = None
    if metric.aggregation == Aggregation.UNIQUE_COUNT:
        value = metadata.get(metric.aggregation_key)
        if value is None or isinstance(value, (dict, list)):
            raise EventError("metadata", f"Metric '{metric.code}' counts distinct '{metric.aggregation_key}' values.")
        unique_value = distinct_value(value)

    return ParsedEvent(metric, event_type, quantity, timestamp, key, endpoint, metadata_json, unique_value)
