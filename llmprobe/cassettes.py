"""Cassettes: HTTP exchanges stored as go-vcr v2 YAML, the file format and its names.

We use the same format as the reference project's recordings, so one reader
serves both our own cassettes and theirs. `llmprobe.recording` writes them and
`llmprobe.replay` answers from them; both are httpx transports.

Each exchange is named by the caller through `request.extensions[CASSETTE_EXTENSION]`
(a relative name such as `groq/llama-3.1-8b-instant/sync-Text`) and stored in
`DIR/<name>.yaml`; several requests with one name (retries) are consecutive
interactions of that file, and replay hands them out in the same order.

What the user must fix (an unreadable cassette, a name that would leave the directory)
raises `CassetteError`; callers let it propagate rather than treat it as a provider failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import yaml

from llmprobe.errors import CassetteError
from llmprobe.files import Unreadable, read_bounded, write_atomically
from llmprobe.ratelimits import parse_duration
from llmprobe.redaction import Redactor

#: The request extension that names the cassette an exchange belongs to.
CASSETTE_EXTENSION = "llmprobe.cassette"

# libyaml when present: the pure-Python pair is several times slower on long SSE bodies.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass
class Interaction:
    method: str
    url: str
    request_body: str
    request_headers: dict[str, list[str]]
    status: int
    response_headers: dict[str, list[str]]
    #: The raw body; for a streamed answer, the SSE text exactly as it arrived.
    response_body: str
    duration_ms: float | None = None
    #: As Go spells it ("HTTP/1.1", "HTTP/2.0"); one value serves request and response.
    proto: str = "HTTP/1.1"
    #: A network failure, as "ExceptionName: message": before any response (status 0), or
    #: after part of the body (kept in response_body). Replay raises it again, so a retried
    #: request replays exactly as it happened.
    error: str = ""

    def response_header(self, name: str) -> str | None:
        for key, values in self.response_headers.items():
            if key.lower() == name.lower() and values:
                return values[0]
        return None


@dataclass
class Cassette:
    path: Path
    interactions: list[Interaction] = field(default_factory=list)


# --- reading and writing ---------------------------------------------------------------------------


#: A recording holds a few replies and the media they were sent (a video is a few MB).
MAX_CASSETTE_BYTES = 64 * 1024 * 1024


def load_cassette(path: Path) -> Cassette:
    """Read a go-vcr v2 cassette (ours or the reference's)."""
    try:
        data = yaml.load(read_bounded(path, MAX_CASSETTE_BYTES), Loader=_Loader)
    except Unreadable as exc:
        raise CassetteError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise CassetteError(f"{path} is not valid YAML: {getattr(exc, 'problem', exc)}") from None
    try:
        interactions = [_interaction(item["request"], item["response"]) for item in data.get("interactions") or []]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise CassetteError(f"{path} is not a go-vcr cassette: {exc!r}") from None
    return Cassette(path, interactions)


def _interaction(request: dict, response: dict) -> Interaction:
    request_body = _body(request.get("body"))
    return Interaction(
        method=request.get("method", "POST"),
        url=request.get("url", ""),
        request_body=request_body.removesuffix("\n")
        if _go_newline(request_body, request.get("content_length"))
        else request_body,
        request_headers=dict(request.get("headers") or {}),
        status=int(response.get("code", 0)),
        response_headers=dict(response.get("headers") or {}),
        response_body=_body(response.get("body")),
        duration_ms=_duration_ms(response.get("duration")),
        proto=response.get("proto", "HTTP/1.1"),
        error=_body(response.get("error")),
    )


def _body(value: str | bytes | None) -> str:
    """Bodies that are not UTF-8 are stored as `!!binary` (as go-yaml does) and kept as surrogates."""
    return body_text(value) if isinstance(value, bytes) else value or ""


def _go_newline(body: str, length: object) -> bool:
    """go-vcr stores bodies as YAML block scalars that gain one trailing newline.

    `content_length` tells the true size, so the newline is removed only when it
    was not part of the body that went over the wire.
    """
    return isinstance(length, int) and length >= 0 and len(body_bytes(body)) == length + 1 and body.endswith("\n")


def _duration_ms(value: object) -> float | None:
    """Rounded to the nanosecond, Go's resolution, so a save/load round trip returns the same float."""
    if value is None:
        return None
    try:
        return round(parse_duration(str(value)) * 1000, 6)
    except ValueError:
        return None


#: What every cassette starts with; its interactions follow, one item of the list each (`_item`).
_START = b"---\nversion: 2\ninteractions:\n"
#: The line libyaml ends a document with after a block scalar that keeps its final line breaks
#: (an SSE body ends in a blank line), wherever in the document that scalar was. A line of a
#: scalar is indented: at the start of a line, this can only be the end.
_OPEN_END = b"\n...\n"


def save_cassette(cassette: Cassette) -> None:
    """Write `cassette` where `load_cassette` reads it back identically.

    The file is replaced atomically, so an interrupted recording leaves the previous
    version rather than half a YAML document.
    """
    _write(cassette.path, _joined([_START, *(_item(i, interaction) for i, interaction in enumerate(cassette.interactions))]))


def append_interaction(path: Path, interaction: Interaction, index: int) -> None:
    """Add `interaction` to the cassette at `path` as its interaction number `index` (0 starts
    the cassette afresh): the file becomes what `save_cassette` writes for them all.

    The interactions before it stay in the file as the text they were written as, not read
    back and written out again: a recording adds each retry to its name's file, and a body
    can be as large as the reply limit. The file is replaced atomically, like save_cassette's.
    """
    if index == 0:
        earlier = _START
    else:
        try:
            earlier = read_bounded(path, MAX_CASSETTE_BYTES)
        except Unreadable as exc:
            raise CassetteError(f"{path}: {exc}") from None
    _write(path, _joined([earlier, _item(index, interaction)]))


def _item(index: int, interaction: Interaction) -> bytes:
    """One interaction as an item of the cassette's list: a list at the top of a YAML
    document is written as it is under the cassette's `interactions:`."""
    return yaml.dump(
        [_document(index, interaction)], Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=2**30
    ).encode()


def _joined(parts: list[bytes]) -> bytes:
    """The start of a cassette and its items as one document: an end line that any of them
    was written with goes at the end of the whole, where libyaml writes it (PyYAML's own
    emitter, used without libyaml, writes it only after a last value of that kind; a reader
    takes the document the same either way)."""
    open_ended = any(part.endswith(_OPEN_END) for part in parts)
    joined = b"".join(part[: -len(_OPEN_END) + 1] if part.endswith(_OPEN_END) else part for part in parts)
    return joined + _OPEN_END[1:] if open_ended else joined


def _write(path: Path, content: bytes) -> None:
    try:
        write_atomically(path, content)
    except OSError as exc:
        raise CassetteError(f"cannot write {path}: {exc.strerror}") from None


def _document(index: int, interaction: Interaction) -> dict:
    response_length = len(body_bytes(interaction.response_body)) if interaction.response_header("Content-Length") else -1
    response = {
        "proto": interaction.proto,
        "content_length": response_length,
        "body": interaction.response_body,
        "headers": interaction.response_headers,
        "status": _status_line(interaction.status),
        "code": interaction.status,
    }
    if interaction.duration_ms is not None:
        response["duration"] = f"{interaction.duration_ms:.6f}".rstrip("0").rstrip(".") + "ms"
    if interaction.error:
        response["error"] = interaction.error
    return {
        "id": index,
        "request": {
            "proto": interaction.proto,
            "content_length": len(body_bytes(interaction.request_body)),
            "host": urlsplit(interaction.url).netloc,
            "body": interaction.request_body,
            "headers": interaction.request_headers,
            "url": interaction.url,
            "method": interaction.method,
        },
        "response": response,
    }


def _status_line(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


class _Dumper(_BaseDumper):  # type: ignore[misc,valid-type]
    """Multi-line text as literal blocks, so SSE bodies stay readable in a diff."""


def _represent_text(dumper: _Dumper, text: str) -> yaml.Node:
    """Text that is not UTF-8 goes out as `!!binary`, as go-yaml writes it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return dumper.represent_binary(body_bytes(text))
    # A YAML reader folds these line breaks in a block or single-quoted scalar;
    # only double quotes keep them. The emitter falls back to double quotes by itself
    # for anything else a block cannot hold exactly (trailing spaces, tabs, controls).
    style: str | None = "|" if "\n" in text else None
    if any(c in text for c in "\r\x85\u2028\u2029"):
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)


def body_text(data: bytes) -> str:
    """A body as cassettes hold it: bytes that are not UTF-8 kept as surrogates, so they survive the round trip."""
    return data.decode("utf-8", "surrogateescape")


def body_bytes(text: str) -> bytes:
    """The bytes `body_text` came from."""
    return text.encode("utf-8", "surrogateescape")


# --- naming --------------------------------------------------------------------------------------

_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._@:-]")


def cassette_name(request: httpx.Request, redact: Redactor) -> str:
    """The caller's name for the exchange, else one made of the method and URL path (`GET-models`).

    The name is redacted like everything else: it becomes a file name on disk.
    """
    name = request.extensions.get(CASSETTE_EXTENSION)
    if name is None:
        parts = [_UNSAFE_IN_NAME.sub("_", part) for part in request.url.path.split("/") if part]
        name = "-".join([request.method, *parts])
    name = redact.text(name)
    if name.startswith("/") or any(part in ("", ".", "..") for part in name.split("/")):
        raise CassetteError(f"invalid cassette name {name!r}: use a relative path without empty, '.' or '..' parts")
    return name


def cassette_path(directory: Path, name: str) -> Path:
    return directory / f"{name}.yaml"
