"""Rate limits announced in response headers, and the Go-style durations they use."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from datetime import datetime, timezone

from llmprobe.neutral import RateLimit

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration such as "172.8ms", "1.0048s" or "7m12s".

    A bare number is taken as seconds, which is what OpenAI-style `reset` headers
    use when they carry no unit. Raises ValueError on anything else.
    """
    value = text.strip()
    if not value:
        raise ValueError("empty duration")
    try:
        return float(value)
    except ValueError:
        pass
    sign = -1.0 if value.startswith("-") else 1.0
    value = value.lstrip("+-")
    total, pos = 0.0, 0
    for match in _PART.finditer(value):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(value) or pos == 0:
        raise ValueError(f"not a duration: {text!r}")
    return sign * total


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


#: `x-ratelimit-limit-<what>[-<window>]`: OpenAI and Groq send `requests` / `tokens` alone,
#: Cerebras adds a window (`requests-day`, `tokens-minute`), Mistral writes `req-10-second`.
_LIMIT_HEADER = re.compile(r"x-ratelimit-limit-(requests|req|tokens)(-[a-z0-9-]+)?")
_KINDS = {"requests": "requests", "req": "requests", "tokens": "tokens"}


def parse_ratelimit_headers(headers: Mapping[str, str]) -> list[RateLimit]:
    """The `x-ratelimit-limit-*` family used by OpenAI, Groq, Cerebras, Mistral and others.

    A limit is reported only when its `limit` header is a positive integer; the
    remaining count and reset of the same name are attached when they parse. Each
    window (per minute, per day) is a limit of its own.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    limits = []
    for name in sorted(lower):
        match = _LIMIT_HEADER.fullmatch(name)
        limit = _int(lower[name]) if match else None
        if match is None or not limit or limit <= 0:
            continue
        suffix = name.removeprefix("x-ratelimit-limit-")
        reset = lower.get(f"x-ratelimit-reset-{suffix}")
        try:
            reset_seconds = parse_duration(reset) if reset else None
        except ValueError:
            reset_seconds = None
        kind = _KINDS[match.group(1)]
        limits.append(
            RateLimit(kind, limit, _int(lower.get(f"x-ratelimit-remaining-{suffix}")), reset_seconds)  # type: ignore[arg-type]
        )
    return limits


_TRY_AGAIN = re.compile(r"try again in ((?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)", re.IGNORECASE)


def retry_after_in_message(message: str) -> float | None:
    """The wait an error message asks for ("Please try again in 1.234s", "in 7m12s"), if it says.

    More precise than the headers where both exist: Groq rounds its Retry-After up to
    whole seconds while its message gives the milliseconds.
    """
    match = _TRY_AGAIN.search(message)
    return parse_duration(match.group(1)) if match else None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the provider asks us to wait: OpenAI's `retry-after-ms`, else the
    standard `Retry-After` as delta-seconds or an HTTP-date."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        return max(0.0, float(lower["retry-after-ms"]) / 1000)
    except (KeyError, ValueError):
        pass
    value = lower.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


_NAMES_TOKENS = re.compile(r"tokens? per (?:minute|min|day|hour)|\bTP[MD]\b|input tokens|output tokens", re.IGNORECASE)


def names_tokens(message: str) -> bool:
    """A 429's message says a token limit refused it ("on tokens per minute (TPM)"), not a request limit.

    Not a mere "tokens": Groq's request-limit messages end "Need more tokens? Upgrade to Dev Tier".
    """
    return _NAMES_TOKENS.search(message) is not None
