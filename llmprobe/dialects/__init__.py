"""Wire dialects: one module per wire format, all normalising into `neutral.Reply`.

A dialect is pure translation, with no I/O: `build` turns a neutral request into an
`HttpCall`, `parse` turns a finished HTTP answer into a `Reply` (or raises
`ApiError`), and `stream_parser` returns an object fed one SSE event at a time.
Sending, retrying and recording belong to `llmprobe.client`, so a dialect can be
tested on recorded bytes alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from llmprobe.neutral import Reply, Request
from llmprobe.sse import SseEvent


@dataclass(frozen=True)
class HttpCall:
    """An HTTP request as a dialect wants it sent; credentials are added by the client."""

    method: str
    url: str
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


class StreamParser(Protocol):
    def feed(self, event: SseEvent) -> None:
        """Take one SSE event; raises ApiError for an in-stream error."""

    def finish(self) -> Reply:
        """The assembled reply; raises ApiError(TRANSPORT) when the stream ended early."""


class Dialect(Protocol):
    #: The `api:` value in providers.yaml.
    name: str

    def build(self, model: str, request: Request) -> HttpCall:
        """Raises UnsupportedOption for anything the wire format cannot carry."""

    def auth_headers(self, api_key: str) -> dict[str, str]: ...

    def parse(self, status: int, headers: Mapping[str, str], body: bytes) -> Reply:
        """A complete (non-streamed) answer, or any non-2xx answer of a streamed call."""

    def stream_parser(self, headers: Mapping[str, str]) -> StreamParser:
        """For a 2xx streamed answer; headers carry the rate limits."""

    def list_models_call(self, page: int) -> HttpCall: ...

    def parse_models(self, status: int, headers: Mapping[str, str], body: bytes) -> tuple[list[str], bool]:
        """Model ids on this page, and whether another page follows."""


def get_dialect(
    api: str,
    base_url: str,
    *,
    max_tokens_field: str = "max_completion_tokens",
    seed_field: str = "seed",
    unsupported: tuple[str, ...] = (),
) -> Dialect:
    """The dialect for a providers.yaml `api:` value (the keyword settings are the openai dialect's)."""
    if api == "openai":
        from llmprobe.dialects.openai import OpenAIDialect

        return OpenAIDialect(base_url, max_tokens_field=max_tokens_field, seed_field=seed_field, unsupported=unsupported)
    if api == "cloudflare":
        from llmprobe.dialects.cloudflare import CloudflareDialect

        return CloudflareDialect(base_url)
    raise ValueError(f"unknown api {api!r}")


DIALECTS = ("openai", "cloudflare")
