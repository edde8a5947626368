"""The fixture server's Gemini part: answering `models/{model}:generateContent` from the recordings.

Like the rest of `fixture_server`, a request is reduced to its probe kind from its
shape alone (never its prompt) and the recording of that kind is played back. Gemini
puts the model and the stream in the URL, not the body, and asks for thoughts in
`generationConfig.thinkingConfig`: a request with `includeThoughts` is answered from
the model's `_thinking` recordings, one without from its plain ones; a model recorded
only one way (gemini-2.5-pro, with thinking) answers only requests asking that way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from support.fixture_server import FixtureServer, _Handler

PATH_PREFIX = "/gemini/v1beta"
RECORDINGS = "gemini-2025-09-02"

_ROUTE = re.compile(
    rf"^{re.escape(PATH_PREFIX)}/models/(?P<model>[^:/]+):(?P<method>generateContent|streamGenerateContent)$"
)
_EXTENSION_ALIASES = {"jpeg": "jpg", "mpeg": "mp3"}
_MEDIA_KINDS = {"image": "Image", "audio": "Audio", "video": "Video", "application": "Document"}


def base_url(server: FixtureServer) -> str:
    """What to pass as `--base-url` for the recorded Gemini."""
    return f"http://127.0.0.1:{server.port}{PATH_PREFIX}"


def route(path: str) -> tuple[str, bool] | None:
    """(model, streamed) for a generate URL under this server's Gemini prefix, else None."""
    url = urlsplit(path)
    match = _ROUTE.match(url.path)
    if match is None:
        return None
    stream = match["method"] == "streamGenerateContent"
    if stream and url.query != "alt=sse":
        return None  # without alt=sse Gemini streams a JSON array, which nothing here records
    return unquote(match["model"]), stream


def classify(body: Mapping[str, Any], stream: bool) -> str:
    """The cassette name (without `.yaml`) of the probe this Gemini request is, e.g. `GenStream-Seed`.

    The same order as `fixture_server.classify`: tool result, tools, media part,
    options (most specific first), then the document (two text parts in one turn).
    """
    mode = "GenStream" if stream else "GenSync"
    parts = [p for c in body.get("contents") or [] for p in c.get("parts") or []]
    if any("functionResponse" in part for part in parts):
        return f"{mode}-Tools-SquareRoot-2"
    if body.get("tools"):
        return f"{mode}-{_tools_probe(body)}"
    if media := _media_probe(parts):
        return f"{mode}MultiModal-{media}"
    config = body.get("generationConfig") or {}
    if config.get("responseSchema") is not None or config.get("responseJsonSchema") is not None:
        return f"{mode}-JSONSchema"
    if config.get("responseMimeType") == "application/json":
        return f"{mode}-JSON"
    if config.get("stopSequences"):
        return f"{mode}-Stop"
    if config.get("responseLogprobs"):
        return f"{mode}-TopLogprobs"
    limit = config.get("maxOutputTokens")
    if isinstance(limit, int) and limit <= 32:
        return f"{mode}-MaxTokens"
    if config.get("seed") is not None:
        return f"{mode}-Seed"
    texts = [[p["text"] for p in c.get("parts") or [] if "text" in p] for c in body.get("contents") or []]
    document = next((t[0] for t in texts if len(t) >= 2), None)
    if document is None:
        return f"{mode}-Text"
    from support.fixture_server import citations  # here: fixture_server imports this module

    return f"{mode}-{citations(document)}"


def wants_thinking(body: Mapping[str, Any]) -> bool:
    return bool(((body.get("generationConfig") or {}).get("thinkingConfig") or {}).get("includeThoughts"))


def _tools_probe(body: Mapping[str, Any]) -> str:
    declarations = {d.get("name", ""): d for t in body["tools"] for d in t.get("functionDeclarations") or []}
    if "best_country" in declarations:
        country = declarations["best_country"].get("parameters", {}).get("properties", {}).get("country", {})
        return f"Tools-ToolBias-{(country.get('enum') or ['none'])[0]}"
    if "square_root" in declarations:
        mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
        return "Tools-SquareRoot-1" if mode == "ANY" else "Tools-SquareRoot-1-any"
    if any("googleSearch" in t for t in body["tools"]):
        return "Tools-WebSearch"
    return f"Tools-{next(iter(declarations), 'none')}"


def _media_probe(parts: list[Mapping[str, Any]]) -> str | None:
    """`<Image|Audio|Video|Document>-<ext>-<Inline|URL>` for the first media part, as the reference named them."""
    for part in parts:
        for key, variant in (("inlineData", "Inline"), ("fileData", "URL")):
            if key in part:
                media = part[key]
                kind, _, subtype = str(media.get("mimeType", "")).partition("/")
                if variant == "URL":
                    subtype = PurePosixPath(urlsplit(media.get("fileUri", "")).path).suffix[1:]
                ext = _EXTENSION_ALIASES.get(subtype.lower(), subtype.lower())
                return f"{_MEDIA_KINDS.get(kind, kind.title())}-{ext}-{variant}"
    return None


def answer(handler: _Handler) -> None:
    """Serve one POST to a Gemini URL: the recording of its kind, the provider's 404 for an
    unknown model, or a plain 501 where no recording exists (unmeasured, never "unsupported")."""
    from support.fixture_server import Provider, find_cassette

    provider = Provider("gemini", "gemini", PATH_PREFIX, RECORDINGS)
    routed = route(handler.path)
    if routed is None:
        handler._send_text(404, f"no route for {handler.path}")
        return
    model, stream = routed
    body = handler.json_body()
    if body is None:
        return
    preferred = f"{model}_thinking" if wants_thinking(body) else model
    model_dir = handler.server.model_dir(provider, preferred) or handler.server.model_dir(provider, model)
    if model_dir is None:
        handler.server.record_served(provider.name, model, None)
        message = (
            f"models/{model} is not found for API version v1beta, or is not supported for generateContent. "
            "Call ListModels to see the list of available models and their supported methods."
        )
        handler._send_json(404, {"error": {"code": 404, "message": message, "status": "NOT_FOUND"}})
        return
    kind = classify(body, stream)
    # -1-any is only recorded when forcing failed; never answer it with the forced recording.
    cassette: Path | None = model_dir / f"{kind}.yaml" if kind.endswith("-any") else find_cassette(model_dir, kind)
    if cassette is not None and not cassette.is_file():
        cassette = None
    handler.answer(provider, model, cassette, body, kind, {"model": model, "stream": stream})
