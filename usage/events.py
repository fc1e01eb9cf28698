"""Parsing one reported usage event. Hand-written rather than a DRF serializer: this runs
for every event of every batch, and a serializer costs more than the whole insert."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from plans.catalogue import Catalogue, MetricInfo

MAX_QUANTITY = 10**12
MAX_METADATA_BYTES = 4096
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


def _parse_timestamp(value, now: datetime) -> datetime:
    if value is None:
        return now
    if not isinstance(value, str):
        raise EventError("timestamp", "Must be an ISO 8601 date-time string, e.g. 2026-11-24T10:30:00Z.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise EventError("timestamp", f"'{value[:40]}' is not an ISO 8601 date-time.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00 is past year 9999 in UTC
        raise EventError("timestamp", f"'{value[:40]}' is out of range.") from None


def parse_event(raw, *, now: datetime, catalogue: Catalogue, closed_before: float | None) -> ParsedEvent:
    """Validate one event dict; raise EventError with the first problem found."""
    if not isinstance(raw, dict):
        raise EventError("non_field_errors", "Each event must be a JSON object.")
    event_type = raw.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise EventError("event_type", "This field is required.")
    metric = catalogue.metrics_by_event_type.get(event_type)
    if metric is None:
        raise EventError("event_type", f"Unknown event type '{event_type[:64]}'.")

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
    if closed_before is not None and timestamp.timestamp() < closed_before:
        raise EventError("timestamp", "This period has already been invoiced; late usage cannot be added to it.")

    key = raw.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not key or len(key) > 255):
        raise EventError("idempotency_key", "Must be a non-empty string of at most 255 characters.")
    endpoint = raw.get("endpoint") or ""
    if not isinstance(endpoint, str) or len(endpoint) > 255:
        raise EventError("endpoint", "Must be a string of at most 255 characters.")

    metadata = raw.get("metadata")
    if metadata is None:
        metadata_json = "{}"
        metadata = {}
    elif not isinstance(metadata, dict):
        raise EventError("metadata", "Must be a JSON object.")
    else:
        metadata_json = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False)
        if len(metadata_json.encode()) > MAX_METADATA_BYTES:
            raise EventError("metadata", f"Must be at most {MAX_METADATA_BYTES} bytes as JSON.")

    unique_value = None
    if metric.aggregation == "unique_count":
        value = metadata.get(metric.aggregation_key)
        if value is None or isinstance(value, (dict, list)):
            raise EventError("metadata", f"Metric '{metric.code}' counts distinct '{metric.aggregation_key}' values.")
        unique_value = str(value)[:255]

    return ParsedEvent(metric, event_type, quantity, timestamp, key, endpoint, metadata_json, unique_value)
