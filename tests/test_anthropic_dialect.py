"""The Anthropic Messages dialect against real recorded traffic."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ANTHROPIC_FIXTURES, needs_fixtures
from llmprobe.asking import tool_results
from llmprobe.battery import continuation, load_battery
from llmprobe.cassettes import Interaction, load_cassette
from llmprobe.client import ProviderClient
from llmprobe.dialects.anthropic import AnthropicDialect
from llmprobe.errors import ApiError, ErrorKind, UnsupportedOption
from llmprobe.judging import failure_outcome, passed
from llmprobe.neutral import AttachmentPart, DocumentPart, Exchange, Message, Request, Thought, ToolCall, ToolResult
from llmprobe.recording import RecordingTransport
from llmprobe.redaction import Redactor
from llmprobe.toolchain import judge_force
from support import replaying

BASE_URL = "https://api.anthropic.com"
HAIKU = "claude-3-5-haiku-20241022"
SONNET = "claude-sonnet-4-20250514"
OPUS = "claude-opus-4-1-20250805"
CASSETTES = sorted(p.relative_to(ANTHROPIC_FIXTURES).as_posix() for p in ANTHROPIC_FIXTURES.rglob("*.yaml"))
FORCED_WHILE_THINKING = "Thinking may not be enabled when tool_choice forces tool use."

#: Every recording that must fail, with its kind and the API's error type.
EXPECTED_ERRORS: dict[str, tuple[ErrorKind, str]] = {
    "error-cassettes/bad_apiKey/GenStream.yaml": (ErrorKind.AUTH, "authentication_error"),
    "error-cassettes/bad_apiKey/GenSync.yaml": (ErrorKind.AUTH, "authentication_error"),
    "error-cassettes/bad_apiKey/ListModels.yaml": (ErrorKind.AUTH, "authentication_error"),
    "error-cassettes/bad_model/GenStream.yaml": (ErrorKind.NOT_FOUND, "not_found_error"),
    "error-cassettes/bad_model/GenSync.yaml": (ErrorKind.NOT_FOUND, "not_found_error"),
    # The reference forced the tool call with thinking on, and so do we: the server refuses it.
    f"scoreboard-cassettes/{OPUS}_thinking/GenSync-Tools-SquareRoot-1.yaml": (ErrorKind.REJECTED, "invalid_request_error"),
    f"scoreboard-cassettes/{OPUS}_thinking/GenStream-Tools-SquareRoot-1.yaml": (ErrorKind.REJECTED, "invalid_request_error"),
}

dialect = AnthropicDialect(BASE_URL)
battery = load_battery()


recordings = replaying.Recordings(dialect, ANTHROPIC_FIXTURES)
interaction, scoreboard, replay, stream_of = recordings.interaction, recordings.scoreboard, recordings.replay, recordings.stream_of


# --- every recording -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASSETTES)
def test_every_recording_parses_or_fails_with_its_kind(name: str) -> None:
    recorded = interaction(name)
    expected = EXPECTED_ERRORS.get(name)
    if expected is None:
        reply = replay(recorded)
        assert reply.text or reply.tool_calls
        assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
        assert reply.finish_reason in ("stop", "length", "tool_calls")
        assert {limit.kind for limit in reply.rate_limits} == {"requests", "tokens"}
        # Only the `_thinking` recordings think (not always: a short tool follow-up may not), always sealed.
        assert not reply.reasoning or "_thinking/" in name
        assert all(thought.signature for thought in reply.thoughts)
        return
    kind, code = expected
    with pytest.raises(ApiError) as raised:
        if name.endswith("ListModels.yaml"):
            dialect.parse_models(recorded.status, replaying.headers(recorded), recorded.response_body.encode())
        else:
            replay(recorded)
    assert (raised.value.kind, raised.value.code, raised.value.status) == (kind, code, recorded.status)
    assert raised.value.has_envelope


@needs_fixtures
def test_every_expected_error_names_a_real_recording() -> None:
    assert set(EXPECTED_ERRORS) <= set(CASSETTES)
    assert len(CASSETTES) == 223


# --- replies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["GenSync", "GenStream"])
def test_text_usage_and_finish(mode: str) -> None:
    reply = replay(scoreboard(HAIKU, f"{mode}-Text"))
    assert (reply.text, reply.reasoning, reply.finish_reason, reply.raw_finish_reason) == ("Hello.", "", "stop", "end_turn")
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (15, 5)


@pytest.mark.parametrize(("probe", "finish", "raw"), [("MaxTokens", "length", "max_tokens"), ("Stop", "stop", "stop_sequence")])
@pytest.mark.parametrize("mode", ["GenSync", "GenStream"])
def test_finish_reasons(mode: str, probe: str, finish: str, raw: str) -> None:
    reply = replay(scoreboard(HAIKU, f"{mode}-{probe}"))
    assert (reply.finish_reason, reply.raw_finish_reason) == (finish, raw)


@pytest.mark.parametrize("mode", ["GenSync", "GenStream"])
def test_tool_call_is_read_whole(mode: str) -> None:
    reply = replay(scoreboard(HAIKU, f"{mode}-Tools-SquareRoot-1"))
    (call,) = reply.tool_calls
    assert call.name == "square_root" and call.id.startswith("toolu_")
    assert call.decoded_arguments() == {"number": 132413}
    assert reply.finish_reason == "tool_calls"


@pytest.mark.parametrize("mode", ["GenSync", "GenStream"])
def test_thinking_blocks_are_reasoning_and_kept_whole(mode: str) -> None:
    reply = replay(scoreboard(f"{SONNET}_thinking", f"{mode}-Tools-SquareRoot-1"))
    (thought,) = reply.thoughts
    assert reply.reasoning == thought.text and thought.text.startswith("The user wants me to")
    assert thought.signature.startswith("Eu") and not thought.redacted
    assert [c.name for c in reply.tool_calls] == ["square_root"]


@pytest.mark.parametrize("mode", ["GenSync", "GenStream"])
def test_document_citations_are_read(mode: str) -> None:
    reply = replay(scoreboard(HAIKU, f"{mode}-Citations-text-plain"))
    assert reply.citations == ["The capital of Quackiland is Quack. ", "The Big Canard Statue is located in Quack."]
    assert reply.text.startswith("The capital of Quackiland is Quack")


@needs_fixtures
def test_two_tool_calls_after_text_and_thinking() -> None:
    reply = replay(scoreboard(f"{OPUS}_thinking", "GenSync-Tools-ToolBias-Canada"))
    assert [c.decoded_arguments() for c in reply.tool_calls] == [{"country": "Canada"}, {"country": "USA"}]
    assert reply.text.startswith("I'll call the best_country tool")


def test_rate_limits_are_read_with_their_reset() -> None:
    soon = (datetime.now(timezone.utc) + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {
        "anthropic-ratelimit-requests-limit": "4000",
        "anthropic-ratelimit-requests-remaining": "3999",
        "anthropic-ratelimit-requests-reset": soon,
        "anthropic-ratelimit-output-tokens-limit": "80000",
        "anthropic-ratelimit-output-tokens-remaining": "oops",
        "anthropic-ratelimit-output-tokens-reset": "not a time",
        "anthropic-ratelimit-tokens-limit": "0",
    }
    requests, output = dialect.rate_limits(headers)
    assert (requests.kind, requests.limit, requests.remaining) == ("requests", 4000, 3999)
    assert requests.reset_seconds is not None and 25 < requests.reset_seconds <= 30
    assert (output.kind, output.limit, output.remaining, output.reset_seconds) == ("tokens", 80000, None, None)


def test_a_reset_in_the_past_is_now() -> None:
    limits = replay(scoreboard(HAIKU, "GenSync-Text")).rate_limits
    assert [limit.reset_seconds for limit in limits] == [0.0] * 4


def test_redacted_thinking_is_kept_sealed() -> None:
    body = {
        "type": "message",
        "content": [{"type": "redacted_thinking", "data": "abc"}, {"type": "text", "text": "Hi"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    reply = dialect.parse(200, {}, json.dumps(body).encode())
    assert reply.thoughts == [Thought("", "abc", redacted=True)] and reply.reasoning == "" and reply.text == "Hi"


def test_streamed_tool_call_without_input_deltas_keeps_its_start_input() -> None:
    reply = stream_of(
        '{"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":1}}}',
        '{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}',
        '{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}',
        '{"type":"content_block_stop","index":0}',
        '{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}',
        '{"type":"message_stop"}',
    )
    assert reply.tool_calls == [ToolCall("t", "f", "{}")]
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (3, 9)


# --- errors ----------------------------------------------------------------------------------------


def test_in_stream_error_event() -> None:
    with pytest.raises(ApiError) as raised:
        stream_of(
            '{"type":"message_start","message":{"usage":{}}}',
            '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
        )
    assert (raised.value.kind, raised.value.message, raised.value.code) == (ErrorKind.SERVER, "Overloaded", "overloaded_error")
    assert raised.value.retryable


def test_stream_cut_before_message_stop_is_a_transport_error() -> None:
    with pytest.raises(ApiError) as raised:
        stream_of('{"type":"message_start","message":{"usage":{}}}')
    assert raised.value.kind is ErrorKind.TRANSPORT


@pytest.mark.parametrize(
    "event",
    [
        "[1]",
        '{"type":"content_block_delta","index":5,"delta":{"type":"text_delta","text":"x"}}',
        '{"type":"content_block_start","content_block":{"type":"text","text":""}}',
        '{"type":"content_block_start","index":0}',
    ],
)
def test_broken_stream_events_are_malformed(event: str) -> None:
    with pytest.raises(ApiError) as raised:
        stream_of(event)
    assert raised.value.kind is ErrorKind.MALFORMED


@pytest.mark.parametrize(
    "body",
    [
        b'{"type":"message","content":"Hello"}',
        b'{"type":"message","content":[{"type":"text","text":42}]}',
        b'{"type":"message","content":[{"type":"tool_use","input":{}}]}',
        b'{"type":"message","content":[],"stop_reason":7}',
        b'{"content":[]}',
    ],
)
def test_broken_replies_are_malformed(body: bytes) -> None:
    with pytest.raises(ApiError) as raised:
        dialect.parse(200, {}, body)
    assert raised.value.kind is ErrorKind.MALFORMED


def test_rate_limited_carries_retry_after() -> None:
    body = b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}'
    with pytest.raises(ApiError) as raised:
        dialect.parse(429, {"retry-after": "7"}, body)
    assert (raised.value.kind, raised.value.retry_after) == (ErrorKind.RATE_LIMITED, 7.0)


def test_overloaded_529_is_a_server_error() -> None:
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    with pytest.raises(ApiError) as raised:
        dialect.parse(529, {}, body)
    assert raised.value.kind is ErrorKind.SERVER and raised.value.has_envelope


def test_html_error_page_is_a_short_server_error() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>" + b"x" * 5000 + b"</body></html>"
    with pytest.raises(ApiError) as raised:
        dialect.parse(502, {}, page)
    assert raised.value.kind is ErrorKind.SERVER and not raised.value.has_envelope
    assert raised.value.message == "502 Bad Gateway"


# --- requests --------------------------------------------------------------------------------------


def recorded_body(recorded: Interaction) -> dict[str, Any]:
    """The recorded request without what the reference added on its own: an explicit
    `thinking: disabled` and prompt-caching marks, neither of which a probe asks for."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k != "cache_control"}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    body = clean(json.loads(recorded.request_body))
    if body.get("thinking") == {"type": "disabled"}:
        del body["thinking"]
    return body


