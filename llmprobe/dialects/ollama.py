"""Ollama's native chat API, `POST {base_url}/api/chat`.

Ollama is a local server: no key, no rate limits, a streamed answer is one JSON
object per line, and `stream` is true unless the request says otherwise, so it is
always sent. Messages hold one string of content plus base64 `images`; tool-call
arguments are JSON objects, not strings. Log-probabilities are `logprobs` and
`top_logprobs` beside the messages, and come back as a top-level `logprobs` list per
chunk. The wire has no tool choice and no image URL: those are refused with
`UnsupportedOption` (tool calling is measured by offering the tool, unforced).
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from llmprobe import neutral
from llmprobe.dialects import HttpCall, refuse_missing, refuse_modality, wire
from llmprobe.dialects.base import BaseDialect
from llmprobe.dialects.declared import Claim, Declarations
from llmprobe.dialects.openai import token_logprobs
from llmprobe.errors import ApiError, ErrorKind, UnsupportedOption, excerpt, kind_for_status, page_excerpt
from llmprobe.ratelimits import parse_retry_after
from llmprobe.sse import SseEvent

#: What /api/chat has no field for, per its reference (docs.ollama.com/api/chat, checked 2026-12-06).
NO_TOOL_CHOICE = "/api/chat has no tool_choice field: a call can be neither forced nor forbidden"
#: Options /api/chat has no field for (docs/methodology.md, "What a dialect does not send").
NO_FIELD = {
    "web_search": "/api/chat has no web search: Ollama's web search is a REST API of its own, not a chat tool",
    "parallel_tool_calls": "/api/chat has no field to limit the tool calls of a reply",
}


class OllamaDialect(BaseDialect):
    """Ollama itself takes no key: the bearer key is only configured for a proxy (or ollama.com) in front of it."""

    name = "ollama"
    STREAM_FRAMING = "ndjson"
    #: A local server has no rate limits to count, and announces none.
    RATE_LIMIT_SCOPE = "provider"
    #: `/api/tags` lists every local model at once: one page is the whole list.
    MODELS_PATH = "/api/tags"
    MODELS_ARRAY = ("models", "name")
    #: What /api/show declares: `capabilities`, the complete list of what the model can do (`thinking` has
    #: no capability to hold it against yet, `insert` and `embedding` are not measured).
    DECLARATIONS: ClassVar[Declarations] = Declarations(
        lists={"capabilities": {"completion": "in:text", "tools": "tools", "vision": "in:image"}}
    )

    def build(self, model: str, request: neutral.Request) -> HttpCall:
        """Keys in the order the reference sent them, so a request can match its recording byte for byte."""
        refuse_missing(request, NO_FIELD)
        if request.tool_choice not in (None, "auto"):
            raise UnsupportedOption("tool_choice", NO_TOOL_CHOICE)
        if request.json_mode and request.json_schema is not None:
            raise UnsupportedOption("json_mode", "cannot be combined with json_schema: both are `format`")
        body: dict[str, Any] = {
            "model": model,
            "messages": [wire for message in request.messages for wire in _messages(message)],
            "stream": request.stream,
        }
        if request.reasoning_off:
            body["think"] = False
        if request.json_mode:
            body["format"] = "json"
        if request.json_schema is not None:
            body["format"] = request.json_schema
        if request.tools:
            body["tools"] = [
                {"type": "function", "function": {"description": t.description, "name": t.name, "parameters": t.parameters}}
                for t in request.tools
            ]
        options: dict[str, Any] = {}
        if request.seed is not None:
            options["seed"] = request.seed
        if request.max_tokens is not None:
            options["num_predict"] = request.max_tokens
        if request.stop:
            options["stop"] = list(request.stop)
        if options:
            body["options"] = options
        if request.top_logprobs is not None:
            body["logprobs"] = True
            body["top_logprobs"] = request.top_logprobs
        return HttpCall("POST", f"{self.base_url}/api/chat", body)

    def parse(self, status: int, headers: Mapping[str, str], body: bytes) -> neutral.Reply:
        if not 200 <= status < 300:
            raise self.http_error(status, headers, body)
        chunk = _chunk(body)
        if not chunk.get("done"):
            raise ApiError(ErrorKind.MALFORMED, "a complete answer without `done: true`")
        accumulator = _Accumulator()
        accumulator.add(chunk)
        return accumulator.reply()

    def stream_parser(self) -> OllamaStreamParser:
        return OllamaStreamParser()

    def claims_call(self, model: str, cursor: str | None) -> HttpCall:
        """/api/tags says nothing about a model's capabilities: /api/show, one model at a time, does."""
        return HttpCall("POST", f"{self.base_url}/api/show", {"model": model})

    def parse_claims(
        self, model: str, status: int, headers: Mapping[str, str], body: bytes
    ) -> tuple[list[Claim] | None, str | None]:
        """A model the server does not have (404) is not listed, as in a listing that leaves it out."""
        if status == 404:
            return None, None
        shown = wire.required_dict(self.answer(status, headers, body, "model details"), "model details")
        return self.DECLARATIONS.claims(shown), None

    def http_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ApiError:
        """`{"error": "text"}`, the one envelope Ollama uses; its status says the kind (404: no such model)."""
        envelope = wire.error_body(body)
        has_envelope = isinstance(envelope, dict) and "error" in envelope
        return ApiError(
            kind_for_status(status) or ErrorKind.MALFORMED,
            _error_message(envelope) if has_envelope else page_excerpt(body),
            status=status,
            retry_after=parse_retry_after(headers),
            has_envelope=has_envelope,
        )


