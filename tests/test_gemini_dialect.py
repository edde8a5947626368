"""The Gemini dialect against real recorded traffic: every recording, and the battery's requests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from conftest import FIXTURES, needs_fixtures, recorded
from llmprobe.battery import continuation, load_battery, media_bytes
from llmprobe.cassettes import Interaction, load_cassette
from llmprobe.client import ProviderClient
from llmprobe.dialects import get_dialect
from llmprobe.dialects.gemini import GeminiDialect
from llmprobe.errors import ApiError, ErrorKind, UnsupportedOption
from llmprobe.neutral import AttachmentPart, DocumentPart, Message, Reply, Request, Tool, ToolCall, ToolResult
from support import replaying

GEMINI_FIXTURES = FIXTURES / "gemini-2025-09-02"

BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
FLASH, LITE, PRO = "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.5-pro"
#: Chat recordings only: `GenDoc-*` are image-generation calls to another endpoint.
CASSETTES = sorted(
    p.relative_to(GEMINI_FIXTURES).as_posix()
    for p in GEMINI_FIXTURES.rglob("*.yaml")
    if not p.name.startswith("GenDoc")
)

#: Every recording that must fail, with its kind and code; every other 400 is a refused option or input.
EXPECTED_ERRORS: dict[str, tuple[ErrorKind, str | None]] = {
    "error-cassettes/ErrorResponse.yaml": (ErrorKind.RATE_LIMITED, "RESOURCE_EXHAUSTED"),
    "error-cassettes/bad_apiKey/GenStream.yaml": (ErrorKind.AUTH, "API_KEY_INVALID"),
    "error-cassettes/bad_apiKey/GenSync.yaml": (ErrorKind.AUTH, "API_KEY_INVALID"),
    "error-cassettes/bad_apiKey/ListModels.yaml": (ErrorKind.AUTH, "API_KEY_INVALID"),
    "error-cassettes/bad_apiKey_image/GenStream.yaml": (ErrorKind.AUTH, "API_KEY_INVALID"),
    "error-cassettes/bad_apiKey_image/GenSync.yaml": (ErrorKind.AUTH, "API_KEY_INVALID"),
    "error-cassettes/bad_model/GenStream.yaml": (ErrorKind.NOT_FOUND, "INVALID_ARGUMENT"),
    "error-cassettes/bad_model/GenSync.yaml": (ErrorKind.NOT_FOUND, "INVALID_ARGUMENT"),
    # 30 000 thought tokens and no last chunk: the recording stopped before the answer did.
    f"scoreboard-cassettes/{LITE}_thinking/GenStreamMultiModal-Audio-mp3-Inline.yaml": (ErrorKind.TRANSPORT, None),
}

dialect = GeminiDialect(BASE_URL)
battery = load_battery()


def interaction(name: str) -> Interaction:
    (only,) = load_cassette(GEMINI_FIXTURES / name).interactions
    return only


def scoreboard(model: str, probe: str) -> Interaction:
    return interaction(f"scoreboard-cassettes/{model}/{probe}.yaml")


def replay(recorded: Interaction) -> Reply:
    """As the client reads it: the stream is in the URL on this wire, not in the body."""
    stream = recorded.url.endswith(":streamGenerateContent?alt=sse")
    headers = replaying.headers(recorded)
    return replaying.read_answer(dialect, recorded.status, headers, recorded.response_body, stream)


def stream_of(*chunks: str) -> Reply:
    return replaying.stream_of(dialect, *chunks)


def wire(value: Any) -> str:
    """A body as the reference's Go json.Encoder sent it: compact, key order kept, ending in a newline."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False) + "\n"


# --- every recording -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASSETTES)
def test_every_recording_parses_or_fails_with_its_kind(name: str) -> None:
    recorded = interaction(name)
    expected = EXPECTED_ERRORS.get(name)
    if expected is None and recorded.status == 200:
        reply = replay(recorded)
        assert reply.text or reply.reasoning or reply.tool_calls
        assert reply.finish_reason in ("stop", "length", "tool_calls")
        assert reply.usage.input_tokens > 0 and reply.usage.total_tokens >= reply.usage.input_tokens
        assert reply.rate_limits == []
        return
    kind, code = expected or (ErrorKind.REJECTED, "INVALID_ARGUMENT")
    with pytest.raises(ApiError) as raised:
        if name.endswith("ListModels.yaml"):
            dialect.parse_models(recorded.status, replaying.headers(recorded), recorded.response_body.encode())
        else:
            replay(recorded)
    assert (raised.value.kind, raised.value.code) == (kind, code)
    if code is not None:
        assert raised.value.has_envelope and raised.value.status == recorded.status