def assert_builds(recorded: Interaction, model: str, request: Request, cap: int) -> None:
    call = AnthropicDialect(BASE_URL, {"max_tokens": cap}).build(model, request)
    assert (call.method, call.url, dict(call.headers)) == (recorded.method, recorded.url, {"anthropic-version": "2023-06-01"})
    assert call.json == recorded_body(recorded)


BATTERY_PROBES = ["Text", "MaxTokens", "Stop", "Tools-SquareRoot-1", "Tools-ToolBias-Canada", "Tools-ToolBias-USA"]


@pytest.mark.parametrize("probe", BATTERY_PROBES)
@pytest.mark.parametrize("mode", ["GenSync", "GenStream"])
def test_battery_requests_match_the_recordings(mode: str, probe: str) -> None:
    request = battery[probe].request(stream=mode == "GenStream")
    if probe.startswith("Tools-ToolBias"):
        request = Request(request.messages, request.tools, "required", stream=request.stream)
    assert_builds(scoreboard(HAIKU, f"{mode}-{probe}"), HAIKU, request, 8192)


@pytest.mark.parametrize(("probe", "recorded"), [("Citations", "Citations-text-plain"), ("Citations-text-markdown",) * 2])
@pytest.mark.parametrize("mode", ["GenSync", "GenStream"])
def test_citations_requests_match_the_recordings(mode: str, probe: str, recorded: str) -> None:
    """The Markdown document goes as a text source too: the API's text source takes only text/plain."""
    request = battery[probe].request(stream=mode == "GenStream")
    assert_builds(scoreboard(HAIKU, f"{mode}-{recorded}"), HAIKU, request, 8192)


