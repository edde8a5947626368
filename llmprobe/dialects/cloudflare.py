"""Cloudflare Workers AI, through its native `run` API.

The native API is not OpenAI's: a message's content is a string (or, for a picture,
a list of `image_url` parts), tool calls come back in two shapes depending on the
model, JSON modes may return `response` as an object, and there is no finish reason.
Its input schema has no tool_choice, stop or log-probabilities field (`NO_FIELD`):
those are refused with `UnsupportedOption` rather than dropped. Which model takes
pictures is the model's schema's to answer, so pictures are sent.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmprobe import neutral, safejson
from llmprobe.dialects import HttpCall, refuse_missing, refuse_modality, wire
from llmprobe.dialects.base import BaseDialect
from llmprobe.errors import ApiError, ErrorKind, UnsupportedOption, excerpt, kind_for_status
from llmprobe.ratelimits import parse_ratelimit_headers, parse_retry_after
from llmprobe.sse import SseEvent

MODELS_PER_PAGE = 100

#: Fields the `/ai/run` input schema of a text-generation model does not have, per the model pages of
#: developers.cloudflare.com/workers-ai/models and @cloudflare/workers-types 4.20251118.0 (checked 2026-12-06).
_NO_FIELD = "the Workers AI /ai/run input schema has no {} field"
NO_FIELD = {
    "stop": _NO_FIELD.format("stop"),
    "top_logprobs": _NO_FIELD.format("logprobs"),
    "web_search": _NO_FIELD.format("web search"),
}
NO_TOOL_CHOICE = _NO_FIELD.format("tool_choice") + ": a call can be neither forced nor forbidden"

#: Cloudflare API error codes whose meaning does not follow from the HTTP status.
_AUTH_CODES = frozenset({10000, 10001})
_NOT_FOUND_CODES = frozenset({7000})
_RATE_LIMIT_CODES = frozenset({3036, 3040})


class CloudflareDialect(BaseDialect):
    name = "cloudflare"
    #: Workers AI limits an account, whichever model it calls.
    RATE_LIMIT_SCOPE = "provider"
    MODELS_PATH = "/models/search"

    def build(self, model: str, request: neutral.Request) -> HttpCall:
        """Raises UnsupportedOption for tool_choice, stop, top_logprobs and non-text documents."""
        if request.tool_choice not in (None, "auto"):
            raise UnsupportedOption("tool_choice", NO_TOOL_CHOICE)
        refuse_missing(request, NO_FIELD)
        # Keys in the order the reference serialises them, so its cassettes match byte for byte.
        body: dict[str, Any] = {"messages": [wire for message in request.messages for wire in _messages(message)]}
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.json_schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": request.json_schema}
        elif request.json_mode:
            body["response_format"] = {"type": "json_object"}
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stream:
            body["stream"] = True
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {"description": tool.description, "name": tool.name, "parameters": tool.parameters},
                }
                for tool in request.tools
            ]
        return HttpCall("POST", f"{self.base_url}/run/{model.replace(' ', '%20')}", json=body)

    def parse(self, status: int, headers: Mapping[str, str], body: bytes) -> neutral.Reply:
        result = self.answer(status, headers, body, "response body").get("result")
        if not isinstance(result, dict):
            raise ApiError(ErrorKind.MALFORMED, "successful answer without a result object", status=status)
        text = _response_text(result.get("response"))
        tool_calls = _tool_calls(result.get("tool_calls"))
        return _reply(text, tool_calls, _usage(result.get("usage")))

    def stream_parser(self) -> CloudflareStreamParser:
        return CloudflareStreamParser()

    def rate_limits(self, headers: Mapping[str, str]) -> list[neutral.RateLimit]:
        return parse_ratelimit_headers(headers)

    def answer(self, status: int, headers: Mapping[str, str], body: bytes, what: str) -> dict[str, Any]:
        """The envelope of a successful answer; a failure can come in a 2xx envelope too (`success: false`)."""
        text = body.decode("utf-8", errors="replace")
        try:
            envelope, readable = safejson.loads(text), True
        except ValueError:
            envelope, readable = None, False
        ok = 200 <= status < 300
        if not isinstance(envelope, dict):
            kind = (ErrorKind.MALFORMED if readable else ErrorKind.UNREADABLE) if ok else _kind_for_status(status)
            raise ApiError(kind, f"undecodable body: {excerpt(text)}", status=status, retry_after=parse_retry_after(headers))
        if not ok or _is_error(envelope):
            raise _envelope_error(status, headers, envelope)
        return envelope

    def page_query(self, cursor: str | None) -> str:
        """Paged by number: the cursor is the next page's."""
        return f"?page={cursor or '1'}&per_page={MODELS_PER_PAGE}&hide_experimental=false"

    def model_ids(self, page: dict[str, Any]) -> list[str]:
        models = page.get("result")
        if not isinstance(models, list) or not all(isinstance(m, dict) and isinstance(m.get("name"), str) for m in models):
            raise wire.malformed("model list is not a list of named models", models)
        return [m["name"] for m in models]

    def next_cursor(self, page: dict[str, Any]) -> str | None:
        info = wire.lenient_dict(page.get("result_info"))
        number, per_page, total = info.get("page"), info.get("per_page"), info.get("total_count")
        if isinstance(number, int) and isinstance(per_page, int) and isinstance(total, int) and number * per_page < total:
            return str(number + 1)
        return None


