"""The Cloudflare Workers AI dialect against real recorded traffic."""

from __future__ import annotations

import json

import pytest

from conftest import CLOUDFLARE_FIXTURES
from llmprobe.battery import load_battery
from llmprobe.cassettes import Interaction
from llmprobe.dialects.cloudflare import CloudflareDialect
from llmprobe.errors import ApiError, ErrorKind, UnsupportedOption
from llmprobe.judging import failure_outcome, passed
from llmprobe.neutral import (
    AttachmentPart,
    DocumentPart,
    Exchange,
    Message,
    Reply,
    Request,
    TextPart,
    ToolCall,
    ToolResult,
)
from support import replaying

FIXTURES = CLOUDFLARE_FIXTURES

BASE_URL = "https://api.cloudflare.com/client/v4/accounts/ACCOUNT_ID/ai"
SCOUT = "@cf/meta/llama-4-scout-17b-16e-instruct"
LLAMA_3B = "@cf/meta/llama-3.2-3b-instruct"
CASSETTES = sorted(p.relative_to(FIXTURES).as_posix() for p in FIXTURES.rglob("*.yaml"))

#: Every recording that must fail, with the kind and the provider's error code.
EXPECTED_ERRORS: dict[str, tuple[ErrorKind, str | None]] = {
    "error-cassettes/bad_apiKey/GenStream.yaml": (ErrorKind.AUTH, "10000"),
    "error-cassettes/bad_apiKey/GenSync.yaml": (ErrorKind.AUTH, "10000"),
    "error-cassettes/bad_apiKey/ListModels.yaml": (ErrorKind.AUTH, "10001"),
    "error-cassettes/bad_model/GenStream.yaml": (ErrorKind.NOT_FOUND, "7000"),
    "error-cassettes/bad_model/GenSync.yaml": (ErrorKind.NOT_FOUND, "7000"),
    f"scoreboard-cassettes/{LLAMA_3B}/GenSync-JSONSchema.yaml": (ErrorKind.REJECTED, "5025"),
    f"scoreboard-cassettes/{LLAMA_3B}/GenStream-JSONSchema.yaml": (ErrorKind.REJECTED, "5023"),
    # Scout streamed `"response": true`, a boolean where the wire format says string.
}

#: The battery's own tools, schema and texts: the recordings were made with them.
battery = load_battery()
SQUARE_ROOT = battery["Tools-SquareRoot-1"].tools[0]
SQUARE_ROOT_PROMPT = battery["Tools-SquareRoot-1"].prompt
IS_FRUIT_SCHEMA = battery["JSONSchema"].options["json_schema"]
QUACKILAND = battery["Citations"].document.text

dialect = CloudflareDialect(BASE_URL)


recordings = replaying.Recordings(dialect, FIXTURES)
interaction, scoreboard, replay, stream_of = recordings.interaction, recordings.scoreboard, recordings.replay, recordings.stream_of


# --- every recording -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASSETTES)
def test_every_recording_parses_or_fails_with_its_kind(name: str) -> None:
    recorded = interaction(name)
    expected = EXPECTED_ERRORS.get(name)
    if expected is None:
        reply = replay(recorded)
        assert isinstance(reply, Reply)
        assert reply.text or reply.tool_calls
        assert reply.usage.total_tokens == reply.usage.input_tokens + reply.usage.output_tokens > 0
        assert reply.finish_reason == "" and reply.raw_finish_reason == ""
        assert reply.rate_limits == []
        return
    kind, code = expected
    with pytest.raises(ApiError) as raised:
        if name.endswith("ListModels.yaml"):
            headers, body = replaying.headers(recorded), recorded.response_body.encode()
            dialect.parse_models(recorded.status, headers, body)
        else:
            replay(recorded)
    assert raised.value.kind is kind
    assert raised.value.code == code
    if code is not None:
        assert raised.value.has_envelope
        assert raised.value.status == recorded.status


def test_every_expected_error_names_a_real_recording() -> None:
    assert set(EXPECTED_ERRORS) <= set(CASSETTES)
    assert len(CASSETTES) == 45


# --- sync values ---------------------------------------------------------------------------------


def test_scout_json_object_response_becomes_compact_text() -> None:
    for probe in ("GenSync-JSON", "GenSync-JSONSchema"):
        reply = replay(scoreboard(SCOUT, probe))
        assert reply.text == '{"is_fruit":true}'
        assert json.loads(reply.text) == {"is_fruit": True}


