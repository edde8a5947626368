"""Redaction finds exactly what a plain regex alternation of every literal finds.

`redaction._Matcher` runs a step's regex only on a text where `str.find` saw one of the step's
literals (for pieces, one of the grams every piece holds); the reference below runs each
alternation on every text, and both must agree on every text: whole secrets and their encoded forms, every piece of MIN_PIECE or more (overlapping,
adjacent, cut short, extended), prefixes, replacements sharing a piece with a key.
"""

from __future__ import annotations

import random
import re
from urllib.parse import quote, quote_plus

import httpx
import pytest

from llmprobe.redaction import MIN_PIECE, PREFIX, REDACTED, Redactor

KEY = "sk-proj-Zx81QmTTa0-9u_Lq4vB2wNcY7eHs"
#: A key whose percent-encoded forms differ from it (and from each other).
SLASHED = "a+b/c=d e&f+g/h=i j&k+l/m"
ACCOUNT = "0123abcd4567ef89"


def _alternation(literals: set[str] | dict[str, str]) -> re.Pattern[str] | None:
    ordered = sorted(literals, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, ordered))) if ordered else None


def reference(secrets: list[str], replacements: dict[str, str], value: str) -> str:
    """What every text is redacted to: each step one regex alternation, searched position by position."""
    secrets = [s for s in secrets if s]
    whole = {old: new for old, new in replacements.items() if old}
    windows: dict[str, list[tuple[str, int]]] = {}
    prefixes = set()
    for secret in secrets:
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            whole[form] = REDACTED
            for offset in range(len(form) - MIN_PIECE + 1):
                windows.setdefault(form[offset : offset + MIN_PIECE], []).append((form, offset))
        if len(secret) >= 2 * PREFIX:
            prefixes.add(secret[:PREFIX])
    whole_pattern, window_pattern, prefix_pattern = _alternation(whole), _alternation(set(windows)), _alternation(prefixes)
    if whole_pattern is None:
        return value
    value = whole_pattern.sub(lambda match: whole[match.group(0)], value)
    if window_pattern is not None:
        out: list[str] = []
        position = 0
        while (match := window_pattern.search(value, position)) is not None:
            end = match.end()
            for form, offset in windows[match.group(0)]:
                i, j = match.end(), offset + MIN_PIECE
                while i < len(value) and j < len(form) and value[i] == form[j]:
                    i, j = i + 1, j + 1
                end = max(end, i)
            out += [value[position : match.start()], REDACTED]
            position = end
        value = "".join(out) + value[position:] if out else value
    if prefix_pattern is not None:
        value = prefix_pattern.sub(REDACTED, value)
    return value


def _echoes(rng: random.Random, secrets: list[str], extra: list[str], length: int) -> str:
    """Text made of pieces of the secrets' forms (any length, cut anywhere), the extra literals,
    and noise drawn from the secrets' own characters, so near misses are frequent."""
    forms = [form for s in secrets for form in (s, quote(s, safe=""), quote_plus(s))] + extra
    alphabet = "".join(sorted(set("".join(forms)))) + " \n\"'{}:,é"
    parts = []
    while sum(map(len, parts)) < length:
        form = rng.choice(forms)
        kind = rng.random()
        if kind < 0.4:
            start = rng.randrange(len(form))
            parts.append(form[start : start + rng.randint(1, len(form))])
        elif kind < 0.5:
            parts.append(form)
        else:
            parts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))))
    return "".join(parts)


@pytest.mark.parametrize(
    ("secrets", "replacements"),
    [
        ([KEY], {}),
        ([KEY], {ACCOUNT: "ACCOUNT_ID"}),
        # A replacement sharing a piece with the key: it stays itself.
        ([KEY], {KEY[4:20] + "zz": "ACCOUNT_ID"}),
        ([SLASHED, ""], {}),
        ([KEY, SLASHED], {ACCOUNT: "ACCOUNT_ID"}),
        # Shorter than a piece, and than twice a prefix: whole matches only.
        (["short-key"], {}),
        # A repetitive key: its windows overlap themselves.
        (["abababababababababab"], {}),
    ],
)
def test_redaction_finds_what_the_alternation_finds(secrets: list[str], replacements: dict[str, str]) -> None:
    rng = random.Random(29)
    redactor = Redactor(secrets, replacements)
    extra = list(replacements)
    for length in [0, 1, 7, 8, 9, 20, 60, 200] * 60 + [5_000] * 4:
        text = _echoes(rng, [s for s in secrets if s], extra, length)
        assert redactor.text(text) == reference(secrets, replacements, text), text


def test_a_long_body_with_scattered_pieces_is_redacted_like_a_short_one() -> None:
    """Pieces far apart in a long body, each seen (the heap looks for a window again past each match)."""
    filler = "." * 10_000
    body = filler.join([KEY[:9], KEY[3:12], KEY[-8:], quote(SLASHED, safe=""), KEY[5:13] + KEY[5:13], ""])
    redacted = Redactor([KEY, SLASHED]).text(body)
    assert redacted == filler.join([REDACTED] * 4 + [REDACTED * 2, ""])
    assert redacted == reference([KEY, SLASHED], {}, body)


def test_headers_are_redacted_one_by_one_like_any_text() -> None:
    """Names and values are first looked at together: a piece in any one of them is still found."""
    rng = random.Random(7)
    for _ in range(200):
        items = [(f"x-h{i}-" + _echoes(rng, [KEY], [], 6).lower(), _echoes(rng, [KEY], [], 30)) for i in range(rng.randint(1, 6))]
        # Header names and values are ASCII, without spaces in names or line breaks anywhere.
        items = [(_ascii(name).replace(" ", "-").replace("\n", "-"), _ascii(value).replace("\n", " ")) for name, value in items]
        expected: dict[str, list[str]] = {}
        for name, value in sorted(items):
            canonical = "-".join(
                p if p == REDACTED else p[:1].upper() + p[1:].lower() for p in reference([KEY.lower()], {}, name).split("-")
            )
            expected.setdefault(canonical, []).append(reference([KEY], {}, value))
        assert Redactor([KEY]).response_headers(httpx.Headers(items)) == expected, items


def _ascii(text: str) -> str:
    return text.encode("ascii", "ignore").decode()
