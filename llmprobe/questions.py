"""Which question a request asks: the one rule deciding whether a recording may answer a request.

A recording is evidence only for the request it recorded. Two requests ask the same
question when they name the same model, both stream or both do not, and agree on every
field that changes what the model is asked to do: the tools offered (names and parameter
schemas) and the tool choice, a tool result sent back, the response format and its
schema, seed, stop sequences, the output cap, log-probabilities and how many alternatives,
the media and documents sent, thinking on or off, and the provider's web search on or off, at most
one tool call per reply (parallel calls off), and reasoning switched off explicitly. Wording is not compared (prompts,
tool and schema descriptions), nor is anything that does not change the question: key
order, whitespace, ids, message layout, an explicit default (`tool_choice: auto` beside
tools, `stream: false`).

Each wire format spells these fields its own way; `question` reads them into one
neutral shape, so a recording and a request of the same dialect are compared field by
field, and `difference` names the first field that differs. The replay (`--replay`) and
the test suite's fixture server both ask `difference`; docs/methodology.md states the rule.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

#: The message the replay gives for a request no recording answers: unmeasured, never a verdict.
NOT_RECORDED = "not recorded"

#: Schema keywords that document a schema rather than constrain it.
_WORDING = frozenset({"description", "title", "$schema", "examples"})

Question = dict[str, object]


def question(dialect: str, body: object, *, model: str | None = None, stream: bool | None = None) -> Question:
    """The question `body` asks, in the neutral shape; `model` and `stream` for wires that carry them in the URL."""
    data: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    reader = _READERS.get(dialect, _openai)
    asked = reader(data)
    asked["model"] = model if model is not None else data.get("model")
    asked["stream"] = stream if stream is not None else data.get("stream") is True
    if asked.get("tools") and asked.get("tool_choice") is None:
        asked["tool_choice"] = "auto"
    return {key: value for key, value in sorted(asked.items()) if value not in (None, [], {}, False) or key == "stream"}


def difference(sent: Question, recorded: Question) -> str | None:
    """The first question-defining field where `sent` differs from `recorded`, or None when they ask the same."""
    for key in sorted({*sent, *recorded}):
        if sent.get(key) != recorded.get(key):
            return f"{key} is {_short(sent.get(key))}, recorded {_short(recorded.get(key))}"
    return None


def body_of(text: str) -> object:
    """A request body as JSON, or None when it is not JSON (such a request asks nothing comparable)."""
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return None


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


# --- normalising -----------------------------------------------------------------------------------


def _schema(value: object) -> object:
    """A JSON schema without its documentation, keys sorted by the comparison itself."""
    if isinstance(value, Mapping):
        return {k: _schema(v) for k, v in value.items() if k not in _WORDING}
    if isinstance(value, list):
        return [_schema(v) for v in value]
    return value


def _stop(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


#: An output cap at least this large leaves the probes' answers (a few hundred tokens at most) uncut:
#: such caps, and no cap, ask the same question. A smaller cap is a question of its own (MaxTokens asks 16).
AMPLE_CAP = 1024


def _cap(value: object) -> int | None:
    cap = _int(value)
    return None if cap is None or cap >= AMPLE_CAP else cap


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _tools(pairs: list[tuple[object, object]]) -> list[list[object]]:
    return sorted(([str(name), _schema(parameters)] for name, parameters in pairs), key=lambda pair: json.dumps(pair))


def _mime(kind: str, subtype: str) -> str:
    subtype = subtype.lower()
    return f"{kind}/{ {'jpg': 'jpeg', 'mp3': 'mpeg'}.get(subtype, subtype)}"


def _url_mime(url: str, kind: str = "image") -> str:
    """`data:` URLs carry their type; a link's file extension names it."""
    if url.startswith("data:"):
        mime = url.removeprefix("data:").split(";", 1)[0].split(",", 1)[0]
        major, _, minor = mime.partition("/")
        return _mime(major, minor) + " inline"
    suffix = re.sub(r"[?#].*$", "", url).rpartition(".")[2]
    return _mime(kind, suffix) + " url"