def test_string_response_and_usage() -> None:
    reply = replay(scoreboard(LLAMA_3B, "GenSync-MaxTokens"))
    assert reply.text == "The theory of relativity, developed by Albert Einstein, is a fundamental concept in"
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.usage.total_tokens) == (22, 16, 38)
    assert reply.finish_reason == ""


def test_llama_3b_tool_call_with_object_arguments() -> None:
    reply = replay(scoreboard(LLAMA_3B, "GenSync-Tools-SquareRoot-1"))
    assert reply.text == ""
    (call,) = reply.tool_calls
    assert (call.id, call.name, call.arguments) == ("", "square_root", '{"number":132413}')
    assert call.decoded_arguments() == {"number": 132413}


def test_scout_tool_call_with_string_arguments() -> None:
    reply = replay(scoreboard(SCOUT, "GenSync-Tools-SquareRoot-1"))
    (call,) = reply.tool_calls
    assert call.id == "chatcmpl-tool-f80d516154e04ed8a42e536801bfc469"
    assert call.name == "square_root"
    assert call.arguments == '{"number": 132413}'
    assert call.decoded_arguments() == {"number": 132413}


def test_text_next_to_tool_calls_is_ignored() -> None:
    body = {
        "result": {"response": "calling it", "tool_calls": [{"name": "f", "arguments": {}}], "usage": {}},
        "success": True,
        "errors": [],
        "messages": [],
    }
    reply = dialect.parse(200, {}, json.dumps(body).encode())
    assert reply.text == "" and reply.tool_calls == [ToolCall("", "f", "{}")]


def test_inline_thinking_is_split_out() -> None:
    body = {"result": {"response": "<think>two words</think>Hello."}, "success": True, "errors": []}
    reply = dialect.parse(200, {}, json.dumps(body).encode())
    assert (reply.reasoning, reply.text) == ("two words", "Hello.")


@pytest.mark.parametrize("response", ["true", "42"])
def test_sync_scalar_response_is_malformed(response: str) -> None:
    body = f'{{"result":{{"response":{response}}},"success":true,"errors":[]}}'.encode()
    with pytest.raises(ApiError) as raised:
        dialect.parse(200, {}, body)
    assert raised.value.kind is ErrorKind.MALFORMED


# --- stream values ---------------------------------------------------------------------------------


def test_stream_text_is_concatenated_with_usage_from_the_last_chunk() -> None:
    reply = replay(scoreboard(LLAMA_3B, "GenStream-Citations-text-markdown"))
    assert reply.text == "The capital of Quackiland is Quack."
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.usage.total_tokens) == (51, 11, 62)
    assert reply.finish_reason == ""


def test_scout_stream_with_chunks_lacking_response() -> None:
    reply = replay(scoreboard(SCOUT, "GenStream-JSONSchema"))
    assert json.loads(reply.text) == {"is_fruit": True}
    assert reply.usage.total_tokens == 103


@pytest.mark.parametrize("probe", ["GenStream-Tools-SquareRoot-1", "GenStream-Tools-SquareRoot-1-any"])
def test_scout_streamed_tool_call_deltas_are_assembled(probe: str) -> None:
    reply = replay(scoreboard(SCOUT, probe))
    (call,) = reply.tool_calls
    assert call.id.startswith("chatcmpl-tool-")
    assert call.name == "square_root"
    assert call.decoded_arguments() == {"number": 132413}
    assert reply.usage.total_tokens == 343


def test_llama_3b_streams_its_tool_call_as_text() -> None:
    # No tool call on the wire, so none is reported: the JSON is the model's text.
    reply = replay(scoreboard(LLAMA_3B, "GenStream-Tools-SquareRoot-1"))
    assert reply.tool_calls == []
    assert json.loads(reply.text) == {"name": "square_root", "parameters": {"number": 132413}}


def test_boolean_response_token_is_json_text() -> None:
    """Scout streams the JSON token `true` as a JSON value (D20): it is the text `true`."""
    assert replay(scoreboard(SCOUT, "GenStream-JSON")).text == '{"is_fruit":true}'


def test_object_response_token_is_still_malformed() -> None:
    with pytest.raises(ApiError) as raised:
        stream_of('{"response": {"a": 1}}', "[DONE]")
    assert raised.value.kind is ErrorKind.MALFORMED


