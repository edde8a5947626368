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

from llmprobe import neutral
from llmprobe.dialects import HttpCall, Option, data_url, openai_errors, refuse_modality, wire
from llmprobe.dialects.base import BaseDialect
from llmprobe.dialects.declared import Declarations
from llmprobe.errors import ApiError, ErrorKind, UnsupportedOption, excerpt
from llmprobe.ratelimits import parse_ratelimit_headers
from llmprobe.sse import SseEvent


class OpenAIDialect(BaseDialect):
    name = "openai"
    #: What an OpenAI-compatible listing declares, where it declares anything (OpenAI's own /v1/models does
    #: not: id, created, owned_by): OpenRouter's `supported_parameters` and input modalities (complete lists;
    #: llama.cpp's server lists the modalities too), Mistral's `capabilities` flags, and the token limits of
    #: OpenRouter, Groq and llama.cpp (`meta.n_ctx`, its context size).
    DECLARATIONS = Declarations(
        lists={
            "supported_parameters": {
                "tools": "tools", "tool_choice": "toolCallRequired", "response_format": "json",
                "structured_outputs": "jsonSchema", "seed": "seed", "stop": "stopSequence", "logprobs": "topLogprobs",
                "top_logprobs": "topLogprobs", "max_tokens": "maxTokens", "web_search_options": "webSearch",
            },
            "architecture.input_modalities": {
                "text": "in:text", "image": "in:image", "audio": "in:audio", "video": "in:video", "file": "in:document"
            },
        },
        flags={"capabilities": {"completion_chat": "in:text", "function_calling": "tools", "vision": "in:image"}},
        limits={
            "context_length": "tokens_in", "top_provider.max_completion_tokens": "tokens_out", "context_window": "tokens_in",
            "max_completion_tokens": "tokens_out", "meta.n_ctx": "tokens_in",
        },
    )  # fmt: skip
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
    #: OpenAI and Groq announce and enforce their limits per model.
    RATE_LIMIT_SCOPE = "model"

    def build(self, model: str, request: neutral.Request) -> HttpCall:
        """Keys follow the order of the recorded reference traffic and `stream` is always
        present, so a sync request can match a reference cassette byte for byte."""
        if request.json_mode and request.json_schema is not None:
            raise UnsupportedOption("json_mode", "cannot be combined with json_schema: both are response_format")
        body: dict[str, Any] = {}
        if request.max_tokens is not None:
            body[self.options["max_tokens_field"]] = request.max_tokens
        body["messages"] = [_message(m, self.options["media_parts"]) for m in request.messages]
        body["model"] = model
        if request.json_mode:
            body["response_format"] = {"type": "json_object"}
        if request.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.json_schema_name, "schema": request.json_schema, "strict": True},
            }
        if request.seed is not None:
            body[self.options["seed_field"]] = request.seed
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
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
        if request.reasoning_off:
            # The effort that switches reasoning off (gpt-5.1 and later; OpenRouter maps it for every model).
            body["reasoning_effort"] = "none"
        if request.top_logprobs is not None:
            body["logprobs"] = True
            body["top_logprobs"] = request.top_logprobs
        if request.web_search:
            # The provider's own search, with its defaults; a model without search refuses it (400).
            body["web_search_options"] = {}
        return HttpCall("POST", f"{self.base_url}/chat/completions", body)

    def parse(self, status: int, headers: Mapping[str, str], body: bytes) -> neutral.Reply:
        data = self.answer(status, headers, body, "response body")
        if not isinstance(data, dict):
            raise ApiError(ErrorKind.MALFORMED, "response body is not a JSON object")
        envelope = openai_errors.envelope(data)
        if "choices" not in data and envelope is not None:
            raise openai_errors.embedded_error(envelope)
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ApiError(ErrorKind.MALFORMED, "response has no choices")
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, dict):
            raise ApiError(ErrorKind.MALFORMED, "choices[0] has no message")
        text = wire.strict_str(message.get("content"), "message.content")
        reasoning = wire.strict_str(message.get("reasoning") or message.get("reasoning_content"), "message.reasoning")
        if not reasoning:
            reasoning, text = neutral.split_inline_thinking(text)
        raw_finish = wire.strict_str(choice.get("finish_reason"), "finish_reason")
        tool_calls = [_tool_call(c) for c in wire.lenient_list(message.get("tool_calls"))]
        _refuse_call_in_text(text, tool_calls)
        # URL citations and search results come only from a web search the provider ran.
        sources = _unique(_citations(message.get("annotations")) + _search_citations(data))
        return neutral.Reply(
            text=text,
            reasoning=reasoning,
            tool_calls=tool_calls,
            usage=_usage(data.get("usage")),
            finish_reason=neutral.normalise_finish_reason(raw_finish),
            raw_finish_reason=raw_finish,
            logprobs=_logprobs(choice.get("logprobs")),
            citations=sources,
            web_search=sources,
            warnings=_warnings(data),
        )

    def stream_parser(self) -> OpenAIStreamParser:
        return OpenAIStreamParser()

    def rate_limits(self, headers: Mapping[str, str]) -> list[neutral.RateLimit]:
        return parse_ratelimit_headers(headers)

    def http_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ApiError:
        return openai_errors.http_error(status, headers, body)


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
        self._usage = neutral.Usage()
        self._raw_finish = ""
        self._logprobs: list[neutral.TokenLogprob] = []
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
            raise openai_errors.stream_error_event(event.data)
        chunk = wire.decode(event.data, "stream chunk")
        if not isinstance(chunk, dict):
            raise ApiError(ErrorKind.MALFORMED, f"stream chunk is not a JSON object: {excerpt(event.data)}")
        envelope = openai_errors.envelope(chunk)
        if "choices" not in chunk and envelope is not None:
            raise openai_errors.embedded_error(envelope)
        usage = chunk.get("usage") or wire.lenient_dict(chunk.get("x_groq")).get("usage")
        if isinstance(usage, dict):
            self._usage = _usage(usage)
        self._citations = _unique(self._citations + _search_citations(chunk))
        self._warnings = _unique(self._warnings + _warnings(chunk))
        choices = wire.lenient_list(chunk.get("choices"))
        if choices:
            self._feed_choice(wire.lenient_dict(choices[0]))

    def _feed_choice(self, choice: dict) -> None:
        delta = wire.lenient_dict(choice.get("delta"))
        self._text.append(wire.strict_str(delta.get("content"), "delta.content"))
        self._reasoning.append(wire.strict_str(delta.get("reasoning") or delta.get("reasoning_content"), "delta.reasoning"))
        # Together puts whole calls beside the delta, on the choice, with index -1.
        for fragment in wire.lenient_list(delta.get("tool_calls")) + wire.lenient_list(choice.get("tool_calls")):
            self._feed_tool_fragment(wire.lenient_dict(fragment))
        self._citations = _unique(self._citations + _citations(delta.get("annotations")))
        if choice.get("finish_reason"):
            self._raw_finish = wire.strict_str(choice["finish_reason"], "finish_reason")
        self._logprobs.extend(_logprobs(choice.get("logprobs")))

    def _feed_tool_fragment(self, fragment: dict) -> None:
        index = fragment.get("index")
        if not isinstance(index, int):
            # Some servers omit `index`: a fragment with an id starts a call, others continue the last one.
            index = len(self._calls) if fragment.get("id") or not self._calls else max(self._calls)
        call = self._calls.setdefault(index, _PartialCall())
        function = wire.lenient_dict(fragment.get("function"))
        if fragment.get("id"):
            call.id = str(fragment["id"])
        if function.get("name"):
            call.name = str(function["name"])
        call.arguments.append(_arguments(function.get("arguments")))

    def finish(self) -> neutral.Reply:
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
            reasoning, text = neutral.split_inline_thinking(text)
        tool_calls = [neutral.ToolCall(c.id, c.name, "".join(c.arguments)) for _, c in sorted(self._calls.items())]
        _refuse_call_in_text(text, tool_calls)
        return neutral.Reply(
            text=text,
            reasoning=reasoning,
            tool_calls=tool_calls,
            usage=self._usage,
            finish_reason=neutral.normalise_finish_reason(self._raw_finish),
            raw_finish_reason=self._raw_finish,
            logprobs=self._logprobs,
            citations=self._citations,
            web_search=self._citations,
            warnings=self._warnings,
        )


