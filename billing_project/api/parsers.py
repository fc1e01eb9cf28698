"""Parsing JSON request bodies: every malformed body is a 400, never a crash.

Python's json module recurses once per nesting level, so a body like `[[[[...` 100,000
levels deep raises RecursionError; `NaN` and `Infinity` are not JSON and PostgreSQL's
jsonb refuses them; and a NUL or lone surrogate escape decodes to text no database stores.
"""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

from .text import SUSPECT_ESCAPE, SUSPECT_ESCAPE_BYTES, find_text_problem


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


_decoder = json.JSONDecoder(parse_constant=_refuse_constant)


def load_json(body: bytes | str):
    """The JSON document in `body` (UTF-8 bytes, or text); ParseError (400) when it is not one.

    Bytes are decoded strictly: json.loads would let UTF-8-encoded surrogates through."""
    try:
        return _decoder.decode(body.decode("utf-8") if isinstance(body, bytes) else body)
    except RecursionError:
        raise ParseError("JSON parse error - nested too deeply.") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ParseError(f"JSON parse error - {exc}") from None


def refuse_unstorable_text(body: bytes | str, data) -> None:
    """ValidationError (400) naming the field when parsed `data` holds a NUL or a lone
    surrogate anywhere. Costs one regex scan of `body` unless it holds a suspect escape
    (raw NULs are already refused by the JSON grammar; raw surrogates by UTF-8)."""
    suspect = SUSPECT_ESCAPE_BYTES if isinstance(body, bytes) else SUSPECT_ESCAPE
    if suspect.search(body) is None:
        return
    problem = find_text_problem(data)
    if problem is not None:
        path, message = problem
        raise ValidationError({path or "non_field_errors": [message]})


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser with the bounds above."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        body = stream.read() if stream is not None else b""
        try:
            text = body.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        data = load_json(text)
        refuse_unstorable_text(text, data)
        return data
