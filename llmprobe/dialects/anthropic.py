"""Anthropic Messages: `POST {base_url}/v1/messages`, answers as typed content blocks.

A reply is a list of blocks (`text` with its citations, `thinking` with a signature,
`tool_use` with its input as a JSON object), streamed as `content_block_*` events by
index. The stream parser rebuilds the blocks in their sync shape, so one function
reads a reply either way.

JSON following a schema is structured outputs' `output_config.format`. The wire has no
seed, no log-probabilities and no free-form JSON mode (`format` takes only a schema):
those are refused, per `NO_FIELD`. Which models take which option, and thinking's own
rules (`max_tokens` above the thinking budget, no forced tool call), are the server's
to answer, so those requests are sent.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from llmprobe import neutral
from llmprobe.dialects import HttpCall, Option, refuse_missing, refuse_modality, wire
from llmprobe.dialects.base import BaseDialect
from llmprobe.dialects.declared import Declarations
from llmprobe.errors import ApiError, ErrorKind, UnsupportedOption, excerpt, kind_for_status, page_excerpt
from llmprobe.ratelimits import parse_retry_after
from llmprobe.sse import SseEvent

API_VERSION = "2023-06-01"
#: The most the API lists in one page.
MODELS_PER_PAGE = 1000

_TOOL_CHOICES = {"required": "any", "auto": "auto", "none": "none"}
#: The server-side search tool: Anthropic runs the searches and returns them as blocks of the reply.
WEB_SEARCH_TOOL = {"type": "web_search_20250305", "name": "web_search"}

#: Options the Messages API has no field for, checked on 2026-12-06; the sources are in
#: docs/methodology.md ("What a dialect does not send").
NO_FIELD = {
    "seed": "the Messages API has no seed field",
    "top_logprobs": "the Messages API returns no log-probabilities and has no field to ask for them",
    "json_mode": "the Messages API has no free-form JSON mode: output_config.format takes only a JSON schema",
}

#: Error types whose meaning does not depend on the HTTP status (in-stream errors have none).
_ERROR_KINDS = {
    "invalid_request_error": ErrorKind.REJECTED,
    "request_too_large": ErrorKind.REJECTED,
    "authentication_error": ErrorKind.AUTH,
    "permission_error": ErrorKind.AUTH,
    "not_found_error": ErrorKind.NOT_FOUND,
    "rate_limit_error": ErrorKind.RATE_LIMITED,
    "api_error": ErrorKind.SERVER,
    "overloaded_error": ErrorKind.SERVER,
}

#: `anthropic-ratelimit-<name>-{limit,remaining,reset}` and the kind each one limits.
_LIMITS = (("requests", "requests"), ("tokens", "tokens"), ("input-tokens", "tokens"), ("output-tokens", "tokens"))


class AnthropicDialect(BaseDialect):
    name = "anthropic"
    OPTIONS = {
        # max_tokens of every request that sets no cap of its own. The API insists on a cap;
        # 4096 is the largest every current model accepts (Claude 3 Haiku's).
        "max_tokens": Option("integer", 4096),
        # budget_tokens of the thinking of `reason: true` models; 1024 is the smallest the API accepts.
        "thinking_budget": Option("integer", 1024),
    }
    #: Anthropic counts requests and tokens per model (class) and says so in its headers.
    RATE_LIMIT_SCOPE = "model"
    HEADERS = {"anthropic-version": API_VERSION}
    MODELS_PATH = "/v1/models"
    #: What /v1/models declares per model: `capabilities` flags (`thinking` and `effort` have no
    #: capability to hold them against yet) and the token limits.
    DECLARATIONS = Declarations(
        flags={
            "capabilities": {
                "citations": "citations", "image_input": "in:image", "pdf_input": "in:document",
                "structured_outputs": "jsonSchema",
            }
        },
        limits={"max_input_tokens": "tokens_in", "max_tokens": "tokens_out"},
    )  # fmt: skip

    def build(self, model: str, request: neutral.Request) -> HttpCall:
        """Keys in the order of the recorded reference traffic, so a request can match its recording."""
        refuse_missing(request, NO_FIELD)
        cap = self.options["max_tokens"] if request.max_tokens is None else request.max_tokens
        body: dict[str, Any] = {"model": model, "max_tokens": cap, "messages": _messages(request.messages)}
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        if request.stream:
            body["stream"] = True
        if request.json_schema is not None:
            body["output_config"] = {"format": {"type": "json_schema", "schema": request.json_schema}}
        if request.reasoning_off:
            # Off is the API's default; said explicitly, as the reference's recordings say it.
            body["thinking"] = {"type": "disabled"}
        elif request.thinking:
            body["thinking"] = {"type": "enabled", "budget_tokens": self.options["thinking_budget"]}
        if request.tool_choice is not None or request.parallel_tool_calls is False:
            choice: dict[str, Any] = {"type": _TOOL_CHOICES[request.tool_choice or "auto"]}
            if request.parallel_tool_calls is False and choice["type"] != "none":
                # At most one tool call per reply (`none` has no calls to limit, and no such field).
                choice["disable_parallel_tool_use"] = True
            body["tool_choice"] = choice
        tools: list[dict[str, Any]] = [
            {"name": tool.name, "description": tool.description, "input_schema": tool.parameters} for tool in request.tools
        ]
        if request.web_search:
            tools.append(dict(WEB_SEARCH_TOOL))
        if tools:
            body["tools"] = tools
        return HttpCall("POST", f"{self.base_url}/v1/messages", body, self.HEADERS)

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"x-api-key": api_key}

    def parse(self, status: int, headers: Mapping[str, str], body: bytes) -> neutral.Reply:
        data = self.answer(status, headers, body, "response body")
        failure = _error(None, headers, data)
        if failure is not None:
            # The error envelope in a 2xx answer: the provider failed after accepting the request.
            raise failure
        if data.get("type") != "message" or not isinstance(data.get("content"), list):
            raise ApiError(ErrorKind.MALFORMED, f"not a message: {excerpt(body.decode('utf-8', 'replace'))}")
        return _reply(data["content"], data.get("stop_reason"), _usage(data.get("usage")))

    def stream_parser(self) -> AnthropicStreamParser:
        return AnthropicStreamParser()

    def rate_limits(self, headers: Mapping[str, str]) -> list[neutral.RateLimit]:
        """Each announced limit with its reset, an RFC 3339 time, as seconds from now."""
        lower = {k.lower(): v for k, v in headers.items()}
        limits = []
        for name, kind in _LIMITS:
            limit = _header_int(lower.get(f"anthropic-ratelimit-{name}-limit"))
            if not limit or limit <= 0:
                continue
            remaining = _header_int(lower.get(f"anthropic-ratelimit-{name}-remaining"))
            reset = _seconds_until(lower.get(f"anthropic-ratelimit-{name}-reset"))
            limits.append(neutral.RateLimit(kind, limit, remaining, reset))  # type: ignore[arg-type]
        return limits

    def answer(self, status: int, headers: Mapping[str, str], body: bytes, what: str) -> dict[str, Any]:
        """Every answer of the Messages API is one object."""
        return _object(super().answer(status, headers, body, what), what, body)

    def http_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ApiError:
        return _error(status, headers, wire.error_body(body)) or ApiError(
            # Not 2xx, 4xx or 5xx (an unfollowed redirect, say): no answer in this wire format.
            kind_for_status(status) or ErrorKind.MALFORMED,
            page_excerpt(body),
            status=status,
            retry_after=parse_retry_after(headers),
        )

    def page_query(self, cursor: str | None) -> str:
        """Paged by the last id of the page before (`after_id`)."""
        return f"?limit={MODELS_PER_PAGE}" + (f"&after_id={quote(cursor, safe='')}" if cursor else "")

    def next_cursor(self, page: dict[str, Any]) -> str | None:
        return wire.page_cursor(page.get("last_id")) if page.get("has_more") is True else None


@dataclass
class _Block:
    """One streamed content block, gathered from its start and delta events."""

    start: dict[str, Any]
    text: list[str] = field(default_factory=list)
    citations: list[Any] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    signature: list[str] = field(default_factory=list)
    input_json: list[str] = field(default_factory=list)

    def whole(self) -> dict[str, Any]:
        """The block as a sync answer holds it; tool input stays the JSON text as streamed."""
        block = dict(self.start)
        kind = block.get("type")
        if kind == "text":
            block["text"] = wire.strict_str(block.get("text"), "text") + "".join(self.text)
            block["citations"] = wire.lenient_list(block.get("citations")) + self.citations
        elif kind == "thinking":
            block["thinking"] = wire.strict_str(block.get("thinking"), "thinking") + "".join(self.thinking)
            block["signature"] = wire.strict_str(block.get("signature"), "signature") + "".join(self.signature)
        elif kind in ("tool_use", "server_tool_use") and "".join(self.input_json):
            block["input"] = "".join(self.input_json)
        return block


class AnthropicStreamParser:
    """Assembles `message_start`, `content_block_{start,delta,stop}`, `message_delta` and
    `message_stop` events; unknown event and delta types are skipped, as the API asks."""

    def __init__(self) -> None:
        self._blocks: dict[int, _Block] = {}
        self._usage: dict[str, Any] = {}
        self._stop_reason: Any = None
        self._done = False

    def feed(self, event: SseEvent) -> None:
        data = _decode(event.data, "stream event")
        kind = data.get("type")
        if kind == "error" or event.event == "error":
            raise _error(None, {}, data) or ApiError(ErrorKind.SERVER, f"error event: {excerpt(event.data)}")
        if kind == "message_start":
            self._usage.update(wire.lenient_dict(wire.lenient_dict(data.get("message")).get("usage")))
        elif kind == "content_block_start":
            start = data.get("content_block")
            if not isinstance(start, dict):
                raise ApiError(ErrorKind.MALFORMED, f"content_block_start without a block: {excerpt(event.data)}")
            self._blocks[_index(data)] = _Block(start)
        elif kind == "content_block_delta":
            self._delta(data)
        elif kind == "message_delta":
            self._stop_reason = wire.lenient_dict(data.get("delta")).get("stop_reason", self._stop_reason)
            self._usage.update(wire.lenient_dict(data.get("usage")))
        elif kind == "message_stop":
            self._done = True

    def _delta(self, data: dict[str, Any]) -> None:
        block = self._blocks.get(_index(data))
        if block is None:
            raise ApiError(ErrorKind.MALFORMED, "content_block_delta for a block that never started")
        delta = wire.lenient_dict(data.get("delta"))
        kind = delta.get("type")
        if kind == "text_delta":
            block.text.append(wire.strict_str(delta.get("text"), "text_delta"))
        elif kind == "thinking_delta":
            block.thinking.append(wire.strict_str(delta.get("thinking"), "thinking_delta"))
        elif kind == "signature_delta":
            block.signature.append(wire.strict_str(delta.get("signature"), "signature_delta"))
        elif kind == "input_json_delta":
            block.input_json.append(wire.strict_str(delta.get("partial_json"), "input_json_delta"))
        elif kind == "citations_delta":
            block.citations.append(delta.get("citation"))

    def finish(self) -> neutral.Reply:
        if not self._done:
            raise ApiError(ErrorKind.TRANSPORT, "stream ended before message_stop")
        content = [block.whole() for _, block in sorted(self._blocks.items())]
        return _reply(content, self._stop_reason, _usage(self._usage))


# --- request pieces ---------------------------------------------------------------------------------


def _messages(messages: tuple[neutral.Message, ...]) -> list[dict[str, Any]]:
    """Tool results go back as `tool_result` blocks of a user turn; consecutive ones share it."""
    wire: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            result = message.tool_result
            if result is None:
                raise ValueError("a tool message needs a tool_result")
            block = {"type": "tool_result", "tool_use_id": result.call_id, "content": [{"type": "text", "text": result.content}]}
            previous = wire[-1] if wire else None
            if previous is not None and previous["role"] == "user" and previous["content"][-1]["type"] == "tool_result":
                previous["content"].append(block)
            else:
                wire.append({"role": "user", "content": [block]})
            continue
        content = [_thought(t) for t in message.thoughts] + [_part(p) for p in message.parts]
        content += [_tool_use(call) for call in message.tool_calls]
        wire.append({"role": message.role, "content": content})
    return wire


def _thought(thought: neutral.Thought) -> dict[str, Any]:
    if thought.redacted:
        return {"type": "redacted_thinking", "data": thought.signature}
    return {"type": "thinking", "thinking": thought.text, "signature": thought.signature}


def _tool_use(call: neutral.ToolCall) -> dict[str, Any]:
    try:
        arguments = call.decoded_arguments()
    except ValueError:
        raise UnsupportedOption("tool call", f"the API takes tool input as a JSON object, not {call.arguments!r}") from None
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": arguments}


def _part(part: neutral.Part) -> dict[str, Any]:
    if isinstance(part, neutral.TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, neutral.AttachmentPart):
        refuse_modality(part, ("image", "document"), "the Messages API has image and document blocks, no audio or video")
        block = "image" if part.modality == "image" else "document"
        if part.url is not None:
            return {"type": block, "source": {"type": "url", "url": part.url}}
        data = base64.b64encode(part.data or b"").decode()
        return {"type": block, "source": {"type": "base64", "media_type": part.mime, "data": data}}
    if isinstance(part, neutral.DocumentPart):
        if not part.mime.startswith("text/"):
            raise UnsupportedOption("document", f"{part.mime} documents: only text documents are sent as text")
        source = {"type": "text", "media_type": "text/plain", "data": part.text}
        return {"type": "document", "source": source, "citations": {"enabled": True}}
    raise TypeError(f"not a message part: {part!r}")


# --- reply pieces -----------------------------------------------------------------------------------


def _reply(content: list[Any], stop_reason: Any, usage: neutral.Usage) -> neutral.Reply:
    """Blocks of types we do not read are skipped; the server's web searches (`server_tool_use`
    queries, `web_search_tool_result` sources) show that it searched."""
    text: list[str] = []
    thoughts: list[neutral.Thought] = []
    calls: list[neutral.ToolCall] = []
    citations: list[str] = []
    sources: list[str] = []
    queries: list[str] = []
    for block in content:
        block = wire.lenient_dict(block)
        kind = block.get("type")
        if kind == "text":
            text.append(wire.strict_str(block.get("text"), "text block"))
            citations += [_cited(c) for c in wire.lenient_list(block.get("citations"))]
        elif kind == "thinking":
            signature = wire.strict_str(block.get("signature"), "signature")
            thoughts.append(neutral.Thought(wire.strict_str(block.get("thinking"), "thinking"), signature))
        elif kind == "redacted_thinking":
            thoughts.append(neutral.Thought("", wire.strict_str(block.get("data"), "redacted_thinking"), redacted=True))
        elif kind == "tool_use":
            calls.append(_tool_call(block))
        elif kind == "server_tool_use" and block.get("name") == "web_search":
            queries.append(_search_query(block.get("input")))
        elif kind == "web_search_tool_result":
            # An error result is an object, not a list: the search did not happen.
            urls = (wire.lenient_dict(result).get("url") for result in wire.lenient_list(block.get("content")))
            sources += [str(url) for url in urls if url]
    raw_finish = wire.strict_str(stop_reason, "stop_reason")
    return neutral.Reply(
        text="".join(text),
        reasoning="".join(t.text for t in thoughts),
        tool_calls=calls,
        usage=usage,
        finish_reason=neutral.normalise_finish_reason(raw_finish),
        raw_finish_reason=raw_finish,
        citations=citations,
        web_search=sources or [q for q in queries if q],
        thoughts=thoughts,
    )


def _search_query(raw: Any) -> str:
    """The query of a server web search: an object when answered whole, its JSON text when streamed."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return ""
    query = wire.lenient_dict(raw).get("query")
    return query if isinstance(query, str) else ""


