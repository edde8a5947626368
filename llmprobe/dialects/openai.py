"""OpenAI-compatible chat completions: OpenAI itself, Groq, llama.cpp, vLLM and friends.

One dialect serves every server that claims this wire format, so the parser is
strict about structure (a reply without `choices` is malformed) but tolerant of
the optional extras each server adds (`reasoning` vs `reasoning_content`, usage
in `usage` or in Groq's `x_groq.usage`, errors inside a 200 stream).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmprobe import safejson
from llmprobe.dialects import HttpCall, Option, data_url, option_values, refuse_modality
from llmprobe.dialects.declared import Claim, Declarations
from llmprobe.dialects.wire import decode as _decode_json
from llmprobe.dialects.wire import loose_array as _list
from llmprobe.dialects.wire import loose_mapping as _dict
from llmprobe.dialects.wire import model_ids, reported_usage
from llmprobe.dialects.wire import string as _string
from llmprobe.errors import ApiError, ErrorKind, UnsupportedOption, excerpt, kind_for_status, page_excerpt
from llmprobe.neutral import (
    AttachmentPart,
    DocumentPart,
    Message,
    Part,
    RateLimit,
    Reply,
    Request,
    TextPart,
    TokenLogprob,
    ToolCall,
    Usage,
    normalise_finish_reason,
    split_inline_thinking,
)
from llmprobe.ratelimits import parse_ratelimit_headers, parse_retry_after, retry_after_in_message
from llmprobe.sse import SseEvent

#: What an OpenAI-compatible listing declares, where it declares anything (OpenAI's own /v1/models
#: does not: id, created, owned_by): OpenRouter's `supported_parameters` and input modalities (complete
#: lists; llama.cpp's server lists the modalities too), Mistral's `capabilities` flags, and the token
#: limits of OpenRouter, Groq and llama.cpp (`meta.n_ctx`, its context size).
DECLARATIONS = Declarations(
    lists={
        "supported_parameters": {
            "tools": "tools",
            "tool_choice": "toolCallRequired",
            "response_format": "json",
            "structured_outputs": "jsonSchema",
            "seed": "seed",
            "stop": "stopSequence",
            "logprobs": "topLogprobs",
            "top_logprobs": "topLogprobs",
            "max_tokens": "maxTokens",
            "web_search_options": "webSearch",
        },
        "architecture.input_modalities": {
            "text": "in:text",
            "image": "in:image",
            "audio": "in:audio",
            "video": "in:video",
            "file": "in:document",
        },
    },
    flags={"capabilities": {"completion_chat": "in:text", "function_calling": "tools", "vision": "in:image"}},
    limits={
        "context_length": "tokens_in",
        "top_provider.max_completion_tokens": "tokens_out",
        "context_window": "tokens_in",
        "max_completion_tokens": "tokens_out",
        "meta.n_ctx": "tokens_in",
    },
)


class OpenAIDialect:
    name = "openai"
    OPTIONS = {
        # The request field that caps the reply. Older servers (llama.cpp's) only know
        # `max_tokens`, OpenAI's current name is refused by them.
        "max_tokens_field": Option("choice", "max_completion_tokens", choices=("max_completion_tokens", "max_tokens")),
        # The request field that carries the seed: Mistral calls it random_seed.
        "seed_field": Option("choice", "seed", choices=("seed", "random_seed")),
        # The two content-part families that extend chat completions beyond images: openai
        # (input_audio {data, format} for wav and mp3, a `file` with a data URL for any other
        # file, nothing by URL) or mistral (input_audio as bare base64, audio_url and document_url links).
        "media_parts": Option("choice", "openai", choices=("openai", "mistral")),
    }
    STREAM_FRAMING = "sse"
    #: OpenAI and Groq announce and enforce their limits per model.
    RATE_LIMIT_SCOPE = "model"

    def __init__(self, base_url: str, options: Mapping[str, Any] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        values = option_values(OpenAIDialect.OPTIONS, options)
        self.max_tokens_field: str = values["max_tokens_field"]
        self.seed_field: str = values["seed_field"]
        self.media_parts: str = values["media_parts"]

    def build(self, model: str, request: Request) -> HttpCall:
        """Keys follow the order of the recorded reference traffic and `stream` is always
        present, so a sync request can match a reference cassette byte for byte."""
        if request.json_mode and request.json_schema is not None:
            raise UnsupportedOption("json_mode", "cannot be combined with json_schema: both are response_format")
        body: dict[str, Any] = {}
        if request.max_tokens is not None:
            body[self.max_tokens_field] = request.max_tokens
        body["messages"] = [_message(m, self.media_parts) for m in request.messages]
        body["model"] = model
        if request.json_mode:
            body["response_format"] = {"type": "json_object"}
        if request.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.json_schema_name, "schema": request.json_schema, "strict": True},
            }
        if request.seed is not None:
            body[self.seed_field] = request.seed
        if request.stop:
            body["stop"] = list(request.stop)
        body["stream"] = request.stream
        if request.stream:
            # Without it OpenAI sends no usage at all in a stream.
            body["stream_options"] = {"include_usage": True}
        if request.tools:
            body["tools"] = [
                {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
                for t in request.tools
            ]
        if request.tool_choice is not None:
            body["tool_choice"] = request.tool_choice
        if request.top_logprobs is not None:
            body["logprobs"] = True
            body["top_logprobs"] = request.top_logprobs
        if request.web_search:
            # The provider's own search, with its defaults; a model without search refuses it (400).
            body["web_search_options"] = {}
        return HttpCall("POST", f"{self.base_url}/chat/completions", body)

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    def parse(self, status: int, headers: Mapping[str, str], body: bytes) -> Reply:
        if not 200 <= status < 300:
            raise _http_error(status, headers, body)
        data = _decode_json(body, "response body")
        if not isinstance(data, dict):
            raise ApiError(ErrorKind.MALFORMED, "response body is not a JSON object")
        envelope = _envelope(data)
        if "choices" not in data and envelope is not None:
            raise _embedded_error(envelope)
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ApiError(ErrorKind.MALFORMED, "response has no choices")
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, dict):
            raise ApiError(ErrorKind.MALFORMED, "choices[0] has no message")
        text = _string(message.get("content"), "message.content")
        reasoning = _string(message.get("reasoning") or message.get("reasoning_content"), "message.reasoning")
        if not reasoning:
            reasoning, text = split_inline_thinking(text)
        raw_finish = _string(choice.get("finish_reason"), "finish_reason")
        tool_calls = [_tool_call(c) for c in _list(message.get("tool_calls"))]
        _refuse_call_in_text(text, tool_calls)
        # URL citations and search results come only from a web search the provider ran.
        sources = _unique(_citations(message.get("annotations")) + _search_citations(data))
        return Reply(
            text=text,
            reasoning=reasoning,
            tool_calls=tool_calls,
            usage=_usage(data.get("usage")),
            finish_reason=normalise_finish_reason(raw_finish),
            raw_finish_reason=raw_finish,
            logprobs=_logprobs(choice.get("logprobs")),
            citations=sources,
            web_search=sources,
            warnings=_warnings(data),
        )

    def stream_parser(self) -> OpenAIStreamParser:
        return OpenAIStreamParser()

    def rate_limits(self, headers: Mapping[str, str]) -> list[RateLimit]:
        return parse_ratelimit_headers(headers)

    def list_models_call(self, cursor: str | None) -> HttpCall:
        """`/models` is not paged: one page is the whole list."""
        return HttpCall("GET", f"{self.base_url}/models")

    def parse_models(self, status: int, headers: Mapping[str, str], body: bytes) -> tuple[list[str], str | None]:
        if not 200 <= status < 300:
            raise _http_error(status, headers, body)
        return model_ids(_decode_json(body, "model list"), "data", "id"), None

    def claims_call(self, model: str, cursor: str | None) -> HttpCall:
        return self.list_models_call(cursor)

    def parse_claims(
        self, model: str, status: int, headers: Mapping[str, str], body: bytes
    ) -> tuple[list[Claim] | None, str | None]:
        _, cursor = self.parse_models(status, headers, body)
        return DECLARATIONS.listed(_decode_json(body, "model list"), "data", "id", model), cursor


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class OpenAIStreamParser:
    """Assembles `chat.completion.chunk` events into one Reply.

    Tool calls are keyed by their `index`, the only field OpenAI repeats on every
    fragment; Groq sends each call whole in one chunk, which is the same rule.
    """

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, _PartialCall] = {}
        self._usage = Usage()
        self._raw_finish = ""
        self._logprobs: list[TokenLogprob] = []
        self._citations: list[str] = []
        self._warnings: list[str] = []
        self._done = False
        self._events = 0

    def feed(self, event: SseEvent) -> None:
        self._events += 1
        if event.is_done:
            self._done = True
            return
        if event.event == "error":
            raise _stream_error_event(event.data)
        chunk = _decode_json(event.data, "stream chunk")
        if not isinstance(chunk, dict):
            raise ApiError(ErrorKind.MALFORMED, f"stream chunk is not a JSON object: {excerpt(event.data)}")
        envelope = _envelope(chunk)
        if "choices" not in chunk and envelope is not None:
            raise _embedded_error(envelope)
        usage = chunk.get("usage") or _dict(chunk.get("x_groq")).get("usage")
        if isinstance(usage, dict):
            self._usage = _usage(usage)
        self._citations = _unique(self._citations + _search_citations(chunk))
        self._warnings = _unique(self._warnings + _warnings(chunk))
        choices = _list(chunk.get("choices"))
        if choices:
            self._feed_choice(_dict(choices[0]))

    def _feed_choice(self, choice: dict) -> None:
        delta = _dict(choice.get("delta"))
        self._text.append(_string(delta.get("content"), "delta.content"))
        self._reasoning.append(_string(delta.get("reasoning") or delta.get("reasoning_content"), "delta.reasoning"))
        # Together puts whole calls beside the delta, on the choice, with index -1.
        for fragment in _list(delta.get("tool_calls")) + _list(choice.get("tool_calls")):
            self._feed_tool_fragment(_dict(fragment))
        self._citations = _unique(self._citations + _citations(delta.get("annotations")))
        if choice.get("finish_reason"):
            self._raw_finish = _string(choice["finish_reason"], "finish_reason")
        self._logprobs.extend(_logprobs(choice.get("logprobs")))

    def _feed_tool_fragment(self, fragment: dict) -> None:
        index = fragment.get("index")
        if not isinstance(index, int):
            # Some servers omit `index`: a fragment with an id starts a call, others continue the last one.
            index = len(self._calls) if fragment.get("id") or not self._calls else max(self._calls)
        call = self._calls.setdefault(index, _PartialCall())
        function = _dict(fragment.get("function"))
        if fragment.get("id"):
            call.id = str(fragment["id"])
        if function.get("name"):
            call.name = str(function["name"])
        call.arguments.append(_arguments(function.get("arguments")))

    def finish(self) -> Reply:
        """Raises MALFORMED for a stream the server closed without a single event (llama.cpp's
        server does this when it fails after sending 200), TRANSPORT for one cut short after
        data began to flow: only the latter is worth asking again.

        `data: [DONE]` is not required: Cerebras ends every stream after the chunk that
        carries the finish reason (and usage). A finish reason says the answer is whole;
        without one, a stream that stops is cut mid-answer.
        """
        if not self._done and not self._raw_finish:
            if not self._events:
                raise ApiError(ErrorKind.MALFORMED, "the server ended the stream without sending any event")
            raise ApiError(ErrorKind.TRANSPORT, "stream ended mid-answer (no finish reason, no [DONE])")
        text, reasoning = "".join(self._text), "".join(self._reasoning)
        if not reasoning:
            reasoning, text = split_inline_thinking(text)
        tool_calls = [ToolCall(c.id, c.name, "".join(c.arguments)) for _, c in sorted(self._calls.items())]
        _refuse_call_in_text(text, tool_calls)
        return Reply(
            text=text,
            reasoning=reasoning,
            tool_calls=tool_calls,
            usage=self._usage,
            finish_reason=normalise_finish_reason(self._raw_finish),
            raw_finish_reason=self._raw_finish,
            logprobs=self._logprobs,
            citations=self._citations,
            web_search=self._citations,
            warnings=self._warnings,
        )


# --- request pieces ---------------------------------------------------------------


def _message(message: Message, media_parts: str) -> dict[str, Any]:
    if message.role == "tool":
        result = message.tool_result
        if result is None:
            raise ValueError("a tool message needs a tool_result")
        return {"role": "tool", "content": result.content, "tool_call_id": result.call_id}
    wire: dict[str, Any] = {"role": message.role}
    # An assistant turn that only called tools has no content key at all, as OpenAI sends it.
    if message.parts or not message.tool_calls:
        wire["content"] = _content(message.parts, media_parts)
    if message.tool_calls:
        wire["tool_calls"] = [
            {"type": "function", "id": c.id, "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    return wire


def _content(parts: tuple[Part, ...], media_parts: str) -> str | list[dict[str, Any]]:
    """A lone text part goes as a plain string: text-only servers reject the array form."""
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        return parts[0].text
    return [_part(p, media_parts) for p in parts]


#: The audio formats OpenAI's input_audio part names (`format`), by MIME type.
_INPUT_AUDIO_FORMATS = {"audio/wav": "wav", "audio/mpeg": "mp3"}


def _part(part: Part, media_parts: str) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, AttachmentPart):
        if part.modality == "image":
            return {"type": "image_url", "image_url": {"url": part.url or data_url(part)}}
        refuse_modality(part, ("audio", "video", "document"), "chat completions has image, audio and file parts")
        return _mistral_media(part) if media_parts == "mistral" else _openai_media(part)
    if isinstance(part, DocumentPart):
        if not part.mime.startswith("text/"):
            raise UnsupportedOption("document", f"{part.mime} documents: chat completions carries documents only as text")
        # The bare text, as recorded: chat completions has no place for the document's name.
        return {"type": "text", "text": part.text}
    raise TypeError(f"not a message part: {part!r}")


def _openai_media(part: AttachmentPart) -> dict[str, Any]:
    """OpenAI's chat completions: audio in input_audio (wav and mp3 only), any other file as a
    `file` part with a data URL; a file by link has no part (only an uploaded file's id)."""
    if part.url is not None:
        reason = f"{part.mime} by URL: chat completions takes files inline or by file id"
        raise UnsupportedOption(f"{part.modality} input", reason)
    audio_format = _INPUT_AUDIO_FORMATS.get(part.mime)
    if part.modality == "audio" and audio_format is not None:
        data = base64.b64encode(part.data or b"").decode()
        return {"type": "input_audio", "input_audio": {"data": data, "format": audio_format}}
    return {"type": "file", "file": {"filename": part.name, "file_data": data_url(part)}}


def _mistral_media(part: AttachmentPart) -> dict[str, Any]:
    """Mistral's parts: input_audio as bare base64 or audio_url, a document by document_url; no video part."""
    refuse_modality(part, ("audio", "document"), "Mistral's chat has audio and document parts, no video")
    if part.modality == "audio":
        if part.url is not None:
            return {"type": "audio_url", "audio_url": {"url": part.url}}
        return {"type": "input_audio", "input_audio": base64.b64encode(part.data or b"").decode()}
    if part.url is None:
        raise UnsupportedOption("document input", f"{part.mime} inline: Mistral's document_url takes a link")
    return {"type": "document_url", "document_url": part.url}


# --- reply pieces -----------------------------------------------------------------


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def _arguments(value: Any) -> str:
    """Arguments are JSON text on the wire; a few servers send the object itself."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _tool_call(raw: Any) -> ToolCall:
    call = _dict(raw)
    function = _dict(call.get("function"))
    return ToolCall(str(call.get("id") or ""), str(function.get("name") or ""), _arguments(function.get("arguments")))


def _usage(raw: Any) -> Usage:
    usage = _dict(raw)
    return reported_usage(
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
        usage.get("total_tokens"),
        _dict(usage.get("prompt_tokens_details")).get("cached_tokens"),
        _dict(usage.get("completion_tokens_details")).get("reasoning_tokens"),
    )


def _logprobs(raw: Any) -> list[TokenLogprob]:
    """`content[]` as OpenAI sends it, or the older completions shape Together still uses:
    parallel `tokens` / `token_logprobs` lists and `top_logprobs`, one entry per token."""
    raw = _dict(raw)
    if "content" not in raw and isinstance(raw.get("tokens"), list):
        return _legacy_logprobs(raw)
    tokens = []
    for entry in _list(raw.get("content")):
        entry = _dict(entry)
        top = tuple(
            (str(alt.get("token", "")), _number(alt.get("logprob")))
            for alt in map(_dict, _list(entry.get("top_logprobs")))
        )
        tokens.append(TokenLogprob(str(entry.get("token", "")), _number(entry.get("logprob")), top))
    return tokens


def _legacy_logprobs(raw: dict) -> list[TokenLogprob]:
    """Each `top_logprobs` entry is a `{token: logprob}` map (OpenAI completions) or a list of
    `{token, logprob}` objects (Together's streams)."""
    values = _list(raw.get("token_logprobs"))
    tops = _list(raw.get("top_logprobs"))
    tokens = []
    for i, token in enumerate(raw["tokens"]):
        top_raw = tops[i] if i < len(tops) else None
        if isinstance(top_raw, dict):
            top = tuple((str(k), _number(v)) for k, v in top_raw.items())
        else:
            top = tuple((str(a.get("token", "")), _number(a.get("logprob"))) for a in map(_dict, _list(top_raw)))
        tokens.append(TokenLogprob(str(token), _number(values[i] if i < len(values) else None), top))
    return tokens


def _search_citations(data: dict) -> list[str]:
    """Perplexity's sources: top-level `citations` (URLs) and `search_results` (objects with a url)."""
    urls = [url for url in _list(data.get("citations")) if isinstance(url, str)]
    urls += [url for url in (_dict(r).get("url") for r in _list(data.get("search_results"))) if isinstance(url, str)]
    return urls


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _warnings(data: dict) -> list[str]:
    """Together's `warnings: [{message}]` on a served request (plain strings accepted too)."""
    notices = []
    for warning in _list(data.get("warnings")):
        message = _dict(warning).get("message") if isinstance(warning, dict) else warning
        if isinstance(message, str) and message:
            notices.append(message)
    return notices


#: Tool-call markup of models whose server failed to turn it into `tool_calls`: DeepSeek's
#: special tokens, the Hermes/Qwen `<tool_call>` tag, Mistral's `[TOOL_CALLS]`.
_CALL_IN_TEXT = re.compile(r"<｜tool▁calls?▁(?:begin|end)｜>|<tool_call>|\[TOOL_CALLS\]")


def _refuse_call_in_text(text: str, tool_calls: list[ToolCall]) -> None:
    """A tool call written into the text is the model trying to call and the provider failing to
    parse it (deepseek-reasoner under a forced tool_choice): the call failed, as Groq's
    tool_use_failed says in its own words; it is not a plain text answer."""
    if not tool_calls and _CALL_IN_TEXT.search(text):
        raise ApiError(ErrorKind.MODEL_FAILED, f"the model wrote its tool call into the text: {excerpt(text)}")


def _citations(raw: Any) -> list[str]:
    urls = []
    for annotation in map(_dict, _list(raw)):
        if annotation.get("type") == "url_citation":
            url = _dict(annotation.get("url_citation")).get("url")
            if isinstance(url, str):
                urls.append(url)
    return urls


# --- errors -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Envelope:
    message: str
    code: str | None = None
    #: The status an in-stream error says it would have had (Groq's `status_code`).
    status: int | None = None


def _envelope(data: Any) -> _Envelope | None:
    """The provider's own error body, in the shapes OpenAI-compatible servers use."""
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        message = message if isinstance(message, str) and message else excerpt(json.dumps(error))
        failed = error.get("failed_generation")
        if isinstance(failed, str) and failed:
            # Groq's tool_use_failed: what the model actually produced is the useful evidence.
            message = f"{message} (failed generation: {excerpt(failed)})"
        code = error.get("code")
        status = error.get("status_code")
        return _Envelope(message, str(code) if code is not None else None, status if isinstance(status, int) else None)
    if isinstance(error, str):
        return _Envelope(error)
    if "detail" in data:  # FastAPI (llama-cpp-python, many proxies)
        return _Envelope(_detail_message(data["detail"]))
    message = data.get("message")
    if isinstance(message, str) and message and "choices" not in data:
        # Unwrapped: vLLM and Mistral (`object: error`), Cerebras (`{message, type, param, code}`),
        # Hugging Face's router (`{code, reason, message}`).
        code = data.get("code")
        return _Envelope(message, str(code) if isinstance(code, str) and code else None)
    return None


def _detail_message(detail: Any) -> str:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):  # FastAPI validation errors
        messages = [str(d["msg"]) for d in map(_dict, detail) if "msg" in d]
        if messages:
            return "; ".join(messages)
    return excerpt(json.dumps(detail))


def _kind(status: int | None, code: str | None) -> ErrorKind | None:
    """The shared status table, refined by the codes OpenAI-compatible servers send (a failed tool
    call, tool_use_failed, is recognised by `ApiError` itself, for every dialect)."""
    kind = kind_for_status(status) if status is not None else None
    if code == "model_not_found" and kind is not ErrorKind.AUTH:
        return ErrorKind.NOT_FOUND
    return kind


def _http_error(status: int, headers: Mapping[str, str], body: bytes) -> ApiError:
    try:
        envelope = _envelope(safejson.loads(body))
    except ValueError:
        envelope = None
    return ApiError(
        # Not 2xx, 4xx or 5xx (an unfollowed redirect, say): no answer in this wire format.
        _kind(status, envelope.code if envelope else None) or ErrorKind.MALFORMED,
        envelope.message if envelope else page_excerpt(body),
        status=status,
        code=envelope.code if envelope else None,
        retry_after=_retry_after(envelope.message if envelope else "", headers),
        has_envelope=envelope is not None,
    )


def _retry_after(message: str, headers: Mapping[str, str]) -> float | None:
    in_message = retry_after_in_message(message)
    return in_message if in_message is not None else parse_retry_after(headers)


def _embedded_error(envelope: _Envelope) -> ApiError:
    """An error envelope inside a 2xx answer (Groq's `event: error`, proxies that keep 200)."""
    return ApiError(
        # Without a status the provider failed mid-answer after accepting the request.
        _kind(envelope.status, envelope.code) or ErrorKind.SERVER,
        envelope.message,
        status=envelope.status,
        code=envelope.code,
        has_envelope=True,
    )


def _stream_error_event(data: str) -> ApiError:
    try:
        envelope = _envelope(safejson.loads(data))
    except ValueError:
        envelope = None
    if envelope is None:
        return ApiError(ErrorKind.SERVER, f"error event: {excerpt(data)}")
    return _embedded_error(envelope)


