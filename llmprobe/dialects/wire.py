"""Reading a provider's JSON, for every dialect: one decoder with limits, and one way to say what broke.

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


def malformed(problem: str, value: Any) -> ApiError:
    """A value that breaks the wire format, quoted (JSON, or raw text) on one short line."""
    quoted = value if isinstance(value, str) else json.dumps(value, default=repr)
    return ApiError(ErrorKind.MALFORMED, f"{problem}: {excerpt(quoted)}")


def string(value: Any, what: str) -> str:
    """Absent and null are both "nothing"; any other non-string breaks the wire format."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise malformed(f"{what} is not a string", value)
    return value


def array(value: Any, what: str) -> list[Any]:
    """Absent and null are an empty list; any other non-list breaks the wire format."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise malformed(f"{what} is not a list", value)
    return value


def mapping(value: Any, what: str) -> dict[str, Any]:
    """Absent and null are an empty object; any other non-object breaks the wire format."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise malformed(f"{what} is not an object", value)
    return value


def loose_mapping(value: Any) -> dict[str, Any]:
    """An optional part of a reply: anything but an object counts as absent."""
    return value if isinstance(value, dict) else {}


def loose_array(value: Any) -> list[Any]:
    """An optional list of a reply: anything but a list counts as absent."""
    return value if isinstance(value, list) else []


def reported_usage(
    input_tokens: Any,
    output_tokens: Any,
    total_tokens: Any = None,
    cached_tokens: Any = None,
    reasoning_tokens: Any = None,
) -> Usage:
    """The token counters as the provider sent them (absent or null is 0, except reasoning tokens,
    which stay None: "not reported" is kept apart from a reported 0), believed only when
    every one is a non-negative integer: a negative count would lower what a run spent and
    break its budget, and a count sent as text or a fraction is no count. Usage is optional,
    so a bad counter makes the usage "not reported", never the reply unreadable."""
    counters = (input_tokens, output_tokens, total_tokens, cached_tokens, reasoning_tokens)
    if not all(c is None or (isinstance(c, int) and not isinstance(c, bool) and c >= 0) for c in counters):
        return Usage()
    return Usage(input_tokens or 0, output_tokens or 0, total_tokens or 0, cached_tokens or 0, reasoning_tokens)


def model_ids(data: Any, entries: str, key: str) -> list[str]:
    """The model ids of a listing page: `data[entries]` must be a list; an entry without a
    string `key` is passed over (a listing may hold more than the models we can name)."""
    listed = data.get(entries) if isinstance(data, dict) else None
    if not isinstance(listed, list):
        raise ApiError(ErrorKind.MALFORMED, f"model list has no {entries} array")
    return [entry[key] for entry in listed if isinstance(entry, dict) and isinstance(entry.get(key), str)]
