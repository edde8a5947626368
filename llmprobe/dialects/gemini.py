"""Google's Gemini API, spoken natively: `models/{model}:generateContent` and its SSE twin.

Gemini differs from chat completions in ways a verdict can feel: options live in
`generationConfig`, the assistant is called "model", a tool result is a user turn
holding a `functionResponse` part, schemas are an OpenAPI subset (upper-case types,
no `$schema`), thoughts are text parts flagged `thought`, a function call ends with
finish reason STOP, and a stream has no terminator, only a last chunk that carries
the finish reason. Errors are Google RPC envelopes whose `status` and `details`
(ErrorInfo reason, RetryInfo delay) say more than the HTTP status.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from llmprobe import neutral
from llmprobe.dialects import HttpCall, refuse_missing, refuse_modality, wire
from llmprobe.dialects.base import BaseDialect
from llmprobe.dialects.declared import Declarations
from llmprobe.errors import ApiError, ErrorKind, UnsupportedOption, excerpt, kind_for_status, page_excerpt
from llmprobe.ratelimits import parse_duration, parse_retry_after
from llmprobe.sse import SseEvent

#: Thinking budget (tokens) for a model listed with `reason: true`: enough for the short
#: probes to show their reasoning, small enough to keep a run cheap and quick. Without
#: `reason`, the budget is 0, so a model that can stop thinking (2.5 Flash) really does.
THINKING_BUDGET = 512

#: The most models the listing may return per page.
MODELS_PAGE_SIZE = 1000

_TOOL_MODES = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
#: Options the REST API has no field for (docs/methodology.md, "What a dialect does not send").
NO_FIELD = {
    "parallel_tool_calls": "functionCallingConfig has a mode and allowedFunctionNames, nothing to limit the calls per turn",
}

#: JSON-schema keywords Gemini's Schema object has; anything else cannot be expressed.
_SCHEMA_KEYS = frozenset(
    {"type", "format", "title", "description", "nullable", "enum", "properties", "required", "items",
     "minItems", "maxItems", "minProperties", "maxProperties", "minimum", "maximum", "minLength", "maxLength",
     "pattern", "anyOf", "propertyOrdering", "default", "example"}
)
#: Keywords dropped because they only annotate: they constrain nothing Gemini would enforce.
_SCHEMA_NOTES = frozenset({"$schema", "$id", "$comment"})


class GeminiDialect(BaseDialect):
    name = "gemini"
    #: Gemini quotas count per model and project; it announces none in headers (429s say how long).
    RATE_LIMIT_SCOPE = "model"
    MODELS_ARRAY = ("models", "name")
    #: What a model resource declares: its generation methods (a complete list; generateContent is what
    #: answers at all) and its token limits. `thinking` has no capability to hold it against yet.
    DECLARATIONS = Declarations(
        lists={"supportedGenerationMethods": {"generateContent": "in:text"}},
        limits={"inputTokenLimit": "tokens_in", "outputTokenLimit": "tokens_out"},
    )

    def build(self, model: str, request: neutral.Request) -> HttpCall:
        """Keys in the order the reference's Go client sent them, so recorded bodies compare as sent."""
        refuse_missing(request, NO_FIELD)
        body: dict[str, Any] = {"contents": _contents(request.messages)}
        if request.tools:
            declarations = [
                {"name": t.name, "description": t.description, "parameters": _schema(t.parameters, "tool parameters")}
                for t in request.tools
            ]
            body["tools"] = [{"functionDeclarations": declarations}]
        if request.web_search:
            # Grounding with Google Search: Google runs the searches, the answer carries groundingMetadata.
            body["tools"] = [*body.get("tools", []), {"googleSearch": {}}]
        if request.tool_choice is not None:
            body["toolConfig"] = {"functionCallingConfig": {"mode": _TOOL_MODES[request.tool_choice]}}
        body["generationConfig"] = _generation_config(request)
        method = "streamGenerateContent?alt=sse" if request.stream else "generateContent"
        return HttpCall("POST", f"{self.base_url}/models/{quote(model, safe='')}:{method}", json=body)

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """A header, never `?key=`: URLs end up in logs and cassettes."""
        return {"x-goog-api-key": api_key}

    def parse(self, status: int, headers: Mapping[str, str], body: bytes) -> neutral.Reply:
        parser = GeminiStreamParser()
        parser.feed_response(self.answer(status, headers, body, "response body"))
        # Complete by construction: a sync answer without a finish reason just gave none.
        return parser.reply()

    def stream_parser(self) -> GeminiStreamParser:
        return GeminiStreamParser()

    def http_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ApiError:
        data = wire.error_body(body)
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            # Not 2xx, 4xx or 5xx (an unfollowed redirect, say): no answer in this wire format.
            kind = kind_for_status(status) or ErrorKind.MALFORMED
            return ApiError(kind, page_excerpt(body), status=status, retry_after=parse_retry_after(headers))
        return _envelope_error(error, status, headers)

    def page_query(self, cursor: str | None) -> str:
        """Paged by an opaque token, given by the page before."""
        return f"?pageSize={MODELS_PAGE_SIZE}" + (f"&pageToken={quote(cursor, safe='')}" if cursor else "")

    def model_ids(self, page: Any) -> list[str]:
        """Models that can generateContent, without the `models/` prefix the API puts on names.

        Embedding, image (`predict`) and live-audio models are listed too but cannot be probed.
        """
        models = page.get("models", []) if isinstance(page, dict) else None
        if not isinstance(models, list):
            raise ApiError(ErrorKind.MALFORMED, "model list has no models array")
        ids = []
        for model in models:
            if not isinstance(model, dict) or not isinstance(model.get("name"), str):
                raise ApiError(ErrorKind.MALFORMED, f"model without a name: {excerpt(json.dumps(model))}")
            methods = model.get("supportedGenerationMethods")
            if not isinstance(methods, list) or "generateContent" in methods:
                ids.append(model["name"].removeprefix("models/"))
        return ids

    def next_cursor(self, page: Any) -> str | None:
        return wire.page_cursor(wire.lenient_dict(page).get("nextPageToken"))

    def listed_as(self, model: str) -> str:
        return f"models/{model}"