@needs_fixtures
def test_the_recordings_are_all_there() -> None:
    assert set(EXPECTED_ERRORS) <= set(CASSETTES)
    assert len(CASSETTES) == 356 + 8


def test_quota_error_carries_the_rpc_retry_delay() -> None:
    with pytest.raises(ApiError) as raised:
        replay(interaction("error-cassettes/ErrorResponse.yaml"))
    error = raised.value
    assert error.retry_after == 3.0 and error.retryable
    assert error.message.startswith("You exceeded your current quota.")


def test_a_retry_after_header_outranks_the_body() -> None:
    body = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "slow down",
                      "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30.5s"}]}}
    with pytest.raises(ApiError) as raised:
        dialect.parse(429, {"Retry-After": "2"}, json.dumps(body).encode())
    assert raised.value.retry_after == 2.0
    with pytest.raises(ApiError) as raised:
        dialect.parse(429, {}, json.dumps(body).encode())
    assert raised.value.retry_after == 30.5


def test_a_well_formed_unknown_model_is_not_found() -> None:
    message = "models/gemini-9 is not found for API version v1beta, or is not supported for generateContent."
    body = {"error": {"code": 404, "message": message, "status": "NOT_FOUND"}}
    with pytest.raises(ApiError) as raised:
        dialect.parse(404, {}, json.dumps(body).encode())
    assert (raised.value.kind, raised.value.code, raised.value.message) == (ErrorKind.NOT_FOUND, "NOT_FOUND", message)


def test_refused_options_are_rejections_with_the_providers_words() -> None:
    with pytest.raises(ApiError) as raised:
        replay(scoreboard(FLASH, "GenStream-TopLogprobs"))
    assert raised.value.kind is ErrorKind.REJECTED
    assert raised.value.message == "LogProbs is not supported in streaming mode"
    with pytest.raises(ApiError) as raised:
        replay(scoreboard(FLASH, "GenSyncMultiModal-Image-gif-Inline"))
    assert raised.value.message == "Unsupported MIME type: image/gif"


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (502, b"<html><head><title>502 Bad Gateway</title></head><body>x</body></html>", ErrorKind.SERVER),
        (400, b"Bad Request", ErrorKind.REJECTED),
        (200, b"<html>captive portal</html>", ErrorKind.UNREADABLE),
        (200, b"[]", ErrorKind.MALFORMED),
        (200, b'{"candidates": {"content": 1}}', ErrorKind.MALFORMED),
        (200, b'{"candidates": [{"content": {"parts": [{"text": 7}]}}]}', ErrorKind.MALFORMED),
        (200, b'{"candidates": [{"content": {"parts": [{"functionCall": {"args": {}}}]}}]}', ErrorKind.MALFORMED),
        (200, b'{"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}', ErrorKind.SERVER),
    ],
)
def test_bad_answers_become_typed_errors(status: int, body: bytes, kind: ErrorKind) -> None:
    with pytest.raises(ApiError) as raised:
        dialect.parse(status, {}, body)
    assert raised.value.kind is kind
    assert "\n" not in raised.value.message and len(raised.value.message) < 200


# --- replies ---------------------------------------------------------------------------------------


def test_sync_text_usage_and_finish() -> None:
    reply = replay(scoreboard(FLASH, "GenSync-Text"))
    assert (reply.text, reply.reasoning, reply.finish_reason, reply.raw_finish_reason) == ("Hello", "", "stop", "STOP")
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.usage.total_tokens) == (9, 1, 10)


def test_max_tokens_finish_is_length() -> None:
    reply = replay(scoreboard(FLASH, "GenSync-MaxTokens"))
    assert (reply.finish_reason, reply.raw_finish_reason) == ("length", "MAX_TOKENS")


def test_thought_parts_are_reasoning_and_thought_tokens_are_output() -> None:
    reply = replay(scoreboard(f"{FLASH}_thinking", "GenStream-Text"))
    assert reply.text == "Hello."
    assert reply.reasoning.startswith("**Simplifying the Response**")
    usage = reply.usage
    assert (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens, usage.total_tokens) == (9, 39, 38, 48)


@needs_fixtures
def test_function_call_ends_with_tool_calls_finish() -> None:
    reply = replay(scoreboard(f"{FLASH}_thinking", "GenSync-Tools-SquareRoot-1"))
    assert reply.tool_calls == [ToolCall("", "square_root", '{"number": 132413}')]
    assert (reply.finish_reason, reply.raw_finish_reason) == ("tool_calls", "STOP")
    assert reply.reasoning and reply.text == ""


