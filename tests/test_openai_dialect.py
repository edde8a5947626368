"""OpenAIDialect against every recorded Groq exchange, plus exact request bodies and edge cases."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from fnmatch import fnmatch
from pathlib import Path

import pytest

from conftest import FIXTURES, GROQ_FIXTURES
from llmprobe.battery import load_battery
from llmprobe.cassettes import Interaction, load_cassette
from llmprobe.dialects.openai import OpenAIDialect
from llmprobe.errors import ApiError, ErrorKind, UnsupportedOption
from llmprobe.neutral import (
    AttachmentPart,
    DocumentPart,
    Message,
    RateLimit,
    Reply,
    Request,
    TextPart,
    TokenLogprob,
    Tool,
    ToolCall,
    ToolResult,
)
from llmprobe.sse import SseEvent
from support import replaying

GROQ = GROQ_FIXTURES
CASSETTES = sorted(GROQ.rglob("*.yaml")) if GROQ.is_dir() else []
needs_fixtures = pytest.mark.needs_shared

DIALECT = OpenAIDialect("https://api.groq.com/openai/v1")

#: Every recorded exchange that must fail, and how; everything else must parse into a Reply.
TEXT_ONLY_MODELS = (
    "llama-3.1-8b-instant",
    "llama-3.3-70b-versatile",
    "deepseek-r1-distill-llama-70b_thinking",
    "qwen/qwen3-32b_thinking",
    "moonshotai/kimi-k2-instruct",
    "openai/gpt-oss-20b_thinking",
    "openai/gpt-oss-120b_thinking",
)
EXPECTED_ERRORS = [
    ("error-cassettes/bad_apiKey/*", ErrorKind.AUTH, 401),
    ("error-cassettes/bad_model/*", ErrorKind.NOT_FOUND, 404),
    # Groq's capability check, or the standard-shape complaint "json schema is required".
    ("scoreboard-cassettes/*/GenS*-JSONSchema.yaml", ErrorKind.REJECTED, 400),
    # Sync: HTTP 400; stream: HTTP 200 with `event: error` carrying status_code 400.
    ("scoreboard-cassettes/llama-3.1-8b-instant/GenS*-Tools-SquareRoot-1.yaml", ErrorKind.MODEL_FAILED, 400),
    ("scoreboard-cassettes/moonshotai/kimi-k2-instruct/GenS*-Tools-SquareRoot-1.yaml", ErrorKind.MODEL_FAILED, 400),
    *((f"scoreboard-cassettes/{m}/GenS*MultiModal-Image-*", ErrorKind.REJECTED, 400) for m in TEXT_ONLY_MODELS),
]


def expected_error(relative: str) -> tuple[ErrorKind, int] | None:
    for pattern, kind, status in EXPECTED_ERRORS:
        if fnmatch(relative, pattern):
            return kind, status
    return None


def interaction(relative: str) -> Interaction:
    return load_cassette(GROQ / relative).interactions[0]


def replay(item: Interaction) -> Reply:
    return replaying.replay(DIALECT, item)


def scoreboard(relative: str) -> Reply:
    return replay(interaction(f"scoreboard-cassettes/{relative}"))


# --- every recording ----------------------------------------------------------------


@pytest.mark.parametrize("path", CASSETTES, ids=lambda p: str(p.relative_to(GROQ)))
def test_every_recording_parses_or_fails_as_expected(path: Path) -> None:
    relative = str(path.relative_to(GROQ))
    expected = expected_error(relative)
    for item in load_cassette(path).interactions:
        if item.method == "GET":
            with pytest.raises(ApiError) as failure:
                DIALECT.parse_models(item.status, replaying.headers(item), item.response_body.encode())
        elif expected is None:
            reply = replay(item)
            assert reply.text or reply.reasoning or reply.tool_calls
            assert reply.finish_reason in ("stop", "length", "tool_calls")
            assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
            assert reply.usage.total_tokens == reply.usage.input_tokens + reply.usage.output_tokens
            assert [limit.kind for limit in reply.rate_limits] == ["requests", "tokens"]
            continue
        else:
            with pytest.raises(ApiError) as failure:
                replay(item)
        assert expected is not None, f"{relative} failed unexpectedly: {failure.value}"
        assert (failure.value.kind, failure.value.status) == expected
        assert failure.value.has_envelope
        assert failure.value.message and "\n" not in failure.value.message


@needs_fixtures
def test_fixture_set_is_complete() -> None:
    """Guards the parametrisation above against silently testing nothing."""
    assert len(CASSETTES) == 363
    assert sum(expected_error(str(p.relative_to(GROQ))) is not None for p in CASSETTES) == 139


# --- values from specific recordings --------------------------------------------------


def test_sync_text_values() -> None:
    reply = scoreboard("llama-3.1-8b-instant/GenSync-Text.yaml")
    assert reply.text == "Hello."
    assert reply.reasoning == ""
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.usage.total_tokens) == (43, 3, 46)
    assert (reply.finish_reason, reply.raw_finish_reason) == ("stop", "stop")
    assert reply.rate_limits == [
        RateLimit("requests", 500000, 499999, pytest.approx(0.172799999)),
        RateLimit("tokens", 250000, 249987, pytest.approx(0.00312)),
    ]


def test_stream_text_concatenates_and_takes_usage_from_x_groq() -> None:
    reply = scoreboard("llama-3.1-8b-instant/GenStream-Text.yaml")
    assert reply.text == "Hello."
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.usage.total_tokens) == (43, 3, 46)
    assert reply.finish_reason == "stop"
    assert reply.rate_limits[0] == RateLimit("requests", 500000, 499998, pytest.approx(0.3446))


@needs_fixtures
@pytest.mark.parametrize("mode", ["GenSync", "GenStream"])
def test_tool_call(mode: str) -> None:
    reply = scoreboard(f"llama-3.3-70b-versatile/{mode}-Tools-SquareRoot-1.yaml")
    assert reply.text == ""
    assert [(c.name, c.decoded_arguments()) for c in reply.tool_calls] == [("square_root", {"number": 132413})]
    assert reply.tool_calls[0].id
    assert reply.finish_reason == "tool_calls"


@pytest.mark.parametrize("mode", ["GenSync", "GenStream"])
def test_tool_bias_with_two_calls(mode: str) -> None:
    reply = scoreboard(f"llama-3.1-8b-instant/{mode}-Tools-ToolBias-USA.yaml")
    assert [c.decoded_arguments() for c in reply.tool_calls] == [{"country": "USA"}, {"country": "Canada"}]
    assert len({c.id for c in reply.tool_calls}) == 2


@needs_fixtures
@pytest.mark.parametrize("mode", ["GenSync", "GenStream"])
def test_inline_think_is_split_from_text(mode: str) -> None:
    reply = scoreboard(f"qwen/qwen3-32b_thinking/{mode}-Text.yaml")
    assert reply.text == "Hello."
    assert reply.reasoning.startswith("Okay, the user")
    assert "<think>" not in reply.reasoning + reply.text


@needs_fixtures
@pytest.mark.parametrize("mode", ["GenSync", "GenStream"])
def test_reasoning_field(mode: str) -> None:
    reply = scoreboard(f"openai/gpt-oss-20b_thinking/{mode}-Text.yaml")
    assert reply.text == "Hello"
    assert "one word" in reply.reasoning


@needs_fixtures
@pytest.mark.parametrize("mode", ["GenSync", "GenStream"])
def test_max_tokens_cuts_inside_unterminated_think(mode: str) -> None:
    reply = scoreboard(f"qwen/qwen3-32b_thinking/{mode}-MaxTokens.yaml")
    assert reply.text == ""
    assert reply.reasoning.startswith("Okay,")
    assert (reply.finish_reason, reply.raw_finish_reason) == ("length", "length")


def test_max_tokens_finish_length() -> None:
    reply = scoreboard("llama-3.1-8b-instant/GenSync-MaxTokens.yaml")
    assert reply.finish_reason == "length"
    assert reply.text.startswith("The theory of relativity")
    assert reply.usage.output_tokens == 16


def test_sync_tool_use_failed_keeps_failed_generation_as_evidence() -> None:
    with pytest.raises(ApiError) as failure:
        scoreboard("llama-3.1-8b-instant/GenSync-Tools-SquareRoot-1.yaml")
    assert failure.value.kind is ErrorKind.MODEL_FAILED
    assert failure.value.code == "tool_use_failed"
    assert '<function= square_root >{"number": 132413}' in failure.value.message


def test_stream_error_event_with_http_200() -> None:
    item = interaction("scoreboard-cassettes/moonshotai/kimi-k2-instruct/GenStream-Tools-SquareRoot-1.yaml")
    assert item.status == 200
    with pytest.raises(ApiError) as failure:
        replay(item)
    assert (failure.value.kind, failure.value.status, failure.value.code) == (ErrorKind.MODEL_FAILED, 400, "tool_use_failed")
    assert "364.023" in failure.value.message


@pytest.mark.parametrize(
    ("relative", "kind", "message"),
    [
        case
        for case in [
            ("error-cassettes/bad_apiKey/GenSync.yaml", ErrorKind.AUTH, "Invalid API Key"),
            ("error-cassettes/bad_model/GenStream.yaml", ErrorKind.NOT_FOUND, "The model `bad model` does not exist"),
            ("scoreboard-cassettes/llama-3.1-8b-instant/GenSync-JSONSchema.yaml", ErrorKind.REJECTED, "does not support response format `json_schema`"),
            ("scoreboard-cassettes/qwen/qwen3-32b_thinking/GenSyncMultiModal-Image-png-Inline.yaml", ErrorKind.REJECTED, "messages[0].content must be a string"),
        ]
        if (GROQ / case[0]).exists()
    ],
)
def test_error_recordings(relative: str, kind: ErrorKind, message: str) -> None:
    with pytest.raises(ApiError) as failure:
        replay(interaction(relative))
    assert failure.value.kind is kind
    assert message in failure.value.message
    assert not failure.value.retryable


def test_bad_key_on_models() -> None:
    item = interaction("error-cassettes/bad_apiKey/ListModels.yaml")
    assert DIALECT.list_models_call(None).url == item.url
    with pytest.raises(ApiError) as failure:
        DIALECT.parse_models(item.status, replaying.headers(item), item.response_body.encode())
    assert (failure.value.kind, failure.value.code) == (ErrorKind.AUTH, "invalid_api_key")


@pytest.mark.parametrize("probe", ["Text", "Seed", "Stop", "JSON", "MaxTokens"])
def test_sync_request_matches_recording_byte_for_byte(probe: str) -> None:
    """Same key order as the reference, so its sync recordings can be replayed (Go's
    JSON encoder ends the body with a newline; that is the sender's business)."""
    item = interaction(f"scoreboard-cassettes/llama-3.1-8b-instant/GenSync-{probe}.yaml")
    recorded = json.loads(item.request_body)
    request = Request(
        messages=(Message.user(recorded["messages"][0]["content"]),),
        json_mode="response_format" in recorded,
        seed=recorded.get("seed"),
        stop=tuple(recorded.get("stop", ())),
        max_tokens=recorded.get("max_completion_tokens"),
    )
    call = DIALECT.build("llama-3.1-8b-instant", request)
    assert (call.method, call.url) == (item.method, item.url)
    assert json.dumps(call.json, separators=(",", ":")) + "\n" == item.request_body


def test_citations_requests_match_the_recordings() -> None:
    """Each document is a bare text part before the question, as the reference sent both: the plain
    one byte for byte as Groq recorded it, the Markdown one as Perplexity did (its own fields aside)."""
    battery = load_battery()
    item = interaction("scoreboard-cassettes/llama-3.1-8b-instant/GenSync-Citations.yaml")
    call = DIALECT.build("llama-3.1-8b-instant", battery["Citations"].request(stream=False))
    assert json.dumps(call.json, separators=(",", ":")) + "\n" == item.request_body
    sonar = FIXTURES / "perplexity-2025-09-02/scoreboard-cassettes/sonar-pro"
    for mode in ("Sync", "Stream"):
        recorded = json.loads(load_cassette(sonar / f"Gen{mode}-Citations-text-markdown.yaml").interactions[0].request_body)
        call = DIALECT.build("sonar-pro", battery["Citations-text-markdown"].request(stream=mode == "Stream"))
        assert call.json["messages"] == recorded["messages"]


# --- build --------------------------------------------------------------------------


def body(request: Request, dialect: OpenAIDialect = DIALECT) -> dict:
    return dialect.build("m", request).json


HELLO = (Message.user("hi"),)


def test_build_plain_request() -> None:
    call = DIALECT.build("m", Request(HELLO))
    assert (call.method, call.url) == ("POST", "https://api.groq.com/openai/v1/chat/completions")
    assert call.json == {"messages": [{"role": "user", "content": "hi"}], "model": "m", "stream": False}


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (Request(HELLO, json_mode=True), {"response_format": {"type": "json_object"}}),
        (
            Request(HELLO, json_schema={"type": "object"}, json_schema_name="fruit"),
            {"response_format": {"type": "json_schema", "json_schema": {"name": "fruit", "schema": {"type": "object"}, "strict": True}}},
        ),
        (Request(HELLO, seed=42), {"seed": 42}),
        (Request(HELLO, stop=("is",)), {"stop": ["is"]}),
        (Request(HELLO, max_tokens=16), {"max_completion_tokens": 16}),
        (Request(HELLO, top_logprobs=2), {"logprobs": True, "top_logprobs": 2}),
        (Request(HELLO, stream=True), {"stream": True, "stream_options": {"include_usage": True}}),
        (Request(HELLO, tool_choice="none"), {"tool_choice": "none"}),
    ],
)
def test_build_options(request_: Request, expected: dict) -> None:
    assert body(request_) == {"messages": [{"role": "user", "content": "hi"}], "model": "m", "stream": False, **expected}