# --- request pieces ---------------------------------------------------------------


def _message(message: neutral.Message, media_parts: str) -> dict[str, Any]:
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


def _content(parts: tuple[neutral.Part, ...], media_parts: str) -> str | list[dict[str, Any]]:
    """A lone text part goes as a plain string: text-only servers reject the array form."""
    if len(parts) == 1 and isinstance(parts[0], neutral.TextPart):
        return parts[0].text
    return [_part(p, media_parts) for p in parts]


#: The audio formats OpenAI's input_audio part names (`format`), by MIME type.
_INPUT_AUDIO_FORMATS = {"audio/wav": "wav", "audio/mpeg": "mp3"}


def _part(part: neutral.Part, media_parts: str) -> dict[str, Any]:
    if isinstance(part, neutral.TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, neutral.AttachmentPart):
        if part.modality == "image":
            return {"type": "image_url", "image_url": {"url": part.url or data_url(part)}}
        refuse_modality(part, ("audio", "video", "document"), "chat completions has image, audio and file parts")
        return _mistral_media(part) if media_parts == "mistral" else _openai_media(part)
    if isinstance(part, neutral.DocumentPart):
        if not part.mime.startswith("text/"):
            raise UnsupportedOption("document", f"{part.mime} documents: chat completions carries documents only as text")
        # The bare text, as recorded: chat completions has no place for the document's name.
        return {"type": "text", "text": part.text}
    raise TypeError(f"not a message part: {part!r}")


def _openai_media(part: neutral.AttachmentPart) -> dict[str, Any]:
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