def test_streamed_parallel_calls_are_kept_in_order() -> None:
    reply = replay(scoreboard(LITE, "GenStream-Tools-ToolBias-USA"))
    assert [c.decoded_arguments() for c in reply.tool_calls] == [{"country": "USA"}, {"country": "Canada"}]


def test_logprobs_pair_chosen_tokens_with_their_alternatives() -> None:
    (token,) = replay(scoreboard(FLASH, "GenSync-TopLogprobs")).logprobs
    assert (token.token, token.logprob) == ("Hi", -0.18852717)
    assert token.top == (("Hello", -0.18852717), ("Hi", -1.812665))
    # flash-lite answers empty alternatives: the chosen tokens are still reported.
    tokens = replay(scoreboard(LITE, "GenSync-TopLogprobs")).logprobs
    assert [(t.token, t.top) for t in tokens] == [("Hi", ()), (".", ())]


def test_grounding_sources_are_citations() -> None:
    reply = replay(scoreboard(FLASH, "GenSync-Tools-WebSearch"))
    assert reply.citations and all(uri.startswith("https://") for uri in reply.citations)
    assert len(reply.citations) == len(set(reply.citations))


def test_citation_metadata_sources_are_citations() -> None:
    chunk = {
        "candidates": [{
            "content": {"parts": [{"text": "Quack."}], "role": "model"},
            "finishReason": "STOP",
            "citationMetadata": {"citationSources": [{"startIndex": 0, "endIndex": 5, "uri": "https://a.example/q"}]},
        }],
    }
    assert stream_of(json.dumps(chunk)).citations == ["https://a.example/q"]