@pytest.mark.parametrize("variant", ["Inline", "URL"])
@pytest.mark.parametrize("ext", ["jpg", "png", "gif", "webp"])
def test_image_requests_match_the_recordings(ext: str, variant: str) -> None:
    recorded = scoreboard(HAIKU, f"GenSyncMultiModal-Image-{ext}-{variant}")
    source = json.loads(recorded.request_body)["messages"][0]["content"][1]["source"]
    image = next(probe for probe in battery.media if probe.name == f"Image-{ext}-{variant}")
    part = image.part(data=base64.b64decode(source["data"])) if variant == "Inline" else image.part(url=source["url"])
    request = image.request(stream=False, parts=(part,))
    assert_builds(recorded, HAIKU, request, 8192)


@pytest.mark.parametrize("mode", ["GenSync", "GenStream"])
def test_tool_round_trip_matches_the_recording(mode: str) -> None:
    first = replay(scoreboard(HAIKU, f"{mode}-Tools-SquareRoot-1"))
    results = list(tool_results(battery["Tools-SquareRoot-1"], first))
    request = battery["Tools-SquareRoot-2"].request(stream=mode == "GenStream", history=continuation(first.tool_calls, results))
    assert_builds(scoreboard(HAIKU, f"{mode}-Tools-SquareRoot-2"), HAIKU, request, 8192)


