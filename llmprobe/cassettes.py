"""Cassettes: HTTP exchanges stored as go-vcr v2 YAML.

We use the same format as the reference project's recordings, so one reader
serves both our own cassettes and theirs. Record and replay are httpx transports
(httpx's public extension point), which covers async and streamed responses
without patching any library.

Each exchange is named by the caller through `request.extensions[CASSETTE_EXTENSION]`
(a relative name such as `groq/llama-3.1-8b-instant/sync-Text`) and stored in
`DIR/<name>.yaml`; several requests with one name (retries) are consecutive
interactions of that file, and replay hands them out in the same order.

Replay answers a request only with a recording of the same question (`llmprobe.questions`,
the rule the test suite's fixture server applies too); any other request gets no answer but
`ApiError(NOT_RECORDED)`, so its probe is unknown ("not recorded"), never a verdict. Both
transports raise `CassetteError` for what the user must fix (an unreadable cassette, a name
that would leave the directory, a replay directory that does not exist); callers let it
propagate rather than treat it as a provider failure.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import httpx
import yaml

from llmprobe.bodies import DEFAULT_MAX_REPLY_BYTES, MAX_BODY_EXTENSION, decoded_prefix
from llmprobe.errors import ApiError, CassetteError, ErrorKind
from llmprobe.files import write_atomically
from llmprobe.questions import body_of, difference, question
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


def load_cassette(path: Path) -> Cassette:
    """Read a go-vcr v2 cassette (ours or the reference's)."""
    try:
        data = yaml.load(path.read_bytes(), Loader=_Loader)
    except OSError as exc:
        raise CassetteError(f"cannot read {path}: {exc.strerror}") from None
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
        error=response.get("error") or "",
    )


def _body(value: str | bytes | None) -> str:
    """Bodies that are not UTF-8 are stored as `!!binary` (as go-yaml does) and kept as surrogates."""
    return _text(value) if isinstance(value, bytes) else value or ""


def _go_newline(body: str, length: object) -> bool:
    """go-vcr stores bodies as YAML block scalars that gain one trailing newline.

    `content_length` tells the true size, so the newline is removed only when it
    was not part of the body that went over the wire.
    """
    return isinstance(length, int) and length >= 0 and len(_bytes(body)) == length + 1 and body.endswith("\n")


def _duration_ms(value: object) -> float | None:
    """Rounded to the nanosecond, Go's resolution, so a save/load round trip returns the same float."""
    if value is None:
        return None
    try:
        return round(parse_duration(str(value)) * 1000, 6)
    except ValueError:
        return None


def save_cassette(cassette: Cassette) -> None:
    """Write `cassette` where `load_cassette` reads it back identically.

    The file is replaced atomically, so an interrupted recording leaves the previous
    version rather than half a YAML document.
    """
    document = {"version": 2, "interactions": [_document(i, interaction) for i, interaction in enumerate(cassette.interactions)]}
    text = yaml.dump(document, Dumper=_Dumper, explicit_start=True, sort_keys=False, allow_unicode=True, width=2**30)
    try:
        write_atomically(cassette.path, text)
    except OSError as exc:
        raise CassetteError(f"cannot write {cassette.path}: {exc.strerror}") from None


def _document(index: int, interaction: Interaction) -> dict:
    response_length = len(_bytes(interaction.response_body)) if interaction.response_header("Content-Length") else -1
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
            "content_length": len(_bytes(interaction.request_body)),
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
        return dumper.represent_binary(_bytes(text))
    # A YAML reader folds these line breaks in a block or single-quoted scalar;
    # only double quotes keep them. The emitter falls back to double quotes by itself
    # for anything else a block cannot hold exactly (trailing spaces, tabs, controls).
    style: str | None = "|" if "\n" in text else None
    if any(c in text for c in "\r\x85\u2028\u2029"):
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _bytes(text: str) -> bytes:
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


# --- recording -----------------------------------------------------------------------------------