def test_interleaved_tool_call_deltas_keep_their_index() -> None:
    reply = stream_of(
        '{"tool_calls":[{"id":"a","type":"function","index":0,"function":{"name":"f"}}]}',
        '{"tool_calls":[{"id":"b","type":"function","index":1,"function":{"name":"g"}}]}',
        '{"tool_calls":[{"index":1,"function":{"arguments":"{\\"y\\":"}}]}',
        '{"tool_calls":[{"index":0,"function":{"arguments":"{\\"x\\":1}"}}]}',
        '{"tool_calls":[{"index":1,"function":{"arguments":"2}"}}]}',
        "[DONE]",
    )
    assert reply.tool_calls == [ToolCall("a", "f", '{"x":1}'), ToolCall("b", "g", '{"y":2}')]


def test_tool_call_delta_without_a_name_is_malformed() -> None:
    with pytest.raises(ApiError) as raised:
        stream_of('{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}', "[DONE]")
    assert raised.value.kind is ErrorKind.MALFORMED


def test_stream_cut_before_done_is_a_transport_error() -> None:
    with pytest.raises(ApiError) as raised:
        stream_of('{"response":"Hel","p":"abc"}')
    assert raised.value.kind is ErrorKind.TRANSPORT


def test_in_stream_error_object() -> None:
    with pytest.raises(ApiError) as raised:
        stream_of(
            '{"response":"Hel"}',
            '{"errors":[{"code":3040,"message":"Capacity temporarily exceeded"}],"success":false}',
        )
    assert raised.value.kind is ErrorKind.RATE_LIMITED
    assert (raised.value.message, raised.value.code) == ("Capacity temporarily exceeded", "3040")


def test_undecodable_stream_chunk_is_unreadable() -> None:
    with pytest.raises(ApiError) as raised:
        stream_of("<html>oops</html>")
    assert raised.value.kind is ErrorKind.UNREADABLE


# --- errors ----------------------------------------------------------------------------------------


def test_recorded_error_messages_are_the_first_error() -> None:
    with pytest.raises(ApiError) as raised:
        replay(scoreboard(LLAMA_3B, "GenSync-JSONSchema"))
    assert raised.value.message.startswith("AiError: Ai: This model doesn't suuport JSON Schema.")
    with pytest.raises(ApiError) as raised:
        replay(interaction("error-cassettes/bad_model/GenSync.yaml"))
    assert raised.value.message == "No route for that URI"


def test_success_false_with_status_200_is_the_server_failing() -> None:
    """No answer about the request (docs/methodology.md, "No answer"): the provider failed after accepting it."""
    body = b'{"result":null,"success":false,"errors":[{"code":5006,"message":"bad input"}],"messages":[]}'
    with pytest.raises(ApiError) as raised:
        dialect.parse(200, {}, body)
    assert (raised.value.kind, raised.value.message, raised.value.code) == (ErrorKind.SERVER, "bad input", "5006")


def test_rate_limited_carries_retry_after() -> None:
    body = b'{"result":null,"success":false,"errors":[{"code":3036,"message":"limit"}],"messages":[]}'
    with pytest.raises(ApiError) as raised:
        dialect.parse(429, {"Retry-After": "7"}, body)
    assert raised.value.kind is ErrorKind.RATE_LIMITED and raised.value.retry_after == 7.0
    assert raised.value.retryable


def test_html_error_page_becomes_a_short_server_error() -> None:
    page = b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>" + b"x" * 5000 + b"</body></html>"
    with pytest.raises(ApiError) as raised:
        dialect.parse(502, {}, page)
    error = raised.value
    assert error.kind is ErrorKind.SERVER and not error.has_envelope
    assert "\n" not in error.message and len(error.message) < 200
    assert "502 Bad Gateway" in error.message


def test_undecodable_4xx_is_rejected() -> None:
    with pytest.raises(ApiError) as raised:
        dialect.parse(400, {}, b"Bad Request")
    assert raised.value.kind is ErrorKind.REJECTED and not raised.value.has_envelope


def test_undecodable_2xx_is_unreadable() -> None:
    with pytest.raises(ApiError) as raised:
        dialect.parse(200, {}, b"data: not what we asked for")
    assert raised.value.kind is ErrorKind.UNREADABLE