@pytest.mark.parametrize(("raw", "finish"), [("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
                                             ("MALFORMED_FUNCTION_CALL", "other"), ("MAX_TOKENS", "length")])
def test_finish_reasons(raw: str, finish: str) -> None:
    reply = stream_of(json.dumps({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": raw}]}))
    assert (reply.finish_reason, reply.raw_finish_reason) == (finish, raw)


def test_a_blocked_prompt_is_a_content_filter_finish() -> None:
    reply = stream_of('{"promptFeedback": {"blockReason": "OTHER"}, "usageMetadata": {"promptTokenCount": 4}}')
    assert (reply.text, reply.finish_reason, reply.raw_finish_reason) == ("", "content_filter", "OTHER")


def test_stream_cut_before_the_finish_reason_is_a_transport_error() -> None:
    with pytest.raises(ApiError) as raised:
        stream_of('{"candidates": [{"content": {"parts": [{"text": "Hel"}]}}]}')
    assert raised.value.kind is ErrorKind.TRANSPORT
    with pytest.raises(ApiError) as raised:
        stream_of()
    assert raised.value.kind is ErrorKind.MALFORMED


def test_in_stream_error_uses_its_own_code() -> None:
    with pytest.raises(ApiError) as raised:
        stream_of(
            '{"candidates": [{"content": {"parts": [{"text": "Hel"}]}}]}',
            '{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}',
        )
    error = raised.value
    assert (error.kind, error.status, error.code) == (ErrorKind.RATE_LIMITED, 429, "RESOURCE_EXHAUSTED")


# --- requests: the battery, compared with what the reference sent ----------------------------------


def recorded_body(model: str, probe: str) -> dict[str, Any]:
    """The recorded request minus what we deliberately do not send.

    The reference declares a `response` schema on every function (our tools have none)
    and replays its thoughts and their signatures in the tool round trip (we replay
    the calls only, which 2.5 models accept).
    """
    body = json.loads(scoreboard(model, probe).request_body)
    for tool in body.get("tools", []):
        for declaration in tool.get("functionDeclarations", []):
            declaration.pop("response", None)
    for content in body["contents"]:
        content["parts"] = [p for p in content["parts"] if not p.get("thought") and set(p) != {"thoughtSignature"}]
        for part in content["parts"]:
            part.pop("thoughtSignature", None)
    return body


def probe_request(probe: str, *, stream: bool, thinking: bool) -> Request:
    if probe == "Citations-text-plain":
        request = battery["Citations"].request(stream=stream)
    elif probe == "Tools-SquareRoot-2":
        call = ToolCall("", "square_root", '{"number":132413}')
        history = continuation([call], [ToolResult("", "square_root", "363.89")])
        request = battery[probe].request(stream=stream, history=history)
    else:
        request = battery[probe].request(stream=stream)
    if probe.startswith("Tools-ToolBias"):
        # The reference forced ToolBias, as the runner does once SquareRoot-1 was forced successfully.
        request = Request(request.messages, request.tools, "required", stream=stream)
    return Request(**{**request.__dict__, "thinking": thinking})


PROBES = ["Text", "Seed", "TopLogprobs", "MaxTokens", "Stop", "JSON", "JSONSchema", "Citations-text-plain", "Citations-text-markdown",
          "Tools-SquareRoot-1", "Tools-SquareRoot-2", "Tools-ToolBias-Canada", "Tools-ToolBias-USA"]


@pytest.mark.parametrize(
    "folder", [f for f in (FLASH, f"{FLASH}_thinking", f"{PRO}_thinking", f"{LITE}_thinking") if recorded(GEMINI_FIXTURES.name, f)]
)
@pytest.mark.parametrize("mode", ["GenSync", "GenStream"])
@pytest.mark.parametrize("probe", PROBES)
def test_battery_requests_match_the_recordings(folder: str, mode: str, probe: str) -> None:
    model = folder.removesuffix("_thinking")
    request = probe_request(probe, stream=mode == "GenStream", thinking=folder.endswith("_thinking"))
    call = dialect.build(model, request)
    recorded = scoreboard(folder, f"{mode}-{probe}")
    assert (call.method, call.url) == (recorded.method, recorded.url)
    assert wire(call.json) == wire(recorded_body(folder, f"{mode}-{probe}"))


def test_without_thinking_the_budget_is_zero_where_flash_lite_sent_nothing() -> None:
    # flash-lite does not think unless asked, so the reference left thinkingConfig out for
    # it; we always say "off" explicitly, which is the same request for that model.
    request = probe_request("Text", stream=False, thinking=False)
    recorded = recorded_body(LITE, "GenSync-Text")
    assert "thinkingConfig" not in recorded["generationConfig"]
    config = dialect.build(LITE, request).json["generationConfig"]
    assert config.pop("thinkingConfig") == {"includeThoughts": False, "thinkingBudget": 0}
    assert config == recorded["generationConfig"]


@pytest.mark.parametrize("ext", ["jpg", "png", "webp", "gif"])
@pytest.mark.parametrize("variant", ["Inline", "URL"])
def test_image_parts_are_inline_data_or_file_data(ext: str, variant: str) -> None:
    image = next(probe for probe in battery.media if probe.name == f"Image-{ext}-{variant}")
    url = f"https://raw.githubusercontent.com/maruel/genai/refs/heads/main/scoreboard/testdata/image.{ext}"
    part = image.part(data=media_bytes(f"banana.{ext}")) if variant == "Inline" else image.part(url=url)
    request = image.request(stream=False, parts=(part,))
    body = dialect.build(FLASH, request).json
    expected = recorded_body(FLASH, f"GenSyncMultiModal-Image-{ext}-{variant}")
    if variant == "Inline":
        # Our banana is not the reference's picture; the shape is what must match.
        inline = expected["contents"][0]["parts"][1]["inlineData"]
        inline["data"] = body["contents"][0]["parts"][1]["inlineData"]["data"]
    assert wire(body) == wire(expected)


def test_model_names_are_escaped_in_the_path() -> None:
    recorded = interaction("error-cassettes/bad_model/GenStream.yaml")
    call = dialect.build("bad model", Request((Message.user("Tell a short joke."),), stream=True))
    assert call.url == recorded.url


def test_several_tool_results_share_one_user_turn() -> None:
    calls = (ToolCall("", "f", '{"a":1}'), ToolCall("", "g", "{}"))
    request = Request((
        Message.user("go"),
        Message("assistant", tool_calls=calls),
        Message("tool", tool_result=ToolResult("", "f", "1")),
        Message("tool", tool_result=ToolResult("", "g", "2")),
    ))
    contents = dialect.build(FLASH, request).json["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert [p["functionResponse"]["name"] for p in contents[2]["parts"]] == ["f", "g"]


def test_schema_is_translated_to_gemini_types() -> None:
    tool = Tool("t", "d", {
        "type": "object",
        "properties": {"tags": {"type": "array", "items": {"type": "string"}}, "note": {"type": ["string", "null"]}},
        "additionalProperties": False,
    })
    (tools,) = dialect.build(FLASH, Request((Message.user("x"),), tools=(tool,))).json["tools"]
    assert tools["functionDeclarations"][0]["parameters"] == {
        "properties": {
            "note": {"nullable": True, "type": "STRING"},
            "tags": {"items": {"type": "STRING"}, "type": "ARRAY"},
        },
        "type": "OBJECT",
    }


@pytest.mark.parametrize(
    ("request_", "option"),
    [
        (Request((Message.user("x"),), json_schema={"type": "object", "$ref": "#/$defs/a"}), "json_schema"),
        (Request((Message.user("x"),), json_schema={"type": "object", "additionalProperties": {"type": "string"}}),
         "json_schema"),
        (Request((Message.user("x"),), json_schema={"type": ["string", "integer"]}), "json_schema"),
        (Request((Message.user("x"),), json_mode=True, json_schema={"type": "object"}), "json_mode"),
        (Request((Message.user("x"),), tools=(Tool("t", "d", {"type": "object", "oneOf": []}),)), "tool parameters"),
        (Request((Message.user(DocumentPart("q.pdf", "application/pdf", "%PDF")),)), "document input"),
        (Request((Message.user("x"), Message("assistant", tool_calls=(ToolCall("", "f", "[1]"),)))),
         "tool call arguments"),
    ],
)
def test_build_refuses_what_the_wire_cannot_carry(request_: Request, option: str) -> None:
    with pytest.raises(UnsupportedOption) as raised:
        dialect.build(FLASH, request_)
    assert raised.value.option == option


def test_images_and_documents_are_parts() -> None:
    document, image = DocumentPart("n.md", "text/markdown", "# N"), AttachmentPart("image", "image/png", data=b"\x89P")
    request = Request((Message.user(document, image),))
    parts = dialect.build(FLASH, request).json["contents"][0]["parts"]
    assert parts == [{"text": "# N"}, {"inlineData": {"mimeType": "image/png", "data": "iVA="}}]


def test_the_key_goes_in_a_header_never_in_the_url() -> None:
    assert dialect.auth_headers("k") == {"x-goog-api-key": "k"}
    assert "key=" not in dialect.build(FLASH, Request((Message.user("x"),), stream=True)).url


def test_registered_under_its_api_name() -> None:
    assert isinstance(get_dialect("gemini", BASE_URL + "/"), GeminiDialect)


# --- model list ------------------------------------------------------------------------------------


def test_list_models_pages_with_the_token_the_last_page_gave() -> None:
    listing = GeminiDialect(BASE_URL)
    recorded = interaction("error-cassettes/bad_apiKey/ListModels.yaml")
    assert (listing.list_models_call(None).method, listing.list_models_call(None).url) == (recorded.method, recorded.url)
    first = {
        "models": [
            {"name": "models/gemini-2.5-flash", "supportedGenerationMethods": ["generateContent", "countTokens"]},
            {"name": "models/text-embedding-004", "supportedGenerationMethods": ["embedContent"]},
        ],
        "nextPageToken": "Ch1/x=",
    }
    assert listing.parse_models(200, {}, json.dumps(first).encode()) == (["gemini-2.5-flash"], "Ch1/x=")
    assert listing.list_models_call("Ch1/x=").url == f"{BASE_URL}/models?pageSize=1000&pageToken=Ch1%2Fx%3D"
    last = {"models": [{"name": "models/gemini-2.5-pro", "supportedGenerationMethods": ["generateContent"]}]}
    assert listing.parse_models(200, {}, json.dumps(last).encode()) == (["gemini-2.5-pro"], None)


@pytest.mark.parametrize("body", [b'{"models": {}}', b'{"models": [{"displayName": "x"}]}', b"[]"])
def test_a_broken_model_list_is_malformed(body: bytes) -> None:
    with pytest.raises(ApiError) as raised:
        GeminiDialect(BASE_URL).parse_models(200, {}, body)
    assert raised.value.kind is ErrorKind.MALFORMED


def test_the_client_follows_page_tokens_with_the_key_in_its_header() -> None:
    chat = ["generateContent"]
    pages = {
        "": {"models": [{"name": "models/a", "supportedGenerationMethods": chat}], "nextPageToken": "t2"},
        "t2": {"models": [{"name": "models/b", "supportedGenerationMethods": chat}], "nextPageToken": "t3"},
        "t3": {"models": [{"name": "models/c"}]},
    }
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=pages[request.url.params.get("pageToken", "")])

    async def listing() -> list[str]:
        return await ProviderClient(GeminiDialect(BASE_URL), httpx.MockTransport(answer), api_key="AIza-secret").list_models()

    assert asyncio.run(listing()) == ["a", "b", "c"]
    assert [r.url.params.get("pageToken") for r in seen] == [None, "t2", "t3"]
    assert all(r.headers["x-goog-api-key"] == "AIza-secret" and "AIza" not in str(r.url) for r in seen)
