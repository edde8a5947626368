"""`llmprobe run` against Anthropic's recorded answers, with and without thinking, compared with its scoreboard.json.

What llmprobe sends differently (docs/deviations-anthropic.md) changes no verdict on this
traffic, except where llmprobe asks what the reference's client refused to send: every such
cell is written out below with its reason, and any other difference is a regression.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from conftest import (
    ANTHROPIC_FIXTURES,
    SAME_FORMAT,
    beyond_reference_unrecorded,
    recorded,
    reference_rows,
    scenarios,
    unrecorded_by_reference,
)
from llmprobe.capabilities import REFERENCE_NAMES
from llmprobe.cli import app
from llmprobe.dialects.anthropic import AnthropicDialect
from llmprobe.errors import ApiError, ErrorKind
from llmprobe.results_file import load
from support.configs import replayed, write_providers
from support.fixture_server import BEYOND_REFERENCE

HAIKU, SONNET, OPUS = "claude-3-5-haiku-20241022", "claude-sonnet-4-20250514", "claude-opus-4-1-20250805"
#: The first model of each scenario the reference tested, as (id, reason): the thinking runs are rows of their own.
#: (Those whose recordings are here: all five with ../shared.)
ROWS = [
    (model, reason)
    for model, reason in [(OPUS, False), (OPUS, True), (SONNET, False), (SONNET, True), (HAIKU, False)]
    if recorded(ANTHROPIC_FIXTURES.name, model, reason)
]
MODES = ["sync", "stream"]

NO_FIELD = "D21: the Messages API has no field for it: cannot be asked (➖), where the reference wrote false"
NOT_RECORDED = "D21: now sent (structured outputs), never sent by the reference: no recording answers it"
THINKING_MAX_TOKENS = (
    "D21: max_tokens under the thinking budget is sent and left to the server; the reference never sent it, "
    "so no recording answers it"
)
SONNET_FORCED_WHILE_THINKING = (
    "D21: the forced call with thinking on is sent and left to the server; Sonnet's thinking run recorded only "
    "an unforced request, which cannot answer it, so the tool chain is unmeasured"
)

#: (model, reason, mode, verdict) → (reference, llmprobe, why). Written out, never computed.
EXPECTED_DIFFERENCES: dict[tuple[str, bool, str, str], tuple[str, str, str]] = {
    **{
        (model, reason, mode, verdict): ("false", "inexpressible", NO_FIELD)
        for model, reason in ROWS
        for mode in MODES
        for verdict in ["json", "seed", "topLogprobs"]
    },
    **{(model, reason, mode, "jsonSchema"): ("false", "unknown", NOT_RECORDED) for model, reason in ROWS for mode in MODES},
    **{(model, True, mode, "maxTokens"): ("false", "unknown", THINKING_MAX_TOKENS) for model in [OPUS, SONNET] for mode in MODES},
    **{
        (SONNET, True, mode, verdict): (reference, "unknown", SONNET_FORCED_WHILE_THINKING)
        for mode, biased in [("sync", "flaky"), ("stream", "false")]
        for verdict, reference in [
            ("tools", "flaky"),
            ("toolCallRequired", "false"),
            ("toolsBiased", biased),
            ("toolsIndecisive", "false"),
        ]
    },
}

def write_config(directory: Path, base_url: str) -> Path:
    models = [{"id": model_id, "reason": reason} for model_id, reason in ROWS]
    return write_providers(directory, {"anthropic": replayed("anthropic", base_url, models)})


@pytest.fixture(scope="module")
def anthropic_run(tmp_path_factory):
    from support.fixture_server import FixtureServer

    tmp = tmp_path_factory.mktemp("anthropic-e2e")
    with FixtureServer() as server:
        config = write_config(tmp, server.base_url("anthropic"))
        result = CliRunner().invoke(
            app,
            ["run", "--provider", "anthropic", "--config", str(config), "--out", str(tmp / "out")],
            env={"LLMPROBE_TEST_KEY": "sk-ant-fixturekey-not-a-real-one-0000"},
        )
        served = server.served
    return tmp, result, served


def test_run_succeeds_from_recordings_only(anthropic_run):
    """Exit 1: the requests the reference never sent (the unknown cells below) have no recording."""
    tmp, result, served = anthropic_run
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    unanswered = [model for _, model, cassette in served if cassette.startswith("none") and not unrecorded_by_reference(cassette)]
    # JSONSchema on every row and mode, MaxTokens on both thinking rows, Sonnet's forced call while thinking.
    thinking = [m for m, reason in ROWS if reason]
    assert sorted(unanswered) == sorted([m for m, _ in ROWS for _ in MODES] + thinking * 2 + [m for m in thinking if m == SONNET] * 2)
    # And the probes beyond the reference, each request of them unanswered and judged "not recorded".
    beyond = [model for _, model, cassette in served if cassette.endswith(BEYOND_REFERENCE)]
    assert beyond and sorted(beyond) == sorted(beyond_reference_unrecorded(tmp / "out" / "anthropic.json"))


def test_verdicts_match_reference_except_deviations(anthropic_run):
    tmp, _, _ = anthropic_run
    ours = {(m.id, m.reason, mode): r.verdicts for m in load(tmp / "out" / "anthropic.json").models for mode, r in m.modes.items()}
    reference = reference_rows(ANTHROPIC_FIXTURES / "scoreboard.json")
    differences = {}
    compared = 0
    for (model, reason, mode), expected in reference.items():
        got = ours.get((model, reason, mode))
        assert got, f"no {mode} verdicts for {model} (reason {reason})"
        for name in REFERENCE_NAMES:
            compared += 1
            if got[name] != expected[name]:
                differences[(model, reason, mode, name)] = (expected[name], got[name])
    assert differences == {k: v[:2] for k, v in EXPECTED_DIFFERENCES.items() if k[:2] in ROWS}
    assert compared == len(ROWS) * 2 * len(REFERENCE_NAMES)
    print(f"anthropic: {compared - len(differences)}/{compared} verdicts equal")


def test_modalities_and_thinking_rows_match_reference(anthropic_run):
    tmp, _, _ = anthropic_run
    result = load(tmp / "out" / "anthropic.json")
    for scenario in scenarios(ANTHROPIC_FIXTURES / "scoreboard.json"):
        if "GenSync" not in scenario:
            continue
        reason = scenario.get("reason", False)
        model = result.model(scenario["models"][0], reason=reason)
        assert model is not None and model.reason is reason
        theirs = scenario["in"]
        ours = {k: (m.inline, m.url, [SAME_FORMAT.get(f, f) for f in m.formats]) for k, m in model.in_.items()}
        assert ours == {k: (m.get("inline", False), m.get("url", False), m.get("supportedFormats", [])) for k, m in theirs.items()}


def test_an_unknown_model_gets_the_apis_own_answer():
    from support.fixture_server import FixtureServer

    with FixtureServer() as server:
        answer = httpx.post(f"{server.base_url('anthropic')}/v1/messages", json={"model": "claude-none", "max_tokens": 9})
    with pytest.raises(ApiError) as raised:
        AnthropicDialect(server.base_url("anthropic")).parse(answer.status_code, answer.headers, answer.content)
    assert (raised.value.kind, raised.value.message) == (ErrorKind.NOT_FOUND, "model: claude-none")