def test_build_max_tokens_field_for_older_servers() -> None:
    dialect = OpenAIDialect("http://127.0.0.1:8080/v1/", {"max_tokens_field": "max_tokens"})
    call = dialect.build("m", Request(HELLO, max_tokens=16))
    assert call.url == "http://127.0.0.1:8080/v1/chat/completions"
    assert call.json["max_tokens"] == 16 and "max_completion_tokens" not in call.json


def test_build_tools() -> None:
    tool = Tool("square_root", "Square root of a number", {"type": "object", "properties": {"number": {"type": "number"}}})
    assert body(Request(HELLO, tools=(tool,), tool_choice="required")) == {
        "messages": [{"role": "user", "content": "hi"}],
        "model": "m",
        "stream": False,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "square_root",
                    "description": "Square root of a number",
                    "parameters": {"type": "object", "properties": {"number": {"type": "number"}}},
                },
            }
        ],
        "tool_choice": "required",
    }


def test_build_tool_turn_conversation() -> None:
    call = ToolCall("call_1", "square_root", '{"number":132413}')
    messages = (
        Message.user("root of 132413?"),
        Message("assistant", tool_calls=(call,)),
        Message("tool", tool_result=ToolResult("call_1", "square_root", "363.89")),
    )
    assert body(Request(messages))["messages"] == [
        {"role": "user", "content": "root of 132413?"},
        {
            "role": "assistant",
            "tool_calls": [{"type": "function", "id": "call_1", "function": {"name": "square_root", "arguments": '{"number":132413}'}}],
        },
        {"role": "tool", "content": "363.89", "tool_call_id": "call_1"},
    ]


