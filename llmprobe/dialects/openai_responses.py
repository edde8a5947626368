"""OpenAI's Responses API (`POST /v1/responses`), the one its newer models and tools are built for.

It is OpenAI's own API, so authentication, the `x-ratelimit-*` headers, the model
list and the error envelopes are those of chat completions and are inherited from
`OpenAIDialect`; only generation differs. A request is a list of typed `input`
items (messages, `function_call` and `function_call_output`), and a reply a list of
typed `output` items (`message`, `function_call`, `reasoning`), with no finish
reason of its own: `status` and `incomplete_details.reason` say how it ended.
Streams are typed events; the last one carries the whole response, so a stream is
read from it, and from the deltas only when that response lists no output.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from llmprobe import neutral
from llmprobe.dialects import HttpCall, data_url, openai_errors, refuse_missing, refuse_modality, wire
from llmprobe.dialects.openai import OpenAIDialect, token_logprobs
from llmprobe.errors import ApiError, ErrorKind, UnsupportedOption, excerpt
from llmprobe.sse import SseEvent

#: What `POST /v1/responses` has no field for, per the request type generated from OpenAI's OpenAPI
#: spec (openai-python's response_create_params.py), checked 2026-12-06 (docs/methodology.md).
NO_FIELD = {
    "seed": "the Responses API has no seed field",
    "stop": "the Responses API has no stop field",
}

#: Stream events that end a response and carry it whole.
_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete"})
#: The deltas a reply is assembled from when the final response lists no output.
_DELTA_EVENTS = frozenset(
    {
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
    }
)


class OpenAIResponsesDialect(OpenAIDialect):
    name = "openai-responses"
    #: One field per option on this wire: nothing to choose.
    OPTIONS = {}

    def build(self, model: str, request: neutral.Request) -> HttpCall:
        """Keys in the order of the recorded reference traffic, so a request can match its cassette byte for byte.

        `store: false` keeps OpenAI from keeping the conversation; the tool round trip
        therefore resends the call itself instead of pointing at a stored response.
        A thinking row asks for reasoning summaries at low effort, as the reference's
        `_thinking` recordings did; any other row still asks for summaries, so a model
        that reasons anyway shows it.
        """
        refuse_missing(request, NO_FIELD)
        if request.json_mode and request.json_schema is not None:
            raise UnsupportedOption("json_mode", "cannot be combined with json_schema: both are text.format")
        body: dict[str, Any] = {"model": model, "background": False}
        if request.max_tokens is not None:
            body["max_output_tokens"] = request.max_tokens
        if request.tools:
            body["parallel_tool_calls"] = True
        body["reasoning"] = {"effort": "low", "summary": "auto"} if request.thinking else {"summary": "auto"}
        body["store"] = False
        if request.json_mode:
            body["text"] = {"format": {"type": "json_object"}}
        if request.json_schema is not None:
            body["text"] = {
                "format": {
                    "type": "json_schema",
                    "name": request.json_schema_name,
                    "schema": request.json_schema,
                    "strict": True,
                }
            }
        if request.tool_choice is not None:
            body["tool_choice"] = request.tool_choice
        tools = [
            {"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters}
            for t in request.tools
        ]
        include = []
        if request.web_search:
            # OpenAI's hosted search; `include` asks for every source it read, not only the cited ones.
            tools.append({"type": "web_search"})
            include.append("web_search_call.action.sources")
        if tools:
            body["tools"] = tools
        if request.top_logprobs is not None:
            # Without `include` the API accepts top_logprobs and returns no log-probabilities.
            include.append("message.output_text.logprobs")
        if include:
            body["include"] = include
        if request.top_logprobs is not None:
            body["top_logprobs"] = request.top_logprobs
        body["input"] = [item for message in request.messages for item in _input_items(message)]
        if request.stream:
            body["stream"] = True
        return HttpCall("POST", f"{self.base_url}/responses", body)

    def parse(self, status: int, headers: Mapping[str, str], body: bytes) -> neutral.Reply:
        data = self.answer(status, headers, body, "response body")
        if not isinstance(data, dict):
            raise ApiError(ErrorKind.MALFORMED, "response body is not a JSON object")
        if ("output" not in data and openai_errors.envelope(data) is not None) or data.get("status") == "failed":
            raise _failure(data)
        return _reply(data)

    def stream_parser(self) -> OpenAIResponsesStreamParser:  # type: ignore[override]
        return OpenAIResponsesStreamParser()


class OpenAIResponsesStreamParser:
    """Reads the typed events: the final `response.completed` (or `.incomplete`) object when
    it lists the output, else the output items as `output_item.done` gave them or as their
    deltas built them, keyed by `output_index`."""

    def __init__(self) -> None:
        self._items: dict[int, dict[str, Any]] = {}
        self._final: dict[str, Any] | None = None
        self._events = 0

    def feed(self, event: SseEvent) -> None:
        self._events += 1
        data = wire.decode(event.data, "stream event")
        if not isinstance(data, dict):
            raise ApiError(ErrorKind.MALFORMED, f"stream event is not a JSON object: {excerpt(event.data)}")
        kind = data.get("type") or event.event
        if kind == "error" or ("type" not in data and openai_errors.envelope(data) is not None):
            # An error event, or the error envelope alone as an event: the provider failed after accepting the request.
            raise _failure(data)
        if kind == "response.failed":
            raise _failure(wire.lenient_dict(data.get("response")))
        if kind in _FINAL_EVENTS:
            response = data.get("response")
            if not isinstance(response, dict):
                raise ApiError(ErrorKind.MALFORMED, f"{kind} without a response object")
            self._final = response
            return
        index = data.get("output_index")
        if not isinstance(index, int):
            return
        if kind in ("response.output_item.added", "response.output_item.done"):
            self._items[index] = wire.lenient_dict(data.get("item"))
            return
        item = self._items.setdefault(index, {})
        delta = wire.strict_str(data.get("delta"), f"{kind} delta") if kind in _DELTA_EVENTS else ""
        if kind == "response.output_text.delta":
            part = _delta_part(item)
            part["text"] = wire.strict_str(part.get("text"), "output_text.text") + delta
            part["logprobs"] = wire.lenient_list(part.get("logprobs")) + wire.lenient_list(data.get("logprobs"))
        elif kind == "response.output_text.annotation.added":
            part = _delta_part(item)
            part["annotations"] = wire.lenient_list(part.get("annotations")) + [data.get("annotation")]
        elif kind == "response.function_call_arguments.delta":
            item["arguments"] = wire.strict_str(item.get("arguments"), "function_call.arguments") + delta
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            item["type"] = "reasoning"
            summary = kind == "response.reasoning_summary_text.delta"
            entry = _indexed(item, "summary" if summary else "content", data.get("summary_index" if summary else "content_index"))
            entry["text"] = wire.strict_str(entry.get("text"), "reasoning text") + delta

    def finish(self) -> neutral.Reply:
        if self._final is None:
            if not self._events:
                raise ApiError(ErrorKind.MALFORMED, "the server ended the stream without sending any event")
            raise ApiError(ErrorKind.TRANSPORT, "stream ended before response.completed")
        response = self._final
        if not wire.lenient_list(response.get("output")) and self._items:
            response = {**response, "output": [self._items[i] for i in sorted(self._items)]}
        return _reply(response)


def _indexed(item: dict[str, Any], field: str, index: Any) -> dict[str, Any]:
    """Entry `index` of the item's list `field` (reasoning summaries and texts): a new one past
    its end, the last one when the event gives no index."""
    entries = item.setdefault(field, [])
    if not isinstance(entries, list):
        raise ApiError(ErrorKind.MALFORMED, f"reasoning {field} is not a list")
    if not isinstance(index, int) and entries:
        index = len(entries) - 1
    if not (isinstance(index, int) and 0 <= index < len(entries)):
        entries.append({})
        index = len(entries) - 1
    entry = entries[index]
    if not isinstance(entry, dict):
        raise ApiError(ErrorKind.MALFORMED, f"reasoning {field} entry is not an object")
    return entry


def _delta_part(item: dict[str, Any]) -> dict[str, Any]:
    """The output_text part a text delta extends: the message's last one."""
    item["type"] = item.get("type") or "message"
    content = item.setdefault("content", [])
    if not isinstance(content, list):
        raise ApiError(ErrorKind.MALFORMED, "message content is not a list")
    if not content or not isinstance(content[-1], dict) or content[-1].get("type") != "output_text":
        content.append({"type": "output_text", "text": ""})
    part: dict[str, Any] = content[-1]
    return part