class GeminiStreamParser:
    """Folds GenerateContentResponse chunks into one Reply; a sync answer is a stream of one.

    Gemini sends each function call whole, text and thoughts in pieces, and usage on
    every chunk (the last one counts). With no end-of-stream marker, a stream is
    complete once a chunk gave the finish reason (or the prompt was blocked).
    """

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: list[neutral.ToolCall] = []
        self._usage = neutral.Usage()
        self._raw_finish = ""
        self._blocked = ""
        self._logprobs: list[neutral.TokenLogprob] = []
        self._citations: dict[str, None] = {}
        self._searched: dict[str, None] = {}
        self._chunks = 0

    def feed(self, event: SseEvent) -> None:
        self.feed_response(wire.decode(event.data, "stream chunk"))

    def feed_response(self, data: Any) -> None:
        self._chunks += 1
        if not isinstance(data, dict):
            raise ApiError(ErrorKind.MALFORMED, f"answer is not a JSON object: {excerpt(json.dumps(data))}")
        if isinstance(data.get("error"), dict):
            # An error after the 200 went out: the provider failed mid-answer.
            raise _envelope_error(data["error"], None, {})
        if "usageMetadata" in data:
            self._usage = _usage(data["usageMetadata"])
        feedback = wire.strict_dict(data.get("promptFeedback"), "promptFeedback")
        if feedback.get("blockReason"):
            self._blocked = wire.strict_str(feedback["blockReason"], "promptFeedback.blockReason")
        candidates = wire.strict_list(data.get("candidates"), "candidates")
        if candidates:
            self._feed_candidate(wire.strict_dict(candidates[0], "candidate"))

    def _feed_candidate(self, candidate: dict[str, Any]) -> None:
        content = wire.strict_dict(candidate.get("content"), "candidate.content")
        for part in wire.strict_list(content.get("parts"), "content.parts"):
            self._feed_part(wire.strict_dict(part, "part"))
        if candidate.get("finishReason"):
            self._raw_finish = wire.strict_str(candidate["finishReason"], "finishReason")
        self._logprobs.extend(_logprobs(candidate.get("logprobsResult")))
        citation = wire.strict_dict(candidate.get("citationMetadata"), "citationMetadata")
        for source in wire.strict_list(citation.get("citationSources"), "citationSources"):
            self._cite(wire.strict_dict(source, "citation source").get("uri"))
        grounding = wire.strict_dict(candidate.get("groundingMetadata"), "groundingMetadata")
        for chunk in wire.strict_list(grounding.get("groundingChunks"), "groundingChunks"):
            uri = wire.strict_dict(wire.strict_dict(chunk, "grounding chunk").get("web"), "grounding chunk web").get("uri")
            self._cite(uri)
            if isinstance(uri, str) and uri:
                self._searched[uri] = None
        # The queries Google ran show the search even when no source came back.
        for query in wire.strict_list(grounding.get("webSearchQueries"), "webSearchQueries"):
            if isinstance(query, str) and query and not self._searched:
                self._searched[query] = None

    def _feed_part(self, part: dict[str, Any]) -> None:
        if "functionCall" in part:
            call = wire.strict_dict(part["functionCall"], "functionCall")
            name = call.get("name")
            if not isinstance(name, str) or not name:
                raise ApiError(ErrorKind.MALFORMED, f"function call without a name: {excerpt(json.dumps(call))}")
            arguments = json.dumps(call.get("args") or {}, ensure_ascii=False)
            self._calls.append(neutral.ToolCall(wire.strict_str(call.get("id"), "functionCall.id"), name, arguments))
            return
        text = wire.strict_str(part.get("text"), "part.text")
        (self._reasoning if part.get("thought") is True else self._text).append(text)

    def _cite(self, uri: Any) -> None:
        if isinstance(uri, str) and uri:
            self._citations[uri] = None

    def finish(self) -> neutral.Reply:
        """MALFORMED for a stream closed before any chunk, TRANSPORT for one cut short after chunks flowed."""
        if not (self._raw_finish or self._blocked):
            if not self._chunks:
                raise ApiError(ErrorKind.MALFORMED, "the server ended the stream without sending any chunk")
            raise ApiError(ErrorKind.TRANSPORT, "stream ended before a chunk gave the finish reason")
        return self.reply()

    def reply(self) -> neutral.Reply:
        """What arrived so far, as a reply."""
        raw = self._raw_finish or self._blocked
        if self._blocked:
            # A refused prompt, whatever the reason named (OTHER included).
            finish = "content_filter"
        elif self._calls and raw == "STOP":
            # Gemini has no finish reason of its own for a turn that ends in function calls.
            finish = "tool_calls"
        else:
            finish = neutral.normalise_finish_reason(raw)
        return neutral.Reply(
            text="".join(self._text),
            reasoning="".join(self._reasoning),
            tool_calls=self._calls,
            usage=self._usage,
            finish_reason=finish,
            raw_finish_reason=raw,
            logprobs=self._logprobs,
            citations=list(self._citations),
            web_search=list(self._searched),
        )