def test_build_multipart_user_message() -> None:
    message = Message.user(
        "What fruit is it?",
        AttachmentPart("image", "image/png", data=b"\x89PNG"),
        AttachmentPart("image", "image/jpeg", url="https://example.com/banana.jpg"),
        DocumentPart("quack.txt", "text/plain", "The capital of Quackiland is Quack."),
    )
    assert body(Request((message,)))["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What fruit is it?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/banana.jpg"}},
                {"type": "text", "text": "The capital of Quackiland is Quack."},
            ],
        }
    ]


def test_build_two_text_parts_stay_an_array() -> None:
    message = Message.user("Say hello.", TextPart("/think"))
    assert body(Request((message,)))["messages"][0]["content"] == [
        {"type": "text", "text": "Say hello."},
        {"type": "text", "text": "/think"},
    ]


def test_build_refuses_what_it_cannot_express() -> None:
    with pytest.raises(UnsupportedOption, match="json_mode"):
        DIALECT.build("m", Request(HELLO, json_mode=True, json_schema={"type": "object"}))
    pdf = Message.user(DocumentPart("paper.pdf", "application/pdf", "..."))
    with pytest.raises(UnsupportedOption, match="application/pdf"):
        DIALECT.build("m", Request((pdf,)))


def test_auth_and_models() -> None:
    assert DIALECT.auth_headers("sk-1") == {"Authorization": "Bearer sk-1"}
    call = DIALECT.list_models_call(None)
    assert (call.method, call.url) == ("GET", "https://api.groq.com/openai/v1/models")
    listing = {"object": "list", "data": [{"id": "a", "object": "model"}, {"id": "b", "object": "model"}]}
    assert DIALECT.parse_models(200, {}, json.dumps(listing).encode()) == (["a", "b"], None)
    with pytest.raises(ApiError) as failure:
        DIALECT.parse_models(200, {}, b'{"models": []}')
    assert failure.value.kind is ErrorKind.MALFORMED