def _text(value: object) -> str:
    """Text compared without regard to whitespace."""
    return " ".join(str(value).split())


# --- one reader per wire format --------------------------------------------------------------------


def _openai_choice(choice: object) -> object:
    if isinstance(choice, Mapping):
        name = (choice.get("function") or {}).get("name") if isinstance(choice.get("function"), Mapping) else choice.get("name")
        return f"function {name}"
    return choice if isinstance(choice, str) and choice else None


def _openai_format(value: object) -> object:
    if not isinstance(value, Mapping):
        return None
    kind = value.get("type")
    if kind != "json_schema":
        return kind
    spec = _map(value.get("json_schema")) or value
    # The schema is compared wherever the request placed it: the reference's client wrote its
    # fields straight into `json_schema`, beside the name, instead of under `schema`.
    schema = _map(spec.get("schema")) or {k: v for k, v in spec.items() if k not in ("name", "strict")}
    return ["json_schema", _schema(schema)]


def _openai(body: Mapping[str, Any]) -> Question:
    """Chat completions, and the wires shaped like it (Workers AI, Cohere v2, Ollama's messages)."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, Mapping)]
    tools = [t.get("function") or t for t in body.get("tools") or [] if isinstance(t, Mapping)]
    thinking = _soft_switch(messages)
    messages = [m for m in messages if not _is_switch(m)]
    media: list[str] = []
    documents: list[str] = []
    for message in messages:
        content = message.get("content")
        parts = content if isinstance(content, list) else []
        texts = [p.get("text") for p in parts if isinstance(p, Mapping) and p.get("type") == "text"]
        texts = [text for text in texts if not _is_switch_text(text)]
        for part in parts:
            if isinstance(part, Mapping) and part.get("type") == "image_url":
                image = part.get("image_url")
                url = image.get("url") if isinstance(image, Mapping) else image
                media.append(_url_mime(str(url)))
            elif isinstance(part, Mapping) and part.get("type") == "document_url":
                media.append(_url_mime(str(part.get("document_url")), "application"))
            elif isinstance(part, Mapping) and part.get("type") in _OPENAI_MEDIA:
                media.append(_OPENAI_MEDIA[str(part["type"])](part.get(part["type"])))
        if message.get("role") == "user" and len(texts) >= 2:
            documents.append(_text(texts[0]))
        for image in message.get("images") or []:
            media.append(_base64_mime(str(image)))
    documents.extend(_consecutive_user_document(messages))
    documents.extend(
        _text((d.get("data") or {}).get("snippet") if isinstance(d.get("data"), Mapping) else d.get("text"))
        for d in body.get("documents") or []
        if isinstance(d, Mapping)
    )
    options = _map(body.get("options")) or body
    fmt = body.get("format")
    response_format = _openai_format(body.get("response_format"))
    if fmt == "json":
        response_format = "json_object"
    elif isinstance(fmt, Mapping):
        response_format = ["json_schema", _schema(fmt)]
    logprobs = body.get("logprobs")
    return {
        # Not `arguments`, where the reference's client put the schema for Hugging Face: the server
        # reads `parameters` only, so that model was offered a tool without parameters (D16).
        "tools": _tools([(t.get("name"), t.get("parameters")) for t in tools]),
        "tool_choice": _openai_choice(body.get("tool_choice")),
        "tool_result": any(m.get("role") == "tool" for m in messages),
        "response_format": response_format,
        "seed": _int(options.get("seed", body.get("random_seed"))),
        "stop": _stop(options.get("stop", body.get("stop_sequences"))),
        "max_tokens": _cap(body.get("max_completion_tokens", body.get("max_tokens", options.get("num_predict")))),
        "logprobs": bool(logprobs) or _int(body.get("top_logprobs")) is not None,
        # Together counts the alternatives in `logprobs` itself.
        "top_logprobs": _int(body.get("top_logprobs")) if _int(logprobs) is None else _int(logprobs),
        "media": media,
        "documents": documents,
        "thinking": thinking if thinking is not None else _openai_thinking(body),
        "web_search": isinstance(body.get("web_search_options"), Mapping),
        "parallel_calls_off": body.get("parallel_tool_calls") is False,
        "reasoning_off": _openai_reasoning_off(body),
    }


def _openai_reasoning_off(body: Mapping[str, Any]) -> bool:
    """Reasoning switched off in the chat wires' spellings: the effort `none`, Ollama's `think: false`,
    Cohere's disabled `thinking`."""
    thinking = body.get("thinking")
    disabled = isinstance(thinking, Mapping) and thinking.get("type") == "disabled"
    return body.get("reasoning_effort") == "none" or body.get("think") is False or disabled


