"""`llmprobe run` end to end on real provider answers, replayed by request kind.

Every verdict must equal the reference scoreboard.json computed from the same
traffic, except the cells our deliberate deviations change. Those are listed
below one by one, each with the deviation that explains it, so a regression in
either direction fails.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import FIXTURES, REPO, SAME_FORMAT, needs_fixtures, reference_verdicts, scenarios
from llmprobe.capabilities import REFERENCE_NAMES
from llmprobe.cli import app
from llmprobe.config import ProviderConfig, load_config
from llmprobe.results import ProviderResult
from llmprobe.results_file import load
from support.configs import replayed, write_providers
from test_config import GROQ_TESTED

# No `reason:` in the test config: thinking must be detected from the replies.
SCOUT, LLAMA_3B = "@cf/meta/llama-4-scout-17b-16e-instruct", "@cf/meta/llama-3.2-3b-instruct"
D1 = "D1: Workers AI never reports a finish reason; never reported is false, not flaky"
D6_SCOUT_SYNC = (
    "D6: Workers AI cannot say tool_choice 'none', so SquareRoot-2 is asked again with auto and "
    "passes (the reference called that flaky); ToolBias was then sent but the reference never "
    "recorded it, so the fixture server has no answer and tools stays unmeasured"
)
D8_SCOUT_STREAM = (
    "D8: the streamed tool-call deltas are assembled, so SquareRoot-1-any passes; the follow-up "
    "SquareRoot-2 was never recorded (the reference stopped earlier), so the chain is unmeasured"
)
D11 = "D11: SquareRoot-2 called the tool again, so ToolBias never ran: bias is unmeasured, not 'not biased'"
NO_RECORDING = "no ToolBias recording exists for Workers AI (see D6 above): unmeasured"
# The rest are in docs/deviations-openai-compatible.md, with the recording that shows each.
D7_429 = "D7: the recorded answer is HTTP 429 (rate limited): not measured, where the reference wrote false"
D16 = (
    "D16: the reference declared Hugging Face's tool schema under `arguments`, which the server does not read, "
    "so its tool recordings answer another question than ours: not recorded, unmeasured"
)
D17 = "D17: a forced call the provider reports as failed (tool_use_failed) is a flaky call, as on Groq"
D18 = (
    "D18: the reference forced nothing (tool_choice auto) in deepseek-reasoner's SquareRoot-1; strict replay has no "
    "recording of our forced request, so the chain is not recorded: unmeasured"
)
NO_LOGPROBS = (
    "D23: the reference's client dropped `logprobs`, so its TopLogprobs recording asks for plain text; strict "
    "replay has no recording of our request: not recorded, unmeasured"
)
AUTO_BIAS = (
    "D24: the reference asked ToolBias with tool_choice auto after forcing failed; our forced ToolBias is not "
    "recorded, and the chain's verdicts are unmeasured"
)
D19 = "D19: Together streams whole tool calls beside the delta; read, the call passes, and -2 was never recorded"
D20 = "D20: Workers AI streamed the JSON token `true` as a JSON value; read as text, the answer is valid JSON"
D25 = "D25 (D7): the recorded answer is HTTP 500 whose body says the server failed, not that the option is unsupported"
MAVERICK = "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8"
NO_FIELD = (
    "D21: the /ai/run input schema has no tool_choice, stop, logprobs or web search field: cannot be asked (➖), "
    "where the reference wrote false"
)
NO_SEARCH_RECORDING = (
    "D27: the reference sent WebSearch only where its client had the provider's search tool (OpenAI, Anthropic, "
    "Gemini, Cohere) and wrote false elsewhere without asking; our request carries web_search_options and no "
    "recording answers it: not recorded (❔)"
)
#: The providers whose recordings hold no WebSearch request (D27): webSearch differs on every row they have.
NO_SEARCH_RECORDED = ("groq", "cerebras", "deepseek", "huggingface", "mistral", "perplexity", "togetherai")

#: (provider, model, mode, verdict) → (reference, llmprobe, why). Written out, never computed.
EXPECTED_DIFFERENCES: dict[tuple[str, str, str, str], tuple[str, str, str]] = {
    ("cloudflare", SCOUT, "sync", "reportFinishReason"): ("flaky", "false", D1),
    ("cloudflare", SCOUT, "stream", "reportFinishReason"): ("flaky", "false", D1),
    ("cloudflare", LLAMA_3B, "sync", "reportFinishReason"): ("flaky", "false", D1),
    ("cloudflare", LLAMA_3B, "stream", "reportFinishReason"): ("flaky", "false", D1),
    ("cloudflare", SCOUT, "sync", "tools"): ("flaky", "unknown", D6_SCOUT_SYNC),
    ("cloudflare", SCOUT, "sync", "toolsBiased"): ("false", "unknown", NO_RECORDING),
    ("cloudflare", SCOUT, "sync", "toolsIndecisive"): ("false", "unknown", NO_RECORDING),
    ("cloudflare", SCOUT, "stream", "tools"): ("false", "unknown", D8_SCOUT_STREAM),
    ("cloudflare", SCOUT, "stream", "toolsBiased"): ("false", "unknown", D8_SCOUT_STREAM),
    ("cloudflare", SCOUT, "stream", "toolsIndecisive"): ("false", "unknown", D8_SCOUT_STREAM),
    ("cloudflare", LLAMA_3B, "sync", "toolsBiased"): ("false", "unknown", D11),
    ("cloudflare", LLAMA_3B, "sync", "toolsIndecisive"): ("false", "unknown", D11),
    ("cloudflare", SCOUT, "stream", "json"): ("false", "true", D20),
    **{
        ("cloudflare", model, mode, name): ("false", "inexpressible", NO_FIELD)
        for model in (SCOUT, LLAMA_3B)
        for mode in ("sync", "stream")
        for name in ("toolCallRequired", "stopSequence", "topLogprobs", "webSearch")
    },
    **{
        ("huggingface", model, mode, name): ("false", "unknown", D16)
        for model in ("Qwen/Qwen3-4B", "meta-llama/Llama-3.3-70B-Instruct")
        for mode in ("sync", "stream")
        for name in ("tools", "toolCallRequired", "toolsBiased", "toolsIndecisive")
    },
    ("huggingface", "Qwen/Qwen3-4B", "sync", "jsonSchema"): ("false", "unknown", D25),
    ("togetherai", "google/gemma-3-27b-it", "sync", "jsonSchema"): ("false", "unknown", D25),
    ("togetherai", "google/gemma-3-27b-it", "stream", "jsonSchema"): ("false", "unknown", D25),
    ("cerebras", "qwen-3-coder-480b", "sync", "tools"): ("true", "flaky", D17),
    **{
        ("deepseek", "deepseek-reasoner", mode, name): (reference, "unknown", D18)
        for mode, answers in (("sync", ("flaky", "true")), ("stream", ("true", "true")))
        for name, reference in zip(("tools", "toolCallRequired", "toolsBiased", "toolsIndecisive"), (answers[0], "false", answers[1], "false"), strict=True)
    },
    **{
        (provider, model, mode, "topLogprobs"): ("false", "unknown", NO_LOGPROBS)
        for provider, models in (
            ("groq", GROQ_TESTED),
            ("mistral", ("mistral-large-latest", "mistral-medium-latest", "mistral-small-latest", "mistral-tiny-latest", "ministral-3b-latest", "pixtral-12b-latest", "voxtral-small-latest")),
            ("perplexity", ("sonar-reasoning-pro", "sonar-pro", "sonar", "sonar-reasoning")),
        )
        for model in models
        for mode in ("sync", "stream")
    },
    **{
        ("togetherai", model, mode, name): (reference, "unknown", AUTO_BIAS)
        for model, modes, references in (
            ("meta-llama/Llama-4-Scout-17B-16E-Instruct", ("sync", "stream"), ("true", "false", "true")),
            (MAVERICK, ("sync", "stream"), ("true", "true", "false")),
            ("mistralai/Mistral-Small-24B-Instruct-2501", ("sync",), ("flaky", "flaky", "false")),
        )
        for mode in modes
        for name, reference in zip(("tools", "toolsBiased", "toolsIndecisive"), references, strict=True)
    },
    **{
        ("togetherai", "Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8", "stream", name): ("false", "unknown", D19)
        for name in ("tools", "toolsBiased", "toolsIndecisive")
    },
    ("togetherai", "google/gemma-3-27b-it", "sync", "reportFinishReason"): ("flaky", "false", D1),
    ("togetherai", MAVERICK, "sync", "maxTokens"): ("false", "unknown", D7_429),
    ("togetherai", MAVERICK, "stream", "maxTokens"): ("false", "unknown", D7_429),
    ("togetherai", "meta-llama/Llama-4-Scout-17B-16E-Instruct", "stream", "seed"): ("false", "unknown", D7_429),
}


#: The recorded providers, each run with its shipped providers.yaml settings (field names,
#: declared unsupported options) against the fixture server.
RECORDED = ("groq", "cerebras", "deepseek", "huggingface", "mistral", "openaichat", "perplexity", "togetherai", "cloudflare")
SHIPPED = REPO / "providers.yaml"


@cache
def shipped() -> dict[str, ProviderConfig]:
    """The shipped providers.yaml, read once for the module."""
    return load_config(SHIPPED).providers


def fixtures_of(provider: str) -> Path:
    from support.fixture_server import PROVIDERS

    return FIXTURES / PROVIDERS[provider].recordings


def chat_models(provider: str) -> list[str]:
    """The first model of every scenario the reference tested as a text chat model (text in and out).

    Image generators (openaichat's gpt-image-1, Together's FLUX) answer through another API,
    and gpt-4o-audio-preview refuses any request without audio; llmprobe's battery is text, so
    they are listed `probe: false` in providers.yaml and compared nowhere.
    """
    return [
        s["models"][0]
        for s in scenarios(fixtures_of(provider) / "scoreboard.json")
        if ("GenSync" in s or "GenStream" in s) and "text" in s.get("in", {}) and "text" in s.get("out", {})
    ]


def write_config(directory: Path, base_urls: dict[str, str]) -> Path:
    """Each recorded provider with its shipped settings, pointed at the fixture server."""
    providers = {}
    for name in RECORDED:
        provider = shipped()[name]
        fields: dict = {}
        if provider.options:
            fields["options"] = dict(provider.options)
        if provider.unsupported:
            fields["unsupported"] = list(provider.unsupported)
        providers[name] = replayed(provider.api, base_urls[name], chat_models(name), **fields)
    return write_providers(directory, providers)


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory):
    from support.fixture_server import FixtureServer

    tmp = tmp_path_factory.mktemp("e2e")
    with FixtureServer() as server:
        config = write_config(tmp, {p: server.base_url(p) for p in RECORDED})
        providers = [arg for name in RECORDED for arg in ("--provider", name)]
        result = CliRunner().invoke(
            app,
            ["run", *providers, "--config", str(config), "--out", str(tmp / "out")],
            env={"LLMPROBE_TEST_KEY": "gsk_fixturekey_not_a_real_one_000000"},
        )
        served = server.served
    return tmp, result, served


@pytest.fixture(scope="module")
def results(fixture_run) -> dict[str, ProviderResult]:
    """Each provider's results file, read once for every test that looks at it."""
    tmp, _, _ = fixture_run
    return {provider: load(tmp / "out" / f"{provider}.json") for provider in RECORDED}


