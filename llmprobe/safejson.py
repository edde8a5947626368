"""JSON from strangers: provider replies and results files, decoded within limits.

`json.loads` believes whatever it is given: `NaN` and `Infinity` (not JSON at all),
a 400-digit number that overflows the first `float()` applied to it, nesting deep
enough to exhaust the interpreter's stack, and `\\ud800` escapes that decode to
strings no UTF-8 writer can write. Every one of those ended a run with a
traceback. Decoding here turns them into one `UnsafeJson` (a ValueError, which
every caller already treats as "not JSON") or, for lone surrogates, into U+FFFD,
so that what comes out can always be written back as valid UTF-8 JSON.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

#: Deeper than any reply or results file we read needs, far from the interpreter's stack limit.
MAX_DEPTH = 64
#: Digits in one number: a token count or a seed has a few dozen at most.
MAX_NUMBER_CHARS = 64
#: A decoded document larger than this is refused outright (the client caps replies before this).
MAX_BYTES = 64 * 1024 * 1024

#: A \uD800–\uDFFF escape: the only way a lone surrogate gets into text decoded from valid UTF-8.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_BRACKETS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_OPENING, _CLOSING = frozenset("[{"), frozenset("]}")


class UnsafeJson(ValueError):
    """Text that is not JSON, or JSON outside the limits; the message is short and safe to show."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        #: The line the problem is on, when known.
        self.line = line


def loads(data: bytes | str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Decode one JSON document, or raise UnsafeJson saying why not.

    Lone surrogates in strings and keys become U+FFFD rather than failing the whole
    document: the text around them is still the provider's answer.
    """
    if len(data) > max_bytes:
        raise UnsafeJson(f"larger than {max_bytes} bytes")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnsafeJson("not UTF-8 text", line=data.count(b"\n", 0, exc.start) + 1) from None
    else:
        text = data
    # A document that cannot nest deeper than the limit skips the scan.
    if text.count("[") + text.count("{") > max_depth:
        _check_depth(text, max_depth)
    try:
        value = json.loads(text, parse_constant=_constant, parse_int=_integer, parse_float=_float)
    except UnsafeJson:
        raise
    except RecursionError:
        raise UnsafeJson(f"nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise UnsafeJson(exc.msg, line=exc.lineno) from None
    except ValueError as exc:
        raise UnsafeJson(str(exc)) from None
    if _SURROGATE_ESCAPE.search(text):
        value = clean(value)
    return value


def clean(value: Any, text: Callable[[str], str] | None = None) -> Any:
    """`value` made writable as strict UTF-8 JSON: lone surrogates become U+FFFD, non-finite
    numbers null, and every string (keys too) passes through `text` when given (redaction)."""
    if isinstance(value, str):
        value = _LONE_SURROGATE.sub("\ufffd", value)
        return text(value) if text is not None else value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {clean(k, text) if isinstance(k, str) else k: clean(v, text) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v, text) for v in value]
    return value


def dumps(value: Any, *, text: Callable[[str], str] | None = None, **options: Any) -> str:
    """`json.dumps` of `clean(value, text)` that refuses NaN instead of writing invalid JSON."""
    return json.dumps(clean(value, text), allow_nan=False, **options)


def _check_depth(text: str, max_depth: int) -> None:
    depth = 0
    for match in _BRACKETS.finditer(text):
        token = match.group()
        if token in _OPENING:
            depth += 1
            if depth > max_depth:
                raise UnsafeJson(f"nested deeper than {max_depth} levels", line=text.count("\n", 0, match.start()) + 1)
        elif token in _CLOSING:
            depth -= 1


def _constant(name: str) -> Any:
    raise UnsafeJson(f"{name} is not a JSON number")


def _integer(digits: str) -> int:
    if len(digits) > MAX_NUMBER_CHARS:
        raise UnsafeJson(f"a number of {len(digits)} digits")
    return int(digits)


def _float(digits: str) -> float:
    if len(digits) > MAX_NUMBER_CHARS:
        raise UnsafeJson(f"a number of {len(digits)} characters")
    value = float(digits)
    if not math.isfinite(value):
        raise UnsafeJson(f"{digits} is out of range")
    return value
