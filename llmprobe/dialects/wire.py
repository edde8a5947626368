"""Reading a provider's JSON, for every dialect: one decoder with limits, and one way to say what broke.

Each reader says in its name how it treats a value of the wrong type: `strict_*` and
`required_*` raise MALFORMED (the wire format says what must be there), `lenient_*` take it
for absent (an optional extra a server may send in its own shape). Which one a dialect uses
for a field is its decision about that field, so the names are used as they are, never aliased.

A body that cannot be read at all (not JSON, too deep, NaN, a lone surrogate) is UNREADABLE:
nothing can be judged from it. A body that is JSON of the wrong shape (a number where the
wire format says text) is MALFORMED: the provider answered, wrongly. Each helper quotes the
offending value briefly, so the evidence shows what came back without dumping it.
"""

from __future__ import annotations

import json
from typing import Any

from llmprobe import safejson
from llmprobe.errors import ApiError, ErrorKind, excerpt, page_excerpt
from llmprobe.neutral import Usage


def decode(body: bytes | str, what: str) -> Any:
    """`body` as JSON, within `safejson`'s limits; ApiError(UNREADABLE) when it is not."""
    try:
        return safejson.loads(body)
    except ValueError:
        raise ApiError(ErrorKind.UNREADABLE, f"{what} is not JSON: {page_excerpt(body)}") from None


def error_body(body: bytes | str) -> Any:
    """The JSON of a failed answer, to find the provider's error envelope in; None when it is no
    JSON within `safejson`'s limits (a proxy's HTML page, say), so the page itself is quoted."""
    try:
        return safejson.loads(body)
    except ValueError:
        return None


def malformed(problem: str, value: Any) -> ApiError:
    """A value that breaks the wire format, quoted (JSON, or raw text) on one short line."""
    quoted = value if isinstance(value, str) else json.dumps(value, default=repr)
    return ApiError(ErrorKind.MALFORMED, f"{problem}: {excerpt(quoted)}")


def strict_str(value: Any, what: str) -> str:
    """Absent and null are both "nothing"; any other non-string breaks the wire format."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise malformed(f"{what} is not a string", value)
    return value


def strict_list(value: Any, what: str) -> list[Any]:
    """Absent and null are an empty list; any other non-list breaks the wire format."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise malformed(f"{what} is not a list", value)
    return value


def strict_dict(value: Any, what: str) -> dict[str, Any]:
    """Absent and null are an empty object; any other non-object breaks the wire format."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise malformed(f"{what} is not an object", value)
    return value


def required_dict(value: Any, what: str) -> dict[str, Any]:
    """A part the wire format cannot do without: anything but an object, null too, breaks it."""
    if not isinstance(value, dict):
        raise malformed(f"{what} is not an object", value)
    return value


def lenient_dict(value: Any) -> dict[str, Any]:
    """An optional part of a reply: anything but an object counts as absent."""
    return value if isinstance(value, dict) else {}


def lenient_list(value: Any) -> list[Any]:
    """An optional list of a reply: anything but a list counts as absent."""
    return value if isinstance(value, list) else []


def lenient_float(value: Any) -> float:
    """An optional number of a reply (a log-probability): anything but a number counts as 0."""
    return float(value) if isinstance(value, (int, float)) else 0.0


def reported_usage(
    input_tokens: Any,
    output_tokens: Any,
    total_tokens: Any = None,
    cached_tokens: Any = None,
    reasoning_tokens: Any = None,
) -> Usage:
    """The token counters as the provider sent them (absent or null is 0), believed only when
    every one is a non-negative integer: a negative count would lower what a run spent and
    break its budget, and a count sent as text or a fraction is no count. Usage is optional,
    so a bad counter makes the usage "not reported", never the reply unreadable."""
    counters = (input_tokens, output_tokens, total_tokens, cached_tokens, reasoning_tokens)
    if not all(c is None or (isinstance(c, int) and not isinstance(c, bool) and c >= 0) for c in counters):
        return Usage()
    return Usage(*(c or 0 for c in counters))


def page_cursor(value: Any) -> str | None:
    """The cursor of a model list's next page as the page gives it: a non-empty string, else
    None, which ends the listing."""
    return value if isinstance(value, str) and value else None


def model_ids(data: Any, entries: str, key: str) -> list[str]:
    """The model ids of a listing page: `data[entries]` must be a list; an entry without a
    string `key` is passed over (a listing may hold more than the models we can name)."""
    listed = data.get(entries) if isinstance(data, dict) else None
    if not isinstance(listed, list):
        raise ApiError(ErrorKind.MALFORMED, f"model list has no {entries} array")
    return [entry[key] for entry in listed if isinstance(entry, dict) and isinstance(entry.get(key), str)]