@pytest.mark.parametrize("provider", RECORDED)
def test_shipped_providers_probe_every_recorded_chat_model(provider):
    models = {m.id: m for m in shipped()[provider].models}
    assert all(models[m].probe for m in chat_models(provider))


def test_run_succeeds_and_writes_results(fixture_run, results):
    _, result, served = fixture_run
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    for provider in RECORDED:
        assert results[provider].models, provider
    assert served, "the fixture server answered nothing"


def our_verdicts(result: ProviderResult) -> dict[tuple[str, str], dict[str, str]]:
    return {(m.id, mode): r.verdicts for m in result.models for mode, r in m.modes.items()}


def compare(result: ProviderResult, provider: str) -> tuple[int, dict[tuple[str, str, str, str], tuple[str, str]]]:
    """How many verdicts were compared, and every one that differs: (reference, ours)."""
    reference = reference_verdicts(fixtures_of(provider) / "scoreboard.json")
    ours = our_verdicts(result)
    differences = {}
    compared = 0
    for model in chat_models(provider):
        for mode in ("sync", "stream"):
            expected = reference.get((model, mode))
            if expected is None:
                continue
            # No record at all (Text refused) is compared as "absent", verdict by verdict.
            got = ours.get((model, mode)) or {}
            for name in REFERENCE_NAMES:
                compared += 1
                if got.get(name, "absent") != expected[name]:
                    differences[(provider, model, mode, name)] = (expected[name], got.get(name, "absent"))
    return compared, differences


