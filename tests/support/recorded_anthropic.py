"""The fixture server's Anthropic part: `POST /anthropic/v1/messages` answered from the recordings.

As for the other providers, a request is reduced to its probe kind from its shape
only (see `fixture_server.classify`), and a request with thinking on is answered
from the model's `_thinking` recordings, where the reference kept its thinking runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

PATH_PREFIX = "/anthropic"
RECORDINGS = "anthropic-2025-09-02"
ENDPOINT = "/v1/messages"

#: `max_tokens` at or below this marks the MaxTokens probe (16); our default cap is far above it.
MAX_TOKENS_PROBE_LIMIT = 32

_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp", "application/pdf": "pdf"}


def folder(body: Mapping[str, Any]) -> str:
    """The recordings folder of the model asked for: `<model>_thinking` when thinking is on."""
    model = str(body.get("model") or "")
    thinking = body.get("thinking")
    return f"{model}_thinking" if isinstance(thinking, Mapping) and thinking.get("type") == "enabled" else model


def classify(body: Mapping[str, Any]) -> str:
    """The cassette name of the probe this Messages request is (tool results, tools, images,
    a document, then the options), e.g. `GenStream-Tools-SquareRoot-2`."""
    mode = "GenStream" if body.get("stream") is True else "GenSync"
    blocks = [b for m in body.get("messages") or [] if isinstance(m.get("content"), list) for b in m["content"]]
    types = {block.get("type") for block in blocks}
    if "tool_result" in types:
        return f"{mode}-Tools-SquareRoot-2"
    if body.get("tools"):
        return f"{mode}-{_tools_probe(body)}"
    media = next((block for block in blocks if block.get("type") in ("image", "document")), None)
    if media is not None:
        source = media["source"]
        if source.get("type") == "text":
            from support.fixture_server import citations  # here: fixture_server imports this module

            # The source's media_type is text/plain for both documents, as recorded.
            return f"{mode}-{citations(source.get('data'))}"
        variant = "URL" if source.get("type") == "url" else "Inline"
        return f"{mode}MultiModal-{media['type'].capitalize()}-{_extension(source)}-{variant}"
    if (body.get("output_config") or {}).get("format"):
        # Structured outputs: the reference never sent them, so no recording answers this kind.
        return f"{mode}-JSONSchema"
    if body.get("stop_sequences"):
        return f"{mode}-Stop"
    limit = body.get("max_tokens")
    if isinstance(limit, int) and limit <= MAX_TOKENS_PROBE_LIMIT:
        return f"{mode}-MaxTokens"
    return f"{mode}-Text"


def _tools_probe(body: Mapping[str, Any]) -> str:
    tools = {tool.get("name"): tool for tool in body["tools"]}
    if "web_search" in tools:  # the server-side search tool (the WebSearch probe)
        return "Tools-WebSearch"
    if "best_country" in tools:
        enum = tools["best_country"].get("input_schema", {}).get("properties", {}).get("country", {}).get("enum")
        return f"Tools-ToolBias-{enum[0] if enum else 'none'}"
    return "Tools-SquareRoot-1" if _forced(body) else "Tools-SquareRoot-1-any"


def _forced(body: Mapping[str, Any]) -> bool:
    """`any` or a named tool forces the call; `auto`, `none` or no choice do not."""
    return (body.get("tool_choice") or {}).get("type") in ("any", "tool")


def _extension(source: Mapping[str, Any]) -> str:
    """The file extension the reference named the recording by: from the URL, or the inline data's type."""
    if source.get("type") == "url":
        suffix = PurePosixPath(urlsplit(source["url"]).path).suffix.removeprefix(".").lower()
        return "jpg" if suffix == "jpeg" else suffix
    return _EXTENSIONS.get(source.get("media_type", ""), "unknown")


def unforced(body: Mapping[str, Any]) -> bool:
    """A recorded Messages request that offered tools without forcing a call (`auto`): its answer
    may stand for our SquareRoot-1-any (the reference asked Sonnet with thinking on that way
    from the start, so it has no -1-any file)."""
    choice = body.get("tool_choice")
    return isinstance(choice, Mapping) and choice.get("type") == "auto"


def unknown_model(model: str) -> tuple[int, dict[str, Any]]:
    """What the API answers for a model it does not serve, as in error-cassettes/bad_model."""
    return 404, {"type": "error", "error": {"type": "not_found_error", "message": f"model: {model}"}}