# --- requests --------------------------------------------------------------------------------------


def assert_builds(recorded: Interaction, model: str, request: Request) -> None:
    """Our request is the recorded one, as JSON: the battery writes a schema's keys in its own order."""
    call = dialect.build(model, request)
    assert (call.method, call.url) == (recorded.method, recorded.url)
    assert call.json == json.loads(recorded.request_body)


def test_build_splits_a_multi_part_user_message() -> None:
    document = DocumentPart("quackiland.txt", "text/plain", QUACKILAND)
    request = Request((Message.user(document, "What is the capital of Quackiland?"),))
    assert_builds(scoreboard(SCOUT, "GenSync-Citations-text-plain"), SCOUT, request)
    assert dialect.build(SCOUT, request).json["messages"] == [
        {"role": "user", "content": QUACKILAND},
        {"role": "user", "content": "What is the capital of Quackiland?"},
    ]


@pytest.mark.parametrize(("probe", "recorded"), [("Citations", "Citations-text-plain"), ("Citations-text-markdown",) * 2])
@pytest.mark.parametrize("mode", ["GenSync", "GenStream"])
def test_citations_requests_match_the_recordings(mode: str, probe: str, recorded: str) -> None:
    """Both documents are the bare text, a user message before the question's."""
    request = load_battery()[probe].request(stream=mode == "GenStream")
    assert_builds(scoreboard(SCOUT, f"{mode}-{recorded}"), SCOUT, request)


def test_build_tool_turns_with_call_ids() -> None:
    call_id = "chatcmpl-tool-f80d516154e04ed8a42e536801bfc469"
    request = Request(
        (
            Message.user(SQUARE_ROOT_PROMPT),
            Message("assistant", tool_calls=(ToolCall(call_id, "square_root", '{"number": 132413}'),)),
            Message("tool", tool_result=ToolResult(call_id, "square_root", "363.89")),
        ),
        tools=(SQUARE_ROOT,),
    )
    assert_builds(scoreboard(SCOUT, "GenSync-Tools-SquareRoot-2"), SCOUT, request)


def test_build_tool_turns_without_call_ids() -> None:
    request = Request(
        (
            Message.user(SQUARE_ROOT_PROMPT),
            Message("assistant", tool_calls=(ToolCall("", "square_root", '{"number":132413}'),)),
            Message("tool", tool_result=ToolResult("", "square_root", "363.89")),
        ),
        tools=(SQUARE_ROOT,),
        tool_choice="auto",
    )
    assert_builds(scoreboard(LLAMA_3B, "GenSync-Tools-SquareRoot-2"), LLAMA_3B, request)


def test_build_json_schema_stream() -> None:
    prompt = "Is a banana a fruit? Do not include an explanation. Reply ONLY as JSON."
    request = Request((Message.user(prompt),), json_schema=IS_FRUIT_SCHEMA, stream=True)
    assert_builds(scoreboard(LLAMA_3B, "GenStream-JSONSchema"), LLAMA_3B, request)
    response_format = dialect.build(LLAMA_3B, request).json["response_format"]
    assert response_format == {"type": "json_schema", "json_schema": IS_FRUIT_SCHEMA}


def test_build_json_mode_and_max_tokens_and_seed() -> None:
    json_prompt = (
        "Is a banana a fruit? Do not include an explanation. "
        'Reply ONLY as JSON according to the provided schema: {"is_fruit": bool}.'
    )
    assert_builds(scoreboard(SCOUT, "GenSync-JSON"), SCOUT, Request((Message.user(json_prompt),), json_mode=True))
    relativity_prompt = "Explain the theory of relativity in great details."
    relativity = Request((Message.user(relativity_prompt),), max_tokens=16, stream=True)
    assert_builds(scoreboard(SCOUT, "GenStream-MaxTokens"), SCOUT, relativity)
    hello = Request((Message.user("Say hello. Use only one word."),), seed=42)
    assert_builds(scoreboard(LLAMA_3B, "GenSync-Seed"), LLAMA_3B, hello)


def test_build_escapes_spaces_in_the_model_id() -> None:
    recorded = interaction("error-cassettes/bad_model/GenStream.yaml")
    assert_builds(recorded, "bad model", Request((Message.user("Tell a short joke."),), stream=True))


