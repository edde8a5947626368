"""The same hostile replies in each registered dialect's wire format, for the table-driven suites.

For every dialect: a plain answer ("Hello.") whose every token counter is a given JSON value
(so a test can make them negative, or strings), sync and streamed, and the dialect's own
error envelope saying "overloaded", sync and as a stream event. Streams are given as the
bytes a server sends (SSE, or NDJSON for Ollama) and as the events the client hands the
dialect's parser.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmprobe.sse import SseEvent


@dataclass(frozen=True)
class Wire:
    #: A sync answer "Hello." whose token counters all hold this value.
    answer: Callable[[Any], dict]
    #: The same answer as stream events: (event name or "", data).
    streamed: Callable[[Any], list[tuple[str, dict | str]]]
    #: The dialect's error envelope saying "overloaded".
    envelope: dict
    ndjson: bool = False
    #: providers.yaml fields the dialect needs beyond api, base_url and api_key_env.
    config: Callable[[str], dict] = lambda base_url: {"base_url": base_url}


def _openai(u: Any) -> dict:
    return {
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": u, "completion_tokens": u, "total_tokens": u},
    }


def _openai_stream(u: Any) -> list[tuple[str, dict | str]]:
    return [
        ("", {"choices": [{"index": 0, "delta": {"content": "Hello."}}]}),
        ("", {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        ("", {"choices": [], "usage": {"prompt_tokens": u, "completion_tokens": u, "total_tokens": u}}),
        ("", "[DONE]"),
    ]


def _responses(u: Any) -> dict:
    return {
        "object": "response",
        "status": "completed",
        "output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello."}]}],
        "usage": {"input_tokens": u, "output_tokens": u, "total_tokens": u},
    }


def _responses_stream(u: Any) -> list[tuple[str, dict | str]]:
    return [
        ("response.output_text.delta", {"type": "response.output_text.delta", "delta": "Hello."}),
        ("response.completed", {"type": "response.completed", "response": _responses(u)}),
    ]


def _anthropic(u: Any) -> dict:
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "Hello."}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": u, "output_tokens": u},
    }


def _anthropic_stream(u: Any) -> list[tuple[str, dict | str]]:
    return [
        ("message_start", {"type": "message_start", "message": {"type": "message", "content": [], "usage": {"input_tokens": u}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello."}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": u}}),
        ("message_stop", {"type": "message_stop"}),
    ]


def _gemini(u: Any) -> dict:
    return {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Hello."}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": u, "candidatesTokenCount": u, "totalTokenCount": u},
    }


def _ollama(u: Any, text: str = "Hello.") -> dict:
    return {"model": "m", "message": {"role": "assistant", "content": text}, "done": True, "done_reason": "stop",
            "prompt_eval_count": u, "eval_count": u}


def _cohere(u: Any) -> dict:
    return {
        "id": "c",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "Hello."}]},
        "finish_reason": "COMPLETE",
        "usage": {"tokens": {"input_tokens": u, "output_tokens": u}},
    }


def _cohere_stream(u: Any) -> list[tuple[str, dict | str]]:
    return [
        ("message-start", {"type": "message-start", "delta": {"message": {"role": "assistant"}}}),
        ("content-delta", {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hello."}}}}),
        ("message-end", {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": {"tokens": {"input_tokens": u, "output_tokens": u}}}}),
    ]


def _cloudflare(u: Any) -> dict:
    usage = {"prompt_tokens": u, "completion_tokens": u, "total_tokens": u}
    return {"result": {"response": "Hello.", "usage": usage}, "success": True, "errors": [], "messages": []}


def _cloudflare_stream(u: Any) -> list[tuple[str, dict | str]]:
    usage = {"prompt_tokens": u, "completion_tokens": u, "total_tokens": u}
    return [("", {"response": "Hello."}), ("", {"response": "", "usage": usage}), ("", "[DONE]")]


OPENAI_ENVELOPE = {"error": {"message": "overloaded", "type": "server_error"}}

WIRES: dict[str, Wire] = {
    "openai": Wire(_openai, _openai_stream, OPENAI_ENVELOPE),
    "openai-responses": Wire(_responses, _responses_stream, OPENAI_ENVELOPE),
    "anthropic": Wire(_anthropic, _anthropic_stream, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    "gemini": Wire(_gemini, lambda u: [("", _gemini(u))], {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}),
    "ollama": Wire(_ollama, lambda u: [("", {"message": {"role": "assistant", "content": "Hello."}, "done": False}), ("", _ollama(u, ""))],
                   {"error": "overloaded"}, ndjson=True),
    "cohere": Wire(_cohere, _cohere_stream, {"id": "c", "message": "overloaded"}),
    "cloudflare": Wire(
        _cloudflare,
        _cloudflare_stream,
        {"result": None, "success": False, "errors": [{"code": 3043, "message": "overloaded"}], "messages": []},
        config=lambda base_url: {"base_url": base_url + "/{account_id}/ai", "account_id_env": "HOSTILE_ACCOUNT"},
    ),
}


def events(steps: list[tuple[str, dict | str]]) -> list[SseEvent]:
    """The stream as the client hands it to the dialect's parser."""
    return [SseEvent(data if isinstance(data, str) else json.dumps(data), name or "message") for name, data in steps]


def stream_bytes(wire: Wire, steps: list[tuple[str, dict | str]]) -> bytes:
    """The stream as a server sends it."""
    if wire.ndjson:
        return b"".join(json.dumps(data).encode() + b"\n" for _, data in steps)
    text = ""
    for name, data in steps:
        text += (f"event: {name}\n" if name else "") + f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"
    return text.encode()