# --- parse edge cases ---------------------------------------------------------------


def sync(message: dict, choices_logprobs: dict | None = None, **extra: object) -> Reply:
    choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": choices_logprobs}
    return DIALECT.parse(200, {}, json.dumps({"choices": [choice], **extra}).encode())


def test_parse_optional_extras() -> None:
    reply = sync(
        {
            "role": "assistant",
            "content": "Quack.",
            "reasoning_content": "The document says so.",
            "annotations": [
                {"type": "url_citation", "url_citation": {"url": "https://example.com/quack", "title": "Quack"}},
                {"type": "file_citation", "file_citation": {"file_id": "f"}},
            ],
        },
        usage={
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 3},
        },
    )
    assert (reply.text, reply.reasoning) == ("Quack.", "The document says so.")
    assert reply.citations == ["https://example.com/quack"]
    assert (reply.usage.cached_tokens, reply.usage.reasoning_tokens) == (4, 3)


def test_parse_logprobs() -> None:
    payload = {
        "choices": [
            {
                "message": {"role": "assistant", "content": "Hi"},
                "finish_reason": "stop",
                "logprobs": {
                    "content": [
                        {"token": "Hi", "logprob": -0.1, "top_logprobs": [{"token": "Hi", "logprob": -0.1}, {"token": "Hello", "logprob": -2.5}]}
                    ]
                },
            }
        ]
    }
    reply = DIALECT.parse(200, {}, json.dumps(payload).encode())
    assert reply.logprobs == [TokenLogprob("Hi", -0.1, (("Hi", -0.1), ("Hello", -2.5)))]


