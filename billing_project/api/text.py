"""Text no database will store: NUL characters (PostgreSQL refuses them in text and jsonb)
and lone UTF-16 surrogates (not encodable as UTF-8). JSON lets a client send both, as the
escapes `\\u0000` and `\\ud800`; this refuses them as a field error instead of a 500."""

from __future__ import annotations

import re

# In a raw JSON body: the escapes that can decode to a NUL or a surrogate. A match only
# means "look closer" (a valid surrogate pair, or an escaped backslash before `u0000`,
# match too); no match means the parsed body holds neither.
_SUSPECT = r"\\u(?:0000|[dD][89abcdefABCDEF])"
SUSPECT_ESCAPE = re.compile(_SUSPECT)
SUSPECT_ESCAPE_BYTES = re.compile(_SUSPECT.encode())

_SURROGATE = re.compile("[\ud800-\udfff]")

NUL_MESSAGE = "Null characters are not allowed."


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored, or None. Cheap: a memchr for the NUL, and the
    surrogate search only for text that is not ASCII (str.isascii is a flag lookup)."""
    if "\x00" in text:
        return NUL_MESSAGE
    if not text.isascii():
        surrogate = _SURROGATE.search(text)
        if surrogate is not None:
            return f"Surrogate characters are not allowed: U+{ord(surrogate.group()):X}."
    return None


def find_text_problem(value, path: str = "") -> tuple[str, str] | None:
    """The first string (or object key) anywhere in parsed JSON `value` that cannot be
    stored, as (dotted path, message), or None. A bad key is reported at its object's path."""
    stack = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return where, problem
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                problem = text_problem(key)
                if problem:
                    return where, f"{problem[:-1]} (in a key)."
                children.append((f"{where}.{key}" if where else key, child))
            stack.extend(reversed(children))  # depth first, in document order
        elif isinstance(item, list):
            stack.extend(
                reversed([(f"{where}.{index}" if where else str(index), child) for index, child in enumerate(item)])
            )
    return None


def shown(text: str, limit: int) -> str:
    """`text` cut to `limit` characters and safe to echo in an error message."""
    return text[:limit].encode("utf-8", "backslashreplace").decode("utf-8")
