"""Streamed bodies, decoded incrementally from lines: server-sent events, or NDJSON.

Written to the WHATWG rules rather than to what one provider happens to send:
comment lines (": keep-alive") are ignored, multi-line `data:` fields are joined,
events with no data are skipped, and an `event:` name travels with its data so a
dialect can recognise `event: error`.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class SseEvent:
    data: str
    event: str = "message"

    @property
    def is_done(self) -> bool:
        """The OpenAI-style end-of-stream marker."""
        return self.data.strip() == "[DONE]"


class SseDecoder:
    """Feed it lines (without their line break); it returns each event when complete."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""

    def feed_line(self, line: str) -> SseEvent | None:
        line = line.rstrip("\r")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        # "id" and "retry" carry nothing a prober needs; unknown fields are ignored per spec.
        return None

    def flush(self) -> SseEvent | None:
        """An event left pending when the body ended without a trailing blank line."""
        return self._dispatch()

    def _dispatch(self) -> SseEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return SseEvent("\n".join(data), event or "message")


async def aiter_events(lines: AsyncIterable[str]) -> AsyncIterator[SseEvent]:
    """Every event of a body as its lines arrive, the last one flushed at its end."""
    decoder = SseDecoder()
    async for line in lines:
        event = decoder.feed_line(line)
        if event is not None:
            yield event
    last = decoder.flush()
    if last is not None:
        yield last


async def aiter_ndjson(lines: AsyncIterable[str]) -> AsyncIterator[SseEvent]:
    """One event per non-empty line of a newline-delimited JSON body (Ollama's streams),
    so a dialect's stream parser takes both framings the same way."""
    async for line in lines:
        if line.strip():
            yield SseEvent(line)


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


async def text_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The body's lines as text, decoded as UTF-8 (as SSE and NDJSON are defined), invalid bytes replaced.

    httpx's `aiter_lines` would do, but it reads through its own chunk iterator, and the
    size limit has to count every byte on the way.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    # The line being read, in pieces: only the text each chunk adds is searched for line breaks,
    # so a line that never ends (a hostile stream) costs its length once, not at every chunk.
    line: list[str] = []
    held_cr = False
    async for chunk in chunks:
        text = "\r" * held_cr + decoder.decode(chunk)
        # A trailing CR may be the first half of a CRLF still on its way.
        held_cr = text.endswith("\r")
        *complete, last = _LINE_BREAK.split(text[:-1] if held_cr else text)
        if complete:
            complete[0] = "".join([*line, complete[0]])
            line = []
            for each in complete:
                yield each
        line.append(last)
    *complete, last = _LINE_BREAK.split("\r" * held_cr + decoder.decode(b"", final=True))
    if complete:
        complete[0] = "".join([*line, complete[0]])
        line = []
        for each in complete:
            yield each
    if rest := "".join([*line, last]):
        yield rest
