"""Cohere's v2 chat API, `POST {base_url}/v2/chat`.

Cohere grounds answers on `documents` given beside the messages and returns
`citations` pointing back at them, so the Citations probe's document goes there,
not into the prompt. Content comes as typed items (`text`, `thinking`), a tool
call may come with a `tool_plan` (the model's stated plan, read as reasoning), and
a stream is typed SSE events (`content-delta`, `tool-call-start`…, `message-end`
with the finish reason and usage). Errors are `{"id", "message"}` with the status
saying the kind.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from llmprobe import neutral
from llmprobe.dialects import HttpCall, refuse_missing, refuse_modality, wire
from llmprobe.dialects.base import BaseDialect
from llmprobe.errors import ApiError, ErrorKind, UnsupportedOption, excerpt, kind_for_status, page_excerpt
from llmprobe.ratelimits import parse_retry_after
from llmprobe.sse import SseEvent

#: Cohere lists fewer models than this, so one page normally holds them all.
MODELS_PER_PAGE = 1000

#: Options the v2 Chat API has no field for (docs/methodology.md, "What a dialect does not send").
NO_FIELD = {
    "web_search": "the v2 Chat API has no web search: the web-search connector exists only in the v1 Chat API",
}


class CohereDialect(BaseDialect):
    name = "cohere"
    #: Cohere limits per API key (trial or production), whatever the model; it announces no limits
    #: in its headers (none in any recorded answer).
    RATE_LIMIT_SCOPE = "provider"
    MODELS_PATH = "/v1/models"
    MODELS_ARRAY = ("models", "name")

    def build(self, model: str, request: neutral.Request) -> HttpCall:
        """Keys in the order the reference sent them, so a request can match its recording byte for byte."""
        refuse_missing(request, NO_FIELD)
        if request.json_mode and request.json_schema is not None:
            raise UnsupportedOption("json_mode", "cannot be combined with json_schema: both are response_format")
        body: dict[str, Any] = {"stream": request.stream, "model": model}
        body["messages"] = [_message(m) for m in request.messages]
        if request.tools:
            body["tools"] = [
                {"type": "function", "function": {"name": t.name, "parameters": t.parameters, "description": t.description}}
                for t in request.tools
            ]
        if request.tool_choice in ("required", "none"):
            body["tool_choice"] = request.tool_choice
        if request.tool_choice == "required":
            # Without it a forced call may name arguments the schema does not have.
            body["strict_tools"] = True
        documents = [part for message in request.messages for part in message.parts if isinstance(part, neutral.DocumentPart)]
        for document in documents:
            if not document.mime.startswith("text/"):
                raise UnsupportedOption("document input", f"{document.name} is {document.mime}; Cohere documents are text")
        if documents:
            body["documents"] = [{"id": d.name, "data": {"snippet": d.text, "title": d.name}} for d in documents]
        if request.json_mode:
            body["response_format"] = {"type": "json_object"}
        if request.json_schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": request.json_schema}
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        if request.top_logprobs:
            # Sending `logprobs: true` would silently drop the count: the reply would carry no
            # alternative, and a "top logprobs" verdict would rest on a question never asked.
            raise UnsupportedOption("top_logprobs", "Cohere returns the chosen token's log-probability only, never alternatives")
        if request.top_logprobs == 0:
            body["logprobs"] = True
        return HttpCall("POST", f"{self.base_url}/v2/chat", body)

    def parse(self, status: int, headers: Mapping[str, str], body: bytes) -> neutral.Reply:
        data = self.answer(status, headers, body, "response body")
        if isinstance(data.get("message"), str) and data["message"]:
            raise _failed_after_accepting(data["message"])
        reply = _Accumulator()
        message = wire.required_dict(data.get("message"), "message")
        for item in wire.strict_list(message.get("content"), "message.content"):
            reply.add_content(wire.required_dict(item, "content item"))
        reply.add_plan(message.get("tool_plan"))
        for call in wire.strict_list(message.get("tool_calls"), "message.tool_calls"):
            reply.start_call(call)
        for citation in wire.strict_list(message.get("citations"), "message.citations"):
            reply.add_citation(citation)
        for entry in wire.strict_list(data.get("logprobs"), "logprobs"):
            reply.add_logprobs(entry)
        reply.end(data)
        return reply.reply()

    def stream_parser(self) -> CohereStreamParser:
        return CohereStreamParser()

    def answer(self, status: int, headers: Mapping[str, str], body: bytes, what: str) -> dict[str, Any]:
        """Every answer of the v2 API is one object."""
        return wire.required_dict(super().answer(status, headers, body, what), what)

    def http_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ApiError:
        """`{"id", "message"}`; the status says the kind (401 key, 404 model, 400/422 the request)."""
        envelope = wire.error_body(body)
        message = envelope.get("message") if isinstance(envelope, dict) else None
        has_envelope = isinstance(message, str) and bool(message)
        return ApiError(
            kind_for_status(status) or ErrorKind.MALFORMED,
            message if isinstance(message, str) and message else page_excerpt(body),
            status=status,
            retry_after=parse_retry_after(headers),
            has_envelope=has_envelope,
        )

    def page_query(self, cursor: str | None) -> str:
        """Paged by an opaque token, given by the page before."""
        return f"?page_size={MODELS_PER_PAGE}" + (f"&page_token={quote(cursor)}" if cursor else "")

    def next_cursor(self, page: dict[str, Any]) -> str | None:
        return wire.page_cursor(page.get("next_page_token"))


#: The stream events that carry part of the reply; every other event is passed over.
_EVENTS_READ = frozenset(
    {"content-start", "content-delta", "tool-plan-delta", "tool-call-start", "tool-call-delta", "citation-start", "message-end"}
)


class CohereStreamParser:
    """Assembles the typed events; `message-end` carries the finish reason and usage, or the error."""

    def __init__(self) -> None:
        self._reply = _Accumulator()
        self._ended = False
        self._events = 0

    def feed(self, event: SseEvent) -> None:
        self._events += 1
        if event.is_done:
            return
        data = wire.required_dict(wire.decode(event.data, "stream event"), "stream event")
        kind = data.get("type") or event.event
        if not data.get("type") and isinstance(data.get("message"), str) and data["message"]:
            raise _failed_after_accepting(data["message"])
        if kind not in _EVENTS_READ:
            # message-start, content-end, tool-call-end, citation-end, and any event type the
            # API adds later: nothing to keep, whatever their delta holds.
            return
        message = wire.required_dict(wire.required_dict(data.get("delta") or {}, "delta").get("message") or {}, "delta.message")
        if kind == "content-start" or kind == "content-delta":
            self._reply.add_content(wire.required_dict(message.get("content") or {}, "delta content"))
            if data.get("logprobs") is not None:
                self._reply.add_logprobs(data["logprobs"])
        elif kind == "tool-plan-delta":
            self._reply.add_plan(message.get("tool_plan"))
        elif kind == "tool-call-start":
            self._reply.start_call(message.get("tool_calls"))
        elif kind == "tool-call-delta":
            call = wire.required_dict(message.get("tool_calls") or {}, "tool call delta")
            function = wire.required_dict(call.get("function") or {}, "function")
            self._reply.continue_call(function.get("arguments"))
        elif kind == "citation-start":
            self._reply.add_citation(message.get("citations"))
        elif kind == "message-end":
            self._reply.end(wire.required_dict(data.get("delta") or {}, "delta"))
            self._ended = True

    def finish(self) -> neutral.Reply:
        if not self._ended:
            if not self._events:
                raise ApiError(ErrorKind.MALFORMED, "the server ended the stream without sending any event")
            raise ApiError(ErrorKind.TRANSPORT, "stream ended before message-end")
        return self._reply.reply()


@dataclass
class _Accumulator:
    """One reply, built from a whole answer or from its streamed pieces the same way."""

    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: list[list[str]] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
    logprobs: list[neutral.TokenLogprob] = field(default_factory=list)
    usage: neutral.Usage = field(default_factory=neutral.Usage)
    raw_finish: str = ""

    def add_content(self, item: dict[str, Any]) -> None:
        self.text.append(wire.strict_str(item.get("text"), "content text"))
        self.reasoning.append(wire.strict_str(item.get("thinking"), "content thinking"))

    def add_plan(self, plan: Any) -> None:
        self.reasoning.append(wire.strict_str(plan, "tool_plan"))

    def start_call(self, raw: Any) -> None:
        call = wire.required_dict(raw, "tool call")
        function = wire.required_dict(call.get("function"), "tool call function")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise wire.malformed("tool call without a name", call)
        arguments = wire.strict_str(function.get("arguments"), "arguments")
        self.calls.append([wire.strict_str(call.get("id"), "tool call id"), name, arguments])

    def continue_call(self, arguments: Any) -> None:
        if not self.calls:
            raise ApiError(ErrorKind.MALFORMED, "tool-call-delta before any tool-call-start")
        self.calls[-1][2] += wire.strict_str(arguments, "arguments")

    def add_citation(self, raw: Any) -> None:
        """The ids of the sources cited (documents, or tool results)."""
        for source in wire.strict_list(wire.required_dict(raw, "citation").get("sources"), "citation sources"):
            source_id = wire.required_dict(source, "citation source").get("id")
            if isinstance(source_id, str) and source_id not in self.citations:
                self.citations.append(source_id)

    def add_logprobs(self, raw: Any) -> None:
        entry = wire.required_dict(raw, "logprobs entry")
        values = wire.strict_list(entry.get("logprobs"), "logprobs values")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise wire.malformed("logprobs are not numbers", values)
        # One entry may cover several token ids; its log-probability is theirs together.
        self.logprobs.append(neutral.TokenLogprob(wire.strict_str(entry.get("text"), "logprobs text"), float(sum(values))))

    def end(self, data: dict[str, Any]) -> None:
        """The finish reason and usage; a finish of ERROR with a message is the request failing."""
        self.raw_finish = wire.strict_str(data.get("finish_reason"), "finish_reason")
        error = data.get("error")
        if self.raw_finish == "ERROR" and error:
            # Answered without a stream, the same request gets a 422 (recorded side by side).
            raise ApiError(ErrorKind.REJECTED, error if isinstance(error, str) else excerpt(json.dumps(error)), has_envelope=True)
        self.usage = _usage(data.get("usage"))

    def reply(self) -> neutral.Reply:
        return neutral.Reply(
            text="".join(self.text),
            reasoning="".join(self.reasoning),
            tool_calls=[neutral.ToolCall(*call) for call in self.calls],
            usage=self.usage,
            finish_reason=neutral.normalise_finish_reason(self.raw_finish),
            raw_finish_reason=self.raw_finish,
            logprobs=self.logprobs,
            citations=self.citations,
        )


# --- request pieces ---------------------------------------------------------------


def _message(message: neutral.Message) -> dict[str, Any]:
    if message.role == "tool":
        result = message.tool_result
        if result is None:
            raise ValueError("a tool message needs a tool_result")
        return {"role": "tool", "content": [{"type": "text", "text": result.content}], "tool_call_id": result.call_id}
    wire: dict[str, Any] = {"role": message.role}
    content = [_part(p) for p in message.parts if not isinstance(p, neutral.DocumentPart)]
    if content:
        wire["content"] = content
    if message.tool_calls:
        wire["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in message.tool_calls
        ]
    return wire


def _part(part: neutral.Part) -> dict[str, Any]:
    if isinstance(part, neutral.TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, neutral.AttachmentPart):
        refuse_modality(part, ("image",), "the v2 chat API has image_url content parts only")
        url = part.url or f"data:{part.mime};base64,{base64.b64encode(part.data or b'').decode()}"
        return {"type": "image_url", "image_url": {"url": url}}
    raise TypeError(f"not a message part: {part!r}")


# --- reply pieces -----------------------------------------------------------------


def _usage(raw: Any) -> neutral.Usage:
    """The tokens the model really processed (`tokens`, which count Cohere's own preamble), else the billed ones."""
    usage = wire.lenient_dict(raw)
    counts = wire.lenient_dict(usage.get("tokens") or usage.get("billed_units"))
    counted = wire.reported_usage(counts.get("input_tokens"), counts.get("output_tokens"))
    return dataclasses.replace(counted, total_tokens=counted.input_tokens + counted.output_tokens)


# --- errors -----------------------------------------------------------------------


def _failed_after_accepting(message: str) -> ApiError:
    """The error envelope (`{"id", "message"}`) in a 2xx answer or its stream: the provider failed
    after accepting the request, which says nothing about the request."""
    return ApiError(ErrorKind.SERVER, message, has_envelope=True)

