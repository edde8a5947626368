"""Wire dialects: one module per wire format, all normalising into `neutral.Reply`.

A dialect is pure translation, with no I/O: `build` turns a neutral request into an
`HttpCall`, `parse` turns a finished HTTP answer into a `Reply` (or raises
`ApiError`), and `stream_parser` returns an object fed one streamed event at a time.
Sending, retrying, pacing and recording belong to `llmprobe.client`, so a dialect can
be tested on recorded bytes alone.

Everything a wire format decides lives in its module: URLs, auth headers, its own
settings (`OPTIONS`, given under a provider's `options:` in providers.yaml), how it
announces rate limits, and its error envelopes; what they share is `base.BaseDialect`.
Adding a dialect is one module plus one line in `DIALECTS` below.
"""

from __future__ import annotations

import base64
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from llmprobe.errors import UnsupportedOption
from llmprobe.neutral import AttachmentPart, RateLimit, Reply, Request
from llmprobe.sse import SseEvent

if TYPE_CHECKING:
    from llmprobe.dialects.declared import Claim

#: The `api:` values of providers.yaml, each naming its dialect class ("module:Class"), imported on use.
DIALECTS: dict[str, str] = {
    "openai": "llmprobe.dialects.openai:OpenAIDialect",
    "cloudflare": "llmprobe.dialects.cloudflare:CloudflareDialect",
    "anthropic": "llmprobe.dialects.anthropic:AnthropicDialect",
    "gemini": "llmprobe.dialects.gemini:GeminiDialect",
    "openai-responses": "llmprobe.dialects.openai_responses:OpenAIResponsesDialect",
    "ollama": "llmprobe.dialects.ollama:OllamaDialect",
    "cohere": "llmprobe.dialects.cohere:CohereDialect",
}


@dataclass(frozen=True)
class HttpCall:
    """An HTTP request as a dialect wants it sent; credentials are added by the client."""

    method: str
    url: str
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Option:
    """One setting a dialect accepts under a provider's `options:`, validated when providers.yaml loads.

    `kind` names how the value is read (the config loader reports a wrong one with its
    line); `choices` limits a "choice" to those strings.
    """

    kind: Literal["choice", "text", "boolean", "integer"]
    default: Any
    choices: tuple[str, ...] = ()


class StreamParser(Protocol):
    def feed(self, event: SseEvent) -> None:
        """Take one event (an SSE event, or one NDJSON line as an event's data); raises ApiError for an in-stream error."""

    def finish(self) -> Reply:
        """The assembled reply; raises ApiError(TRANSPORT) when the stream ended early."""


class Dialect(Protocol):
    #: The `api:` value in providers.yaml.
    name: ClassVar[str]
    #: Settings of this wire format that a provider may set under `options:`.
    OPTIONS: ClassVar[Mapping[str, Option]]
    #: How a streamed body is framed: server-sent events, or one JSON object per line.
    STREAM_FRAMING: ClassVar[Literal["sse", "ndjson"]]
    #: What the provider counts its rate limits on: each model apart, or the whole provider.
    RATE_LIMIT_SCOPE: ClassVar[Literal["model", "provider"]]

    def __init__(self, base_url: str, options: Mapping[str, Any] | None = None) -> None: ...

    def build(self, model: str, request: Request) -> HttpCall:
        """Raises UnsupportedOption for anything the wire format cannot carry."""

    def auth_headers(self, api_key: str) -> dict[str, str]: ...

    def parse(self, status: int, headers: Mapping[str, str], body: bytes) -> Reply:
        """A complete (non-streamed) answer, or any non-2xx answer of a streamed call."""

    def stream_parser(self) -> StreamParser:
        """For a 2xx streamed answer."""

    def rate_limits(self, headers: Mapping[str, str]) -> list[RateLimit]:
        """The limits announced on any answer, success or failure: for the Limits column and the pacer."""

    def list_models_call(self, cursor: str | None) -> HttpCall:
        """The request for one page of the model list: the first (`cursor` None), or the one `cursor` names."""

    def parse_models(self, status: int, headers: Mapping[str, str], body: bytes) -> tuple[list[str], str | None]:
        """Model ids on this page, and the cursor of the next page (None on the last one).

        The cursor travels through the caller, so a dialect keeps no state between pages."""

    def claims_call(self, model: str, cursor: str | None) -> HttpCall | None:
        """The request for one page of what the provider declares about `model`: a page of the model
        list for most APIs (the client asks each distinct page once), one request per model for
        Ollama's /api/show; None when the API declares nothing llmprobe can hold against a verdict."""

    def parse_claims(
        self, model: str, status: int, headers: Mapping[str, str], body: bytes
    ) -> tuple[list[Claim] | None, str | None]:
        """`model`'s claims (`declared.Claim`; None when this page does not list it), and the next page's cursor."""


def dialect_class(api: str) -> type[Dialect]:
    """The dialect registered for a providers.yaml `api:` value; KeyError for an unknown one."""
    module, _, name = DIALECTS[api].partition(":")
    cls: type[Dialect] = getattr(importlib.import_module(module), name)
    return cls


def get_dialect(api: str, base_url: str, options: Mapping[str, Any] | None = None) -> Dialect:
    """The dialect for `api:`, with the provider's `options:` (already validated by the config loader)."""
    return dialect_class(api)(base_url, options)


def refuse_missing(request: Request, missing: Mapping[str, str]) -> None:
    """Raises UnsupportedOption for the first option `request` asks for (`Request.asks`) that the
    wire format has no field for; `missing` maps each such option to the field that is missing,
    with the reference it rests on (docs/methodology.md lists them all)."""
    for option, reason in missing.items():
        if request.asks(option):
            raise UnsupportedOption(option, reason)


def refuse_modality(part: AttachmentPart, carried: tuple[str, ...], reason: str) -> None:
    """Raises UnsupportedOption ("<modality> input") for an attachment of a modality the wire
    format has no part for: refused before sending, never dropped from the request."""
    if part.modality not in carried:
        raise UnsupportedOption(f"{part.modality} input", f"{part.mime}: {reason}")


def data_url(part: AttachmentPart) -> str:
    """The attachment inline as a `data:` URL, the form most wires take a file in."""
    return f"data:{part.mime};base64,{base64.b64encode(part.data or b'').decode()}"


def option_values(declared: Mapping[str, Option], options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every option a dialect declares, the given ones over its defaults."""
    given = options or {}
    return {name: given.get(name, option.default) for name, option in declared.items()}