@pytest.mark.parametrize("provider", list(RECORDED))
def test_verdicts_match_reference_except_deviations(results, provider):
    compared, differences = compare(results[provider], provider)
    models = chat_models(provider)
    listed = {k: v[:2] for k, v in EXPECTED_DIFFERENCES.items() if k[0] == provider and k[1] in models}
    if provider in NO_SEARCH_RECORDED:
        rows = reference_verdicts(fixtures_of(provider) / "scoreboard.json")
        listed.update({(provider, m, mode, "webSearch"): ("false", "unknown") for m, mode in rows if m in models})
    assert compared and differences == listed
    print(f"{provider}: {compared - len(differences)}/{compared} verdicts equal")


@needs_fixtures
def test_agreement_over_all_recordings_is_the_readme_figure(results):
    measured = {}
    for provider in RECORDED:
        compared, differences = compare(results[provider], provider)
        measured[provider] = (compared - len(differences), compared)
    assert measured == AGREEMENT


#: Verdicts equal to the reference / verdicts compared, as the README's table shows them.
AGREEMENT = {
    "groq": (234, 270),
    "cerebras": (251, 270),
    "deepseek": (48, 60),
    "huggingface": (39, 60),
    "mistral": (182, 210),
    "openaichat": (180, 180),
    "perplexity": (104, 120),
    "togetherai": (284, 330),
    "cloudflare": (31, 60),
}




