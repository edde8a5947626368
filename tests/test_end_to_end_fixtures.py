"""`llmprobe run` end to end on real provider answers, replayed by request kind.

Every verdict must equal the reference scoreboard.json computed from the same
traffic, except the cells our deliberate deviations change. Those are listed
below one by one, each with the deviation that explains it, so a regression in
either direction fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CLOUDFLARE_FIXTURES, GROQ_FIXTURES, needs_fixtures, reference_verdicts
from typer.testing import CliRunner

from llmprobe.cli import app
from llmprobe.results import VERDICT_NAMES, load

pytestmark = needs_fixtures

# No `reason:` in the test config: thinking must be detected from the replies.
GROQ_MODELS = [
    "llama-3.1-8b-instant",
    "llama-3.3-70b-versatile",
    "deepseek-r1-distill-llama-70b",
    "meta-llama/llama-4-scout-17b-16e-instruct",
    "meta-llama/llama-4-maverick-17b-128e-instruct",
    "qwen/qwen3-32b",
    "moonshotai/kimi-k2-instruct",
    "openai/gpt-oss-20b",
    "openai/gpt-oss-120b",
]
CLOUDFLARE_MODELS = ["@cf/meta/llama-4-scout-17b-16e-instruct", "@cf/meta/llama-3.2-3b-instruct"]

SCOUT, LLAMA_3B = CLOUDFLARE_MODELS
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
}


def write_config(path: Path, base_urls: dict[str, str]) -> Path:
    lines = ["providers:"]
    for name, api, models in (("groq", "openai", GROQ_MODELS), ("cloudflare", "cloudflare", CLOUDFLARE_MODELS)):
        lines += [
            f"  {name}:",
            f"    api: {api}",
            f"    base_url: {base_urls[name]}",
            "    api_key_env: LLMPROBE_TEST_KEY",
            "    max_retries: 0",
            # Any URL will do: the fixture server answers image-URL requests by file extension.
            "    image_base_url: https://images.invalid/probes",
            "    models:",
        ]
        lines += [f'      - id: "{model_id}"' for model_id in models]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory):
    from fixture_server import FixtureServer

    tmp = tmp_path_factory.mktemp("e2e")
    with FixtureServer() as server:
        config = write_config(tmp / "providers.yaml", {p: server.base_url(p) for p in ("groq", "cloudflare")})
        result = CliRunner().invoke(
            app,
            ["run", "--provider", "groq", "--provider", "cloudflare", "--config", str(config), "--out", str(tmp / "out")],
            env={"LLMPROBE_TEST_KEY": "gsk_fixturekey_not_a_real_one_000000"},
        )
        served = server.served
    return tmp, result, served


def test_run_succeeds_and_writes_results(fixture_run):
    tmp, result, served = fixture_run
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    assert load(tmp / "out" / "groq.json").models
    assert load(tmp / "out" / "cloudflare.json").models
    assert served, "the fixture server answered nothing"


def our_verdicts(out: Path, provider: str) -> dict[tuple[str, str], dict[str, str]]:
    result = load(out / f"{provider}.json")
    return {(m.id, mode): r.verdicts for m in result.models for mode, r in m.modes.items()}


@pytest.mark.parametrize("provider, fixtures", [("groq", GROQ_FIXTURES), ("cloudflare", CLOUDFLARE_FIXTURES)])
def test_verdicts_match_reference_except_deviations(fixture_run, provider, fixtures):
    tmp, _, _ = fixture_run
    reference = reference_verdicts(fixtures / "scoreboard.json")
    ours = our_verdicts(tmp / "out", provider)
    differences = {}
    compared = 0
    for (model, mode), expected in reference.items():
        got = ours.get((model, mode))
        assert got, f"no {mode} verdicts for {model}"
        for name in VERDICT_NAMES:
            compared += 1
            if got[name] != expected[name]:
                differences[(provider, model, mode, name)] = (expected[name], got[name])
    listed = {k: v[:2] for k, v in EXPECTED_DIFFERENCES.items() if k[0] == provider}
    assert differences == listed
    print(f"{provider}: {compared - len(differences)}/{compared} verdicts equal")


@pytest.mark.parametrize("provider, fixtures", [("groq", GROQ_FIXTURES), ("cloudflare", CLOUDFLARE_FIXTURES)])
def test_modalities_and_thinking_match_reference(fixture_run, provider, fixtures):
    tmp, _, _ = fixture_run
    result = load(tmp / "out" / f"{provider}.json")
    for scenario in json.loads((fixtures / "scoreboard.json").read_text())["scenarios"]:
        if "GenSync" not in scenario:
            continue
        model = result.model(scenario["models"][0])
        assert model is not None
        ours = {k: (m.inline, m.url, m.formats) for k, m in model.in_.items()}
        theirs = {
            k: (m.get("inline", False), m.get("url", False), m.get("supportedFormats", []))
            for k, m in scenario["in"].items()
        }
        assert ours == theirs, model.id
        thinking = scenario.get("thinking", scenario.get("reason", False))
        assert model.reason == thinking, model.id


def test_unmeasured_probes_make_the_exit_status_1(fixture_run):
    # Cloudflare's unrecorded follow-ups end as errors: the run must say so.
    _, result, _ = fixture_run
    assert result.exit_code == 1
    assert "could not be measured" in result.output or "no usable answer" in result.output