def test_parse_unknown_finish_reason_is_kept() -> None:
    payload = {"choices": [{"message": {"content": "x"}, "finish_reason": "eos_token"}]}
    reply = DIALECT.parse(200, {}, json.dumps(payload).encode())
    assert (reply.finish_reason, reply.raw_finish_reason) == ("other", "eos_token")


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"<html>oops</html>", ErrorKind.UNREADABLE),
        (b'{"id": "x"}', ErrorKind.MALFORMED),
        (b'{"choices": []}', ErrorKind.MALFORMED),
        (b"[1]", ErrorKind.MALFORMED),
        (b'{"choices": [{"message": {"content": 7}}]}', ErrorKind.MALFORMED),
    ],
)
def test_parse_malformed_2xx(raw: bytes, kind: ErrorKind) -> None:
    """Bytes that are not JSON cannot be read at all; JSON of the wrong shape breaks the wire format."""
    with pytest.raises(ApiError) as failure:
        DIALECT.parse(200, {}, raw)
    assert failure.value.kind is kind


@pytest.mark.parametrize(
    ("status", "raw", "kind", "message"),
    [
        (403, b'{"error": "forbidden"}', ErrorKind.AUTH, "forbidden"),
        (400, b'{"error": {"message": "no", "code": "model_not_found"}}', ErrorKind.NOT_FOUND, "no"),
        (408, b'{"error": {"message": "slow"}}', ErrorKind.SERVER, "slow"),
        (409, b'{"error": {"message": "busy"}}', ErrorKind.SERVER, "busy"),
        (422, b'{"detail": [{"loc": ["body"], "msg": "Input should be \'text\'", "type": "x"}]}', ErrorKind.REJECTED, "Input should be 'text'"),
        (500, b'{"detail": "boom"}', ErrorKind.SERVER, "boom"),
        (400, b'{"object": "error", "message": "bad value", "type": "BadRequestError", "code": 400}', ErrorKind.REJECTED, "bad value"),
        (400, b'{"error": {"type": "invalid_request_error"}}', ErrorKind.REJECTED, "invalid_request_error"),
        # Cerebras: unwrapped {message, type, param, code}.
        (404, b'{"message":"Model bad model does not exist.","type":"not_found_error","param":"model","code":"model_not_found"}', ErrorKind.NOT_FOUND, "Model bad model does not exist."),
        (400, b'{"message":"Unsupported tool_choice: required.","type":"invalid_request_error","param":"tool_choice","code":"wrong_api_format"}', ErrorKind.REJECTED, "Unsupported tool_choice: required."),
        # Hugging Face's router.
        (400, b'{"code":400, "reason":"INVALID_REQUEST_BODY", "message":"model features vision not support", "metadata":{}}', ErrorKind.REJECTED, "model features vision not support"),
        # Mistral.
        (400, b'{"object":"error","message":"Invalid model: bad model","type":"invalid_model","param":null,"code":"1500"}', ErrorKind.REJECTED, "Invalid model: bad model"),
        # Ollama-style {error: "text"}.
        (404, b'{"error":"model \\"bad_model\\" not found, try pulling it first"}', ErrorKind.NOT_FOUND, 'model "bad_model" not found, try pulling it first'),
    ],
)
def test_parse_error_envelopes(status: int, raw: bytes, kind: ErrorKind, message: str) -> None:
    with pytest.raises(ApiError) as failure:
        DIALECT.parse(status, {}, raw)
    assert (failure.value.kind, failure.value.status, failure.value.has_envelope) == (kind, status, True)
    assert message in failure.value.message