@pytest.mark.parametrize("provider", list(RECORDED))
def test_modalities_and_thinking_match_reference(results, provider):
    result = results[provider]
    for model_id in chat_models(provider):
        scenario = next(s for s in scenarios(fixtures_of(provider) / "scoreboard.json") if s["models"][0] == model_id)
        if "GenSync" not in scenario:
            continue
        model = result.model(model_id)
        assert model is not None
        ours = {k: (m.inline, m.url, [SAME_FORMAT.get(f, f) for f in m.formats]) for k, m in model.in_.items()}
        theirs = {
            k: (m.get("inline", False), m.get("url", False), m.get("supportedFormats", []))
            for k, m in scenario["in"].items()
        }
        assert ours == theirs, model.id
        thinking = scenario.get("thinking", scenario.get("reason", False))
        # OpenAI never sends o4-mini's reasoning, only its token count: nothing on the wire shows
        # it, so providers.yaml says `reason: true` (the reference knew it from its own list too).
        assert model.reason == thinking or (provider, model.id) == ("openaichat", "o4-mini"), model.id


def test_unmeasured_probes_make_the_exit_status_1(fixture_run):
    # Cloudflare's unrecorded follow-ups end as errors: the run must say so.
    _, result, _ = fixture_run
    assert result.exit_code == 1
    assert "could not be measured" in result.output or "no usable answer" in result.output