@pytest.mark.parametrize(
    ("request_", "option"),
    [
        (Request((Message.user("hi"),), tools=(SQUARE_ROOT,), tool_choice="required"), "tool_choice"),
        (Request((Message.user("hi"),), tools=(SQUARE_ROOT,), tool_choice="none"), "tool_choice"),
        (Request((Message.user("Canada"),), stop=("is",)), "stop"),
        (Request((Message.user("hi"),), top_logprobs=2), "top_logprobs"),
        (Request((Message.user(DocumentPart("q.pdf", "application/pdf", "%PDF")),)), "document input"),
    ],
)
def test_build_refuses_what_the_wire_cannot_carry(request_: Request, option: str) -> None:
    """The /ai/run input schemas (model pages and @cloudflare/workers-types 4.20251118.0, checked
    2026-12-06) have no tool_choice, stop or logprobs field; documents go as text."""
    with pytest.raises(UnsupportedOption) as raised:
        dialect.build(SCOUT, request_)
    assert raised.value.option == option
    assert "input schema has no" in raised.value.detail or option == "document input"


@pytest.mark.parametrize(
    ("part", "url"),
    [
        (AttachmentPart("image", "image/png", data=b"\x89PNG"), "data:image/png;base64,iVBORw=="),
        (AttachmentPart("image", "image/jpeg", url="https://x.invalid/banana.jpg"), "https://x.invalid/banana.jpg"),
    ],
)
def test_a_picture_is_sent_as_an_image_url_part(part: AttachmentPart, url: str) -> None:
    """Which model takes pictures is its schema's to answer (Llama 4 Scout's takes `image_url` parts)."""
    messages = dialect.build(SCOUT, Request((Message.user("What fruit is it?", part),))).json["messages"]
    assert messages == [
        {"role": "user", "content": "What fruit is it?"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]},
    ]


def test_a_picture_answered_is_measured_and_refused_is_not() -> None:
    probe = battery.media[0]
    dialect.build(SCOUT, probe.request(stream=False, parts=(probe.part(data=b"\xff\xd8"),)))
    answered = dialect.parse(200, {}, json.dumps({"result": {"response": "Banana."}, "success": True}).encode())
    assert passed(probe, Exchange(reply=answered))
    refused = {"result": None, "success": False, "errors": [{"code": 5006, "message": "AiError: Type mismatch of '/messages/1/content'"}]}
    with pytest.raises(ApiError) as raised:
        dialect.parse(400, {}, json.dumps(refused).encode())
    assert failure_outcome(raised.value) == "unsupported"


def test_unsupported_document_names_the_document() -> None:
    with pytest.raises(UnsupportedOption) as raised:
        dialect.build(SCOUT, Request((Message.user(DocumentPart("q.pdf", "application/pdf", "%PDF")),)))
    assert "q.pdf" in str(raised.value)


def test_assistant_text_turn_stays_a_string() -> None:
    request = Request((Message.user("hi"), Message("assistant", (TextPart("Hello!"),)), Message.user("again")))
    assert dialect.build(SCOUT, request).json["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "again"},
    ]


def test_auth_is_bearer() -> None:
    assert dialect.auth_headers("k") == {"Authorization": "Bearer k"}


# --- model list ------------------------------------------------------------------------------------


def test_list_models_call_matches_the_recording() -> None:
    recorded = interaction("error-cassettes/bad_apiKey/ListModels.yaml")
    call = dialect.list_models_call(None)
    assert (call.method, call.url) == (recorded.method, recorded.url)


@pytest.mark.parametrize(("page", "total", "following"), [(1, 101, "2"), (2, 101, None), (1, 100, None)])
def test_parse_models_reads_names_and_paging(page: int, total: int, following: str | None) -> None:
    body = {
        "success": True,
        "result": [{"id": "uuid-1", "name": "@cf/meta/llama-3.2-3b-instruct"}, {"id": "uuid-2", "name": SCOUT}],
        "result_info": {"count": 2, "page": page, "per_page": 100, "total_count": total},
        "errors": [],
        "messages": [],
    }
    ids, cursor = dialect.parse_models(200, {}, json.dumps(body).encode())
    assert ids == ["@cf/meta/llama-3.2-3b-instruct", SCOUT]
    assert cursor == following
    if following:
        assert f"page={following}&" in dialect.list_models_call(cursor).url
