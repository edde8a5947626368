"""Cohere's part of the fixture server: its route, which cassette a request body asks for, its unknown-model answer.

A Cohere v2 body is close to OpenAI's: the same tool, image and `response_format`
shapes, `max_tokens`, `seed` and `logprobs`. It differs in two places only: stop
sequences are `stop_sequences`, and the Citations probe's document travels in
`documents`, beside the messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from support.fixture_server import citations
from support.fixture_server import classify as classify_openai

ENDPOINT = "/v2/chat"


def classify(body: Mapping[str, Any]) -> str:
    """The cassette name (without `.yaml`) of the probe this `/v2/chat` body is, from its shape only."""
    kind = classify_openai("openai", {**body, "stop": body.get("stop_sequences")})
    documents = body.get("documents")
    if kind.endswith("-Text") and isinstance(documents, list) and documents and isinstance(documents[0], Mapping):
        document = documents[0]
        return kind.removesuffix("-Text") + "-" + citations((document.get("data") or {}).get("snippet"), document.get("id"))
    return kind


def unknown_model(model: str) -> tuple[int, dict[str, Any]]:
    """As recorded in error-cassettes/bad_model."""
    message = f"model '{model}' not found, make sure the correct model ID was used and that you have access to the model."
    return 404, {"id": "00000000-0000-0000-0000-000000000000", "message": message}