@dataclass
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


class CloudflareStreamParser:
    """Assembles `data: {"response": token, ...}` chunks; tool-call deltas by index (D8 in docs/methodology.md)."""

    def __init__(self) -> None:
        self._text: list[str] = []
        #: Calls in arrival order; deltas find theirs through `_by_index`.
        self._calls: list[_PendingCall] = []
        self._by_index: dict[int, _PendingCall] = {}
        self._usage = neutral.Usage()
        self._done = False

    def feed(self, event: SseEvent) -> None:
        if event.is_done:
            self._done = True
            return
        try:
            chunk = safejson.loads(event.data)
        except ValueError:
            raise ApiError(ErrorKind.UNREADABLE, f"stream chunk is not JSON: {excerpt(event.data)}") from None
        if not isinstance(chunk, dict):
            raise wire.malformed("stream chunk is not a JSON object", chunk)
        if _is_error(chunk) or event.event == "error":
            raise _envelope_error(None, {}, chunk)
        response = chunk.get("response")
        # The wire format says string, but in JSON mode scout streams a token that is itself
        # JSON (`"response": true`) as the decoded value: its text is that JSON. Null is "no token".
        if response is not None and not isinstance(response, str):
            if isinstance(response, (dict, list)):
                raise wire.malformed("stream chunk has a non-string response", response)
            response = _compact(response)
        if response:
            self._text.append(response)
        for item in wire.strict_list(chunk.get("tool_calls"), "tool_calls"):
            self._add_tool_call(item)
        if "usage" in chunk:
            self._usage = _usage(chunk["usage"])

    def finish(self) -> neutral.Reply:
        if not self._done:
            raise ApiError(ErrorKind.TRANSPORT, "stream ended before data: [DONE]")
        calls = []
        for number, call in enumerate(self._calls, 1):
            if not call.name:
                raise ApiError(ErrorKind.MALFORMED, f"streamed tool call #{number} never got a name")
            calls.append(neutral.ToolCall(call.id, call.name, call.arguments))
        return _reply("".join(self._text), calls, self._usage)

    def _add_tool_call(self, item: Any) -> None:
        if not isinstance(item, dict):
            raise wire.malformed("tool call is not an object", item)
        index = item.get("index")
        if index is None:
            # A complete call in one chunk, in either of the sync shapes.
            complete = _tool_call(item)
            self._calls.append(_PendingCall(complete.id, complete.name, complete.arguments))
            return
        if not isinstance(index, int):
            raise wire.malformed("tool call delta with a non-integer index", item)
        call = self._by_index.get(index)
        if call is None:
            call = self._by_index[index] = _PendingCall()
            self._calls.append(call)
        function = item.get("function") or {}
        if not isinstance(function, dict):
            raise wire.malformed("tool call delta with a non-object function", item)
        call_id, name, arguments = item.get("id"), function.get("name"), function.get("arguments")
        for value in (call_id, name, arguments):
            if value is not None and not isinstance(value, str):
                raise wire.malformed("tool call delta with a non-string field", item)
        call.id = call_id or call.id
        call.name = name or call.name
        call.arguments += arguments or ""


def _messages(message: neutral.Message) -> list[dict[str, Any]]:
    """One neutral message as wire messages: the wire holds one string per message, so parts are split."""
    if message.role == "tool":
        if message.tool_result is None:
            raise ValueError("a tool message needs a tool_result")
        result = message.tool_result
        return [_with_call_id({"role": "tool", "content": result.content}, result.call_id)]
    wire = [{"role": message.role, "content": _content(part)} for part in message.parts]
    wire += [_with_call_id({"role": "assistant", "content": call.arguments}, call.id) for call in message.tool_calls]
    return wire


def _with_call_id(message: dict[str, Any], call_id: str) -> dict[str, Any]:
    if call_id:
        message["tool_call_id"] = call_id
    return message


