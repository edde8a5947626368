"""Keeping credentials out of everything llmprobe writes or prints.

Providers echo what they are sent: a whole key in an error message, a key quoted
back in a reply's text or tool arguments, a masked key that still shows its first
characters (`sk-liv****…uv`), even a key as a response header's name. So one
`Redactor` per provider is applied at every exit: replies and errors as the client
hands them on (hence results, `-v` and every message), the results writer, and the
cassettes (bodies, URLs, header names and values).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import quote, quote_plus

import httpx

#: What every secret is replaced with.
REDACTED = "REDACTED"
#: Any piece of a secret this long or longer is a secret too: it is what an echo that
#: quotes, cuts or masks part of a key still gives away.
MIN_PIECE = 8
#: A key's first characters, which masked echoes keep; redacted wherever they appear.
PREFIX = 6
#: Every MIN_PIECE-long window of a secret holds the _GRAM characters at one of its offsets that
#: are a multiple of _STRIDE (_STRIDE + _GRAM - 1 == MIN_PIECE): a text without any of those
#: grams holds no piece, which `str.find` tells far faster than a regex alternation can.
_STRIDE = 4
_GRAM = MIN_PIECE - _STRIDE + 1

#: A secret shorter than a piece (a placeholder like `x` or `local`) is redacted only where it stands
#: alone, not inside a longer run of these characters: otherwise a one-letter key would rewrite every
#: word that holds the letter, and a provider's echo of it still stands alone.
_KEY_CHARACTER = r"[\w-]"

#: Request headers whose name contains one of these carry credentials.
_CREDENTIAL_WORDS = ("key", "token", "secret", "auth")
#: Response headers that change on every call and would only add noise to a diff (or set a session).
_VOLATILE_RESPONSE_HEADERS = frozenset({"set-cookie", "date", "x-request-id"})


class Redactor:
    """Replaces secrets, any piece of MIN_PIECE or more characters of one, and a key's
    PREFIX first characters, by `REDACTED`; each `replacements` key by its value.

    Secrets are matched as given and percent-encoded (a key passed in a query string
    is encoded); one shorter than MIN_PIECE only where it stands alone. Empty strings
    are ignored (an unset variable must not redact everything). Request headers whose name says they carry credentials (Cookie,
    Authorization, X-Api-Key...) are dropped rather than redacted; other header
    names are matched regardless of case, since HTTP/2 lower-cases them.
    """

    def __init__(self, secrets: Iterable[str] = (), replacements: Mapping[str, str] | None = None) -> None:
        secrets = [s for s in secrets if s]
        replacements = {old: new for old, new in (replacements or {}).items() if old}
        self._text = _Matcher(secrets, replacements)
        self._names = _Matcher([s.lower() for s in secrets], {old.lower(): new for old, new in replacements.items()})

    def __bool__(self) -> bool:
        return bool(self._text)

    def text(self, value: str) -> str:
        return self._text.sub(value)

    def request_headers(self, headers: httpx.Headers) -> dict[str, list[str]]:
        return self._headers(headers, lambda name: name == "cookie" or any(word in name for word in _CREDENTIAL_WORDS))

    def response_headers(self, headers: httpx.Headers) -> dict[str, list[str]]:
        return self._headers(headers, lambda name: name in _VOLATILE_RESPONSE_HEADERS)

    def _headers(self, headers: httpx.Headers, dropped: Callable[[str], bool]) -> dict[str, list[str]]:
        items = [(name.lower(), value) for name, value in headers.multi_items() if not dropped(name.lower())]
        items.sort(key=lambda item: item[0])
        names = self._names.sub_all([name for name, _ in items])
        values = self._text.sub_all([value for _, value in items])
        kept: dict[str, list[str]] = {}
        for name, value in zip(names, values, strict=True):
            kept.setdefault(_canonical(name), []).append(value)
        return kept


class _Matcher:
    """Whole secrets and replacements first (longest first, in one pass), then pieces of
    secrets in what is left, then prefixes: each echo becomes one REDACTED, and a
    replacement (an account id) that happens to share a piece with a key stays itself.

    Nearly every text holds no secret at all: each step first asks whether any of its
    literals (for pieces, the grams that every piece holds) occurs, and a text without
    one comes back as it came, without a regex alternation tried at each of its positions.
    """

    def __init__(self, secrets: list[str], replacements: dict[str, str]) -> None:
        whole = dict(replacements)
        short = set()
        #: Each MIN_PIECE-long window of a secret, with every (secret form, offset) it occurs at.
        self._windows: dict[str, list[tuple[str, int]]] = {}
        prefixes = set()
        grams: set[str] = set()
        for secret in secrets:
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                whole[form] = REDACTED
                if len(form) < MIN_PIECE:
                    short.add(form)
                for offset in range(len(form) - MIN_PIECE + 1):
                    self._windows.setdefault(form[offset : offset + MIN_PIECE], []).append((form, offset))
                if len(form) >= MIN_PIECE:
                    grams.update(form[offset : offset + _GRAM] for offset in range(0, len(form) - _GRAM + 1, _STRIDE))
            if len(secret) >= 2 * PREFIX:
                prefixes.add(secret[:PREFIX])
        self._whole = whole
        self._whole_pattern = _alternatives(whole, standing_alone=short)
        self._grams = tuple(grams)
        self._window_pattern = _alternatives(self._windows)
        self._prefixes = tuple(prefixes)
        self._prefix_pattern = _alternatives(prefixes)

    def __bool__(self) -> bool:
        return self._whole_pattern is not None

    def sub(self, value: str) -> str:
        if self._whole_pattern is None:
            return value
        if _any_in(self._whole, value):
            value = self._whole_pattern.sub(lambda match: self._whole[match.group(0)], value)
        if self._window_pattern is not None and _any_in(self._grams, value):
            value = self._pieces(value, self._window_pattern)
        if self._prefix_pattern is not None and _any_in(self._prefixes, value):
            value = self._prefix_pattern.sub(REDACTED, value)
        return value

    def sub_all(self, values: list[str]) -> list[str]:
        """Each of `values` redacted: looked at together first (a literal in one value is in
        the values joined), since a set of headers nearly always holds no secret at all."""
        if self._whole_pattern is None or not self._finds_in("\n".join(values)):
            return values
        return [self.sub(value) for value in values]

    def _finds_in(self, value: str) -> bool:
        """Whether any step has something to replace (a prefix holds its secret's first gram)."""
        return _any_in(self._whole, value) or _any_in(self._grams, value)

    def _pieces(self, value: str, pattern: re.Pattern[str]) -> str:
        """Every run of text that is a piece of a secret (MIN_PIECE or longer), as one REDACTED."""
        out: list[str] = []
        position = 0
        while (match := pattern.search(value, position)) is not None:
            end = match.end()
            for form, offset in self._windows[match.group(0)]:
                # Extend the window as far as the text keeps following this secret.
                i, j = match.end(), offset + MIN_PIECE
                while i < len(value) and j < len(form) and value[i] == form[j]:
                    i, j = i + 1, j + 1
                end = max(end, i)
            out += [value[position : match.start()], REDACTED]
            position = end
        if not out:
            return value
        out.append(value[position:])
        return "".join(out)


def _any_in(literals: Iterable[str], value: str) -> bool:
    # A loop rather than any() over a generator: most values are short, and there the
    # generator's own cost is most of the time.
    for literal in literals:
        if literal in value:
            return True
    return False


def _alternatives(literals: Iterable[str], standing_alone: set[str] | frozenset[str] = frozenset()) -> re.Pattern[str] | None:
    ordered = sorted(literals, key=len, reverse=True)
    if not ordered:
        return None
    alone = f"(?<!{_KEY_CHARACTER}){{}}(?!{_KEY_CHARACTER})"
    return re.compile("|".join(alone.format(re.escape(x)) if x in standing_alone else re.escape(x) for x in ordered))


def _canonical(name: str) -> str:
    """Go's canonical header spelling (`X-Ratelimit-Limit-Requests`), as in the reference's cassettes.

    HTTP/2 sends names in lower case and HTTP/1.1 servers in any case; one spelling
    keeps cassettes comparable.
    """
    return "-".join(part if part == REDACTED else part[:1].upper() + part[1:].lower() for part in name.split("-"))
