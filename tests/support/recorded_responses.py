"""The fixture server's OpenAI Responses part: where the API lives, which recording answers a request.

Like the chat-completions classifier in `fixture_server`, a request is reduced to its
probe kind from its shape alone (input items, tools, `text.format`, options), never
from its prompt, and the recording of that kind is played back.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

NAME = "openairesponses"
PATH_PREFIX = "/openairesponses/v1"
ENDPOINT = "/responses"
RECORDINGS = "openairesponses-2025-09-03"
#: The reference's MaxTokens probe asks for 16; anything larger is an ordinary cap.
MAX_TOKENS_PROBE_LIMIT = 32


def classify(body: Mapping[str, Any]) -> str:
    """The cassette name (without `.yaml`) of the probe this Responses request is."""
    mode = "GenStream" if body.get("stream") is True else "GenSync"
    items = [item for item in body.get("input") or [] if isinstance(item, Mapping)]
    if any(item.get("type") == "function_call_output" for item in items):
        return f"{mode}-Tools-SquareRoot-2"
    tools = {tool.get("name"): tool for tool in body.get("tools") or [] if isinstance(tool, Mapping)}
    if "best_country" in tools:
        enum = tools["best_country"].get("parameters", {}).get("properties", {}).get("country", {}).get("enum")
        return f"{mode}-Tools-ToolBias-{enum[0] if enum else 'none'}"
    if any(isinstance(tool, Mapping) and tool.get("type") == "web_search" for tool in body.get("tools") or []):
        return f"{mode}-Tools-WebSearch"
    if "square_root" in tools:
        return f"{mode}-Tools-SquareRoot-1" if body.get("tool_choice") == "required" else f"{mode}-Tools-SquareRoot-1-any"
    parts = [part for item in items for part in item.get("content") or [] if isinstance(part, Mapping)]
    image = next((part["image_url"] for part in parts if part.get("type") == "input_image"), None)
    if isinstance(image, str):
        return f"{mode}MultiModal-Image-{_image_kind(image)}"
    document = next((part for part in parts if part.get("type") == "input_file"), None)
    if document is not None:
        return f"{mode}MultiModal-{_file_kind(document)}"
    text_format = (body.get("text") or {}).get("format", {}).get("type")
    if text_format == "json_object":
        return f"{mode}-JSON"
    if text_format == "json_schema":
        return f"{mode}-JSONSchema"
    if body.get("top_logprobs") is not None:
        return f"{mode}-TopLogprobs"
    limit = body.get("max_output_tokens")
    if isinstance(limit, int) and limit <= MAX_TOKENS_PROBE_LIMIT:
        return f"{mode}-MaxTokens"
    texts = [part.get("text") for part in parts if part.get("type") == "input_text"]
    if len(texts) >= 2:
        from support.fixture_server import citations  # here: fixture_server imports this module

        return f"{mode}-{citations(texts[0])}"
    return f"{mode}-Text"


def _image_kind(url: str) -> str:
    if url.startswith("data:"):
        mime = url.removeprefix("data:").split(";", 1)[0]
        return f"{_extension(mime.rpartition('/')[2])}-Inline"
    return f"{_extension(PurePosixPath(urlsplit(url).path).suffix.removeprefix('.'))}-URL"


def _file_kind(part: Mapping[str, Any]) -> str:
    """`Audio-mp3-Inline`, `Document-pdf-Inline`…: the reference sent audio and video as files too."""
    mime = str(part.get("file_data", "")).removeprefix("data:").split(";", 1)[0]
    kind = {"audio": "Audio", "video": "Video"}.get(mime.partition("/")[0], "Document")
    return f"{kind}-{_extension(PurePosixPath(str(part.get('filename', ''))).suffix.removeprefix('.'))}-Inline"


def _extension(name: str) -> str:
    return {"jpeg": "jpg"}.get(name.lower(), name.lower())


def unknown_model(model: str) -> tuple[int, dict[str, Any]]:
    """OpenAI's answer to a model it does not serve, as in error-cassettes/bad_model: a 400, not a 404."""
    error = {
        "message": f"The requested model '{model}' does not exist.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    return 400, {"error": error}
