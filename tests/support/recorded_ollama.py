"""Ollama's part of the fixture server: its route, which cassette a request body asks for, its unknown-model answer.

Ollama's options live under `options` and `format`, images are base64 strings in a
message's `images`, and a document is a user message of its own (content holds one
string), so the generic classifier's reading of OpenAI bodies does not apply; the
tool shapes are OpenAI's, so that part is shared.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from support.fixture_server import MAX_TOKENS_PROBE_LIMIT, _document, _tools_probe, citations

ENDPOINT = "/api/chat"

#: The first bytes of each picture format the battery sends, and the extension the reference named it by.
_MAGIC = ((b"\x89PNG", "png"), (b"\xff\xd8\xff", "jpg"), (b"GIF8", "gif"), (b"RIFF", "webp"))


def classify(body: Mapping[str, Any]) -> str:
    """The cassette name (without `.yaml`) of the probe this `/api/chat` body is, from its shape only."""
    mode = "GenStream" if body.get("stream") is True else "GenSync"
    messages: list[Mapping[str, Any]] = body.get("messages") or []
    if any(message.get("role") == "tool" for message in messages):
        return f"{mode}-Tools-SquareRoot-2"
    if body.get("tools"):
        # Ollama has no tool_choice: every SquareRoot-1 is the unforced -1-any.
        return f"{mode}-{_tools_probe(body)}"
    images = [image for message in messages for image in message.get("images") or []]
    if images:
        return f"{mode}MultiModal-Image-{_extension(images[0])}-Inline"
    options: Mapping[str, Any] = body.get("options") or {}
    limit = options.get("num_predict")
    if body.get("format") == "json":
        probe = "JSON"
    elif isinstance(body.get("format"), dict):
        probe = "JSONSchema"
    elif options.get("stop"):
        probe = "Stop"
    elif body.get("logprobs"):
        probe = "TopLogprobs"
    elif isinstance(limit, int) and limit <= MAX_TOKENS_PROBE_LIMIT:
        probe = "MaxTokens"
    elif options.get("seed") is not None:
        probe = "Seed"
    elif (document := _document("ollama", messages)) is not None:
        # The document and the question, each a user message of its own.
        probe = citations(document)
    else:
        probe = "Text"
    return f"{mode}-{probe}"


def _extension(image: str) -> str:
    try:
        head = base64.b64decode(image[:16])
    except (binascii.Error, ValueError):
        return "unknown"
    return next((ext for magic, ext in _MAGIC if head.startswith(magic)), "unknown")


def unknown_model(model: str) -> tuple[int, dict[str, Any]]:
    """As recorded in error-cassettes/bad_model."""
    return 404, {"error": f'model "{model}" not found, try pulling it first'}
