"""The Cohere v2 dialect against real recorded traffic (cohere-2025-09-02)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from conftest import COHERE_FIXTURES, reference_verdicts, scenarios
from llmprobe.battery import load_battery, media_bytes
from llmprobe.capabilities import REFERENCE_NAMES
from llmprobe.cassettes import Interaction
from llmprobe.cli import app
from llmprobe.client import ProviderClient
from llmprobe.dialects import get_dialect
from llmprobe.dialects.cohere import CohereDialect
from llmprobe.errors import ApiError, ErrorKind, UnsupportedOption
from llmprobe.neutral import DocumentPart, Exchange, Message, Request, ToolCall, ToolResult
from llmprobe.recording import RecordingTransport
from llmprobe.redaction import Redactor
from llmprobe.results_file import load
from support import replaying
from support.configs import replayed, write_providers

FIXTURES = COHERE_FIXTURES

AYA, REASONING, LIGHT, R7B, R = (
    "c4ai-aya-vision-8b_thinking",
    "command-a-reasoning-08-2025_thinking",
    "command-light",
    "command-r7b-12-2024_thinking",
    "command-r_thinking",
)
CASSETTES = sorted(p.relative_to(FIXTURES).as_posix() for p in FIXTURES.rglob("Gen*.yaml"))


def _expected_errors() -> dict[str, tuple[ErrorKind, int | None]]:
    """Every recording that must fail: (kind, HTTP status, or None for an error that ends a 200 stream)."""
    errors: dict[str, tuple[ErrorKind, int | None]] = {
        "error-cassettes/bad_apiKey/GenStream.yaml": (ErrorKind.AUTH, 401),
        "error-cassettes/bad_apiKey/GenSync.yaml": (ErrorKind.AUTH, 401),
        "error-cassettes/bad_model/GenStream.yaml": (ErrorKind.NOT_FOUND, 404),
        "error-cassettes/bad_model/GenSync.yaml": (ErrorKind.NOT_FOUND, 404),
        # "all generated tool calls were hallucinated": the model's failed call, not a refusal.
        f"scoreboard-cassettes/{R}/GenSync-Tools-SquareRoot-1.yaml": (ErrorKind.MODEL_FAILED, 422),
        f"scoreboard-cassettes/{R}/GenStream-Tools-SquareRoot-1.yaml": (ErrorKind.MODEL_FAILED, None),
        f"scoreboard-cassettes/{REASONING}/GenSync-TopLogprobs.yaml": (ErrorKind.REJECTED, 422),
        f"scoreboard-cassettes/{REASONING}/GenStream-TopLogprobs.yaml": (ErrorKind.REJECTED, None),
        f"scoreboard-cassettes/{REASONING}/GenSync-Tools-WebSearch.yaml": (ErrorKind.REJECTED, 422),
        f"scoreboard-cassettes/{REASONING}/GenStream-Tools-WebSearch.yaml": (ErrorKind.REJECTED, None),
    }
    for mode in ("Sync", "Stream"):
        for model in (REASONING, LIGHT, R7B, R):
            for variant in ("Inline", "URL"):
                errors[f"scoreboard-cassettes/{model}/Gen{mode}MultiModal-Image-jpg-{variant}.yaml"] = (ErrorKind.REJECTED, 400)
        for model, probe in [(AYA, "JSON"), (AYA, "JSONSchema"), (AYA, "Tools-SquareRoot-1"), (AYA, "Tools-SquareRoot-2"),
                             (LIGHT, "JSON"), (LIGHT, "JSONSchema"), (LIGHT, "Tools-SquareRoot-1"),
                             (LIGHT, "Tools-SquareRoot-1-any"), (LIGHT, "TopLogprobs")]:  # fmt: skip
            errors[f"scoreboard-cassettes/{model}/Gen{mode}-{probe}.yaml"] = (ErrorKind.REJECTED, 400)
    return errors


EXPECTED_ERRORS = _expected_errors()

dialect = CohereDialect("https://api.cohere.com")
battery = load_battery()


recordings = replaying.Recordings(dialect, FIXTURES)
interaction, scoreboard, replay = recordings.interaction, recordings.scoreboard, recordings.replay


def wire(call_json: object) -> str:
    return json.dumps(call_json, separators=(",", ":"), ensure_ascii=False) + "\n"


# --- every recording -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASSETTES)
def test_every_recording_parses_or_fails_with_its_kind(name: str) -> None:
    recorded = interaction(name)
    expected = EXPECTED_ERRORS.get(name)
    if expected is None:
        reply = replay(recorded)
        assert reply.text or reply.reasoning or reply.tool_calls
        assert reply.usage.total_tokens == reply.usage.input_tokens + reply.usage.output_tokens > 0
        assert reply.finish_reason in ("stop", "length", "tool_calls")
        assert (reply.finish_reason == "tool_calls") == bool(reply.tool_calls)
        assert reply.rate_limits == []
        return
    kind, status = expected
    with pytest.raises(ApiError) as raised:
        replay(recorded)
    assert raised.value.kind is kind
    assert raised.value.status == status
    assert raised.value.has_envelope


def test_every_expected_error_names_a_real_recording() -> None:
    assert set(EXPECTED_ERRORS) <= set(CASSETTES)
    assert len(CASSETTES) == 168


def test_list_models_error_is_auth() -> None:
    recorded = interaction("error-cassettes/bad_apiKey/ListModels.yaml")
    call = dialect.list_models_call(None)
    assert (call.method, call.url) == (recorded.method, recorded.url)
    with pytest.raises(ApiError) as raised:
        dialect.parse_models(recorded.status, replaying.headers(recorded), recorded.response_body.encode())
    assert (raised.value.kind, raised.value.message) == (ErrorKind.AUTH, "invalid api token")


# --- replies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["Sync", "Stream"])
def test_citations_name_the_cited_document(mode: str) -> None:
    reply = replay(scoreboard(R, f"Gen{mode}-Citations-text-plain"))
    assert reply.text == "The capital of Quackiland is a city called Quack."
    assert reply.citations == ["capital_info.txt"]
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (720, 58)


@pytest.mark.parametrize("mode", ["Sync", "Stream"])
def test_tool_plan_is_reasoning_and_the_call_is_assembled(mode: str) -> None:
    reply = replay(scoreboard(R, f"Gen{mode}-Tools-SquareRoot-1-any"))
    assert reply.text == ""
    assert reply.reasoning.startswith("I will use the square_root tool")
    (call,) = reply.tool_calls
    assert call.id.startswith("square_root_") and call.name == "square_root"
    assert call.decoded_arguments() == {"number": 132413}
    assert (reply.finish_reason, reply.raw_finish_reason) == ("tool_calls", "TOOL_CALL")


@pytest.mark.parametrize("mode", ["Sync", "Stream"])
def test_thinking_content_is_reasoning(mode: str) -> None:
    reply = replay(scoreboard(REASONING, f"Gen{mode}-Text"))
    assert reply.text == "Hello"
    assert reply.reasoning.startswith("Okay")
    cut = replay(scoreboard(REASONING, f"Gen{mode}-MaxTokens"))
    assert (cut.text, cut.finish_reason) == ("", "length") and cut.reasoning


@pytest.mark.parametrize("mode", ["Sync", "Stream"])
def test_logprobs_one_per_token(mode: str) -> None:
    reply = replay(scoreboard(R, f"Gen{mode}-TopLogprobs"))
    assert [entry.token for entry in reply.logprobs] == ["Hello", "!"]
    assert -0.6 < reply.logprobs[0].logprob < -0.5


@pytest.mark.parametrize("mode", ["Sync", "Stream"])
def test_stop_sequence_is_stop(mode: str) -> None:
    reply = replay(scoreboard(R, f"Gen{mode}-Stop"))
    assert (reply.text, reply.finish_reason, reply.raw_finish_reason) == ("Canada", "stop", "STOP_SEQUENCE")


def test_stream_ending_with_error_carries_the_message() -> None:
    with pytest.raises(ApiError) as raised:
        replay(scoreboard(R, "GenStream-Tools-SquareRoot-1"))
    assert raised.value.message.startswith("all generated tool calls were hallucinated")


def test_stream_cut_before_message_end_is_a_transport_error() -> None:
    start = '{"type":"message-start","delta":{"message":{"role":"assistant"}}}'
    delta = '{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"Hel"}}}}'
    with pytest.raises(ApiError) as raised:
        replaying.stream_of(dialect, start, delta)
    assert raised.value.kind is ErrorKind.TRANSPORT


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'{"message": {"content": [{"type": "text", "text": 3}]}}',
        b'{"message": {"tool_calls": [{"function": {"arguments": "{}"}}]}}',
        b'{"message": {"content": []}, "logprobs": [{"text": "a", "logprobs": ["x"]}]}',
    ],
)
def test_bad_answers_are_malformed(body: bytes) -> None:
    with pytest.raises(ApiError) as raised:
        dialect.parse(200, {}, body)
    assert raised.value.kind is ErrorKind.MALFORMED


def test_tool_call_delta_before_start_is_malformed() -> None:
    delta = '{"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":"{"}}}}}'
    with pytest.raises(ApiError) as raised:
        replaying.stream_of(dialect, delta)
    assert raised.value.kind is ErrorKind.MALFORMED


def test_rate_limited_carries_retry_after() -> None:
    with pytest.raises(ApiError) as raised:
        dialect.parse(429, {"Retry-After": "4"}, b'{"id": "x", "message": "too many requests"}')
    assert (raised.value.kind, raised.value.retry_after, raised.value.has_envelope) == (ErrorKind.RATE_LIMITED, 4.0, True)


# --- requests --------------------------------------------------------------------------------------


def assert_builds(recorded: Interaction, model: str, request: Request) -> None:
    """Byte for byte, except around JSON schemas, whose keys our battery.yaml orders its own way."""
    call = dialect.build(model, request)
    assert (call.method, call.url) == (recorded.method, recorded.url)
    if "tools" in call.json or "json_schema" in call.json.get("response_format", {}):
        assert call.json == json.loads(recorded.request_body)
    else:
        assert wire(call.json) == recorded.request_body


@pytest.mark.parametrize("mode", ["Sync", "Stream"])
@pytest.mark.parametrize(
    "probe",
    ["Text", "Seed", "MaxTokens", "Stop", "JSON", "JSONSchema", "Tools-SquareRoot-1", "Tools-SquareRoot-1-any"],
)
def test_build_matches_the_recorded_requests(mode: str, probe: str) -> None:
    request = battery[probe].request(stream=mode == "Stream")
    assert_builds(scoreboard(R, f"Gen{mode}-{probe}"), "command-r", request)


@pytest.mark.parametrize("mode", ["Sync", "Stream"])
def test_top_logprobs_are_refused_since_cohere_cannot_ask_for_alternatives(mode: str) -> None:
    """C3: the reference sent `logprobs: true` for TopLogprobs (2 alternatives asked); the recorded reply
    carries the chosen tokens only, so no alternatives were ever asked for or shown."""
    reply = replay(scoreboard(R, f"Gen{mode}-TopLogprobs"))
    assert reply.logprobs and not any(entry.top for entry in reply.logprobs)
    with pytest.raises(UnsupportedOption, match="top_logprobs"):
        dialect.build("command-r", battery["TopLogprobs"].request(stream=mode == "Stream"))


@pytest.mark.parametrize(("probe", "recorded"), [("Citations", "Citations-text-plain"), ("Citations-text-markdown",) * 2])
@pytest.mark.parametrize("mode", ["Sync", "Stream"])
def test_build_citations_sends_the_document_as_a_document(mode: str, probe: str, recorded: str) -> None:
    """Its name is the document's id and title: capital_info.txt, or capital_info.md for the Markdown one."""
    request = battery[probe].request(stream=mode == "Stream")
    assert_builds(scoreboard(R, f"Gen{mode}-{recorded}"), "command-r", request)


