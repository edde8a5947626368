"""Cutting a streamed body into lines and events while its bytes arrive, however they are split."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator

import pytest

from llmprobe.sse import SseEvent, aiter_events, aiter_ndjson, text_lines

BODY = 'data: {"a": "é"}\r\n\r\n: keep-alive\r\ndata: [DONE]\r\n\r\n'.encode()


async def _arrive(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def lines_of(chunks: list[bytes]) -> list[str]:
    async def collect() -> list[str]:
        return [line async for line in text_lines(_arrive(chunks))]

    return asyncio.run(collect())


@pytest.mark.parametrize("size", [1, 2, 3, 7, len(BODY)])
def test_lines_are_the_same_whatever_the_chunks(size: int) -> None:
    """A CRLF or a two-byte character cut in half by a chunk boundary is still one break, one character."""
    chunks = [BODY[i : i + size] for i in range(0, len(BODY), size)]
    assert lines_of(chunks) == ['data: {"a": "é"}', "", ": keep-alive", "data: [DONE]", ""]


def test_lone_cr_and_lf_break_lines_and_the_last_line_needs_no_break() -> None:
    assert lines_of([b"one\rtwo\n", b"thr", b"ee"]) == ["one", "two", "three"]
    assert lines_of([b"end\r"]) == ["end"]


def test_any_cut_of_any_body_gives_the_whole_bodys_lines() -> None:
    """Seeded bodies of CR, LF, a two-byte character and text, cut at random: a line read in many
    pieces, a CR ending one chunk and its LF starting the next, an empty chunk, all as one body."""
    rng = random.Random(29)
    for _ in range(2000):
        body = bytes(rng.choice(b"ab \r\n\xc3\xa9") for _ in range(rng.randint(0, 30)))
        cuts = sorted(rng.choices(range(len(body) + 1), k=rng.randint(0, 6)))
        chunks = [body[i:j] for i, j in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        *whole, last = re.split(r"\r\n|\r|\n", body.decode("utf-8", "replace"))
        assert lines_of(chunks) == [*whole, *([last] if last else [])], chunks


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert lines_of([b"data: \xff\xfe\n"]) == ["data: \ufffd\ufffd"]


def test_events_from_lines_in_either_framing() -> None:
    async def collect(frames, lines: list[str]) -> list[SseEvent]:  # type: ignore[no-untyped-def]
        async def arrive() -> AsyncIterator[str]:
            for line in lines:
                yield line

        return [event async for event in frames(arrive())]

    sse = asyncio.run(collect(aiter_events, ["event: error", 'data: {"x":', "data: 1}", "", "data: tail"]))
    assert sse == [SseEvent('{"x":\n1}', "error"), SseEvent("tail")]
    assert asyncio.run(collect(aiter_ndjson, ['{"a": 1}', "  "])) == [SseEvent('{"a": 1}')]
