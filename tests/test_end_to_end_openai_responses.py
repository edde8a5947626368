"""`llmprobe run` through the OpenAI Responses dialect, on the reference's recordings replayed by request kind.

Every verdict must equal the reference's scoreboard.json, except the cells listed
in EXPECTED_DIFFERENCES, each with its reason (docs/deviations-openai-responses.md).
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from conftest import (
    FIXTURES,
    SAME_FORMAT,
    beyond_reference_unrecorded,
    reference_verdicts,
    scenarios,
    unrecorded_by_reference,
)
from llmprobe.capabilities import REFERENCE_NAMES
from llmprobe.cli import app
from llmprobe.results_file import load
from support import recorded_responses
from support.configs import replayed, write_providers
from support.fixture_server import BEYOND_REFERENCE

RECORDINGS = FIXTURES / recorded_responses.RECORDINGS
PROVIDER = recorded_responses.NAME
#: The chat models of the recordings (gpt-image-1 is image generation). No `reason:`: thinking is detected.
#: (Those whose recordings are here: all five with ../shared.)
MODELS = [
    model
    for model in ["gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4.1", "o4-mini"]
    if any(scenario["models"][0] == model for scenario in scenarios(RECORDINGS / "scoreboard.json"))
]

R1 = "R1: the MaxTokens reply was cut at the limit (max_output_tokens) but reports zero usage"
R3 = "R3 (D7): both ToolBias streams ended in a server_error event: unmeasured, not flaky"
NO_FIELD = "D21: the Responses API has no seed or stop field: cannot be asked (➖), where the reference wrote false"
R4 = "R4 (D7): ToolBias-Canada was answered HTTP 500 server_error ('An error occurred while processing your request'): unmeasured"

#: (model, mode, verdict) → (reference, llmprobe, why). Written out, never computed.
EXPECTED_DIFFERENCES: dict[tuple[str, str, str], tuple[str, str, str]] = {
    ("gpt-4.1", "sync", "maxTokens"): ("false", "true", R1),
    ("gpt-4.1", "sync", "reportTokenUsage"): ("true", "flaky", R1),
    ("gpt-4.1", "stream", "maxTokens"): ("false", "true", R1),
    ("gpt-4.1", "stream", "reportTokenUsage"): ("true", "flaky", R1),
    ("o4-mini", "stream", "maxTokens"): ("false", "true", R1),
    ("o4-mini", "stream", "reportTokenUsage"): ("true", "flaky", R1),
    ("gpt-5-nano", "stream", "tools"): ("flaky", "unknown", R3),
    ("gpt-5-nano", "stream", "toolsBiased"): ("false", "unknown", R3),
    ("gpt-5-nano", "stream", "toolsIndecisive"): ("false", "unknown", R3),
    **{
        (model, mode, verdict): ("false", "inexpressible", NO_FIELD)
        for model in MODELS
        for mode in ["sync", "stream"]
        for verdict in ["seed", "stopSequence"]
    },
    ("gpt-5-mini", "sync", "tools"): ("flaky", "unknown", R4),
    ("gpt-5-mini", "sync", "toolsBiased"): ("flaky", "unknown", R4),
    ("gpt-5-mini", "sync", "toolsIndecisive"): ("false", "unknown", R4),
    ("gpt-5-nano", "sync", "tools"): ("flaky", "unknown", R4),
    ("gpt-5-nano", "sync", "toolsBiased"): ("flaky", "unknown", R4),
    ("gpt-5-nano", "sync", "toolsIndecisive"): ("false", "unknown", R4),
}


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory):
    from support.fixture_server import FixtureServer

    tmp = tmp_path_factory.mktemp("e2e-responses")
    with FixtureServer() as server:
        provider = replayed("openai-responses", server.base_url(PROVIDER), MODELS)
        config = write_providers(tmp, {PROVIDER: provider})
        result = CliRunner().invoke(
            app,
            ["run", "--provider", PROVIDER, "--config", str(config), "--out", str(tmp / "out")],
            env={"LLMPROBE_TEST_KEY": "sk-fixturekey-not-a-real-one-000000"},
        )
        served = server.served
    return tmp, result, served


def test_run_succeeds_and_every_request_found_its_recording(fixture_run):
    tmp, result, served = fixture_run
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    assert load(tmp / "out" / f"{PROVIDER}.json").models
    assert served and all(not c.startswith("none") or unrecorded_by_reference(c) for _, _, c in served), served
    # The probes beyond the reference: each request of them unanswered and judged "not recorded".
    beyond = [model for _, model, c in served if c.endswith(BEYOND_REFERENCE)]
    assert beyond and sorted(beyond) == sorted(beyond_reference_unrecorded(tmp / "out" / f"{PROVIDER}.json"))


def test_verdicts_match_reference_except_deviations(fixture_run):
    tmp, _, _ = fixture_run
    reference = reference_verdicts(RECORDINGS / "scoreboard.json")
    result = load(tmp / "out" / f"{PROVIDER}.json")
    ours = {(m.id, mode): r.verdicts for m in result.models for mode, r in m.modes.items()}
    differences = {}
    compared = 0
    for model in MODELS:
        for mode in ("sync", "stream"):
            expected, got = reference[(model, mode)], ours.get((model, mode))
            assert got, f"no {mode} verdicts for {model}"
            for name in REFERENCE_NAMES:
                compared += 1
                if got[name] != expected[name]:
                    differences[(model, mode, name)] = (expected[name], got[name])
    print(f"{PROVIDER}: {compared - len(differences)}/{compared} verdicts equal")
    assert compared and differences == {k: v[:2] for k, v in EXPECTED_DIFFERENCES.items() if k[0] in MODELS}


def test_modalities_and_thinking_match_reference(fixture_run):
    tmp, _, _ = fixture_run
    result = load(tmp / "out" / f"{PROVIDER}.json")
    for scenario in scenarios(RECORDINGS / "scoreboard.json"):
        if scenario["models"][0] not in MODELS:
            continue
        model = result.model(scenario["models"][0])
        assert model is not None
        ours = {k: (m.inline, m.url, [SAME_FORMAT.get(f, f) for f in m.formats]) for k, m in model.in_.items()}
        theirs = {
            k: (m.get("inline", False), m.get("url", False), m.get("supportedFormats", []))
            for k, m in scenario["in"].items()
        }
        assert ours == theirs, model.id
        assert model.reason == bool(scenario.get("reason", False)), model.id
