"""The fixture server's Gemini part: every recorded request classified as its own file, and HTTP round trips."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import FIXTURES, needs_fixtures
from llmprobe.cassettes import load_cassette
from support.recorded_gemini import RECORDINGS, base_url, classify, route, wants_thinking

GEMINI = FIXTURES / RECORDINGS

FLASH = "gemini-2.5-flash"


@needs_fixtures
def test_every_recorded_request_is_classified_as_its_own_file() -> None:
    wrong = []
    paths = sorted((GEMINI / "scoreboard-cassettes").glob("*/Gen[SC]*.yaml"))
    assert len(paths) == 356
    for path in paths:
        recorded = load_cassette(path).interactions[0]
        routed = route(recorded.url.replace("https://generativelanguage.googleapis.com/", "/gemini/"))
        assert routed is not None, path
        model, stream = routed
        assert model == path.parent.name.removesuffix("_thinking")
        body = json.loads(recorded.request_body)
        assert wants_thinking(body) == path.parent.name.endswith("_thinking")
        if classify(body, stream) != path.stem:
            wrong.append((path.parent.name, path.stem, classify(body, stream)))
    assert wrong == []


@pytest.mark.parametrize(
    "path",
    ["/gemini/v1beta/models/m:streamGenerateContent", "/gemini/v1beta/models/m:countTokens", "/gemini/v1beta/models"],
)
def test_other_urls_are_not_routed(path: str) -> None:
    assert route(path) is None


def test_unforced_square_root_is_its_own_kind() -> None:
    tools = [{"functionDeclarations": [{"name": "square_root", "parameters": {}}]}]
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "root"}]}], "tools": tools}
    assert classify(body, False) == "GenSync-Tools-SquareRoot-1-any"
    body["toolConfig"] = {"functionCallingConfig": {"mode": "AUTO"}}
    assert classify(body, True) == "GenStream-Tools-SquareRoot-1-any"


# --- HTTP round trips ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    from support.fixture_server import FixtureServer

    with FixtureServer() as running:
        yield running


def hello(*, thinking: bool) -> dict[str, Any]:
    thinking_config = {"includeThoughts": thinking, "thinkingBudget": 512 if thinking else 0}
    config = {"responseModalities": ["TEXT"], "thinkingConfig": thinking_config}
    return {"contents": [{"role": "user", "parts": [{"text": "Say hello."}]}], "generationConfig": config}


def test_sync_answers_from_the_plain_or_the_thinking_recordings(server: Any) -> None:
    url = f"{base_url(server)}/models/{FLASH}:generateContent"
    plain = httpx.post(url, json=hello(thinking=False)).json()
    thinking = httpx.post(url, json=hello(thinking=True)).json()
    assert [p.get("thought", False) for p in plain["candidates"][0]["content"]["parts"]] == [False]
    assert [p.get("thought", False) for p in thinking["candidates"][0]["content"]["parts"]] == [True, False]


@needs_fixtures
def test_a_model_recorded_only_with_thinking_answers_only_with_thinking(server: Any) -> None:
    """Thinking on or off is part of the question: the thinking recording cannot answer a request without it."""
    url = f"{base_url(server)}/models/gemini-2.5-pro:generateContent"
    assert httpx.post(url, json=hello(thinking=True)).status_code == 200
    assert ("gemini", "gemini-2.5-pro", "GenSync-Text.yaml") in server.served
    response = httpx.post(url, json=hello(thinking=False))
    assert response.status_code == 501
    assert response.text.startswith("not recorded: gemini-2.5-pro GenSync-Text.yaml asks another question: thinking")


def test_stream_is_sse(server: Any) -> None:
    url = f"{base_url(server)}/models/{FLASH}:streamGenerateContent?alt=sse"
    with httpx.stream("POST", url, json=hello(thinking=False)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        lines = [line for line in response.iter_lines() if line]
    assert lines and all(line.startswith("data: {") for line in lines)


def test_unknown_model_is_the_providers_404(server: Any) -> None:
    response = httpx.post(f"{base_url(server)}/models/gemini-9:generateContent", json=hello(thinking=False))
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"
    assert ("gemini", "gemini-9", "none") in server.served


def test_unrecorded_kind_is_a_plain_501(server: Any) -> None:
    body = {**hello(thinking=False), "tools": [{"functionDeclarations": [{"name": "square_root"}]}]}
    response = httpx.post(f"{base_url(server)}/models/{FLASH}:generateContent", json=body)
    assert response.status_code == 501
    assert response.text == f"not recorded: {FLASH} no GenSync-Tools-SquareRoot-1-any recording"
