"""The error envelopes of OpenAI's APIs and the servers that copy them, for chat completions and Responses.

One reader for every shape those servers use (OpenAI's `{"error": {...}}`, a bare string,
FastAPI's `detail`, the unwrapped `{message, code}` of vLLM, Mistral and Cerebras), so that
both dialects of OpenAI's wire classify a failure the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmprobe.dialects import wire
from llmprobe.errors import ApiError, ErrorKind, excerpt, kind_for_status, page_excerpt
from llmprobe.ratelimits import parse_retry_after, retry_after_in_message


@dataclass(frozen=True)
class Envelope:
    message: str
    code: str | None = None
    #: The status an in-stream error says it would have had (Groq's `status_code`).
    status: int | None = None


def envelope(data: Any) -> Envelope | None:
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
        return Envelope(message, str(code) if code is not None else None, status if isinstance(status, int) else None)
    if isinstance(error, str):
        return Envelope(error)
    if "detail" in data:  # FastAPI (llama-cpp-python, many proxies)
        return Envelope(_detail_message(data["detail"]))
    message = data.get("message")
    if isinstance(message, str) and message and "choices" not in data:
        # Unwrapped: vLLM and Mistral (`object: error`), Cerebras (`{message, type, param, code}`),
        # Hugging Face's router (`{code, reason, message}`).
        code = data.get("code")
        return Envelope(message, str(code) if isinstance(code, str) and code else None)
    return None


def _detail_message(detail: Any) -> str:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):  # FastAPI validation errors
        messages = [str(d["msg"]) for d in map(wire.lenient_dict, detail) if "msg" in d]
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


def _retry_after(message: str, headers: Mapping[str, str]) -> float | None:
    in_message = retry_after_in_message(message)
    return in_message if in_message is not None else parse_retry_after(headers)


def http_error(status: int, headers: Mapping[str, str], body: bytes) -> ApiError:
    """A non-2xx answer, read from its envelope (the page itself is quoted when there is none)."""
    found = envelope(wire.error_body(body))
    return ApiError(
        # Not 2xx, 4xx or 5xx (an unfollowed redirect, say): no answer in this wire format.
        _kind(status, found.code if found else None) or ErrorKind.MALFORMED,
        found.message if found else page_excerpt(body),
        status=status,
        code=found.code if found else None,
        retry_after=_retry_after(found.message if found else "", headers),
        has_envelope=found is not None,
    )


def embedded_error(envelope: Envelope) -> ApiError:
    """An error envelope inside a 2xx answer (Groq's `event: error`, proxies that keep 200)."""
    return ApiError(
        # Without a status the provider failed mid-answer after accepting the request.
        _kind(envelope.status, envelope.code) or ErrorKind.SERVER,
        envelope.message,
        status=envelope.status,
        code=envelope.code,
        has_envelope=True,
    )


def stream_error_event(data: str) -> ApiError:
    """An `event: error` in a 2xx stream: the envelope it carries, or the event itself quoted."""
    found = envelope(wire.error_body(data))
    if found is None:
        return ApiError(ErrorKind.SERVER, f"error event: {excerpt(data)}")
    return embedded_error(found)