def test_parse_html_error_page_is_one_short_line() -> None:
    page = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>" + b"<p>filler</p>" * 500 + b"</body></html>"
    with pytest.raises(ApiError) as failure:
        DIALECT.parse(502, {}, page)
    assert (failure.value.kind, failure.value.message, failure.value.has_envelope) == (ErrorKind.SERVER, "502 Bad Gateway", False)
    with pytest.raises(ApiError) as failure:
        DIALECT.parse(503, {}, b"x" * 10_000)
    assert len(failure.value.message) <= 120
    with pytest.raises(ApiError) as failure:
        DIALECT.parse(500, {}, b"")
    assert failure.value.message == "empty body"


def test_parse_redirect_is_not_the_wire_format() -> None:
    with pytest.raises(ApiError) as failure:
        DIALECT.parse(302, {"Location": "/login"}, b"")
    assert failure.value.kind is ErrorKind.MALFORMED


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after-ms": "1500", "Retry-After": "2"}, 1.5),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_rate_limited_retry_after(headers: dict, seconds: float | None) -> None:
    with pytest.raises(ApiError) as failure:
        DIALECT.parse(429, headers, b'{"error": {"message": "slow down", "code": "rate_limit_exceeded"}}')
    assert failure.value.kind is ErrorKind.RATE_LIMITED and failure.value.retryable
    assert failure.value.retry_after == seconds


def test_retry_after_as_http_date() -> None:
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    with pytest.raises(ApiError) as failure:
        DIALECT.parse(503, {"Retry-After": when}, b"Service Unavailable")
    assert failure.value.kind is ErrorKind.SERVER
    assert failure.value.retry_after == pytest.approx(30, abs=2)


# --- stream edge cases --------------------------------------------------------------


def stream(*events: dict | SseEvent) -> Reply:
    parser = DIALECT.stream_parser()
    for event in events:
        parser.feed(event if isinstance(event, SseEvent) else SseEvent(json.dumps(event)))
    parser.feed(SseEvent("[DONE]"))
    return parser.finish()


def delta(finish_reason: str | None = None, logprobs: dict | None = None, **fields: object) -> dict:
    return {"choices": [{"index": 0, "delta": fields, "finish_reason": finish_reason, "logprobs": logprobs}]}


def test_stream_tool_call_fragments_by_index() -> None:
    reply = stream(
        delta(tool_calls=[{"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": ""}}]),
        delta(tool_calls=[{"index": 0, "function": {"arguments": '{"x":'}}]),
        delta(tool_calls=[{"index": 1, "id": "b", "function": {"name": "g", "arguments": "{}"}}]),
        delta(tool_calls=[{"index": 0, "function": {"arguments": " 1}"}}]),
        delta(finish_reason="tool_calls"),
    )
    assert reply.tool_calls == [ToolCall("a", "f", '{"x": 1}'), ToolCall("b", "g", "{}")]
    assert reply.finish_reason == "tool_calls"


def test_stream_tool_call_fragments_without_index() -> None:
    reply = stream(
        delta(tool_calls=[{"id": "a", "function": {"name": "f", "arguments": '{"x"'}}]),
        delta(tool_calls=[{"function": {"arguments": ": 1}"}}]),
        delta(tool_calls=[{"id": "b", "function": {"name": "g", "arguments": "{}"}}]),
    )
    assert reply.tool_calls == [ToolCall("a", "f", '{"x": 1}'), ToolCall("b", "g", "{}")]


def test_stream_reasoning_logprobs_and_final_usage_chunk() -> None:
    top = {"content": [{"token": "Hi", "logprob": -0.5, "top_logprobs": [{"token": "Hi", "logprob": -0.5}]}]}
    reply = stream(
        delta(role="assistant", content=""),
        delta(reasoning_content="Greet."),
        delta(content="Hi", logprobs=top),
        delta(finish_reason="stop"),
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
    )
    assert (reply.text, reply.reasoning, reply.finish_reason) == ("Hi", "Greet.", "stop")
    assert reply.logprobs == [TokenLogprob("Hi", -0.5, (("Hi", -0.5),))]
    assert (reply.usage.input_tokens, reply.usage.total_tokens) == (3, 5)