def _content(part: neutral.TextPart | neutral.AttachmentPart | neutral.DocumentPart) -> str | list[dict[str, Any]]:
    if isinstance(part, neutral.AttachmentPart):
        refuse_modality(part, ("image",), "Workers AI's input schema has image_url content parts only")
        # The input schema's content part for a picture, by URL or as a data URL.
        url = part.url if part.url is not None else f"data:{part.mime};base64,{base64.b64encode(part.data or b'').decode()}"
        return [{"type": "image_url", "image_url": {"url": url}}]
    if isinstance(part, neutral.TextPart):
        return part.text
    if isinstance(part, neutral.DocumentPart):
        if not part.mime.startswith("text/"):
            raise UnsupportedOption(
                "document input", f"{part.name} is {part.mime}; Workers AI takes only text/* documents"
            )
        # Sent as the bare text, as recorded: the name has no place on this wire.
        return part.text
    raise TypeError(f"not a message part: {part!r}")


def _kind_for_status(status: int | None) -> ErrorKind:
    """The shared status table; Workers AI answers an unusable input with a bare status, so
    whatever the table does not place is a rejection of the request."""
    return (kind_for_status(status) if status is not None else None) or ErrorKind.REJECTED


def _is_error(envelope: dict[str, Any]) -> bool:
    return envelope.get("success") is False or bool(envelope.get("errors"))


def _envelope_error(status: int | None, headers: Mapping[str, str], envelope: dict[str, Any]) -> ApiError:
    """The typed error for `{"errors":[{"code","message"}],"success":false}`; its code outranks the status."""
    errors = envelope.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code = first.get("code")
    message = first.get("message")
    if not isinstance(message, str) or not message:
        message = "the response carries no error message"
    if code in _AUTH_CODES:
        kind = ErrorKind.AUTH
    elif code in _NOT_FOUND_CODES:
        kind = ErrorKind.NOT_FOUND
    elif code in _RATE_LIMIT_CODES:
        kind = ErrorKind.RATE_LIMITED
    elif status is None or 200 <= status < 300:
        # The envelope in a 2xx answer (or inside its stream): the provider failed after accepting the request.
        kind = ErrorKind.SERVER
    elif status == 403:
        # Workers AI refuses a feature with 403 and an AiError code (5023: JSON schema while
        # streaming); a refused key has its own codes above, so this is the request's fault.
        kind = ErrorKind.REJECTED
    else:
        kind = _kind_for_status(status)
    return ApiError(
        kind,
        message,
        status=status,
        code=None if code is None else str(code),
        retry_after=parse_retry_after(headers),
        has_envelope=True,
    )


def _response_text(response: Any) -> str:
    """`response` is a string, or in JSON modes (scout) the decoded JSON itself, or null."""
    if response is None:
        return ""
    if isinstance(response, str):
        return response
    if isinstance(response, (dict, list)):
        return _compact(response)
    raise wire.malformed("response is neither text nor JSON", response)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _tool_calls(value: Any) -> list[neutral.ToolCall]:
    return [_tool_call(item) for item in wire.strict_list(value, "tool_calls")]


def _tool_call(item: Any) -> neutral.ToolCall:
    """Either `{"name","arguments":{…}}` (llama-3.2) or OpenAI's `{"id","function":{"name","arguments":"…"}}`."""
    if not isinstance(item, dict):
        raise wire.malformed("tool call is not an object", item)
    function = item.get("function", item)
    call_id = item.get("id") or ""
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str) or not name or not isinstance(call_id, str):
        raise wire.malformed("tool call without a name", item)
    arguments = function.get("arguments")
    if arguments is None:
        arguments = ""
    elif not isinstance(arguments, str):
        arguments = _compact(arguments)
    return neutral.ToolCall(call_id, name, arguments)


def _usage(value: Any) -> neutral.Usage:
    usage = wire.lenient_dict(value)
    return wire.reported_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("total_tokens"))


def _reply(text: str, tool_calls: list[neutral.ToolCall], usage: neutral.Usage) -> neutral.Reply:
    """Shared by sync and stream so both modes read a reply the same way.

    Text next to tool calls is dropped, as the reference scoreboard does, so a
    tool-call reply reads the same here as in its recordings. Workers AI never
    reports a finish reason, so none is made up.
    """
    reasoning = ""
    if tool_calls:
        text = ""
    else:
        reasoning, text = neutral.split_inline_thinking(text)
    return neutral.Reply(text=text, reasoning=reasoning, tool_calls=tool_calls, usage=usage)
