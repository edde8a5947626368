"""Replay: requests answered from their cassettes (`llmprobe.cassettes`), offline.

Replay answers a request only with a recording of the same question (`llmprobe.questions`,
the rule the test suite's fixture server applies too); any other request gets no answer but
`ApiError(NOT_RECORDED)`, so its probe is unknown ("not recorded"), never a verdict. An
unreadable cassette or a replay directory that does not exist raises `CassetteError`, for
the user to fix, never a provider failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from llmprobe.cassettes import Cassette, Interaction, body_bytes, body_text, cassette_name, cassette_path, load_cassette
from llmprobe.errors import ApiError, CassetteError, ErrorKind
from llmprobe.questions import body_of, difference, question
from llmprobe.redaction import Redactor


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
            self._redact.text(body_text(await request.aread())),
        )
        if difference:
            raise _not_recorded(f"request #{index + 1} of {name} asks another question than {cassette.path}: {difference}")
        if recorded.error and not recorded.status:
            raise _replayed_error(recorded.error)
        headers = [(key, value) for key, values in recorded.response_headers.items() for value in values]
        body = body_bytes(recorded.response_body)
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
            return _bytes_difference(body_bytes(body), body_bytes(recorded.request_body))
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



class _FailingStream(httpx.AsyncByteStream):
    """A recorded body that broke off: its bytes, then the recorded network error."""

    def __init__(self, body: bytes, error: str) -> None:
        self._body = body
        self._error = error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._body:
            yield self._body
        raise _replayed_error(self._error)