def test_stream_inline_think_split_at_finish() -> None:
    reply = stream(delta(content="<thi"), delta(content="nk>hmm</th"), delta(content="ink>Hello"))
    assert (reply.reasoning, reply.text) == ("hmm", "Hello")


def test_stream_cut_mid_answer_is_a_transport_failure() -> None:
    parser = DIALECT.stream_parser()
    parser.feed(SseEvent(json.dumps(delta(content="Hel"))))
    with pytest.raises(ApiError) as failure:
        parser.finish()
    assert failure.value.kind is ErrorKind.TRANSPORT
    assert failure.value.message == "stream ended mid-answer (no finish reason, no [DONE])"


def test_stream_ending_after_its_finish_reason_without_done_is_complete() -> None:
    """Cerebras never sends `data: [DONE]`: its last chunk carries the finish reason and usage."""
    parser = DIALECT.stream_parser()
    for chunk in (
        {"id": "c", "object": "chat.completion.chunk", "choices": [{"delta": {"role": "assistant"}, "index": 0}]},
        {"id": "c", "object": "chat.completion.chunk", "choices": [{"delta": {"content": "Hello"}, "index": 0}]},
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "choices": [{"delta": {}, "finish_reason": "stop", "index": 0}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 2, "total_tokens": 42},
        },
    ):
        parser.feed(SseEvent(json.dumps(chunk)))
    reply = parser.finish()
    assert (reply.text, reply.finish_reason, reply.usage.total_tokens) == ("Hello", "stop", 42)


# --- what real providers send (shapes from the recordings of seven more providers) --------------


def test_legacy_logprobs_lists_sync() -> None:
    """Together's sync shape: parallel `tokens` / `token_logprobs`, no `content`."""
    reply = sync(
        {"role": "assistant", "content": "Hello", "tool_calls": [], "reasoning": None},
        choices_logprobs={"tokens": ["Hello", "<|im_end|>"], "token_logprobs": [-0.0043, -0.0002], "token_ids": []},
    )
    assert reply.logprobs == [TokenLogprob("Hello", -0.0043), TokenLogprob("<|im_end|>", -0.0002)]


def test_legacy_logprobs_with_top_alternatives_in_a_stream() -> None:
    """Together's stream shape: `top_logprobs` is a list per token of {token, logprob}."""
    legacy = {
        "tokens": ["Hello"],
        "token_logprobs": [-0.006],
        "top_logprobs": [[{"token": "Hello", "logprob": -0.006}, {"token": "Hi", "logprob": -5.72}]],
    }
    reply = stream(delta(content="Hello", logprobs=legacy), delta(finish_reason="stop"))
    assert reply.logprobs == [TokenLogprob("Hello", -0.006, (("Hello", -0.006), ("Hi", -5.72)))]


def test_legacy_top_logprobs_as_token_maps() -> None:
    reply = sync({"content": "Hi"}, choices_logprobs={"tokens": ["Hi"], "token_logprobs": [-0.1], "top_logprobs": [{"Hi": -0.1, "Yo": -3.0}]})
    assert reply.logprobs == [TokenLogprob("Hi", -0.1, (("Hi", -0.1), ("Yo", -3.0)))]


@pytest.mark.parametrize(
    ("content", "reasoning", "text"),
    [
        # Cerebras' qwen-3-235b-a22b-thinking: the opening tag is stripped, the closing one stays.
        ("We are asked for one word.\n</think>\n\nHello", "We are asked for one word.", "Hello"),
        ("<think>hmm</think>Hello", "hmm", "Hello"),
        ("Hello", "", "Hello"),
    ],
)
def test_reasoning_marked_only_by_a_closing_think(content: str, reasoning: str, text: str) -> None:
    assert (sync({"content": content}).reasoning, sync({"content": content}).text) == (reasoning, text)
    streamed = stream(delta(content=content[:5]), delta(content=content[5:]), delta(finish_reason="stop"))
    assert (streamed.reasoning, streamed.text) == (reasoning, text)


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_reasoning_in_its_own_field(field: str) -> None:
    assert sync({"content": "Hello", field: "Greet."}).reasoning == "Greet."
    assert stream(delta(**{field: "Greet."}), delta(content="Hello", finish_reason="stop")).reasoning == "Greet."