def _consecutive_user_document(messages: list[Mapping[str, Any]]) -> list[str]:
    """A document sent as a user message of its own, just before the question (string-only wires)."""
    for first, second in zip(messages, messages[1:], strict=False):
        if first.get("role") == second.get("role") == "user" and isinstance(first.get("content"), str):
            return [_text(first["content"])]
    return []


#: A file's type by its first bytes, for the wires that send bare base64 (Ollama's images,
#: Mistral's input_audio). RIFF holds both WebP and WAVE: bytes 8-12 tell them apart.
_MAGIC = (
    (b"\x89PNG", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"ID3", "audio/mpeg"),
    (b"\xff\xfb", "audio/mpeg"),
    (b"\xff\xf1", "audio/aac"),
    (b"fLaC", "audio/flac"),
    (b"OggS", "audio/ogg"),
    (b"%PDF", "application/pdf"),
)
_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav"}


def _base64_mime(data: str) -> str:
    try:
        head = base64.b64decode(data[:16])
    except (binascii.Error, ValueError):
        return "unknown inline"
    if head.startswith(b"RIFF"):
        return _RIFF.get(head[8:12], "unknown") + " inline"
    return next((f"{mime} inline" for magic, mime in _MAGIC if head.startswith(magic)), "unknown inline")


def _input_audio(value: object) -> str:
    """OpenAI's {data, format} names its format; Mistral's bare base64 is told by its bytes."""
    if isinstance(value, Mapping):
        return _mime("audio", str(value.get("format", ""))) + " inline"
    return _base64_mime(str(value))


def _file(value: object) -> str:
    return _url_mime(str(_map(value).get("file_data", "")), "application")


def _audio_url(value: object) -> str:
    return _url_mime(str(_map(value).get("url", "")), "audio")


#: The chat wires' media parts beyond image_url and document_url, by part type.
_OPENAI_MEDIA: dict[str, Callable[[object], str]] = {"input_audio": _input_audio, "file": _file, "audio_url": _audio_url}


def _openai_thinking(body: Mapping[str, Any]) -> bool:
    """Thinking switched on in the chat wires' spellings (Ollama `think`, Cohere `thinking`).

    `reasoning_effort` is a budget, like the output cap, not a switch: the models that take it
    always reason.
    """
    thinking = body.get("thinking")
    return body.get("think") is True or (isinstance(thinking, Mapping) and thinking.get("type") == "enabled")


#: Qwen3's soft switches, sent by the reference as a user message of their own after the question.
_SWITCHES = {"/think": None, "/no_think": False}


def _is_switch_text(text: object) -> bool:
    return isinstance(text, str) and text.strip() in _SWITCHES


def _is_switch(message: Mapping[str, Any]) -> bool:
    return message.get("role") == "user" and _is_switch_text(message.get("content"))