@pytest.mark.parametrize("mode", ["Sync", "Stream"])
def test_build_tool_round_trip(mode: str) -> None:
    recorded = scoreboard(R7B, f"Gen{mode}-Tools-SquareRoot-2")
    call_id = json.loads(recorded.request_body)["messages"][2]["tool_call_id"]
    arguments = json.loads(recorded.request_body)["messages"][1]["tool_calls"][0]["function"]["arguments"]
    history = (
        Message("assistant", tool_calls=(ToolCall(call_id, "square_root", arguments),)),
        Message("tool", tool_result=ToolResult(call_id, "square_root", "363.89")),
    )
    request = battery["Tools-SquareRoot-2"].request(stream=mode == "Stream", history=history)
    assert_builds(recorded, "command-r7b-12-2024", request)


def test_build_forced_tool_bias() -> None:
    request = dataclasses.replace(battery["Tools-ToolBias-Canada"].request(stream=False), tool_choice="required")
    assert_builds(scoreboard(R7B, "GenSync-Tools-ToolBias-Canada"), "command-r7b-12-2024", request)


@pytest.mark.parametrize("variant", ["Inline", "URL"])
def test_build_images(variant: str) -> None:
    image = next(probe for probe in battery.media if probe.name == f"Image-jpg-{variant}")
    if variant == "URL":
        url = "https://raw.githubusercontent.com/maruel/genai/refs/heads/main/scoreboard/testdata/image.jpg"
        request = image.request(stream=False, parts=(image.part(url=url),))
        assert_builds(scoreboard(AYA, "GenSyncMultiModal-Image-jpg-URL"), "c4ai-aya-vision-8b", request)
        return
    inline = image.request(stream=False, parts=(image.part(data=media_bytes("banana.jpg")),))
    content = dialect.build("m", inline).json["messages"][0]["content"]
    recorded = json.loads(scoreboard(AYA, "GenSyncMultiModal-Image-jpg-Inline").request_body)["messages"][0]["content"]
    assert [(c["type"], c.get("text")) for c in content] == [(c["type"], c.get("text")) for c in recorded]
    assert content[1]["image_url"]["url"].startswith("data:image/jpeg;base64,/9j/")