# --- request pieces ---------------------------------------------------------------


def _input_items(message: neutral.Message) -> list[dict[str, Any]]:
    """A neutral message as input items: tool calls and their results are items of their own."""
    if message.role == "tool":
        result = message.tool_result
        if result is None:
            raise ValueError("a tool message needs a tool_result")
        return [{"type": "function_call_output", "call_id": result.call_id, "output": result.content}]
    items: list[dict[str, Any]] = []
    if message.parts:
        kind = "output_text" if message.role == "assistant" else "input_text"
        content = [_part(p, kind) for p in message.parts]
        items.append({"type": "message", "role": message.role, "content": content})
    items += [{"type": "function_call", "arguments": c.arguments, "name": c.name, "call_id": c.id} for c in message.tool_calls]
    return items


def _part(part: neutral.Part, text_type: str) -> dict[str, Any]:
    if isinstance(part, neutral.TextPart):
        return {"type": text_type, "text": part.text}
    if isinstance(part, neutral.AttachmentPart):
        refuse_modality(part, ("image", "audio", "video", "document"), "the Responses API has input_image and input_file")
        if part.modality == "image":
            return {"type": "input_image", "image_url": part.url or data_url(part), "detail": "auto"}
        # Any other file is an input_file; which types a model reads is the provider's to answer.
        if part.url is not None:
            return {"type": "input_file", "file_url": part.url}
        return {"type": "input_file", "file_data": data_url(part), "filename": part.name}
    if isinstance(part, neutral.DocumentPart):
        if not part.mime.startswith("text/"):
            raise UnsupportedOption("document", f"{part.mime} documents: llmprobe sends documents as text")
        # The bare text, as recorded: a text document is more input text.
        return {"type": "input_text", "text": part.text}
    raise TypeError(f"not a message part: {part!r}")