# --- request pieces ---------------------------------------------------------------------------------


def _generation_config(request: neutral.Request) -> dict[str, Any]:
    if request.json_mode and request.json_schema is not None:
        raise UnsupportedOption("json_mode", "cannot be combined with json_schema: both set responseMimeType")
    config: dict[str, Any] = {}
    if request.stop:
        config["stopSequences"] = list(request.stop)
    if request.json_mode or request.json_schema is not None:
        config["responseMimeType"] = "application/json"
    if request.json_schema is not None:
        config["responseSchema"] = _schema(request.json_schema, "json_schema")
    config["responseModalities"] = ["TEXT"]
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.seed is not None:
        config["seed"] = request.seed
    if request.top_logprobs is not None:
        config["responseLogprobs"] = True
        config["logprobs"] = request.top_logprobs
    # Reasoning off is a budget of 0, as for every row that does not ask for thinking.
    thinking = request.thinking and not request.reasoning_off
    config["thinkingConfig"] = {"includeThoughts": thinking, "thinkingBudget": THINKING_BUDGET if thinking else 0}
    return config


def _contents(messages: tuple[neutral.Message, ...]) -> list[dict[str, Any]]:
    """Consecutive tool results go back in one user turn, as Gemini pairs them with the calls of the turn before."""
    contents: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            result = message.tool_result
            if result is None:
                raise ValueError("a tool message needs a tool_result")
            part = {"functionResponse": {"name": result.name, "response": {"response": result.content}}}
            previous = contents[-1] if contents else None
            if previous is not None and previous["role"] == "user" and "functionResponse" in previous["parts"][-1]:
                previous["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part]})
            continue
        parts = [_part(p) for p in message.parts]
        parts += [{"functionCall": {"name": c.name, "args": _arguments(c)}} for c in message.tool_calls]
        contents.append({"role": "model" if message.role == "assistant" else "user", "parts": parts})
    return contents


def _arguments(call: neutral.ToolCall) -> dict[str, Any]:
    try:
        return call.decoded_arguments()
    except ValueError:
        raise UnsupportedOption(
            "tool call arguments", f"Gemini takes a call's arguments as a JSON object, not {excerpt(call.arguments)}"
        ) from None


def _part(part: neutral.Part) -> dict[str, Any]:
    if isinstance(part, neutral.TextPart):
        return {"text": part.text}
    if isinstance(part, neutral.AttachmentPart):
        # Every medium Gemini reads goes the same two ways: bytes in inlineData, a link in fileData.
        refuse_modality(part, ("image", "audio", "video", "document"), "Gemini reads images, audio, video and PDFs")
        if part.url is not None:
            return {"fileData": {"mimeType": part.mime, "fileUri": part.url}}
        return {"inlineData": {"mimeType": part.mime, "data": base64.b64encode(part.data or b"").decode()}}
    if isinstance(part, neutral.DocumentPart):
        if not part.mime.startswith("text/"):
            raise UnsupportedOption("document input", f"{part.name} is {part.mime}; only text documents are sent")
        # Gemini has no document field: the text goes as its own part, as recorded.
        return {"text": part.text}
    raise TypeError(f"not a message part: {part!r}")


def _schema(schema: Any, option: str) -> Any:
    """A JSON schema in Gemini's OpenAPI dialect: upper-case types, `nullable` for `[T, "null"]`.

    `additionalProperties: false` is dropped (Gemini refuses the keyword and never adds
    undeclared properties in structured output); any keyword Gemini's Schema lacks
    raises UnsupportedOption rather than being silently lost. Keys come out sorted,
    as the reference sent them.
    """
    if not isinstance(schema, dict):
        raise UnsupportedOption(option, f"a schema must be an object, not {excerpt(json.dumps(schema))}")
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_NOTES or (key == "additionalProperties" and value is False):
            continue
        if key not in _SCHEMA_KEYS:
            raise UnsupportedOption(option, f"Gemini's schema has no {key!r}")
        if key == "type":
            types = [value] if isinstance(value, str) else value
            concrete = [t for t in types if t != "null"] if isinstance(types, list) else []
            if len(concrete) != 1 or not isinstance(concrete[0], str):
                raise UnsupportedOption(option, f"Gemini's schema takes one type, not {json.dumps(value)}")
            out["type"] = concrete[0].upper()
            if len(concrete) < len(types):
                out["nullable"] = True
        elif key == "properties":
            out[key] = {name: _schema(sub, option) for name, sub in wire.strict_dict(value, "properties").items()}
        elif key == "items":
            out[key] = _schema(value, option)
        elif key == "anyOf":
            out[key] = [_schema(sub, option) for sub in wire.strict_list(value, "anyOf")]
        else:
            out[key] = value
    return dict(sorted(out.items()))


# --- reply pieces -----------------------------------------------------------------------------------


def _usage(raw: Any) -> neutral.Usage:
    """Output counts the thoughts too, as OpenAI's completion tokens do: Gemini bills them as output."""
    usage = wire.lenient_dict(raw)
    counted = wire.reported_usage(
        usage.get("promptTokenCount"),
        usage.get("candidatesTokenCount"),
        usage.get("totalTokenCount"),
        usage.get("cachedContentTokenCount"),
        usage.get("thoughtsTokenCount"),
    )
    return dataclasses.replace(counted, output_tokens=counted.output_tokens + (counted.reasoning_tokens or 0))


def _logprob(raw: Any) -> tuple[str, float]:
    entry = wire.strict_dict(raw, "logprob candidate")
    value = entry.get("logProbability", 0.0)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ApiError(ErrorKind.MALFORMED, f"logProbability is not a number: {excerpt(json.dumps(value))}")
    return wire.strict_str(entry.get("token"), "logprob token"), float(value)


def _logprobs(raw: Any) -> list[neutral.TokenLogprob]:
    """`chosenCandidates[i]` is token i; `topCandidates[i].candidates` its alternatives."""
    result = wire.strict_dict(raw, "logprobsResult")
    top = wire.strict_list(result.get("topCandidates"), "topCandidates")
    tokens = []
    for index, chosen in enumerate(wire.strict_list(result.get("chosenCandidates"), "chosenCandidates")):
        token, logprob = _logprob(chosen)
        alternatives = wire.strict_dict(top[index], "topCandidates entry").get("candidates") if index < len(top) else None
        top_tokens = tuple(_logprob(a) for a in wire.strict_list(alternatives, "candidates"))
        tokens.append(neutral.TokenLogprob(token, logprob, top_tokens))
    return tokens


# --- errors -----------------------------------------------------------------------------------------

#: Google RPC statuses whose meaning does not follow from the HTTP status alone.
_RPC_KINDS = {
    "UNAUTHENTICATED": ErrorKind.AUTH,
    "PERMISSION_DENIED": ErrorKind.AUTH,
    "NOT_FOUND": ErrorKind.NOT_FOUND,
    "RESOURCE_EXHAUSTED": ErrorKind.RATE_LIMITED,
}
#: ErrorInfo reasons for a refused key, which Gemini answers with 400 INVALID_ARGUMENT.
_AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED"})


def _envelope_error(error: dict[str, Any], status: int | None, headers: Mapping[str, str]) -> ApiError:
    """`{"error": {"code", "message", "status", "details": [...]}}`; status and details outrank the HTTP code.

    Inside a 200 stream there is no HTTP status: the envelope's `code` stands in, and
    without one the provider failed mid-answer after accepting the request.
    """
    if status is None and isinstance(error.get("code"), int):
        status = error["code"]
    default = (kind_for_status(status) if status is not None else ErrorKind.SERVER) or ErrorKind.MALFORMED
    message = error.get("message")
    message = message if isinstance(message, str) and message else excerpt(json.dumps(error))
    rpc_status = error.get("status") if isinstance(error.get("status"), str) else None
    raw_details = error.get("details")
    details = [d for d in raw_details if isinstance(d, dict)] if isinstance(raw_details, list) else []
    reasons = [d["reason"] for d in details if isinstance(d.get("reason"), str)]
    kind = _RPC_KINDS.get(rpc_status or "", default)
    if any(reason in _AUTH_REASONS for reason in reasons):
        kind = ErrorKind.AUTH
    elif "GenerateContentRequest.model" in message:
        # A model name the API cannot even parse ("bad model") is answered 400, not 404.
        kind = ErrorKind.NOT_FOUND
    retry_after = parse_retry_after(headers)
    if retry_after is None:
        retry_after = _retry_delay(details)
    return ApiError(
        kind,
        message,
        status=status,
        code=reasons[0] if reasons else rpc_status,
        retry_after=retry_after,
        has_envelope=True,
    )


def _retry_delay(details: list[dict[str, Any]]) -> float | None:
    """RetryInfo's `retryDelay`, a protobuf Duration in JSON ("3s", "0.5s")."""
    for detail in details:
        delay = detail.get("retryDelay")
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo") and isinstance(delay, str):
            try:
                return max(0.0, parse_duration(delay))
            except ValueError:
                return None
    return None
