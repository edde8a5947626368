"""The OpenAI Responses dialect against every recording of the reference's Responses traffic."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from conftest import FIXTURES, needs_fixtures
from llmprobe.battery import load_battery
from llmprobe.cassettes import Interaction
from llmprobe.client import ProviderClient
from llmprobe.dialects import get_dialect
from llmprobe.dialects.openai_responses import OpenAIResponsesDialect
from llmprobe.errors import ApiError, ErrorKind, UnsupportedOption
from llmprobe.neutral import (
    AttachmentPart,
    DocumentPart,
    Message,
    RateLimit,
    Reply,
    Request,
    TextPart,
    ToolCall,
    ToolResult,
)
from llmprobe.recording import RecordingTransport
from llmprobe.redaction import Redactor
from llmprobe.retries import RetryPolicy
from support import replaying

RECORDINGS = FIXTURES / "openairesponses-2025-09-03"

BASE_URL = "https://api.openai.com/v1"
REASONING_MODELS = ("gpt-5", "gpt-5-mini", "gpt-5-nano", "o4-mini")
#: Chat recordings only: `*_image/` errors and `GenDoc-*` are image generation, another endpoint.
CASSETTES = sorted(
    p.relative_to(RECORDINGS).as_posix()
    for p in RECORDINGS.rglob("*.yaml")
    if "_image" not in p.parent.name and not p.name.startswith("GenDoc")
)

#: The battery's own tools, schema and texts: the recordings were made with them.
battery = load_battery()
SQUARE_ROOT = battery["Tools-SquareRoot-1"].tools[0]
SQUARE_ROOT_PROMPT = battery["Tools-SquareRoot-1"].prompt
IS_FRUIT_SCHEMA = battery["JSONSchema"].options["json_schema"]
HELLO = battery["Text"].prompt
QUACKILAND = battery["Citations"].document.text

dialect = OpenAIResponsesDialect(BASE_URL)


recordings = replaying.Recordings(dialect, RECORDINGS)
interaction, scoreboard, replay = recordings.interaction, recordings.scoreboard, recordings.replay


def stream_of(*events: dict) -> Reply:
    return replaying.stream_of(dialect, *(json.dumps(e) for e in events))


def expected_error(name: str) -> tuple[ErrorKind, str] | None:
    """What each failed recording must become, by what the reference sent."""
    folder, _, probe = name.rpartition("/")
    if folder.endswith("bad_apiKey"):
        return ErrorKind.AUTH, "invalid_api_key"
    if folder.endswith("bad_model"):
        return ErrorKind.NOT_FOUND, "model_not_found"
    if "Audio" in probe or "Video" in probe:  # sent as input_file, which takes documents only
        return ErrorKind.REJECTED, "invalid_value"
    if "TopLogprobs" in probe and "_thinking" in folder:
        return ErrorKind.REJECTED, "unsupported_parameter"
    if name in {
        "scoreboard-cassettes/gpt-5-mini_thinking/GenSync-Tools-ToolBias-Canada.yaml",
        "scoreboard-cassettes/gpt-5-nano_thinking/GenSync-Tools-ToolBias-Canada.yaml",
        "scoreboard-cassettes/gpt-5-nano_thinking/GenStream-Tools-ToolBias-Canada.yaml",
        "scoreboard-cassettes/gpt-5-nano_thinking/GenStream-Tools-ToolBias-USA.yaml",
    }:
        return ErrorKind.SERVER, "server_error"  # a 500, or an `error` event then `response.failed`
    return None


# --- every recording -------------------------------------------------------------------------------


@needs_fixtures
def test_the_recordings_are_all_here() -> None:
    assert len(CASSETTES) == 250 + 5
    assert sum(expected_error(name) is not None for name in CASSETTES) == 38 + 4 + 5


@pytest.mark.parametrize("name", CASSETTES)
def test_every_recording_replays(name: str) -> None:
    recorded = interaction(name)
    expected = expected_error(name)
    if expected is None:
        reply = replay(recorded)
        assert reply.finish_reason in ("stop", "length", "tool_calls")
        # Cut at 16 tokens, a reasoning model may have said nothing yet.
        assert reply.text or reply.tool_calls or reply.reasoning or reply.usage.output_tokens == 0
        if reply.finish_reason != "length":
            assert reply.usage.input_tokens > 0 and reply.usage.total_tokens > 0
        return
    kind, code = expected
    with pytest.raises(ApiError) as raised:
        if name.endswith("ListModels.yaml"):
            dialect.parse_models(recorded.status, replaying.headers(recorded), recorded.response_body.encode())
        else:
            replay(recorded)
    assert (raised.value.kind, raised.value.code) == (kind, code)
    assert raised.value.has_envelope and raised.value.message


# --- sync replies ----------------------------------------------------------------------------------


def test_text_usage_and_rate_limits() -> None:
    reply = replay(scoreboard("gpt-4.1", "GenSync-Text"))
    assert (reply.text, reply.reasoning, reply.finish_reason, reply.raw_finish_reason) == ("Hello!", "", "stop", "completed")
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.usage.total_tokens) == (15, 3, 18)
    assert reply.rate_limits == [RateLimit("requests", 500, 499, 0.12), RateLimit("tokens", 30000, 29966, 0.068)]


@needs_fixtures
def test_reasoning_summary_and_reasoning_tokens() -> None:
    reply = replay(scoreboard("gpt-5-mini_thinking", "GenSync-Text"))
    assert reply.text == "Hello"
    assert reply.reasoning.startswith("**")
    assert reply.usage.reasoning_tokens > 0


def test_max_output_tokens_is_a_length_finish() -> None:
    reply = replay(scoreboard("gpt-4.1", "GenSync-MaxTokens"))
    assert (reply.finish_reason, reply.raw_finish_reason) == ("length", "max_output_tokens")
    assert reply.text.startswith("Certainly!")


def test_function_call_is_a_tool_calls_finish() -> None:
    reply = replay(scoreboard("gpt-4.1", "GenSync-Tools-SquareRoot-1"))
    assert reply.tool_calls == [ToolCall("call_gMhCYICfg5enHuicRacM6dcB", "square_root", '{"number":132413}')]
    assert (reply.text, reply.finish_reason, reply.raw_finish_reason) == ("", "tool_calls", "completed")


def test_url_citations_are_read_from_annotations() -> None:
    reply = replay(scoreboard("gpt-4.1", "GenSync-Tools-WebSearch"))
    assert reply.citations == [
        "https://www.aljazeera.com/news/2025/3/14/mark-carney-sworn-in-as-canadas-new-prime-minister-replacing-trudeau?utm_source=openai",
        "https://www.pm.gc.ca/en/about?utm_source=openai",
    ]


def test_logprobs_and_file_citations() -> None:
    part = {
        "type": "output_text",
        "text": "Hi",
        "annotations": [{"type": "file_citation", "file_id": "file-1", "filename": "a.txt", "index": 0}],
        "logprobs": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": [{"token": "Hello", "logprob": -2.5}]}],
    }
    body = {"status": "completed", "output": [{"type": "message", "role": "assistant", "content": [part]}]}
    reply = dialect.parse(200, {}, json.dumps(body).encode())
    assert [(t.token, t.logprob, t.top) for t in reply.logprobs] == [("Hi", -0.1, (("Hello", -2.5),))]
    assert reply.citations == ["a.txt"]


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"<html>bad gateway</html>", ErrorKind.UNREADABLE),
        (b"[1]", ErrorKind.MALFORMED),
        (b'{"status": "completed"}', ErrorKind.MALFORMED),
        (
            b'{"status": "completed", "output": [{"type": "message", "content": [{"type": "output_text", "text": 3}]}]}',
            ErrorKind.MALFORMED,
        ),
        (b'{"status": "failed", "output": [], "error": {"code": "server_error", "message": "boom"}}', ErrorKind.SERVER),
    ],
)
def test_a_bad_200_is_an_api_error(body: bytes, kind: ErrorKind) -> None:
    with pytest.raises(ApiError) as raised:
        dialect.parse(200, {}, body)
    assert raised.value.kind is kind


def test_rate_limited_carries_retry_after() -> None:
    body = b'{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}'
    with pytest.raises(ApiError) as raised:
        dialect.parse(429, {"retry-after-ms": "1500"}, body)
    assert (raised.value.kind, raised.value.retry_after, raised.value.code) == (
        ErrorKind.RATE_LIMITED,
        1.5,
        "rate_limit_exceeded",
    )


# --- streams ---------------------------------------------------------------------------------------


@needs_fixtures
def test_stream_is_read_from_the_completed_response() -> None:
    reply = replay(scoreboard("gpt-5-mini_thinking", "GenStream-Tools-ToolBias-Canada"))
    assert reply.tool_calls[0].name == "best_country" and reply.tool_calls[0].decoded_arguments() == {"country": "Canada"}
    assert reply.finish_reason == "tool_calls"
    assert reply.reasoning and reply.usage.output_tokens == 84


def test_stream_ending_incomplete_is_a_length_finish() -> None:
    reply = replay(scoreboard("gpt-4.1", "GenStream-MaxTokens"))
    assert reply.text == "Certainly! The theory of relativity fundamentally transformed our understanding of space, time,"
    assert (reply.finish_reason, reply.raw_finish_reason) == ("length", "max_output_tokens")


@needs_fixtures
def test_stream_error_event_is_a_server_error() -> None:
    with pytest.raises(ApiError) as raised:
        replay(scoreboard("gpt-5-nano_thinking", "GenStream-Tools-ToolBias-USA"))
    assert raised.value.kind is ErrorKind.SERVER and raised.value.retryable
    assert raised.value.message.startswith("An error occurred while processing your request.")


def test_stream_without_output_in_the_final_response_is_built_from_deltas() -> None:
    reply = stream_of(
        {"type": "response.output_item.added", "output_index": 0, "item": {"type": "reasoning", "summary": []}},
        {"type": "response.reasoning_summary_text.delta", "output_index": 0, "summary_index": 0, "delta": "Think"},
        {"type": "response.reasoning_summary_text.delta", "output_index": 0, "delta": "ing."},
        {"type": "response.reasoning_summary_text.delta", "output_index": 0, "summary_index": 1, "delta": "More."},
        {"type": "response.output_item.added", "output_index": 1, "item": {"type": "message", "content": []}},
        {"type": "response.output_text.delta", "output_index": 1, "delta": "Hel", "logprobs": [{"token": "Hel", "logprob": -1}]},
        {"type": "response.output_text.delta", "output_index": 1, "delta": "lo"},
        {"type": "response.output_text.annotation.added", "output_index": 1, "annotation": {"type": "url_citation", "url": "u"}},
        {
            "type": "response.output_item.added",
            "output_index": 2,
            "item": {"type": "function_call", "call_id": "c1", "name": "f", "arguments": ""},
        },
        {"type": "response.function_call_arguments.delta", "output_index": 2, "delta": '{"x":'},
        {"type": "response.function_call_arguments.delta", "output_index": 2, "delta": "1}"},
        {"type": "response.completed", "response": {"status": "completed", "output": [], "usage": {"input_tokens": 3}}},
    )
    assert (reply.reasoning, reply.text, reply.citations) == ("Thinking.\n\nMore.", "Hello", ["u"])
    assert reply.tool_calls == [ToolCall("c1", "f", '{"x":1}')]
    assert [t.token for t in reply.logprobs] == ["Hel"]
    assert (reply.finish_reason, reply.usage.input_tokens) == ("tool_calls", 3)


def test_stream_cut_before_the_final_event_is_a_transport_error() -> None:
    with pytest.raises(ApiError) as raised:
        stream_of({"type": "response.output_text.delta", "output_index": 0, "delta": "Hel"})
    assert raised.value.kind is ErrorKind.TRANSPORT


def test_flat_error_event_and_undecodable_event() -> None:
    with pytest.raises(ApiError) as raised:
        stream_of({"type": "error", "code": "rate_limit_exceeded", "message": "slow down"})
    assert (raised.value.kind, raised.value.code, raised.value.message) == (ErrorKind.SERVER, "rate_limit_exceeded", "slow down")
    with pytest.raises(ApiError) as raised:
        replaying.stream_of(dialect, "not json")
    assert raised.value.kind is ErrorKind.UNREADABLE
    with pytest.raises(ApiError) as raised:
        stream_of({"type": "response.output_text.delta", "output_index": 0, "delta": 5})
    assert raised.value.kind is ErrorKind.MALFORMED


# --- requests --------------------------------------------------------------------------------------


def assert_builds(recorded: Interaction, model: str, request: Request) -> None:
    """Our request is the recorded one as JSON (the battery writes a schema's keys in its own order),
    less the reference's `service_tier: flex` (a price choice, not a probe)."""
    call = dialect.build(model, request)
    assert (call.method, call.url) == (recorded.method, recorded.url)
    sent = json.loads(recorded.request_body)
    sent.pop("service_tier", None)
    assert call.json == sent


def user(*parts: str | TextPart | AttachmentPart | DocumentPart) -> tuple[Message, ...]:
    return (Message.user(*parts),)


@needs_fixtures
@pytest.mark.parametrize("stream", [False, True])
def test_build_text_plain_and_thinking(stream: bool) -> None:
    mode = "GenStream" if stream else "GenSync"
    assert_builds(scoreboard("gpt-4.1", f"{mode}-Text"), "gpt-4.1", Request(user(HELLO), stream=stream))
    for model in REASONING_MODELS:
        request = Request(user(HELLO), stream=stream, thinking=True)
        assert_builds(scoreboard(f"{model}_thinking", f"{mode}-Text"), model, request)


@needs_fixtures
def test_build_options() -> None:
    json_prompt = (
        "Is a banana a fruit? Do not include an explanation. "
        'Reply ONLY as JSON according to the provided schema: {"is_fruit": bool}.'
    )
    schema_prompt = "Is a banana a fruit? Do not include an explanation. Reply ONLY as JSON."
    relativity = "Explain the theory of relativity in great details."
    assert_builds(scoreboard("gpt-4.1", "GenSync-JSON"), "gpt-4.1", Request(user(json_prompt), json_mode=True))
    schema = Request(user(schema_prompt), json_schema=IS_FRUIT_SCHEMA, stream=True)
    assert_builds(scoreboard("gpt-4.1", "GenStream-JSONSchema"), "gpt-4.1", schema)
    limited = Request(user(relativity), max_tokens=16, thinking=True)
    assert_builds(scoreboard("gpt-5_thinking", "GenSync-MaxTokens"), "gpt-5", limited)


def test_build_top_logprobs_asks_for_them_to_be_included() -> None:
    recorded = json.loads(scoreboard("gpt-4.1", "GenSync-TopLogprobs").request_body)
    body = dialect.build("gpt-4.1", Request(user(HELLO), top_logprobs=2)).json
    # The reference sent no `include`, and got `"logprobs": []` back.
    assert body == {**recorded, "include": ["message.output_text.logprobs"]}


def test_build_tool_round_trip() -> None:
    forced = Request(user(SQUARE_ROOT_PROMPT), tools=(SQUARE_ROOT,), tool_choice="required")
    assert_builds(scoreboard("gpt-4.1", "GenSync-Tools-SquareRoot-1"), "gpt-4.1", forced)
    call_id = "call_gMhCYICfg5enHuicRacM6dcB"
    history = (
        Message("assistant", tool_calls=(ToolCall(call_id, "square_root", '{"number":132413}'),)),
        Message("tool", tool_result=ToolResult(call_id, "square_root", "363.89")),
    )
    second = Request(user(SQUARE_ROOT_PROMPT) + history, tools=(SQUARE_ROOT,), tool_choice="none")
    assert_builds(scoreboard("gpt-4.1", "GenSync-Tools-SquareRoot-2"), "gpt-4.1", second)


@pytest.mark.parametrize(("probe", "recorded"), [("Citations", "Citations-text-plain"), ("Citations-text-markdown",) * 2])
@pytest.mark.parametrize("mode", ["GenSync", "GenStream"])
def test_citations_requests_match_the_recordings(mode: str, probe: str, recorded: str) -> None:
    """Both documents are the bare text, an input_text part before the question's."""
    request = load_battery()[probe].request(stream=mode == "GenStream")
    assert_builds(scoreboard("gpt-4.1", f"{mode}-{recorded}"), "gpt-4.1", request)


def test_build_document_and_images() -> None:
    question = "What is the capital of Quackiland?"
    document = Request(user(DocumentPart("capital_info.txt", "text/plain", QUACKILAND), question))
    assert_builds(scoreboard("gpt-4.1", "GenSync-Citations-text-plain"), "gpt-4.1", document)
    prompt = "What fruit is it? Reply with only one word."
    recorded = scoreboard("gpt-4.1", "GenStreamMultiModal-Image-jpg-Inline")
    url = json.loads(recorded.request_body)["input"][0]["content"][1]["image_url"]
    data = base64.b64decode(url.removeprefix("data:image/jpeg;base64,"))
    assert_builds(recorded, "gpt-4.1", Request(user(prompt, AttachmentPart("image", "image/jpeg", data=data)), stream=True))
    recorded = scoreboard("gpt-4.1", "GenSyncMultiModal-Image-png-URL")
    url = json.loads(recorded.request_body)["input"][0]["content"][1]["image_url"]
    assert_builds(recorded, "gpt-4.1", Request(user(prompt, AttachmentPart("image", "image/png", url=url))))


def test_build_assistant_text_is_output_text() -> None:
    request = Request((Message.user("hi"), Message("assistant", (TextPart("Hello!"),)), Message.user("again")))
    assert dialect.build("gpt-4.1", request).json["input"][1] == {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Hello!"}],
    }


@pytest.mark.parametrize(
    ("request_", "option", "detail"),
    [
        # The request type generated from OpenAI's OpenAPI spec has neither field (checked 2026-12-06,
        # docs/methodology.md).
        (Request(user(HELLO), seed=42), "seed", "the Responses API has no seed field"),
        (Request(user("Canada"), stop=("is",)), "stop", "the Responses API has no stop field"),
        (Request(user(DocumentPart("q.pdf", "application/pdf", "%PDF"))), "document", "application/pdf"),
        (Request(user(HELLO), json_mode=True, json_schema=IS_FRUIT_SCHEMA), "json_mode", "text.format"),
    ],
)
def test_build_refuses_what_the_wire_cannot_carry(request_: Request, option: str, detail: str) -> None:
    with pytest.raises(UnsupportedOption) as raised:
        dialect.build("gpt-4.1", request_)
    assert raised.value.option == option and detail in raised.value.detail


def test_registered_with_bearer_auth_and_its_model_list() -> None:
    registered = get_dialect("openai-responses", BASE_URL + "/")
    assert isinstance(registered, OpenAIResponsesDialect)
    assert registered.auth_headers("k") == {"Authorization": "Bearer k"}
    recorded = interaction("error-cassettes/bad_apiKey/ListModels.yaml")
    call = registered.list_models_call(None)
    assert (call.method, call.url) == (recorded.method, recorded.url)
    body = b'{"object": "list", "data": [{"id": "gpt-5", "object": "model"}, {"id": "o4-mini"}]}'
    assert registered.parse_models(200, {}, body) == (["gpt-5", "o4-mini"], None)


def test_recording_through_the_dialect_writes_no_key(tmp_path: Path) -> None:
    key = "sk-proj-" + "PLANTEDresponsesKEY0123456789"
    recorded = scoreboard("gpt-4.1", "GenStream-Text")

    async def body() -> AsyncIterator[bytes]:
        yield recorded.response_body.encode()

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {key}"
        # Streamed like a live answer: the recorder writes the exchange when the body closes.
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    async def run() -> Reply | None:
        transport = RecordingTransport(httpx.MockTransport(answer), tmp_path, Redactor(secrets=[key]))
        client = ProviderClient(dialect, transport, api_key=key, retry=RetryPolicy(wait=False))
        exchange = await client.generate("gpt-4.1", Request(user(HELLO), stream=True), name="openai/gpt-4.1/stream-Text")
        return exchange.reply

    reply = asyncio.run(run())
    assert reply is not None and reply.text == "Hello!"
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p.relative_to(tmp_path).as_posix() for p in files] == ["openai/gpt-4.1/stream-Text.yaml"]
    for path in files:
        assert key not in path.read_text(), path
        assert "authorization" not in path.read_text().lower(), path