@pytest.mark.parametrize("probe", ["Text", "Stop", "Citations-text-plain", "Citations-text-markdown"])
def test_thinking_requests_match_the_recordings(probe: str) -> None:
    name = "Citations" if probe == "Citations-text-plain" else probe
    request = battery[name].request(stream=False)
    request = Request(request.messages, stop=request.stop, thinking=True)
    assert_builds(scoreboard(f"{SONNET}_thinking", f"GenSync-{probe}"), SONNET, request, 32000)


def test_thinking_tool_round_trip_sends_the_signed_thinking_back() -> None:
    first = replay(scoreboard(f"{SONNET}_thinking", "GenSync-Tools-SquareRoot-1"))
    results = list(tool_results(battery["Tools-SquareRoot-1"], first))
    history = continuation(first.tool_calls, results, first.thoughts)
    request = battery["Tools-SquareRoot-2"].request(stream=False, history=history)
    request = Request(request.messages, request.tools, request.tool_choice, thinking=True)
    assert_builds(scoreboard(f"{SONNET}_thinking", "GenSync-Tools-SquareRoot-2"), SONNET, request, 32000)


@needs_fixtures
def test_unforced_tool_call_with_thinking_matches_the_recording() -> None:
    request = battery["Tools-SquareRoot-1-any"].request(stream=True)
    request = Request(request.messages, request.tools, request.tool_choice, stream=True, thinking=True)
    assert_builds(scoreboard(f"{OPUS}_thinking", "GenStream-Tools-SquareRoot-1-any"), OPUS, request, 32000)


def test_consecutive_tool_results_share_one_user_turn() -> None:
    calls = (ToolCall("a", "f", "{}"), ToolCall("b", "f", '{"x": 1}'))
    request = Request(
        (
            Message.user("go"),
            Message("assistant", tool_calls=calls),
            Message("tool", tool_result=ToolResult("a", "f", "1")),
            Message("tool", tool_result=ToolResult("b", "f", "2")),
        )
    )
    user = dialect.build(HAIKU, request).json["messages"][2]
    assert user["role"] == "user" and [b["tool_use_id"] for b in user["content"]] == ["a", "b"]


