"""Sending one neutral request to a provider: HTTP, streaming, retries, timing.

This is the only module that turns dialect calls into network traffic. It owns
the things no verdict should depend on: retrying what failed for reasons that
say nothing about the request, timing, and keeping secrets out of messages.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import httpx

from llmprobe.asking import Outgoing, Wire
from llmprobe.bodies import DEFAULT_MAX_REPLY_BYTES, MAX_BODY_EXTENSION, decoded
from llmprobe.cassettes import CASSETTE_EXTENSION
from llmprobe.dialects import Dialect, HttpCall
from llmprobe.errors import ApiError, ErrorKind, LlmprobeError, UnsupportedOption, excerpt
from llmprobe.neutral import Exchange, Reply, Request, ToolCall
from llmprobe.pacing import Pacer, RateLimitWait
from llmprobe.ratelimits import names_tokens
from llmprobe.redaction import Redactor
from llmprobe.retries import RetryPolicy
from llmprobe.scheduler import Priority, Slots
from llmprobe.sse import aiter_events, aiter_ndjson, text_lines
from llmprobe.token_guess import TokenGuess

#: httpx's own default: 5 s for each of connecting, every read, every write, and waiting for a pooled connection.
DEFAULT_PHASE_TIMEOUTS = httpx.Timeout(5.0)


_T = TypeVar("_T")
#: Listing pages fetched, by their request: status, headers and body.
Pages = dict[str, tuple[int, httpx.Headers, bytes]]

class ProviderClient:
    """Sends neutral requests for one provider through its dialect.

    Requests go straight to the httpx transport, without an `httpx.AsyncClient` around it:
    there is no cookie jar, so a cookie one reply sets never rides on the next request (every
    probe must be independent of the others), and none of the client's layers (auth flow,
    redirects, cookie extraction, URL and header merging) costs CPU on every request.
    """

    def __init__(
        self,
        dialect: Dialect,
        transport: httpx.AsyncBaseTransport,
        *,
        api_key: str = "",
        retry: RetryPolicy = RetryPolicy(),
        concurrency: int = 8,
        extra_body: Mapping[str, Any] | None = None,
        unsupported: Collection[str] = (),
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        timeout: float | None = None,
        phase_timeouts: httpx.Timeout = DEFAULT_PHASE_TIMEOUTS,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        redactor: Redactor | None = None,
    ) -> None:
        self.dialect = dialect
        self._transport = transport
        #: How every request goes out (`asking`), with the credentials as the dialect sends them, made once.
        auth_headers = dialect.auth_headers(api_key) if api_key else {}
        self._wire = Wire(dialect, tuple(unsupported), dict(extra_body or {}), auth_headers)
        #: Applied to everything a provider sends before anyone else sees it (see `redaction`).
        self._redactor = redactor if redactor is not None else Redactor([api_key])
        #: Seconds one request may take in all: connecting, waiting, and reading the whole body.
        self.timeout = timeout
        self.max_reply_bytes = max_reply_bytes
        #: The extensions of every request: the seconds each step may take (the transport reads
        #: them), and the reply's size limit (the recorder reads it: it decodes the body apart from us).
        self._extensions: dict[str, Any] = {"timeout": phase_timeouts.as_dict(), MAX_BODY_EXTENSION: max_reply_bytes}
        #: Each URL requested, parsed once: httpx parses a URL given as text on every request, in
        #: Python, and a provider's requests go to a handful of them.
        self._urls: dict[str, httpx.URL] = {}
        self.retry = retry
        #: Requests in flight for this provider, critical path first; retry waits do not hold a slot.
        self._slots = Slots(concurrency)
        self._pacer = Pacer(clock=clock, sleep=sleep, max_wait=retry.rate_limit_wait)
        self._tokens = TokenGuess()
        self._sleep = sleep

    async def generate(
        self, model: str, request: Request, *, name: str = "", priority: Priority = (), opens: Priority | None = None
    ) -> Exchange:
        """Send `request`, retrying transient failures; never raises for provider failures.

        When all slots (or a key's rate budget) are busy, waiting requests go out highest
        `priority` first (see `scheduler.Priority`); `opens` is the priority of the requests
        this one's answer lets go (see `Slots.hold`).

        CassetteError and other usage errors propagate: they are the user's to fix,
        not a fact about the provider.
        """
        exchange = Exchange(cassette=name or None)
        try:
            call = self._wire.outgoing(model, request)
        except UnsupportedOption as exc:
            exchange.error = exc
            return exchange
        # The key the provider counts this request's limits on (see `pacing`).
        key = model if self.dialect.RATE_LIMIT_SCOPE == "model" else ""
        cost = self._tokens.expect(request)
        errors = 0
        #: When this request met its first 429, and how many it has met.
        limited_since: float | None = None
        limited = 0
        while True:
            try:
                # Paced before taking a slot: a model waiting for its own budget must not
                # hold a slot that another model's request could use meanwhile.
                ticket = await self._pacer.acquire(key, priority, cost, limited_since)
            except RateLimitWait as held:
                exchange.error = ApiError(ErrorKind.RATE_LIMITED, str(held), status=exchange.status)
                return exchange
            try:
                async with self._slots.hold(priority, opens):
                    # None: taken back by a 429 that came while it waited for the slot (see `Pacer.sending`).
                    reply = None
                    if self._pacer.sending(key, ticket):
                        exchange.attempts += 1
                        reply = await self._send(call, request.stream, name, exchange, (key, ticket))
            except ApiError as exc:
                exc = _detached(self._redacted(exc))
                exchange.error = exc
                if exc.kind is ErrorKind.RATE_LIMITED and self.retry.wait:
                    # Waited out, not counted as a retry: throttling concerns every request of the
                    # key, so the pacer holds them all, this one included, when it next asks.
                    limited += 1
                    limited_since = self._pacer.now() if limited_since is None else limited_since
                    wait = exc.retry_after if exc.retry_after is not None else self.retry.backoff(limited)
                    self._pacer.throttled(key, ticket, wait, tokens=names_tokens(exc.message))
                    self._pacer.release(key, ticket)
                    exchange.retries.append(str(exc))
                    continue
                # Any answer but a 429 went through the provider's limits.
                self._pacer.release(key, ticket, admitted=exc.status is not None)
                errors += 1
                if not exc.retryable or errors > self.retry.max_retries:
                    return exchange
                exchange.retries.append(str(exc))
                await self._sleep(self.retry.delay(errors, exc.retry_after))
                continue
            except BaseException:
                self._pacer.release(key, ticket)
                raise
            self._pacer.release(key, ticket, admitted=reply is not None)
            if reply is None:
                continue
            self._tokens.learn(request, reply.usage)
            exchange.reply = self._redacted_reply(reply)
            exchange.error = None
            return exchange

    def rate_limited_for(self) -> float:
        """Seconds the provider has been refusing some key of it with 429s, without a success since (0: none)."""
        return self._pacer.limited_for()

    def redact(self, text: str) -> str:
        """`text` without this provider's secrets, for anything written or printed about it."""
        return self._redactor.text(text)

    def _redacted(self, exc: ApiError) -> ApiError:
        """Providers echo credentials in error messages; never pass them on."""
        message = self.redact(exc.message)
        if message == exc.message:
            return exc
        return ApiError(
            exc.kind,
            message,
            status=exc.status,
            code=exc.code,
            retry_after=exc.retry_after,
            has_envelope=exc.has_envelope,
        )

    def _redacted_reply(self, reply: Reply) -> Reply:
        """A reply quoting the key (in its text, its reasoning, a tool call's arguments) is
        redacted here, so no verdict, results file or log line ever holds it."""
        if not self._redactor:
            return reply
        redact = self.redact
        return dataclasses.replace(
            reply,
            text=redact(reply.text),
            reasoning=redact(reply.reasoning),
            tool_calls=[ToolCall(redact(c.id), redact(c.name), redact(c.arguments)) for c in reply.tool_calls],
            raw_finish_reason=redact(reply.raw_finish_reason),
            citations=[redact(url) for url in reply.citations],
            web_search=[redact(source) for source in reply.web_search],
        )

    def _request(self, call: Outgoing, name: str = "") -> httpx.Request:
        """`call` as the transport takes it, with `name` as its cassette."""
        extensions = {**self._extensions, CASSETTE_EXTENSION: name} if name else self._extensions
        url = self._urls.get(call.url)
        if url is None:
            url = self._urls[call.url] = httpx.URL(call.url)
        return httpx.Request(call.method, url, json=call.body, headers=call.headers, extensions=extensions)

    async def _send(self, call: Outgoing, stream: bool, name: str, exchange: Exchange, paced: tuple[str, int]) -> Reply:
        """One attempt, within `timeout` as a whole: a server that trickles its body or sends
        keep-alive comments forever cannot stretch a request past it."""
        async with self._deadline():
            return await self._attempt(call, stream, name, exchange, paced)

    @asynccontextmanager
    async def _deadline(self) -> AsyncIterator[None]:
        """`timeout` over the body of the `async with`, as a TRANSPORT failure when it passes.

        Run in the caller's own task (`deadline`), never in a task of its own as
        `asyncio.wait_for` does: a cancel that meets an answer arriving at the same moment
        then still cancels, where `wait_for` (before Python 3.12) returns the answer and
        drops the cancel, leaving a caller that was told to stop running on.
        """
        try:
            async with deadline(self.timeout):
                yield
        except TimeoutError:
            raise ApiError(ErrorKind.TRANSPORT, f"timed out: no complete answer within {self.timeout:g}s") from None

    async def _attempt(self, call: Outgoing, stream: bool, name: str, exchange: Exchange, paced: tuple[str, int]) -> Reply:
        request = self._request(call, name)
        start = time.perf_counter()
        exchange.ttft_ms = None
        with _transport_errors("connection failed"):
            response = await self._transport.handle_async_request(request)
        try:
            exchange.status = response.status_code
            exchange.ttfb_ms = (time.perf_counter() - start) * 1000
            # Read once, on every answer: the pacer needs them on failures too, the Limits column on successes.
            with _unreadable():
                limits = self.dialect.rate_limits(response.headers)
            self._pacer.observe(*paced, limits)
            _refuse_redirect(response)
            with _transport_errors("connection dropped while reading"):
                if stream and response.is_success:
                    reply = await self._read_stream(response, start, exchange)
                else:
                    content = await self._read_body(response)
                    with _unreadable():
                        reply = self.dialect.parse(response.status_code, response.headers, content)
            reply.rate_limits = limits
            return reply
        finally:
            await response.aclose()
            exchange.latency_ms = (time.perf_counter() - start) * 1000

    async def _read_stream(self, response: httpx.Response, start: float, exchange: Exchange) -> Reply:
        """The streamed reply; the first event's arrival is the time to first token, since a
        server can send its headers long before the model has produced anything."""
        parser = self.dialect.stream_parser()
        frames = aiter_ndjson if self.dialect.STREAM_FRAMING == "ndjson" else aiter_events
        async for event in frames(text_lines(self._chunks(response))):
            if exchange.ttft_ms is None:
                exchange.ttft_ms = (time.perf_counter() - start) * 1000
            with _unreadable():
                parser.feed(event)
        with _unreadable():
            return parser.finish()

    async def _read_body(self, response: httpx.Response) -> bytes:
        return b"".join([chunk async for chunk in self._chunks(response)])

    async def _chunks(self, response: httpx.Response) -> AsyncIterator[bytes]:
        """The body as it arrives, decoded within `max_reply_bytes` (see `bodies.decoded`).

        A response made in memory (httpx.MockTransport's, a replayed one) was read and decoded
        as it was made: its content is only counted."""
        headers: Mapping[str, str] = {} if response.is_stream_consumed else response.headers
        raw = _once(response.content) if response.is_stream_consumed else response.aiter_raw()
        try:
            async for piece in decoded(raw, headers, self.max_reply_bytes):
                yield piece
        except ApiError as exc:
            raise ApiError(exc.kind, exc.message, status=response.status_code) from None

    #: Pages of a model list read at most, so a provider that always answers "more" cannot loop us forever.
    MAX_MODEL_PAGES = 50

    async def list_models(self) -> list[str]:
        """The model ids the provider's API lists, page by page, in its order, without repeats.

        Raises ApiError (redacted) at the first page that fails, without retrying or
        returning what came before: a partial list would call configured models
        "stale" that are merely on a page we did not get, and whoever asked can
        simply ask again.
        """
        ids: dict[str, None] = {}
        cursor: str | None = None
        for _ in range(self.MAX_MODEL_PAGES):
            page_ids, cursor = await self.listing_page(self.dialect.list_models_call(cursor), self.dialect.parse_models, {})
            ids.update(dict.fromkeys(map(self.redact, page_ids)))
            if cursor is None:
                return list(ids)
        raise too_many_pages(self.MAX_MODEL_PAGES)

    async def listing_page(
        self, call: HttpCall, parse: Callable[[int, Mapping[str, str], bytes], _T], pages: Pages
    ) -> _T:
        """One page of the provider's listing, fetched in a slot and read by `parse`; ApiError (redacted) when it
        fails. `pages` holds pages by their request: one asked again is read from there, not sent again."""
        key = json.dumps([call.method, call.url, call.json], sort_keys=True, default=repr)
        try:
            if key not in pages:
                async with self._slots.hold():
                    pages[key] = await self._fetch(call)
            with _unreadable():
                return parse(*pages[key])
        except ApiError as exc:
            raise self._redacted(exc) from None

    async def _fetch(self, call: HttpCall) -> tuple[int, httpx.Headers, bytes]:
        """One whole, non-streamed answer, authenticated, bounded and failing like `_send` does."""

        async def fetch() -> tuple[int, httpx.Headers, bytes]:
            request = self._request(Outgoing(call.method, call.url, self._wire.headers(call.headers), call.json))
            with _transport_errors("connection failed"):
                response = await self._transport.handle_async_request(request)
            try:
                _refuse_redirect(response)
                with _transport_errors("connection dropped while reading"):
                    return response.status_code, response.headers, await self._read_body(response)
            finally:
                await response.aclose()

        async with self._deadline():
            return await fetch()


if sys.version_info >= (3, 11):
    deadline = asyncio.timeout
else:

    @asynccontextmanager
    async def deadline(delay: float | None) -> AsyncIterator[None]:
        """`asyncio.timeout` for Python 3.10: the body is cancelled when `delay` seconds pass,
        and that cancel (only that one) comes out as TimeoutError. A cancel from outside that
        lands in the same instant as the deadline counts as the deadline: the body is stopped
        either way, which is what every waiter needs."""
        if delay is None:
            yield
            return
        task = asyncio.current_task()
        assert task is not None, "deadline() is used inside a task"
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = asyncio.get_running_loop().call_later(delay, expire)
        try:
            yield
        except asyncio.CancelledError:
            if expired:
                raise TimeoutError from None
            raise
        finally:
            timer.cancel()


def too_many_pages(pages: int) -> ApiError:
    """A listing that still had more pages after `pages`: a provider that always answers "more" cannot loop us forever."""
    return ApiError(ErrorKind.MALFORMED, f"the model list still had more pages after {pages}")


def _detached(exc: ApiError) -> ApiError:
    """`exc` without the frames it was raised through, nor the error it was raised from: an
    exchange keeps its error for the whole run, and those frames hold what was read (up to the
    reply limit, for a reply refused as too large)."""
    exc.__traceback__ = exc.__context__ = exc.__cause__ = None
    return exc


def _refuse_redirect(response: httpx.Response) -> None:
    """A redirect is no answer from the provider, in any dialect: REDIRECTED, with where it points
    (`Location`), so the evidence says which base_url to configure. Its body is never read."""
    if 300 <= response.status_code < 400:
        location = response.headers.get("location")
        where = f"to {excerpt(location)}" if location else "without a Location"
        raise ApiError(
            ErrorKind.REDIRECTED, f"redirected {where}; not followed, so no answer about the model", status=response.status_code
        )


@contextmanager
def _transport_errors(doing: str) -> Iterator[None]:
    """httpx's network failures as ApiError(TRANSPORT): retryable, and never a verdict."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise ApiError(ErrorKind.TRANSPORT, f"timed out: {type(exc).__name__}") from None
    except httpx.TransportError as exc:
        raise ApiError(ErrorKind.TRANSPORT, f"{doing}: {type(exc).__name__}: {exc}") from None


@contextmanager
def _unreadable() -> Iterator[None]:
    """A dialect failing on a reply in a way nobody foresaw (a KeyError, an OverflowError) is
    that reply's outcome, never the run's end: it could not be read, so its verdicts are unknown."""
    try:
        yield
    except LlmprobeError:
        raise
    except Exception as exc:
        raise ApiError(ErrorKind.UNREADABLE, f"could not read the reply: {type(exc).__name__}: {excerpt(str(exc))}") from None


async def _once(content: bytes) -> AsyncIterator[bytes]:
    yield content
