"""Reading a body as its Content-Encoding says, never holding more decoded bytes than allowed.

httpx inflates each network read whole before anyone can count it: one 64 KiB read of a
gzip bomb is 64 MiB in memory before a size limit sees it. Here the compressed bytes are
inflated in pieces of at most `PIECE` bytes, so whoever counts them (the client's reply
limit, the recorder's) stops a bomb after one piece, whatever its ratio.

The encodings are the ones we ask for (`Accept-Encoding: gzip, deflate`), decoded as httpx
decodes them. brotli and zstd, which httpx decodes when their packages are installed, are
refused instead: nobody asked for them, and neither can be inflated within a bound with the
standard library. Any other name is not an encoding httpx knows, and the bytes are taken as
they come, as httpx takes them.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping

from llmprobe.errors import ApiError, ErrorKind, excerpt

#: The default cap on one reply's (decoded) body: far above any probe's answer, far below
#: what would strain memory. A provider may raise it with `max_reply_bytes`.
DEFAULT_MAX_REPLY_BYTES = 4 * 1024 * 1024

#: The request extension carrying the cap of its reply's body, for the recorder below the client.
MAX_BODY_EXTENSION = "llmprobe.max_body"

#: The most decoded bytes one step of inflating produces.
PIECE = 64 * 1024

#: Encodings httpx would decode if their packages were installed, which we never accept.
_REFUSED = frozenset({"br", "zstd"})


class _Inflater:
    """One zlib layer (gzip, or deflate with or without its zlib header, as httpx reads it)."""

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._raw_deflate_tried = encoding != "deflate"
        wbits = zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS
        self._zlib = zlib.decompressobj(wbits)

    def feed(self, data: bytes) -> Iterator[bytes]:
        first = not self._raw_deflate_tried
        self._raw_deflate_tried = True
        try:
            while data and not self._zlib.eof:
                piece = self._zlib.decompress(data, PIECE)
                data = self._zlib.unconsumed_tail
                if not piece:
                    break
                first = False
                yield piece
        except zlib.error as exc:
            if first:
                # A "deflate" body without the zlib header, which servers often send: httpx tries raw deflate.
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                yield from self.feed(data)
                return
            raise ApiError(ErrorKind.UNREADABLE, f"the body cannot be decoded: {self._encoding}: {excerpt(str(exc))}") from None

    def end(self) -> Iterator[bytes]:
        try:
            rest = self._zlib.flush(PIECE)
        except zlib.error as exc:
            raise ApiError(ErrorKind.UNREADABLE, f"the body cannot be decoded: {self._encoding}: {excerpt(str(exc))}") from None
        if rest:
            yield rest


class Decoder:
    """The decoded body of an answer with these headers, fed its raw bytes as they arrive."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        given = ",".join(value for key, value in headers.items() if key.lower() == "content-encoding")
        names = [name.strip().lower() for name in given.split(",")]
        refused = next((name for name in names if name in _REFUSED), None)
        if refused is not None:
            raise ApiError(ErrorKind.UNREADABLE, f"the body is encoded as {refused}, which was not asked for")
        # Applied last first, as they were applied first to last.
        self._layers = [_Inflater(name) for name in reversed(names) if name in ("gzip", "deflate")]

    def feed(self, raw: bytes) -> Iterator[bytes]:
        """`raw` decoded, in pieces of at most PIECE bytes."""
        return self._through(0, [raw], final=False)

    def end(self) -> Iterator[bytes]:
        """Whatever the layers still held once the raw bytes ended."""
        return self._through(0, [], final=True)

    def _through(self, layer: int, pieces: Iterable[bytes], final: bool) -> Iterator[bytes]:
        if layer == len(self._layers):
            yield from (piece for piece in pieces if piece)
            return
        inflater = self._layers[layer]
        for piece in pieces:
            yield from self._through(layer + 1, inflater.feed(piece), final=False)
        if final:
            yield from self._through(layer + 1, inflater.end(), final=True)


async def decoded(raw: AsyncIterator[bytes], headers: Mapping[str, str], limit: int) -> AsyncIterator[bytes]:
    """The body decoded as it arrives, ended by ApiError(UNREADABLE) once it grows past `limit`
    bytes: a 50 MB answer, or a small gzip that inflates to one, is never held."""
    decoder = Decoder(headers)
    size = 0

    def counted(pieces: Iterator[bytes]) -> Iterator[bytes]:
        nonlocal size
        for piece in pieces:
            size += len(piece)
            if size > limit:
                raise ApiError(ErrorKind.UNREADABLE, f"reply too large: more than {limit} bytes")
            yield piece

    async for chunk in raw:
        for piece in counted(decoder.feed(chunk)):
            yield piece
    for piece in counted(decoder.end()):
        yield piece


def decoded_prefix(raw: bytes, headers: Mapping[str, str], limit: int) -> bytes:
    """At most `limit` + 1 decoded bytes of a whole raw body: enough to show that it passed `limit`."""
    decoder = Decoder(headers)
    pieces: list[bytes] = []
    size = 0
    for piece in itertools.chain(decoder.feed(raw), decoder.end()):
        pieces.append(piece[: limit + 1 - size])
        size += len(pieces[-1])
        if size > limit:
            break
    return b"".join(pieces)