def test_provider_warnings_in_a_200_reply_are_kept() -> None:
    """Together served a forced call but said it did not honour tool_choice."""
    call = {"id": "call_1", "type": "function", "function": {"name": "square_root", "arguments": '{"number":132413}'}}
    warning = {"warnings": [{"message": "Model supports only tool_choice auto"}]}
    reply = sync({"content": None, "tool_calls": [call]}, **warning)
    assert reply.warnings == ["Model supports only tool_choice auto"]
    assert reply.tool_calls == [ToolCall("call_1", "square_root", '{"number":132413}')]
    streamed = stream(delta(tool_calls=[{**call, "index": 0}], finish_reason="tool_calls"), {"choices": [], **warning})
    assert streamed.warnings == ["Model supports only tool_choice auto"]


def test_whole_tool_calls_beside_the_delta_in_a_stream() -> None:
    """Together streams a complete call on the choice itself, index -1, with an empty delta."""
    call = {"id": "call_5f", "index": -1, "type": "function", "function": {"name": "square_root", "arguments": '{"number": 132413}'}}
    chunk = {"choices": [{"index": 0, "text": "", "tool_calls": [call], "finish_reason": None, "delta": {"content": "", "tool_calls": None}}]}
    reply = stream(chunk, delta(finish_reason="tool_calls"))
    assert reply.tool_calls == [ToolCall("call_5f", "square_root", '{"number": 132413}')]


@pytest.mark.parametrize(
    "text",
    [
        # deepseek-reasoner under a forced tool_choice: the call and DeepSeek's special tokens, as text.
        '```json\n{"function":"square_root","arguments":{"number":132413}}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>',
        '<tool_call>\n{"name": "square_root", "arguments": {"number": 132413}}\n</tool_call>',
    ],
)
def test_tool_call_written_into_the_text_is_a_failed_call(text: str) -> None:
    with pytest.raises(ApiError) as failure:
        sync({"content": text})
    assert failure.value.kind is ErrorKind.MODEL_FAILED
    with pytest.raises(ApiError):
        stream(delta(content=text, finish_reason="stop"))


def test_numbers_sent_as_strings_stay_as_sent() -> None:
    """The dialect keeps the arguments verbatim; the verdict decides (a string is not the number asked for)."""
    call = {"id": "c", "type": "function", "function": {"name": "square_root", "arguments": '{"number":"132413"}'}}
    reply = sync({"content": None, "tool_calls": [call]})
    assert reply.tool_calls[0].decoded_arguments() == {"number": "132413"}


def test_search_citations() -> None:
    """Perplexity lists its sources at the top level, in `citations` and `search_results`."""
    sources = {
        "citations": ["https://example.com/a"],
        "search_results": [{"title": "A", "url": "https://example.com/a"}, {"title": "B", "url": "https://example.com/b"}],
    }
    assert sync({"content": "Quack."}, **sources).citations == ["https://example.com/a", "https://example.com/b"]
    streamed = stream({**delta(content="Quack."), **sources}, delta(finish_reason="stop"))
    assert streamed.citations == ["https://example.com/a", "https://example.com/b"]


def test_empty_reply_parses_as_empty() -> None:
    """No text and no reasoning: a reply, but no answer; the verdicts refuse to count it as a pass."""
    reply = stream(delta(content=" "), delta(content=" ", finish_reason="stop"))
    assert (reply.text.strip(), reply.reasoning, reply.finish_reason) == ("", "", "stop")


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        (SseEvent("{not json"), ErrorKind.UNREADABLE),
        (SseEvent("[1, 2]"), ErrorKind.MALFORMED),
        (SseEvent('{"error": {"message": "overloaded", "type": "server_error"}}'), ErrorKind.SERVER),
        (SseEvent('{"error": {"message": "slow down", "status_code": 429}}'), ErrorKind.RATE_LIMITED),
        (SseEvent("upstream went away", event="error"), ErrorKind.SERVER),
        (SseEvent('{"error": {"message": "x", "code": "tool_use_failed", "status_code": 400}}', event="error"), ErrorKind.MODEL_FAILED),
    ],
)
def test_stream_bad_or_error_events(event: SseEvent, kind: ErrorKind) -> None:
    parser = DIALECT.stream_parser()
    parser.feed(SseEvent(json.dumps(delta(content="Hel"))))
    with pytest.raises(ApiError) as failure:
        parser.feed(event)
    assert failure.value.kind is kind


def test_build_seed_field() -> None:
    mistral = OpenAIDialect("https://api.mistral.ai/v1", {"seed_field": "random_seed"})
    sent = body(Request((Message.user("Hi"),), seed=42), mistral)
    assert sent["random_seed"] == 42 and "seed" not in sent