def test_build_refuses_a_non_text_document() -> None:
    with pytest.raises(UnsupportedOption) as raised:
        dialect.build("m", Request((Message.user(DocumentPart("q.pdf", "application/pdf", "%PDF"), "hi"),)))
    assert raised.value.option == "document input"


def test_registered_with_bearer_auth() -> None:
    cohere = get_dialect("cohere", "https://api.cohere.com/")
    assert cohere.build("m", Request((Message.user("hi"),))).url == "https://api.cohere.com/v2/chat"
    assert cohere.auth_headers("k") == {"Authorization": "Bearer k"}


# --- model list ------------------------------------------------------------------------------------


def test_models_are_paged_by_token() -> None:
    cohere = CohereDialect("https://api.cohere.com")
    first = {"models": [{"name": "command-r", "endpoints": ["chat"]}, {"name": "embed-v4.0"}], "next_page_token": "a b"}
    assert cohere.parse_models(200, {}, json.dumps(first).encode()) == (["command-r", "embed-v4.0"], "a b")
    assert cohere.list_models_call("a b").url == "https://api.cohere.com/v1/models?page_size=1000&page_token=a%20b"
    assert cohere.parse_models(200, {}, b'{"models": [{"name": "command-a-03-2025"}]}') == (["command-a-03-2025"], None)