class RecordingTransport(httpx.AsyncBaseTransport):
    """Forwards every request to `inner` and appends each completed exchange to its cassette.

    The response streams to the caller as it arrives; the exchange is written when
    the caller closes the body. A network failure is recorded too (before any
    response, or with the part of the body that arrived), so that replay raises it
    again and a retried request replays exactly as it ran. A caller that stops
    reading early gets what it read recorded, which is what replay will serve.

    A name's cassette starts empty the first time this transport sees the name, so
    recording again replaces old files instead of appending to them. Interactions of
    one name are stored in the order their bodies close, so concurrent requests
    should have names of their own.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, directory: Path, redact: Redactor) -> None:
        self._inner = inner
        self._directory = directory
        self._redact = redact
        #: The names written so far. A name's earlier interactions are read back from its file when
        #: another one comes, not held for the whole run: a body can be as large as the reply limit.
        self._written: set[str] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        name = cassette_name(request, self._redact)
        request_body = await request.aread()
        started = time.perf_counter()
        try:
            response = await self._inner.handle_async_request(request)
        except (httpx.TransportError, asyncio.CancelledError) as exc:
            failed = httpx.Response(0, request=request)
            self._append(name, self._interaction(request, request_body, failed, b"", 0.0, _failure(_as_transport(exc))))
            raise
        duration_ms = (time.perf_counter() - started) * 1000

        limit = request.extensions.get(MAX_BODY_EXTENSION, DEFAULT_MAX_REPLY_BYTES)

        def record(raw: bytes, error: BaseException | None) -> None:
            try:
                body = _decoded(response, raw, limit)
            except ApiError:
                return  # the caller got the same error; the exchange did not complete
            failure = _failure(error) if error is not None else ""
            self._append(name, self._interaction(request, request_body, response, body, duration_ms, failure))

        response.stream = _TeeStream(cast(httpx.AsyncByteStream, response.stream), record)
        return response

    def _append(self, name: str, interaction: Interaction) -> None:
        path = cassette_path(self._directory, name)
        cassette = load_cassette(path) if name in self._written else Cassette(path)
        self._written.add(name)
        cassette.interactions.append(interaction)
        save_cassette(cassette)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def _interaction(
        self,
        request: httpx.Request,
        request_body: bytes,
        response: httpx.Response,
        body: bytes,
        duration_ms: float,
        error: str = "",
    ) -> Interaction:
        response_body = self._redact.text(_text(body))
        headers = self._redact.response_headers(response.headers)
        # The body is stored decoded, so its encoding and length headers must describe that body.
        headers.pop("Content-Encoding", None)
        if "Content-Length" in headers:
            headers["Content-Length"] = [str(len(_bytes(response_body)))]
        request_headers = self._redact.request_headers(request.headers)
        for own_field in ("Host", "Content-Length"):
            request_headers.pop(own_field, None)
        version = response.extensions.get("http_version", b"HTTP/1.1").decode("ascii")
        return Interaction(
            method=request.method,
            url=self._redact.text(str(request.url)),
            request_body=self._redact.text(_text(request_body)),
            request_headers=request_headers,
            status=response.status_code,
            response_headers=headers,
            response_body=response_body,
            duration_ms=duration_ms,
            proto={"HTTP/2": "HTTP/2.0", "HTTP/3": "HTTP/3.0"}.get(version, version),
            error=self._redact.text(error),
        )


def _decoded(response: httpx.Response, raw: bytes, limit: int) -> bytes:
    """Undo Content-Encoding, as Go's client does before go-vcr sees a body: stored compressed,
    a body could be neither read nor redacted. Decoded as the client decodes it, and no further
    than the client's reply limit: what passed it is cut one byte past it, which replay refuses
    the same way, and a bomb is never inflated whole."""
    return decoded_prefix(raw, response.headers, limit)


def _failure(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _as_transport(error: BaseException) -> BaseException:
    """A request cancelled while its answer was awaited ran out of the client's time (its
    whole-request timeout): recorded as the timeout it was, so replay ends it the same way."""
    if isinstance(error, asyncio.CancelledError):
        return httpx.ReadTimeout("no complete answer in time")
    return error


#: The network failures replay can raise again, by the name recorded.
_REPLAYABLE_ERRORS: dict[str, type[httpx.TransportError]] = {
    cls.__name__: cls
    for cls in (
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.ReadError,
        httpx.ReadTimeout,
        httpx.WriteError,
        httpx.WriteTimeout,
        httpx.PoolTimeout,
        httpx.RemoteProtocolError,
        httpx.LocalProtocolError,
        httpx.ProxyError,
    )
}


def _replayed_error(recorded: str) -> httpx.TransportError:
    name, _, message = recorded.partition(": ")
    return _REPLAYABLE_ERRORS.get(name, httpx.ReadError)(message or name)


class _TeeStream(httpx.AsyncByteStream):
    """Passes chunks through as they arrive and hands the body to `on_close`, with the
    network error that cut it short if one did (a decoding error records nothing)."""

    def __init__(self, inner: httpx.AsyncByteStream, on_close: Callable[[bytes, BaseException | None], None]) -> None:
        self._inner = inner
        self._on_close = on_close
        self._chunks: list[bytes] = []
        self._error: BaseException | None = None
        self._undecodable = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                self._chunks.append(chunk)
                yield chunk
        except (httpx.TransportError, asyncio.CancelledError) as exc:
            self._error = _as_transport(exc)
            raise
        except Exception:
            self._undecodable = True
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()
        if not self._undecodable:
            self._on_close(b"".join(self._chunks), self._error)


class _FailingStream(httpx.AsyncByteStream):
    """A recorded body that broke off: its bytes, then the recorded network error."""

    def __init__(self, body: bytes, error: str) -> None:
        self._body = body
        self._error = error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._body:
            yield self._body
        raise _replayed_error(self._error)


# --- replay --------------------------------------------------------------------------------------


class ReplayTransport(httpx.AsyncBaseTransport):
    """Answers requests from their cassettes, offline; the n-th request of a name gets the n-th interaction.

    A request is answered when it matches its recording in method and URL (but for the port,
    after the same redaction as when recording, so `ACCOUNT_ID` and `REDACTED` match the live
    values) and asks the same question in `dialect`'s wire format (`llmprobe.questions`; bodies
    that are not JSON must be equal byte for byte). Anything else is not recorded.
    """

    def __init__(self, directory: Path, redact: Redactor, dialect: str) -> None:
        if not directory.is_dir():
            raise CassetteError(f"no recordings to replay: {directory} does not exist (record them with --record)")
        self._directory = directory
        self._redact = redact
        self._dialect = dialect
        self._cassettes: dict[str, Cassette] = {}
        self._served: dict[str, int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        name = cassette_name(request, self._redact)
        cassette = self._cassette(name)
        index = self._served.get(name, 0)
        self._served[name] = index + 1
        if cassette is None:
            raise _not_recorded(f"{name}: {cassette_path(self._directory, name)} does not exist")
        if index >= len(cassette.interactions):
            raise _not_recorded(f"request #{index + 1} of {name}: {cassette.path} holds {len(cassette.interactions)}")
        recorded = cassette.interactions[index]
        difference = self._difference(
            recorded,
            request.method,
            self._redact.text(str(request.url)),
            self._redact.text(_text(await request.aread())),
        )
        if difference:
            raise _not_recorded(f"request #{index + 1} of {name} asks another question than {cassette.path}: {difference}")
        if recorded.error and not recorded.status:
            raise _replayed_error(recorded.error)
        headers = [(key, value) for key, values in recorded.response_headers.items() for value in values]
        body = _bytes(recorded.response_body)
        stream = _FailingStream(body, recorded.error) if recorded.error else httpx.ByteStream(body)
        return httpx.Response(recorded.status, headers=headers, stream=stream)

    def _cassette(self, name: str) -> Cassette | None:
        if name not in self._cassettes:
            path = cassette_path(self._directory, name)
            if not path.is_file():
                return None
            self._cassettes[name] = load_cassette(path)
        return self._cassettes[name]

    def _difference(self, recorded: Interaction, method: str, url: str, body: str) -> str | None:
        if method != recorded.method:
            return f"method {method}, recorded {recorded.method}"
        if _without_port(url) != _without_port(recorded.url):
            return f"URL {url}, recorded {recorded.url}"
        sent_json, recorded_json = body_of(body), body_of(recorded.request_body)
        if sent_json is None or recorded_json is None:
            return _bytes_difference(_bytes(body), _bytes(recorded.request_body))
        return difference(question(self._dialect, sent_json), question(self._dialect, recorded_json))


def _not_recorded(detail: str) -> ApiError:
    """Read as `not_recorded: <detail>`: the probe's reason says why it is unknown."""
    return ApiError(ErrorKind.NOT_RECORDED, detail)


def _without_port(url: str) -> str:
    """URLs match whatever the port, as in go-vcr: a local server's port is picked per run."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.hostname or "").geturl()


def _bytes_difference(sent: bytes, recorded: bytes) -> str | None:
    if sent == recorded:
        return None
    at = next((i for i, (a, b) in enumerate(zip(sent, recorded, strict=False)) if a != b), min(len(sent), len(recorded)))
    return f"body differs at byte {at} (sent {len(sent)} bytes, recorded {len(recorded)})"