def _soft_switch(messages: list[Mapping[str, Any]]) -> bool | None:
    """False for `/no_think`, whether a message or a text part of its own; `/think` asks for the
    hybrid models' default (thinking), so it asks nothing."""
    texts = [m.get("content") for m in messages if m.get("role") == "user"]
    parts = [p for m in messages if isinstance(m.get("content"), list) for p in m["content"] if isinstance(p, Mapping)]
    texts += [p.get("text") for p in parts]
    found = [_SWITCHES[str(text).strip()] for text in texts if _is_switch_text(text)]
    return found[-1] if found else None


def _anthropic(body: Mapping[str, Any]) -> Question:
    messages = [m for m in body.get("messages") or [] if isinstance(m, Mapping)]
    blocks = [b for m in messages if isinstance(m.get("content"), list) for b in m["content"] if isinstance(b, Mapping)]
    media: list[str] = []
    documents: list[str] = []
    for block in blocks:
        source = _map(block.get("source"))
        if block.get("type") in ("image", "document"):
            if source.get("type") == "text":
                documents.append(_text(source.get("data")))
            elif source.get("type") == "url":
                media.append(_url_mime(str(source.get("url")), "image" if block["type"] == "image" else "application"))
            else:
                major, _, minor = str(source.get("media_type", "")).partition("/")
                media.append(_mime(major, minor) + " inline")
    choice = body.get("tool_choice")
    kind = choice.get("type") if isinstance(choice, Mapping) else None
    thinking = body.get("thinking")
    tools = [t for t in body.get("tools") or [] if isinstance(t, Mapping)]
    functions = [t for t in tools if not _is_server_search(t.get("type"))]
    return {
        "tools": _tools([(t.get("name"), t.get("input_schema")) for t in functions]),
        "tool_choice": {"any": "required", "tool": f"function {choice.get('name') if isinstance(choice, Mapping) else ''}"}.get(
            str(kind), kind
        ),
        "tool_result": any(b.get("type") == "tool_result" for b in blocks),
        "stop": _stop(body.get("stop_sequences")),
        "max_tokens": _cap(body.get("max_tokens")),
        "media": media,
        "documents": documents,
        # Thinking `disabled` is the API's default (the reference sent it on every row without thinking).
        "thinking": isinstance(thinking, Mapping) and thinking.get("type") == "enabled",
        "web_search": len(functions) < len(tools),
        "parallel_calls_off": isinstance(choice, Mapping) and choice.get("disable_parallel_tool_use") is True,
    }


def _is_server_search(kind: object) -> bool:
    """A search tool the provider runs itself: Anthropic's `web_search_<version>`, the Responses
    API's `web_search` (and its `web_search_preview`)."""
    return isinstance(kind, str) and kind.startswith("web_search")


def _responses(body: Mapping[str, Any]) -> Question:
    items = [item for item in body.get("input") or [] if isinstance(item, Mapping)]
    parts = [p for item in items if isinstance(item.get("content"), list) for p in item["content"] if isinstance(p, Mapping)]
    media = [_url_mime(str(p.get("image_url"))) for p in parts if p.get("type") == "input_image"]
    files = [p for p in parts if p.get("type") == "input_file"]
    media += [_url_mime(str(p.get("file_data") or p.get("file_url") or ""), "application") for p in files]
    texts = [p.get("text") for p in parts if p.get("type") == "input_text"]
    text_format = (body.get("text") or {}).get("format") if isinstance(body.get("text"), Mapping) else None
    response_format: object = None
    if isinstance(text_format, Mapping):
        response_format = text_format.get("type")
        if response_format == "json_schema":
            response_format = ["json_schema", _schema(text_format.get("schema"))]
    tools = [t for t in body.get("tools") or [] if isinstance(t, Mapping)]
    functions = [t for t in tools if not _is_server_search(t.get("type"))]
    reasoning = body.get("reasoning")
    return {
        "tools": _tools([(t.get("name") or t.get("type"), t.get("parameters")) for t in functions]),
        "tool_choice": _openai_choice(body.get("tool_choice")),
        "tool_result": any(item.get("type") == "function_call_output" for item in items),
        "response_format": response_format if response_format != "text" else None,
        "max_tokens": _cap(body.get("max_output_tokens")),
        "logprobs": _int(body.get("top_logprobs")) is not None,
        "top_logprobs": _int(body.get("top_logprobs")),
        "media": media,
        "documents": [_text(texts[0])] if len(texts) >= 2 else [],
        "thinking": isinstance(reasoning, Mapping) and reasoning.get("summary") not in (None, "", "none"),
        "web_search": len(functions) < len(tools),
        "parallel_calls_off": body.get("parallel_tool_calls") is False,
        "reasoning_off": isinstance(reasoning, Mapping) and reasoning.get("effort") == "none",
    }