# --- recording writes no key -----------------------------------------------------------------------


class _Answering(httpx.AsyncBaseTransport):
    """Answers every request with one recorded body, unread (httpx.MockTransport reads it first,
    so a recording transport around it would never see the body close)."""

    def __init__(self, body: str, key: str) -> None:
        self.body, self.key = body.encode(), key

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {self.key}"
        return httpx.Response(200, headers={"content-type": "application/json"}, stream=httpx.ByteStream(self.body))


def test_recording_a_cohere_call_writes_no_key(tmp_path: Path) -> None:
    key = "co-SECRET-key-0123456789"

    async def generate() -> Exchange:
        inner = _Answering(scoreboard(R, "GenSync-Text").response_body, key)
        client = ProviderClient(dialect, RecordingTransport(inner, tmp_path, Redactor(secrets=[key])), api_key=key)
        request = battery["Text"].request(stream=False)
        return await client.generate("command-r", request, name="cohere/command-r/sync-Text")

    exchange = asyncio.run(generate())
    assert exchange.ok and exchange.reply is not None and exchange.reply.text == "Hello!"
    written = [p.read_text() for p in tmp_path.rglob("*") if p.is_file()]
    assert written and not any(key in text or "Bearer" in text for text in written)


# --- end to end: `llmprobe run` against the recordings ----------------------------------------------

MODELS = ["command-a-reasoning-08-2025", "command-r", "command-r7b-12-2024", "command-light", "c4ai-aya-vision-8b"]

D6_AYA = (
    "D6: aya-vision refused tool_choice 'none' for SquareRoot-2 (400, tool_choice not supported), so it is "
    "asked again with auto; the reference never sent that, so no recording answers it and the chain is "
    "unmeasured, not flaky"
)
C2 = (
    "C2: command-r's forced call came back as Cohere's own error 'all generated tool calls were "
    "hallucinated' (422 sync, an ERROR event in the stream): a call the model got wrong, so tools is "
    "flaky as on every wire (D17); the reference read it as a refusal"
)
C3 = (
    "C3: Cohere cannot ask for N alternatives (`logprobs` is a flag), so TopLogprobs is refused by the dialect "
    "instead of sent as plain logprobs: the reference's true rested on replies that carry no alternative"
)
NO_FIELD = "D21: the v2 chat API cannot ask for alternatives: cannot be asked (➖), where the reference wrote false"
NO_SEARCH = (
    "D21: the v2 chat API has no web search (the web-search connector is v1 only): cannot be asked (➖), "
    "where the reference sent a plain prompt without any search tool and wrote false"
)
C1 = (
    "C1: command-a-reasoning streamed only thinking before MaxTokens/the stop word, exactly as its sync "
    "answer did; both modes read the same (the reference passed sync and failed stream)"
)

