"""Recording: every HTTP exchange of a run written to its cassette (`llmprobe.cassettes`).

An httpx transport (httpx's public extension point), which covers async and streamed
responses without patching any library. A cassette it cannot write, or a name that would
leave the directory, raises `CassetteError`, for the user to fix, never a provider failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import cast

import httpx

from llmprobe.bodies import DEFAULT_MAX_REPLY_BYTES, MAX_BODY_EXTENSION, decoded_prefix
from llmprobe.cassettes import Interaction, append_interaction, body_bytes, body_text, cassette_name, cassette_path
from llmprobe.errors import ApiError
from llmprobe.redaction import Redactor


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
        #: The interactions written so far, per name. A name's earlier ones stay in its file, not
        #: held for the whole run: a body can be as large as the reply limit.
        self._written: dict[str, int] = {}

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
        index = self._written.get(name, 0)
        append_interaction(cassette_path(self._directory, name), interaction, index)
        self._written[name] = index + 1

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
        response_body = self._redact.text(body_text(body))
        headers = self._redact.response_headers(response.headers)
        # The body is stored decoded, so its encoding and length headers must describe that body.
        headers.pop("Content-Encoding", None)
        if "Content-Length" in headers:
            headers["Content-Length"] = [str(len(body_bytes(response_body)))]
        request_headers = self._redact.request_headers(request.headers)
        for own_field in ("Host", "Content-Length"):
            request_headers.pop(own_field, None)
        version = response.extensions.get("http_version", b"HTTP/1.1").decode("ascii")
        return Interaction(
            method=request.method,
            url=self._redact.text(str(request.url)),
            request_body=self._redact.text(body_text(request_body)),
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