def _gemini(body: Mapping[str, Any]) -> Question:
    contents = [c for c in body.get("contents") or [] if isinstance(c, Mapping)]
    parts = [p for c in contents for p in c.get("parts") or [] if isinstance(p, Mapping)]
    media: list[str] = []
    for part in parts:
        if isinstance(part.get("inlineData"), Mapping):
            major, _, minor = str(part["inlineData"].get("mimeType", "")).partition("/")
            media.append(_mime(major, minor) + " inline")
        elif isinstance(part.get("fileData"), Mapping):
            major = str(part["fileData"].get("mimeType", "")).partition("/")[0] or "image"
            media.append(_url_mime(str(part["fileData"].get("fileUri", "")), major))
    texts = [[p["text"] for p in c.get("parts") or [] if isinstance(p, Mapping) and "text" in p] for c in contents]
    config = _map(body.get("generationConfig"))
    schema = config.get("responseSchema", config.get("responseJsonSchema"))
    response_format: object = None
    if schema is not None:
        response_format = ["json_schema", _schema(schema)]
    elif config.get("responseMimeType") == "application/json":
        response_format = "json_object"
    tools = [t for t in body.get("tools") or [] if isinstance(t, Mapping)]
    declarations = [d for t in tools for d in t.get("functionDeclarations") or [] if isinstance(d, Mapping)]
    other_tools = [key for t in tools for key in t if key not in ("functionDeclarations", *_GOOGLE_SEARCH)]
    calling = _map(_map(body.get("toolConfig")).get("functionCallingConfig"))
    mode = str(calling.get("mode", "")).lower() or None
    allowed = calling.get("allowedFunctionNames")
    choice = {"any": "required"}.get(str(mode), mode)
    if choice == "required" and isinstance(allowed, list) and len(allowed) == 1:
        choice = f"function {allowed[0]}"
    thinking = _map(config.get("thinkingConfig"))
    return {
        "tools": _tools([(d.get("name"), d.get("parameters", d.get("parametersJsonSchema"))) for d in declarations])
        + [[key, None] for key in other_tools],
        "tool_choice": choice,
        "tool_result": any("functionResponse" in p for p in parts),
        "response_format": response_format,
        "seed": _int(config.get("seed")),
        "stop": _stop(config.get("stopSequences")),
        "max_tokens": _cap(config.get("maxOutputTokens")),
        "logprobs": config.get("responseLogprobs") is True,
        "top_logprobs": _int(config.get("logprobs")),
        "media": media,
        "documents": [_text(t[0]) for t in texts if len(t) >= 2],
        "thinking": thinking.get("includeThoughts") is True,
        "web_search": any(key in _GOOGLE_SEARCH for t in tools for key in t),
    }


#: Gemini's search tool, in the REST API's two spellings.
_GOOGLE_SEARCH = ("googleSearch", "google_search")


_READERS: dict[str, Callable[[Mapping[str, Any]], Question]] = {
    "openai": _openai,
    "cloudflare": _openai,
    "cohere": _openai,
    "ollama": _openai,
    "anthropic": _anthropic,
    "openai-responses": _responses,
    "gemini": _gemini,
}