#: (model, mode, verdict) → (reference, llmprobe, why). Written out, never computed.
EXPECTED_DIFFERENCES: dict[tuple[str, str, str], tuple[str, str, str]] = {
    **{
        ("c4ai-aya-vision-8b", mode, name): (reference, "unknown", D6_AYA)
        for mode in ("sync", "stream")
        for name, reference in (("tools", "flaky"), ("toolsBiased", "false"), ("toolsIndecisive", "false"))
    },
    ("command-r", "sync", "tools"): ("true", "flaky", C2),
    ("command-r", "stream", "tools"): ("true", "flaky", C2),
    **{
        (model, mode, "topLogprobs"): ("true", "inexpressible", C3)
        for model in ("command-r", "command-r7b-12-2024", "c4ai-aya-vision-8b")
        for mode in ("sync", "stream")
    },
    **{
        (model, mode, "topLogprobs"): ("false", "inexpressible", NO_FIELD)
        for model in sorted(set(MODELS) - {"command-r", "command-r7b-12-2024", "c4ai-aya-vision-8b"})
        for mode in ("sync", "stream")
    },
    **{(model, mode, "webSearch"): ("false", "inexpressible", NO_SEARCH) for model in MODELS for mode in ("sync", "stream")},
    ("command-a-reasoning-08-2025", "stream", "maxTokens"): ("false", "true", C1),
    ("command-a-reasoning-08-2025", "stream", "stopSequence"): ("false", "true", C1),
}


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result, list[tuple[str, str, str]]]:
    from support.fixture_server import FixtureServer

    tmp = tmp_path_factory.mktemp("e2e-cohere")
    with FixtureServer() as server:
        provider = replayed("cohere", server.base_url("cohere"), MODELS)
        config = write_providers(tmp, {"cohere": provider})
        result = CliRunner().invoke(
            app,
            ["run", "--provider", "cohere", "--config", str(config), "--out", str(tmp / "out")],
            env={"LLMPROBE_TEST_KEY": "co-fixturekey-not-a-real-one"},
        )
        served = server.served
    return tmp, result, served


def test_run_probes_every_model_from_the_recordings(fixture_run) -> None:
    tmp, result, served = fixture_run
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    assert {model for _, model, _ in served} == set(MODELS)


def test_verdicts_match_reference_except_deviations(fixture_run) -> None:
    tmp, _, _ = fixture_run
    reference = reference_verdicts(FIXTURES / "scoreboard.json")
    ours = {(m.id, mode): r.verdicts for m in load(tmp / "out" / "cohere.json").models for mode, r in m.modes.items()}
    differences = {}
    for (model, mode), expected in reference.items():
        if model not in MODELS:
            continue
        got = ours[(model, mode)]
        differences.update({(model, mode, n): (expected[n], got[n]) for n in REFERENCE_NAMES if got[n] != expected[n]})
    compared = 2 * len(MODELS) * len(REFERENCE_NAMES)
    print(f"cohere: {compared - len(differences)}/{compared} verdicts equal")
    assert differences == {k: v[:2] for k, v in EXPECTED_DIFFERENCES.items()}


def test_modalities_and_thinking_match_reference(fixture_run) -> None:
    tmp, _, _ = fixture_run
    result = load(tmp / "out" / "cohere.json")
    for scenario in scenarios(FIXTURES / "scoreboard.json"):
        if "GenSync" not in scenario:
            continue
        model = result.model(scenario["models"][0])
        assert model is not None
        ours = {k: (m.inline, m.url, m.formats) for k, m in model.in_.items()}
        theirs = {
            k: (m.get("inline", False), m.get("url", False), m.get("supportedFormats", [])) for k, m in scenario["in"].items()
        }
        assert ours == theirs, model.id
        assert model.reason == scenario.get("thinking", scenario.get("reason", False)), model.id


def test_a_provider_refusing_none_gets_the_second_chance_with_auto(fixture_run) -> None:
    """D6 whoever refuses: aya-vision's own 400 "tool_choice is not supported" to SquareRoot-2 is followed
    by SquareRoot-2-any (auto), as the dialect's own refusal is; no recording answers that one."""
    tmp, _, _ = fixture_run
    model = load(tmp / "out" / "cohere.json").model("c4ai-aya-vision-8b")
    assert model is not None
    for mode in ("sync", "stream"):
        probes = {p.probe: p for p in model.modes[mode].probes}
        assert probes["Tools-SquareRoot-2"].status == 400 and "tool_choice" in probes["Tools-SquareRoot-2"].reason
        assert "not recorded" in probes["Tools-SquareRoot-2-any"].reason
        assert model.modes[mode].verdicts["tools"] == "unknown"
