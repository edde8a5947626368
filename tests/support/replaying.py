"""Replaying a recorded answer through a dialect, the way `llmprobe.client` reads a live one.

One helper for every dialect test: a 2xx streamed answer goes through the dialect's
stream parser in its framing (SSE or NDJSON), anything else through `parse`, and the
rate limits come from the dialect's own header reader, as the client attaches them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from llmprobe.cassettes import Interaction, load_cassette
from llmprobe.dialects import Dialect
from llmprobe.neutral import Reply
from llmprobe.sse import SseEvent, aiter_events, aiter_ndjson


def events(dialect: Dialect, lines: Iterable[str]) -> list[SseEvent]:
    """The events the client's own framing (SSE or NDJSON) reads from a complete body."""
    frames = aiter_ndjson if dialect.STREAM_FRAMING == "ndjson" else aiter_events

    async def arrive() -> AsyncIterator[str]:
        for line in lines:
            yield line

    async def collect() -> list[SseEvent]:
        return [event async for event in frames(arrive())]

    # Nothing in it waits (the lines are at hand), so one step runs it to its end: `asyncio.run`
    # would make and close an event loop for every streamed answer.
    coroutine = collect()
    try:
        coroutine.send(None)
    except StopIteration as done:
        return list(done.value)
    coroutine.close()
    raise RuntimeError("reading a complete body waited for something")


def read_answer(dialect: Dialect, status: int, headers: Mapping[str, str], body: str, stream: bool) -> Reply:
    """A finished answer as the client would read it."""
    if stream and 200 <= status < 300:
        parser = dialect.stream_parser()
        for event in events(dialect, body.splitlines()):
            parser.feed(event)
        reply = parser.finish()
    else:
        reply = dialect.parse(status, headers, body.encode())
    reply.rate_limits = dialect.rate_limits(headers)
    return reply


def headers(item: Interaction) -> dict[str, str]:
    """The first value of each recorded response header, as a dialect reads them."""
    return {name: values[0] for name, values in item.response_headers.items() if values}


def replay(dialect: Dialect, item: Interaction) -> Reply:
    """A recorded interaction; streamed when its request asked for a stream."""
    try:
        stream = bool(json.loads(item.request_body or "{}").get("stream"))
    except (ValueError, AttributeError):
        stream = False
    return read_answer(dialect, item.status, headers(item), item.response_body, stream)


def stream_of(dialect: Dialect, *data: str) -> Reply:
    """A stream made of these events' data, in order."""
    parser = dialect.stream_parser()
    for chunk in data:
        parser.feed(SseEvent(chunk))
    return parser.finish()


@cache
def recorded(path: Path) -> tuple[Interaction, ...]:
    """A recording's interactions, parsed once per process: the reference's recordings are read-only
    inputs that several test modules walk and the fixture server answers from on every request."""
    return tuple(load_cassette(path).interactions)


@dataclass(frozen=True)
class Recordings:
    """One provider's recordings read through its dialect, by cassette name or by (model, probe)."""

    dialect: Dialect
    root: Path
    #: A cassette may go on after its answer (Ollama's bad_model ones with the reference's /api/pull).
    follow_ups: bool = False

    def interaction(self, name: str) -> Interaction:
        interactions = recorded(self.root / name)
        if not self.follow_ups:
            assert len(interactions) == 1, name
        return interactions[0]

    def scoreboard(self, model: str, probe: str) -> Interaction:
        return self.interaction(f"scoreboard-cassettes/{model}/{probe}.yaml")

    def replay(self, recorded: Interaction) -> Reply:
        return replay(self.dialect, recorded)

    def stream_of(self, *data: str) -> Reply:
        return stream_of(self.dialect, *data)
