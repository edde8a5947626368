"""Redaction finds exactly what a plain regex alternation of every literal finds.

`redaction._Matcher` runs a step's regex only on a text where `str.find` saw one of the step's
literals (for pieces, one of the grams every piece holds); `unfiltered` runs each alternation on
every text, and both must agree on every text: whole secrets and their encoded forms, every piece
of MIN_PIECE or more (overlapping, adjacent, cut short, extended), prefixes, replacements sharing a
piece with a key.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TypeVar
from unittest import mock
from urllib.parse import quote, quote_plus

import httpx
import pytest

from llmprobe import redaction
from llmprobe.redaction import REDACTED, Redactor

KEY = "sk-proj-Zx81QmTTa0-9u_Lq4vB2wNcY7eHs"
#: A key whose percent-encoded forms differ from it (and from each other).
SLASHED = "a+b/c=d e&f+g/h=i j&k+l/m"
ACCOUNT = "0123abcd4567ef89"
A = TypeVar("A")
T = TypeVar("T")


def unfiltered(redact: Callable[[A], T], value: A) -> T:
    """What `redact(value)` gives with every step's regex run on every text: the look for literals
    first (`redaction._any_in`) made to always answer yes, as before there was one."""
    with mock.patch.object(redaction, "_any_in", lambda literals, value: True):
        return redact(value)


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
        # Shorter than a piece: redacted only where it stands alone.
        (["k3y", "x"], {ACCOUNT: "ACCOUNT_ID"}),
    ],
)
def test_redaction_finds_what_the_alternation_finds(secrets: list[str], replacements: dict[str, str]) -> None:
    rng = random.Random(29)
    redactor = Redactor(secrets, replacements)
    extra = list(replacements)
    for length in [0, 1, 7, 8, 9, 20, 60, 200] * 60 + [5_000] * 4:
        text = _echoes(rng, [s for s in secrets if s], extra, length)
        assert redactor.text(text) == unfiltered(redactor.text, text), text


def test_a_long_body_with_scattered_pieces_is_redacted_like_a_short_one() -> None:
    """Pieces far apart in a long body, each seen (the heap looks for a window again past each match)."""
    filler = "." * 10_000
    body = filler.join([KEY[:9], KEY[3:12], KEY[-8:], quote(SLASHED, safe=""), KEY[5:13] + KEY[5:13], ""])
    redactor = Redactor([KEY, SLASHED])
    redacted = redactor.text(body)
    assert redacted == filler.join([REDACTED] * 4 + [REDACTED * 2, ""])
    assert redacted == unfiltered(redactor.text, body)


def test_headers_are_redacted_one_by_one_like_any_text() -> None:
    """Names and values are first looked at together: a piece in any one of them is still found."""
    rng = random.Random(7)
    for _ in range(200):
        items = [(f"x-h{i}-" + _echoes(rng, [KEY], [], 6).lower(), _echoes(rng, [KEY], [], 30)) for i in range(rng.randint(1, 6))]
        # Header names and values are ASCII, without spaces in names or line breaks anywhere.
        items = [(_ascii(name).replace(" ", "-").replace("\n", "-"), _ascii(value).replace("\n", " ")) for name, value in items]
        headers, redactor = httpx.Headers(items), Redactor([KEY])
        expected = unfiltered(redactor.response_headers, headers)
        assert redactor.response_headers(headers) == expected, items


def _ascii(text: str) -> str:
    return text.encode("ascii", "ignore").decode()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Incorrect API key provided: x.", "Incorrect API key provided: REDACTED."),
        ('{"api_key": "x"}', '{"api_key": "REDACTED"}'),
        ("?key=x&alt=sse", "?key=REDACTED&alt=sse"),
        ("2 x 3, x\nx", "2 REDACTED 3, REDACTED\nREDACTED"),
        # Inside a longer run of key characters it is someone else's word, or a longer key.
        ("example x-ray xx x_1 ax", "example x-ray xx x_1 ax"),
    ],
)
def test_a_key_shorter_than_a_piece_is_redacted_where_it_stands_alone(text: str, expected: str) -> None:
    """A placeholder key (`x`, for a local server that checks none) must not rewrite every word
    that holds its letter, and its echoes must still go."""
    assert Redactor(["x"]).text(text) == expected
