"""`llmprobe run` on Gemini's real answers, replayed by request kind, against the reference's verdicts.

Every verdict must equal the reference scoreboard.json computed from the same traffic,
except the cells listed below one by one with the reason (docs/deviations-gemini.md),
so a regression in either direction fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import (
    FIXTURES,
    SAME_FORMAT,
    beyond_reference_unrecorded,
    recorded,
    reference_rows,
    scenarios,
    unrecorded_by_reference,
)
from llmprobe.capabilities import REFERENCE_NAMES
from llmprobe.cli import app
from llmprobe.results_file import load
from support.configs import replayed, write_providers
from support.fixture_server import BEYOND_REFERENCE

GEMINI_FIXTURES = FIXTURES / "gemini-2025-09-02"
KEY = "AIzaFixtureKeyNotARealOne000000000000"
PRO, FLASH, LITE = "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"
#: The first model of each chat scenario, and whether it was run with reasoning: flash and
#: flash-lite both ways, as two rows each (pro cannot stop thinking).
#: (Those whose recordings are here: all five with ../shared.)
ROWS = [
    (model, reason)
    for model, reason in [(PRO, True), (FLASH, False), (LITE, False), (FLASH, True), (LITE, True)]
    if recorded(GEMINI_FIXTURES.name, model, reason)
]

G1 = (
    "G1: flash-lite streamed both best_country calls in one chunk; we keep both (indecisive, as the "
    "reference itself judged the identical sync answer), the reference kept only the chunk's last call"
)

#: (model, mode, verdict) → (reference, llmprobe, why). Written out, never computed.
EXPECTED_DIFFERENCES: dict[tuple[str, bool, str, str], tuple[str, str, str]] = {
    (LITE, False, "stream", "toolsIndecisive"): ("false", "true", G1),
    (FLASH, True, "stream", "toolsIndecisive"): ("false", "true", G1),
    (LITE, True, "stream", "toolsIndecisive"): ("false", "true", G1),
}


def write_config(directory: Path, base_url: str) -> Path:
    models = [{"id": model, "reason": reason} for model, reason in ROWS]
    return write_providers(directory, {"gemini": replayed("gemini", base_url, models)})


@pytest.fixture(scope="module")
def gemini_run(tmp_path_factory):
    from support.fixture_server import FixtureServer
    from support.recorded_gemini import base_url

    tmp = tmp_path_factory.mktemp("e2e-gemini")
    with FixtureServer() as server:
        config = write_config(tmp, base_url(server))
        result = CliRunner().invoke(
            app,
            ["run", "--provider", "gemini", "--config", str(config), "--out", str(tmp / "out"),
             "--record", str(tmp / "cassettes")],
            env={"LLMPROBE_TEST_KEY": KEY},
        )
        served = server.served
    return tmp, result, served


def test_run_succeeds_and_every_probe_was_recorded(gemini_run):
    """Exit 1 only for the media formats the reference never asked (D26), where the rows compared have them."""
    tmp, result, served = gemini_run
    assert result.exit_code == (1 if any(c.startswith("none") for _, _, c in served) else 0), result.output
    assert "Traceback" not in result.output
    assert served and all(not c.startswith("none") or unrecorded_by_reference(c) for _, _, c in served), served
    # The probes beyond the reference: each request of them unanswered and judged "not recorded".
    beyond = [model for _, model, c in served if c.endswith(BEYOND_REFERENCE)]
    assert beyond and sorted(beyond) == sorted(beyond_reference_unrecorded(tmp / "out" / "gemini.json"))
    assert {model for _, model, _ in served} == {model for model, _ in ROWS}


def reference() -> dict[tuple[str, bool, str], dict[str, str]]:
    rows = reference_rows(GEMINI_FIXTURES / "scoreboard.json")
    return {key: verdicts for key, verdicts in rows.items() if key[:2] in ROWS}


def test_verdicts_match_reference_except_deviations(gemini_run):
    tmp, _, _ = gemini_run
    result = load(tmp / "out" / "gemini.json")
    ours = {(m.id, m.reason, mode): r.verdicts for m in result.models for mode, r in m.modes.items()}
    differences = {}
    compared = 0
    for (model, reason, mode), expected in reference().items():
        got = ours.get((model, reason, mode))
        assert got, f"no {mode} verdicts for {model} (reason {reason})"
        for name in REFERENCE_NAMES:
            compared += 1
            if got[name] != expected[name]:
                differences[(model, reason, mode, name)] = (expected[name], got[name])
    assert compared == len(ROWS) * 2 * len(REFERENCE_NAMES)
    assert differences == {k: v[:2] for k, v in EXPECTED_DIFFERENCES.items() if k[:2] in ROWS}
    print(f"gemini: {compared - len(differences)}/{compared} verdicts equal")


def test_modalities_and_thinking_match_reference(gemini_run):
    tmp, _, _ = gemini_run
    result = load(tmp / "out" / "gemini.json")
    for scenario in scenarios(GEMINI_FIXTURES / "scoreboard.json"):
        model_id, reason = scenario["models"][0], scenario.get("reason", False)
        if (model_id, reason) not in ROWS:
            continue
        model = result.model(model_id, reason)
        assert model is not None
        ours = {k: (m.inline, m.url, [SAME_FORMAT.get(f, f) for f in m.formats]) for k, m in model.in_.items()}
        theirs = {k: (m.get("inline", False), m.get("url", False), m.get("supportedFormats", [])) for k, m in scenario["in"].items()}
        assert ours == theirs, model_id
        assert model.reason == scenario.get("reason", False), model_id


def test_recording_writes_no_key_and_replays_to_the_same_verdicts(gemini_run):
    """The key travels only in `x-goog-api-key`, which the recorder drops by name: nothing was
    left for redaction to find, in URLs, headers or bodies. Replayed offline, the cassettes
    (streams included) give the same results."""
    tmp, result, _ = gemini_run
    files = sorted((tmp / "cassettes").rglob("*.yaml"))
    assert len(files) >= 20 * len(ROWS)
    for path in files:
        text = path.read_text()
        assert KEY not in text and "REDACTED" not in text and "x-goog-api-key" not in text.lower(), path
    replayed = CliRunner().invoke(
        app,
        ["run", "--provider", "gemini", "--config", str(tmp / "providers.yaml"), "--out", str(tmp / "replayed"),
         "--replay", str(tmp / "cassettes")],
        env={"LLMPROBE_TEST_KEY": KEY},
    )
    assert replayed.exit_code == result.exit_code, replayed.output
    verdicts = [{mode: r.verdicts for mode, r in m.modes.items()} for m in load(tmp / "out" / "gemini.json").models]
    again = [{mode: r.verdicts for mode, r in m.modes.items()} for m in load(tmp / "replayed" / "gemini.json").models]
    assert again == verdicts