# --- reply pieces -----------------------------------------------------------------


def _reply(response: dict[str, Any]) -> neutral.Reply:
    """A response object, sync or the last of a stream, as a Reply.

    The API has no finish reason: `incomplete_details.reason` (max_output_tokens,
    content_filter) says why a reply stopped early, `status` how it ended otherwise;
    a completed reply that called tools finished to call them.
    """
    output = response.get("output")
    if not isinstance(output, list):
        raise ApiError(ErrorKind.MALFORMED, "response has no output list")
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[neutral.ToolCall] = []
    logprobs: list[neutral.TokenLogprob] = []
    citations: list[str] = []
    searched: list[str] = []
    for item in map(wire.lenient_dict, output):
        kind = item.get("type")
        if kind == "message":
            for part in map(wire.lenient_dict, wire.lenient_list(item.get("content"))):
                if part.get("type") == "output_text":
                    text.append(wire.strict_str(part.get("text"), "output_text.text"))
                    logprobs += token_logprobs(part.get("logprobs"))
                    citations += _citations(part.get("annotations"))
                elif part.get("type") == "refusal":
                    text.append(wire.strict_str(part.get("refusal"), "refusal"))
        elif kind == "function_call":
            arguments = item.get("arguments")
            arguments = arguments if isinstance(arguments, str) else json.dumps(arguments) if arguments else ""
            calls.append(neutral.ToolCall(str(item.get("call_id") or ""), str(item.get("name") or ""), arguments))
        elif kind == "web_search_call":
            searched += _searched(wire.lenient_dict(item.get("action")))
        elif kind == "reasoning":
            for entry in map(wire.lenient_dict, wire.lenient_list(item.get("summary")) + wire.lenient_list(item.get("content"))):
                reasoning.append(wire.strict_str(entry.get("text"), "reasoning text"))
    raw = wire.strict_str(wire.lenient_dict(response.get("incomplete_details")).get("reason"), "incomplete_details.reason")
    raw = raw or wire.strict_str(response.get("status"), "status")
    finish = neutral.normalise_finish_reason(raw)
    if finish == "stop" and calls:
        finish = "tool_calls"
    return neutral.Reply(
        text="".join(text),
        reasoning="\n\n".join(r for r in reasoning if r),
        tool_calls=calls,
        usage=_usage(response.get("usage")),
        finish_reason=finish,
        raw_finish_reason=raw,
        logprobs=logprobs,
        citations=citations,
        web_search=list(dict.fromkeys(searched)),
    )


def _searched(action: dict[str, Any]) -> list[str]:
    """What one `web_search_call` shows: the sources it read, else its query (or the page it opened)."""
    read = (wire.lenient_dict(source).get("url") for source in wire.lenient_list(action.get("sources")))
    sources = [url for url in read if isinstance(url, str) and url]
    shown = [action.get("query"), action.get("url")]
    return sources or [value for value in shown if isinstance(value, str) and value]


def _usage(raw: Any) -> neutral.Usage:
    usage = wire.lenient_dict(raw)
    return wire.reported_usage(
        usage.get("input_tokens"),
        usage.get("output_tokens"),
        usage.get("total_tokens"),
        wire.lenient_dict(usage.get("input_tokens_details")).get("cached_tokens"),
        wire.lenient_dict(usage.get("output_tokens_details")).get("reasoning_tokens"),
    )


def _citations(raw: Any) -> list[str]:
    """Web search cites URLs, file search files; both are flat annotations on the text."""
    cited = []
    for annotation in map(wire.lenient_dict, wire.lenient_list(raw)):
        source = annotation.get("url") if annotation.get("type") == "url_citation" else None
        if annotation.get("type") == "file_citation":
            source = annotation.get("filename") or annotation.get("file_id")
        if isinstance(source, str) and source:
            cited.append(source)
    return cited


def _failure(data: dict[str, Any]) -> ApiError:
    """A failure inside a 2xx answer: an `error` event (`{"error": {...}}`, or its fields at the
    top level), or a response whose status is `failed`, with its `error`."""
    envelope = openai_errors.envelope(data)
    if envelope is not None:
        return openai_errors.embedded_error(envelope)
    message = data.get("message")
    code = data.get("code")
    return ApiError(
        ErrorKind.SERVER,
        message if isinstance(message, str) and message else f"error event: {excerpt(json.dumps(data))}",
        code=str(code) if code is not None else None,
        has_envelope=isinstance(message, str),
    )