@pytest.mark.parametrize(
    ("request_", "option", "missing"),
    [
        # The Messages API reference (checked 2026-12-06, docs/methodology.md) has no field for these.
        (Request((Message.user("hi"),), seed=42), "seed", "no seed field"),
        (Request((Message.user("hi"),), top_logprobs=2), "top_logprobs", "no field to ask for them"),
        (Request((Message.user("hi"),), json_mode=True), "json_mode", "takes only a JSON schema"),
        # Not in the battery: documents are sent as text, and a call's input is a JSON object.
        (Request((Message.user(DocumentPart("q.pdf", "application/pdf", "%PDF")),)), "document", "text documents"),
        (Request((Message.user("hi"), Message("assistant", tool_calls=(ToolCall("a", "f", "[1]"),)))), "tool call", "JSON object"),
    ],
)
def test_build_refuses_only_what_the_wire_has_no_field_for(request_: Request, option: str, missing: str) -> None:
    with pytest.raises(UnsupportedOption) as raised:
        dialect.build(HAIKU, request_)
    assert raised.value.option == option and missing in raised.value.detail


def test_a_json_schema_is_sent_as_structured_outputs() -> None:
    body = dialect.build(HAIKU, battery["JSONSchema"].request(stream=False)).json
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": battery["JSONSchema"].options["json_schema"]}}
    assert "anthropic-beta" not in dialect.build(HAIKU, battery["JSONSchema"].request(stream=False)).headers


@pytest.mark.parametrize(
    "request_",
    [
        Request((Message.user("hi"),), max_tokens=16, thinking=True),
        Request((Message.user("hi"),), tool_choice="required", thinking=True),
    ],
    ids=["max_tokens-under-the-budget", "forced-call"],
)
def test_thinking_rules_are_the_servers_to_apply(request_: Request) -> None:
    body = dialect.build(HAIKU, request_).json
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert body["max_tokens"] == (request_.max_tokens or 4096)
    assert body.get("tool_choice") == ({"type": "any"} if request_.tool_choice else None)


def test_the_server_refusing_a_forced_call_while_thinking_is_a_refusal_of_tool_choice() -> None:
    """The reference sent the same request: its recorded 400 is the provider's answer, not ours."""
    request = battery["Tools-SquareRoot-1"].request(stream=False)
    request = Request(request.messages, request.tools, request.tool_choice, thinking=True)
    recorded = scoreboard(f"{OPUS}_thinking", "GenSync-Tools-SquareRoot-1")
    assert_builds(recorded, OPUS, request, 32000)
    with pytest.raises(ApiError) as raised:
        replay(recorded)
    assert judge_force(battery["Tools-SquareRoot-1"], Exchange(error=raised.value)) == "forcing_rejected"
    assert failure_outcome(raised.value) == "unsupported"


def test_max_tokens_under_the_thinking_budget_is_measured_either_way() -> None:
    """A model without the rule answers within the cap; one with it refuses with a 400 naming max_tokens."""
    probe = battery["MaxTokens"]
    request = Request(probe.request(stream=False).messages, max_tokens=probe.request(stream=False).max_tokens, thinking=True)
    assert dialect.build(OPUS, request).json["max_tokens"] == 16
    content = [{"type": "thinking", "thinking": "Relativity is", "signature": "s"}, {"type": "text", "text": "Special relativity"}]
    answered = {"type": "message", "content": content, "stop_reason": "max_tokens", "usage": {"input_tokens": 9, "output_tokens": 16}}
    assert passed(probe, Exchange(reply=dialect.parse(200, {}, json.dumps(answered).encode())))
    message = "max_tokens must be greater than thinking.budget_tokens"
    refused = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    with pytest.raises(ApiError) as raised:
        dialect.parse(400, {}, json.dumps(refused).encode())
    assert failure_outcome(raised.value) == "unsupported"


STRUCTURED = json.dumps({"is_fruit": True})