class OllamaStreamParser:
    """Assembles NDJSON chunks; the last one says `done: true` and carries the counts and done_reason."""

    def __init__(self) -> None:
        self._accumulator = _Accumulator()
        self._done = False
        self._events = 0

    def feed(self, event: SseEvent) -> None:
        self._events += 1
        chunk = _chunk(event.data)
        self._accumulator.add(chunk)
        self._done = self._done or bool(chunk.get("done"))

    def finish(self) -> neutral.Reply:
        if not self._done:
            if not self._events:
                raise ApiError(ErrorKind.MALFORMED, "the server ended the stream without sending any line")
            raise ApiError(ErrorKind.TRANSPORT, "stream ended before its `done: true` line")
        return self._accumulator.reply()


class _Accumulator:
    """Sync and stream read a reply the same way: a sync answer is a stream of one chunk."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.calls: list[neutral.ToolCall] = []
        self.usage = neutral.Usage()
        self.raw_finish = ""
        self.logprobs: list[neutral.TokenLogprob] = []

    def add(self, chunk: dict[str, Any]) -> None:
        message = chunk.get("message")
        if message is not None:
            if not isinstance(message, dict):
                raise wire.malformed("message is not an object", message)
            self.text.append(wire.strict_str(message.get("content"), "message.content"))
            self.thinking.append(wire.strict_str(message.get("thinking"), "message.thinking"))
            calls = message.get("tool_calls") or []
            if not isinstance(calls, list):
                raise wire.malformed("message.tool_calls is not a list", calls)
            self.calls.extend(_tool_call(call) for call in calls)
        # The same entries as chat completions' `logprobs.content`, one per token of this chunk.
        self.logprobs.extend(token_logprobs(chunk.get("logprobs")))
        if chunk.get("done"):
            self.raw_finish = wire.strict_str(chunk.get("done_reason"), "done_reason")
            counted = wire.reported_usage(chunk.get("prompt_eval_count"), chunk.get("eval_count"))
            self.usage = dataclasses.replace(counted, total_tokens=counted.input_tokens + counted.output_tokens)

    def reply(self) -> neutral.Reply:
        text, reasoning = "".join(self.text), "".join(self.thinking)
        if not reasoning:
            # Without `think`, thinking models (qwen3) put their reasoning inline in <think> tags.
            reasoning, text = neutral.split_inline_thinking(text)
        return neutral.Reply(
            text=text,
            reasoning=reasoning,
            tool_calls=self.calls,
            usage=self.usage,
            finish_reason=neutral.normalise_finish_reason(self.raw_finish),
            raw_finish_reason=self.raw_finish,
            logprobs=self.logprobs,
        )


# --- request pieces ---------------------------------------------------------------


def _messages(message: neutral.Message) -> list[dict[str, Any]]:
    """One neutral message as wire messages: content is one string, so each part is its own
    message (as the reference sent them), and an image is a message of `images` alone."""
    if message.role == "tool":
        result = message.tool_result
        if result is None:
            raise ValueError("a tool message needs a tool_result")
        wire = {"role": "tool", "content": result.content}
        if result.name:
            wire["tool_name"] = result.name
        return [wire]
    wires = [_part(message.role, part) for part in message.parts]
    if message.tool_calls:
        calls = [{"function": {"name": c.name, "arguments": _arguments(c)}} for c in message.tool_calls]
        wires.append({"role": "assistant", "content": "", "tool_calls": calls})
    return wires


def _part(role: str, part: neutral.Part) -> dict[str, Any]:
    if isinstance(part, neutral.TextPart):
        return {"role": role, "content": part.text}
    if isinstance(part, neutral.DocumentPart):
        if not part.mime.startswith("text/"):
            raise UnsupportedOption("document input", f"{part.name} is {part.mime}; Ollama takes only text/* documents")
        # The bare text, as recorded: a message has no place for the document's name.
        return {"role": role, "content": part.text}
    if isinstance(part, neutral.AttachmentPart):
        refuse_modality(part, ("image",), "Ollama's chat API takes images only (a message's images)")
        if part.data is None:
            raise UnsupportedOption("image URL", "Ollama takes images inline (base64) only")
        return {"role": role, "images": [base64.b64encode(part.data).decode()]}
    raise TypeError(f"not a message part: {part!r}")


def _arguments(call: neutral.ToolCall) -> dict[str, Any]:
    try:
        return call.decoded_arguments()
    except ValueError:
        raise UnsupportedOption("tool call arguments", "Ollama carries arguments as JSON objects only") from None


# --- reply pieces -----------------------------------------------------------------


def _chunk(body: bytes | str) -> dict[str, Any]:
    """One answer object; an `{"error": …}` line inside a 200 stream is the server failing mid-answer."""
    chunk = wire.decode(body, "answer")
    if not isinstance(chunk, dict):
        raise wire.malformed("answer is not a JSON object", chunk)
    if "error" in chunk:
        raise ApiError(ErrorKind.SERVER, _error_message(chunk), has_envelope=True)
    return chunk


def _tool_call(raw: Any) -> neutral.ToolCall:
    """`{"function": {"name", "arguments": {…}}}`; newer servers add an `id`, older ones none."""
    function = raw.get("function") if isinstance(raw, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(function, dict) or not isinstance(name, str) or not name:
        raise wire.malformed("tool call without a function name", raw)
    arguments = function.get("arguments")
    if not isinstance(arguments, dict):
        raise wire.malformed("tool call arguments are not a JSON object", arguments)
    call_id = raw.get("id")
    return neutral.ToolCall(call_id if isinstance(call_id, str) else "", name, json.dumps(arguments, separators=(",", ":")))


# --- errors -----------------------------------------------------------------------


def _error_message(envelope: Mapping[str, Any]) -> str:
    error = envelope.get("error")
    return error if isinstance(error, str) and error else excerpt(json.dumps(error))