def _tool_call(block: dict[str, Any]) -> neutral.ToolCall:
    name, call_id, arguments = block.get("name"), block.get("id"), block.get("input")
    if not isinstance(name, str) or not name or not isinstance(call_id, str):
        raise ApiError(ErrorKind.MALFORMED, f"tool_use block without a name or id: {excerpt(json.dumps(block))}")
    # Streamed input is the JSON text as it arrived; a sync answer has the object itself.
    return neutral.ToolCall(call_id, name, arguments if isinstance(arguments, str) else json.dumps(arguments))


def _cited(citation: Any) -> str:
    """What a citation quotes; the Cite column only asks whether there are any."""
    cited = wire.lenient_dict(citation).get("cited_text")
    return cited if isinstance(cited, str) and cited else excerpt(json.dumps(citation))


def _usage(raw: Any) -> neutral.Usage:
    usage = wire.lenient_dict(raw)
    return wire.reported_usage(
        usage.get("input_tokens"), usage.get("output_tokens"), cached_tokens=usage.get("cache_read_input_tokens")
    )


def _decode(body: bytes | str, what: str) -> dict[str, Any]:
    return _object(wire.decode(body, what), what, body)


def _object(data: Any, what: str, body: bytes | str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ApiError(ErrorKind.MALFORMED, f"{what} is not a JSON object: {excerpt(str(body))}")
    return data


def _index(data: dict[str, Any]) -> int:
    index = data.get("index")
    if not isinstance(index, int):
        raise ApiError(ErrorKind.MALFORMED, f"{data.get('type')} without an index")
    return index


def _header_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _seconds_until(value: str | None) -> float | None:
    """An RFC 3339 time as seconds from now (0 once it has passed); None when unreadable."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


# --- errors -----------------------------------------------------------------------------------------


def _error(status: int | None, headers: Mapping[str, str], data: Any) -> ApiError | None:
    """`{"type": "error", "error": {"type", "message"}}`, the one envelope of every failure; None without it."""
    error = wire.lenient_dict(data).get("error") if wire.lenient_dict(data).get("type") == "error" else None
    if not isinstance(error, dict):
        return None
    code = error.get("type")
    code = code if isinstance(code, str) else None
    message = error.get("message")
    kind = _ERROR_KINDS.get(code or "") or (kind_for_status(status) if status is not None else None)
    return ApiError(
        # In a stream without a known type: the provider failed after accepting the request.
        kind or ErrorKind.SERVER,
        message if isinstance(message, str) and message else excerpt(json.dumps(error)),
        status=status,
        code=code,
        retry_after=parse_retry_after(headers),
        has_envelope=True,
    )
