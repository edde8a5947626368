"""The recorded-provider server: request classification and real HTTP round trips."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from fixture_server import FIXTURES_ROOT, PROVIDERS, FixtureServer, classify, find_cassette
from llmprobe.cassettes import load_cassette

if not FIXTURES_ROOT.is_dir():
    pytest.skip(f"recorded provider traffic not found at {FIXTURES_ROOT}", allow_module_level=True)

GROQ_MODEL = "llama-3.1-8b-instant"
CF_SCOUT = "@cf/meta/llama-4-scout-17b-16e-instruct"

SQUARE_ROOT = {
    "type": "function",
    "function": {
        "name": "square_root",
        "description": "Square root of a number",
        "parameters": {"type": "object", "properties": {"number": {"type": "number"}}, "required": ["number"]},
    },
}


def best_country(*enum: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"country": {"type": "string", "enum": list(enum)}}}
    return {"type": "function", "function": {"name": "best_country", "description": "Pick one", "parameters": schema}}


def ask(*extra_messages: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": "Greet me, one word."}, *extra_messages], **options}


def image_body(url: str) -> dict[str, Any]:
    parts = [{"type": "text", "text": "Which fruit?"}, {"type": "image_url", "image_url": {"url": url}}]
    return {"model": GROQ_MODEL, "messages": [{"role": "user", "content": parts}]}


# --- classify: options, identical in both dialects -------------------------------------------------

OPTION_CASES = [
    ({}, "Text"),
    ({"seed": 7}, "Seed"),
    ({"logprobs": True, "top_logprobs": 2}, "TopLogprobs"),
    ({"max_completion_tokens": 16}, "MaxTokens"),
    ({"max_tokens": 16}, "MaxTokens"),
    ({"max_tokens": 4096}, "Text"),
    ({"stop": ["is"]}, "Stop"),
    ({"response_format": {"type": "json_object"}}, "JSON"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {}}}}, "JSONSchema"),
    ({"tools": [SQUARE_ROOT], "tool_choice": "required"}, "Tools-SquareRoot-1"),
    ({"tools": [SQUARE_ROOT], "tool_choice": {"type": "function", "function": {"name": "square_root"}}}, "Tools-SquareRoot-1"),
    ({"tools": [SQUARE_ROOT], "tool_choice": "auto"}, "Tools-SquareRoot-1-any"),
    ({"tools": [SQUARE_ROOT]}, "Tools-SquareRoot-1-any"),
    ({"tools": [best_country("Canada", "USA")], "tool_choice": "required"}, "Tools-ToolBias-Canada"),
    ({"tools": [best_country("USA", "Canada")]}, "Tools-ToolBias-USA"),
]


@pytest.mark.parametrize("dialect", ["openai", "cloudflare"])
@pytest.mark.parametrize(("options", "probe"), OPTION_CASES)
def test_classify_by_options(dialect: str, options: dict[str, Any], probe: str) -> None:
    assert classify(dialect, ask(**options)) == f"GenSync-{probe}"
    assert classify(dialect, ask(stream=True, **options)) == f"GenStream-{probe}"


def test_stream_false_is_sync() -> None:
    assert classify("openai", ask(stream=False)) == "GenSync-Text"


@pytest.mark.parametrize(
    ("options", "probe"),
    [
        ({"seed": 42, "max_tokens": 16}, "MaxTokens"),
        ({"seed": 42, "logprobs": True, "top_logprobs": 2}, "TopLogprobs"),
        ({"max_tokens": 16, "stop": ["is"]}, "Stop"),
        ({"stop": ["is"], "response_format": {"type": "json_object"}}, "JSON"),
        ({"seed": 42, "response_format": {"type": "json_object"}, "tools": [SQUARE_ROOT], "tool_choice": "required"}, "Tools-SquareRoot-1"),
    ],
)
def test_classify_prefers_the_more_specific_option(options: dict[str, Any], probe: str) -> None:
    assert classify("openai", ask(**options)) == f"GenSync-{probe}"


# --- classify: conversation shapes, per dialect -----------------------------------------------------


def test_classify_tool_result_openai() -> None:
    call = {"type": "function", "id": "c1", "function": {"name": "square_root", "arguments": '{"number":132413}'}}
    body = ask(
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "content": "363.89", "tool_call_id": "c1"},
        tools=[SQUARE_ROOT],
        tool_choice="none",
    )
    assert classify("openai", body) == "GenSync-Tools-SquareRoot-2"


def test_classify_tool_result_cloudflare() -> None:
    body = ask(
        {"role": "assistant", "content": '{"number": 132413}'},
        {"role": "tool", "content": "363.89"},
        tools=[SQUARE_ROOT],
        stream=True,
    )
    assert classify("cloudflare", body) == "GenStream-Tools-SquareRoot-2"


def test_classify_document_openai() -> None:
    parts = [{"type": "text", "text": "Ducks live in Quack."}, {"type": "text", "text": "Where do ducks live?"}]
    assert classify("openai", {"messages": [{"role": "user", "content": parts}]}) == "GenSync-Citations"


def test_classify_single_text_part_is_not_a_document() -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "Greet me."}]}]}
    assert classify("openai", body) == "GenSync-Text"


def test_classify_document_cloudflare() -> None:
    messages = [{"role": "user", "content": "Ducks live in Quack."}, {"role": "user", "content": "Where do ducks live?"}]
    assert classify("cloudflare", {"messages": messages, "stream": True}) == "GenStream-Citations"


def test_classify_extra_text_part_does_not_hide_an_option() -> None:
    """The reference appended a "/think" part to every qwen request; options must still win."""
    parts = [{"type": "text", "text": "Greet me."}, {"type": "text", "text": "/think"}]
    assert classify("openai", {"messages": [{"role": "user", "content": parts}], "seed": 42}) == "GenSync-Seed"


@pytest.mark.parametrize(
    ("url", "probe"),
    [
        ("data:image/jpeg;base64,/9j/4AAQ", "Image-jpg-Inline"),
        ("data:image/png;base64,iVBORw0K", "Image-png-Inline"),
        ("data:image/gif;base64,R0lGODlh", "Image-gif-Inline"),
        ("data:image/webp;base64,UklGRg==", "Image-webp-Inline"),
        ("https://example.com/pictures/banana.png", "Image-png-URL"),
        ("https://example.com/banana.jpeg?raw=1", "Image-jpg-URL"),
        ("https://example.com/banana.WEBP", "Image-webp-URL"),
    ],
)
def test_classify_image(url: str, probe: str) -> None:
    assert classify("openai", image_body(url)) == f"GenSyncMultiModal-{probe}"
    assert classify("openai", {**image_body(url), "stream": True}) == f"GenStreamMultiModal-{probe}"


def test_classify_image_outranks_an_incidental_max_tokens() -> None:
    body = {**image_body("data:image/png;base64,iVBORw0K"), "max_tokens": 16}
    assert classify("openai", body) == "GenSyncMultiModal-Image-png-Inline"


# --- cassette lookup, against the recordings --------------------------------------------------------

_NOT_OUR_PROBES = re.compile(r"-(Audio|Video|Document)-|WebSearch|^GenDoc")



def scoreboard(provider: str) -> Path:
    return FIXTURES_ROOT / PROVIDERS[provider].recordings / "scoreboard-cassettes"


def test_cloudflare_unforced_square_root_falls_back_to_the_identical_forced_recording() -> None:
    """Cloudflare has no tool_choice: the reference sent SquareRoot-1 and -1-any alike."""
    scout = scoreboard("cloudflare") / CF_SCOUT
    assert find_cassette(scout, "GenSync-Tools-SquareRoot-1-any") == scout / "GenSync-Tools-SquareRoot-1.yaml"
    assert find_cassette(scout, "GenStream-Tools-SquareRoot-1-any") == scout / "GenStream-Tools-SquareRoot-1-any.yaml"


def test_groq_forced_recording_never_answers_an_unforced_request() -> None:
    scout = scoreboard("groq") / "meta-llama" / "llama-4-scout-17b-16e-instruct"
    assert (scout / "GenSync-Tools-SquareRoot-1.yaml").is_file()
    assert find_cassette(scout, "GenSync-Tools-SquareRoot-1-any") is None


def test_cloudflare_citations_use_the_plain_text_recording() -> None:
    scout = scoreboard("cloudflare") / CF_SCOUT
    assert find_cassette(scout, "GenSync-Citations") == scout / "GenSync-Citations-text-plain.yaml"


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_recorded_requests_are_answered_with_their_own_recording(provider: str) -> None:
    """Every real request resolves to its cassette, or to one recorded for the byte-identical request.

    (The reference did not always send the option, so TopLogprobs or Seed may equal
    Text; Cloudflare's -1 equals -1-any.) Left out: what our probes never send (the
    markdown Citations variant, audio, video, PDF documents, web search, image
    generation, GenDoc), qwen requests, whose harness-added "/think" part makes a plain Text
    request look like a document, and deepseek-reasoner's sync SquareRoot-1, which the
    reference sent unforced and which its -1-any recording answers instead.
    """
    root = scoreboard(provider)
    wrong = []
    for path in sorted(root.rglob("Gen*.yaml")):
        if path.stem.endswith("-text-markdown") or _NOT_OUR_PROBES.search(path.stem):
            continue
        if str(path.relative_to(root)) == "deepseek-reasoner_thinking/GenSync-Tools-SquareRoot-1.yaml":
            continue
        recorded = load_cassette(path).interactions[0].request_body
        if "/think" in recorded:
            continue
        found = find_cassette(path.parent, classify(PROVIDERS[provider].dialect, json.loads(recorded)))
        if found is None or (found != path and load_cassette(found).interactions[0].request_body != recorded):
            wrong.append((str(path.relative_to(root)), found and found.name))
    assert wrong == []


# --- HTTP round trips ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[FixtureServer]:
    with FixtureServer() as running:
        yield running


def groq_post(server: FixtureServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.base_url('groq')}/chat/completions", json={"model": GROQ_MODEL, **body})


def test_base_urls(server: FixtureServer) -> None:
    assert server.base_url("groq") == f"http://127.0.0.1:{server.port}/groq/openai/v1"
    assert server.base_url("cloudflare") == f"http://127.0.0.1:{server.port}/cloudflare/ai"


def test_groq_sync_text(server: FixtureServer) -> None:
    response = groq_post(server, ask())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-ratelimit-limit-requests"] == "500000"
    assert response.json()["choices"][0]["message"]["content"] == "Hello."
    assert ("groq", GROQ_MODEL, "GenSync-Text.yaml") in server.served


def test_groq_stream_text_is_sse_ending_with_done(server: FixtureServer) -> None:
    with httpx.stream("POST", f"{server.base_url('groq')}/chat/completions", json={"model": GROQ_MODEL, **ask(stream=True)}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        lines = [line for line in response.iter_lines() if line]
    assert lines[0].startswith("data: {")
    assert lines[-1] == "data: [DONE]"


def test_groq_stream_forced_tool_failure_is_an_error_event_with_status_200(server: FixtureServer) -> None:
    response = groq_post(server, ask(tools=[SQUARE_ROOT], tool_choice="required", stream=True))
    assert response.status_code == 200
    assert response.text.startswith("event: error\ndata: ")
    error = json.loads(response.text.splitlines()[1].removeprefix("data: "))["error"]
    assert error["code"] == "tool_use_failed"
    assert ("groq", GROQ_MODEL, "GenStream-Tools-SquareRoot-1.yaml") in server.served


def test_cloudflare_sync_tool_call(server: FixtureServer) -> None:
    body = {"messages": [{"role": "user", "content": "Root of 132413?"}], "tools": [SQUARE_ROOT]}
    response = httpx.post(f"{server.base_url('cloudflare')}/run/{CF_SCOUT}", json=body)
    assert response.status_code == 200
    (call,) = response.json()["result"]["tool_calls"]
    assert call["function"]["name"] == "square_root"
    assert json.loads(call["function"]["arguments"]) == {"number": 132413}
    assert ("cloudflare", CF_SCOUT, "GenSync-Tools-SquareRoot-1.yaml") in server.served


def test_cloudflare_without_recording_is_a_plain_501(server: FixtureServer) -> None:
    body = {"messages": [{"role": "user", "content": "Which is best?"}], "tools": [best_country("Canada", "USA")]}
    response = httpx.post(f"{server.base_url('cloudflare')}/run/{CF_SCOUT}", json=body)
    assert response.status_code == 501
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == f"no recording for {CF_SCOUT} GenSync-Tools-ToolBias-Canada"
    assert ("cloudflare", CF_SCOUT, "none") in server.served


def test_groq_unknown_model_is_the_provider_404(server: FixtureServer) -> None:
    response = httpx.post(f"{server.base_url('groq')}/chat/completions", json={"model": "no-such-model", **ask()})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
    assert "`no-such-model` does not exist" in response.json()["error"]["message"]
    assert ("groq", "no-such-model", "none") in server.served


def test_cloudflare_unknown_model_is_the_provider_envelope(server: FixtureServer) -> None:
    """Recorded as HTTP 400 code 7000 (error-cassettes/bad_model), not 404."""
    response = httpx.post(f"{server.base_url('cloudflare')}/run/bad%20model", json=ask())
    assert response.status_code == 400
    assert response.json() == {"success": False, "errors": [{"code": 7000, "message": "No route for that URI"}], "result": None, "messages": []}
    assert ("cloudflare", "bad model", "none") in server.served


def test_thinking_model_found_under_its_thinking_directory(server: FixtureServer) -> None:
    response = httpx.post(f"{server.base_url('groq')}/chat/completions", json={"model": "openai/gpt-oss-20b", **ask()})
    assert response.status_code == 200
    assert ("groq", "openai/gpt-oss-20b", "GenSync-Text.yaml") in server.served


def test_model_names_cannot_escape_the_recordings(server: FixtureServer) -> None:
    escape = f"../../cloudflare-2025-09-02/scoreboard-cassettes/{CF_SCOUT}"
    response = httpx.post(f"{server.base_url('groq')}/chat/completions", json={"model": escape, **ask()})
    assert response.status_code == 404