def _mistral_media(part: neutral.AttachmentPart) -> dict[str, Any]:
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


def _arguments(value: Any) -> str:
    """Arguments are JSON text on the wire; a few servers send the object itself."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _tool_call(raw: Any) -> neutral.ToolCall:
    call = wire.lenient_dict(raw)
    function = wire.lenient_dict(call.get("function"))
    return neutral.ToolCall(str(call.get("id") or ""), str(function.get("name") or ""), _arguments(function.get("arguments")))


def _usage(raw: Any) -> neutral.Usage:
    usage = wire.lenient_dict(raw)
    return wire.reported_usage(
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
        usage.get("total_tokens"),
        wire.lenient_dict(usage.get("prompt_tokens_details")).get("cached_tokens"),
        wire.lenient_dict(usage.get("completion_tokens_details")).get("reasoning_tokens"),
    )


def _logprobs(raw: Any) -> list[neutral.TokenLogprob]:
    """`content[]` as OpenAI sends it, or the older completions shape Together still uses:
    parallel `tokens` / `token_logprobs` lists and `top_logprobs`, one entry per token."""
    raw = wire.lenient_dict(raw)
    if "content" not in raw and isinstance(raw.get("tokens"), list):
        return _legacy_logprobs(raw)
    return token_logprobs(raw.get("content"))


def token_logprobs(entries: Any) -> list[neutral.TokenLogprob]:
    """OpenAI's entry per token, `{token, logprob, top_logprobs: [{token, logprob}]}`: chat
    completions' `logprobs.content`, and the same list in the Responses API and in Ollama."""
    read = map(wire.lenient_dict, wire.lenient_list(entries))
    return [neutral.TokenLogprob(*_token(entry), _alternatives(entry.get("top_logprobs"))) for entry in read]


def _alternatives(raw: Any) -> tuple[tuple[str, float], ...]:
    return tuple(_token(alt) for alt in map(wire.lenient_dict, wire.lenient_list(raw)))


def _token(entry: dict[str, Any]) -> tuple[str, float]:
    return str(entry.get("token", "")), wire.lenient_float(entry.get("logprob"))


def _legacy_logprobs(raw: dict) -> list[neutral.TokenLogprob]:
    """Each `top_logprobs` entry is a `{token: logprob}` map (OpenAI completions) or a list of
    `{token, logprob}` objects (Together's streams)."""
    values = wire.lenient_list(raw.get("token_logprobs"))
    tops = wire.lenient_list(raw.get("top_logprobs"))
    tokens = []
    for i, token in enumerate(raw["tokens"]):
        top_raw = tops[i] if i < len(tops) else None
        if isinstance(top_raw, dict):
            top = tuple((str(k), wire.lenient_float(v)) for k, v in top_raw.items())
        else:
            top = _alternatives(top_raw)
        tokens.append(neutral.TokenLogprob(str(token), wire.lenient_float(values[i] if i < len(values) else None), top))
    return tokens


def _search_citations(data: dict) -> list[str]:
    """Perplexity's sources: top-level `citations` (URLs) and `search_results` (objects with a url)."""
    urls = [url for url in wire.lenient_list(data.get("citations")) if isinstance(url, str)]
    results = (wire.lenient_dict(result).get("url") for result in wire.lenient_list(data.get("search_results")))
    urls += [url for url in results if isinstance(url, str)]
    return urls


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _warnings(data: dict) -> list[str]:
    """Together's `warnings: [{message}]` on a served request (plain strings accepted too)."""
    notices = []
    for warning in wire.lenient_list(data.get("warnings")):
        message = wire.lenient_dict(warning).get("message") if isinstance(warning, dict) else warning
        if isinstance(message, str) and message:
            notices.append(message)
    return notices


#: Tool-call markup of models whose server failed to turn it into `tool_calls`: DeepSeek's
#: special tokens, the Hermes/Qwen `<tool_call>` tag, Mistral's `[TOOL_CALLS]`.
_CALL_IN_TEXT = re.compile(r"<｜tool▁calls?▁(?:begin|end)｜>|<tool_call>|\[TOOL_CALLS\]")


def _refuse_call_in_text(text: str, tool_calls: list[neutral.ToolCall]) -> None:
    """A tool call written into the text is the model trying to call and the provider failing to
    parse it (deepseek-reasoner under a forced tool_choice): the call failed, as Groq's
    tool_use_failed says in its own words; it is not a plain text answer."""
    if not tool_calls and _CALL_IN_TEXT.search(text):
        raise ApiError(ErrorKind.MODEL_FAILED, f"the model wrote its tool call into the text: {excerpt(text)}")


def _citations(raw: Any) -> list[str]:
    urls = []
    for annotation in map(wire.lenient_dict, wire.lenient_list(raw)):
        if annotation.get("type") == "url_citation":
            url = wire.lenient_dict(annotation.get("url_citation")).get("url")
            if isinstance(url, str):
                urls.append(url)
    return urls
