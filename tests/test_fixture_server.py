"""The recorded-provider server's classification: every recorded request is answered with its own recording, which is what makes the end-to-end comparisons with the reference valid."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from support.fixture_server import FIXTURES_ROOT, PROVIDERS, classify, find_cassette
from support.replaying import recorded as interactions

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
    assert classify("openai", {"messages": [{"role": "user", "content": parts}]}) == "GenSync-Citations-text-plain"
    parts[0]["text"] = "# Ducks\n\nDucks live in Quack."
    assert classify("openai", {"messages": [{"role": "user", "content": parts}]}) == "GenSync-Citations-text-markdown"


def test_classify_single_text_part_is_not_a_document() -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "Greet me."}]}]}
    assert classify("openai", body) == "GenSync-Text"


def test_classify_document_cloudflare() -> None:
    messages = [{"role": "user", "content": "Ducks live in Quack."}, {"role": "user", "content": "Where do ducks live?"}]
    assert classify("cloudflare", {"messages": messages, "stream": True}) == "GenStream-Citations-text-plain"
    messages[0]["content"] = "# Ducks\n\nDucks live in Quack."
    assert classify("cloudflare", {"messages": messages, "stream": True}) == "GenStream-Citations-text-markdown"


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


def test_citations_recorded_before_the_split_answer_only_the_plain_request() -> None:
    """Groq's recordings predate the reference's Markdown Citations request: their one `Citations`
    request is the plain one, and nothing was recorded for the Markdown one (unmeasured)."""
    groq = scoreboard("groq") / GROQ_MODEL
    assert find_cassette(groq, "GenSync-Citations-text-plain") == groq / "GenSync-Citations.yaml"
    assert find_cassette(groq, "GenSync-Citations-text-markdown") is None
    scout = scoreboard("cloudflare") / CF_SCOUT
    assert find_cassette(scout, "GenSync-Citations-text-plain") == scout / "GenSync-Citations-text-plain.yaml"
    assert find_cassette(scout, "GenSync-Citations-text-markdown") == scout / "GenSync-Citations-text-markdown.yaml"


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_recorded_requests_are_answered_with_their_own_recording(provider: str) -> None:
    """Every real request resolves to its cassette, or to one recorded for the byte-identical request.

    (The reference did not always send the option, so TopLogprobs or Seed may equal
    Text; Cloudflare's -1 equals -1-any.) Left out: what our probes never send (audio,
    video, PDF documents, web search, image generation, GenDoc), qwen requests, whose harness-added "/think" part makes a plain Text
    request look like a document, and deepseek-reasoner's sync SquareRoot-1, which the
    reference sent unforced and which its -1-any recording answers instead.
    """
    root = scoreboard(provider)
    wrong = []
    for path in sorted(root.rglob("Gen*.yaml")):
        if _NOT_OUR_PROBES.search(path.stem):
            continue
        if str(path.relative_to(root)) == "deepseek-reasoner_thinking/GenSync-Tools-SquareRoot-1.yaml":
            continue
        recorded = interactions(path)[0].request_body
        if "/think" in recorded:
            continue
        found = find_cassette(path.parent, classify(PROVIDERS[provider].dialect, json.loads(recorded)))
        if found is None or (found != path and interactions(found)[0].request_body != recorded):
            wrong.append((str(path.relative_to(root)), found and found.name))
    assert wrong == []


def test_an_answer_worked_out_in_process_is_the_one_served_over_http() -> None:
    """`FixtureServer.post` (tests/test_results_evidence.py's way) runs the handler the started server runs."""
    from urllib.error import HTTPError
    from urllib.request import Request, urlopen

    from support.fixture_server import FixtureServer

    streamed = interactions(scoreboard("groq") / GROQ_MODEL / "GenStream-Text.yaml")[0].request_body.encode()
    requests = [
        ("/groq/openai/v1/chat/completions", streamed),
        ("/groq/openai/v1/chat/completions", json.dumps({**ask(), "model": GROQ_MODEL, "seed": 7}).encode()),
        ("/groq/openai/v1/chat/completions", json.dumps({**ask(), "model": "no-such-model"}).encode()),
        ("/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", b'{"contents": []}'),
        ("/nowhere", b"{}"),
    ]
    statuses = set()
    with FixtureServer() as server:
        for path, body in requests:
            try:
                with urlopen(Request(f"http://127.0.0.1:{server.port}{path}", body, method="POST"), timeout=30) as answer:
                    over_http = (answer.status, answer.read())
            except HTTPError as error:
                over_http = (error.code, error.read())
            assert server.post(path, body) == over_http, path
            statuses.add(over_http[0])
    assert statuses == {200, 404, 501}