@pytest.mark.parametrize("stream", [False, True])
def test_structured_output_answered_is_measured(stream: bool) -> None:
    probe = battery["JSONSchema"]
    dialect.build(HAIKU, probe.request(stream=stream))
    if stream:
        reply = stream_of(
            '{"type":"message_start","message":{"usage":{"input_tokens":9}}}',
            '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
            json.dumps({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": STRUCTURED}}),
            '{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}',
            '{"type":"message_stop"}',
        )
    else:
        body = {"type": "message", "content": [{"type": "text", "text": STRUCTURED}], "stop_reason": "end_turn"}
        reply = dialect.parse(200, {}, json.dumps(body).encode())
    assert passed(probe, Exchange(reply=reply))


def test_structured_output_refused_with_a_400_is_unsupported() -> None:
    error = {"type": "error", "error": {"type": "invalid_request_error", "message": "output_config.format: Extra inputs are not permitted"}}
    with pytest.raises(ApiError) as raised:
        dialect.parse(400, {}, json.dumps(error).encode())
    assert failure_outcome(raised.value) == "unsupported"


def test_images_by_url_and_inline() -> None:
    request = Request((Message.user("fruit?", AttachmentPart("image", "image/png", url="https://x.invalid/b.png"), AttachmentPart("image", "image/gif", data=b"GIF")),))
    content = dialect.build(HAIKU, request).json["messages"][0]["content"]
    assert content[1] == {"type": "image", "source": {"type": "url", "url": "https://x.invalid/b.png"}}
    assert content[2]["source"] == {"type": "base64", "media_type": "image/gif", "data": "R0lG"}


def test_auth_header() -> None:
    assert dialect.auth_headers("k") == {"x-api-key": "k"}


# --- model list ------------------------------------------------------------------------------------


def test_list_models_call_matches_the_recording() -> None:
    recorded = interaction("error-cassettes/bad_apiKey/ListModels.yaml")
    call = AnthropicDialect(BASE_URL).list_models_call(None)
    assert (call.method, call.url) == (recorded.method, recorded.url)
    assert dict(call.headers) == {"anthropic-version": "2023-06-01"}


def test_models_are_paged_by_cursor() -> None:
    listing = AnthropicDialect(BASE_URL)
    first = {"data": [{"id": "claude-a", "type": "model"}, {"id": "claude-b"}], "has_more": True, "last_id": "claude-b"}
    assert listing.parse_models(200, {}, json.dumps(first).encode()) == (["claude-a", "claude-b"], "claude-b")
    assert listing.list_models_call("claude-b").url == f"{BASE_URL}/v1/models?limit=1000&after_id=claude-b"
    last = {"data": [{"id": "claude-c"}], "has_more": False, "last_id": "claude-c"}
    assert listing.parse_models(200, {}, json.dumps(last).encode()) == (["claude-c"], None)


def test_a_model_list_without_data_is_malformed() -> None:
    with pytest.raises(ApiError) as raised:
        dialect.parse_models(200, {}, b'{"models": []}')
    assert raised.value.kind is ErrorKind.MALFORMED


# --- recording ---------------------------------------------------------------------------------------


def test_recording_through_the_dialect_writes_no_key(tmp_path: Path) -> None:
    key = "sk-ant-api03-not-a-real-key-0000000000"
    recorded = scoreboard(HAIKU, "GenSync-Text")
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = httpx.ByteStream(recorded.response_body.encode())  # a stream, as a live answer is: read once, recorded
        return httpx.Response(200, headers=replaying.headers(recorded), stream=body)

    async def run() -> None:
        transport = RecordingTransport(httpx.MockTransport(answer), tmp_path, Redactor(secrets=[key]))
        exchange = await ProviderClient(dialect, transport, api_key=key).generate(
            HAIKU, battery["Text"].request(stream=False), name=f"anthropic/{HAIKU}/sync-Text"
        )
        assert exchange.ok and exchange.reply is not None and exchange.reply.text == "Hello."

    asyncio.run(run())
    assert seen[0].headers["x-api-key"] == key
    (stored,) = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert key not in stored.read_text()
    headers = load_cassette(stored).interactions[0].request_headers
    assert "anthropic-version" in {name.lower() for name in headers}
    assert "x-api-key" not in {name.lower() for name in headers}
