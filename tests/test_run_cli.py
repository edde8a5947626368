"""`llmprobe run` as a user drives it: record, replay, secrets, results file, interruption.

Against the test suite's passing provider, so the whole path runs on a clean clone
without ../shared; the recorded providers' quirks are tested end to end elsewhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from llmprobe import results, results_file
from llmprobe.cli import app
from support.configs import write_providers
from support.passing_provider import EXPECTED_VERDICTS, PassingProvider

# A planted, fake Groq-shaped key; split so that no key-shaped literal sits in the source
# (secret scanners would rightly flag one).
KEY = "gsk_" + "PLANTEDsecretKEY0123456789abcdefABCDEF"
MODEL = "llama-3.1-8b-instant"

#: The contract of out/NAME.json (docs/usage.md, "SCOREBOARD.md, results/ and out/"), as a JSON schema.
VERDICT = {"enum": ["true", "false", "flaky", "unknown"]}
RESULTS_SCHEMA = {
    "type": "object",
    "required": ["provider", "generated_at", "llmprobe_version", "models"],
    "properties": {
        "provider": {"type": "string"},
        "generated_at": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"},
        "llmprobe_version": {"type": "string"},
        "models": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "reason", "tier", "probed", "in", "out", "modes"],
                "properties": {
                    "id": {"type": "string"},
                    "reason": {"type": "boolean"},
                    "tier": {"enum": [None, "sota", "good", "cheap"]},
                    "probed": {"type": "boolean"},
                    "in": {"type": "object"},
                    "out": {"type": "object"},
                    "modes": {
                        "type": "object",
                        "propertyNames": {"enum": ["sync", "stream"]},
                        "additionalProperties": {
                            "type": "object",
                            "required": ["verdicts", "probes"],
                            "properties": {
                                "verdicts": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        name: VERDICT
                                        for name in results.VERDICT_NAMES
                                    },
                                },
                                "probes": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["probe", "outcome", "status", "latency_ms", "reason"],
                                        "properties": {
                                            "outcome": {"enum": ["pass", "fail", "unsupported", "error"]}
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def config(tmp: Path, base_url: str) -> Path:
    provider = {
        "api": "openai",
        "base_url": base_url,
        "api_key_env": "GROQ_API_KEY",
        "max_retries": 0,
        "models": [MODEL, {"id": "whisper-large-v3", "probe": False}],
    }
    return write_providers(tmp, {"groq": provider})


def invoke(*args: str, key: str | None = KEY):
    env = {"GROQ_API_KEY": key} if key is not None else {}
    return CliRunner().invoke(app, list(args), env=env)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("record")
    with PassingProvider(latency=0) as server:
        cfg = config(tmp, server.base_url)
        result = invoke("run", "-p", "groq", "-v", "--config", str(cfg), "--out", str(tmp / "out"), "--record", str(tmp / "cassettes"))
    return tmp, cfg, result


def test_record_writes_cassettes_and_results(recorded):
    tmp, _, result = recorded
    assert result.exit_code == 0, result.output
    names = sorted(p.relative_to(tmp / "cassettes").as_posix() for p in (tmp / "cassettes").rglob("*.yaml"))
    assert f"groq/{MODEL}/sync-Text.yaml" in names
    assert f"groq/{MODEL}/stream-Tools-ToolBias-USA.yaml" in names
    assert len(names) > 30


def test_no_secret_in_any_file_or_log_line(recorded):
    tmp, _, result = recorded
    assert KEY not in result.output
    for path in tmp.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
            assert b"Bearer" not in path.read_bytes(), path


def test_replay_offline_gives_the_same_verdicts(recorded, tmp_path):
    tmp, cfg, _ = recorded
    # The fixture server is gone: every answer must come from the cassettes. No key needed.
    result = invoke("run", "-p", "groq", "--config", str(cfg), "--out", str(tmp_path), "--replay", str(tmp / "cassettes"), key=None)
    assert result.exit_code == 0, result.output
    original = results_file.load(tmp / "out" / "groq.json").model(MODEL)
    replayed = results_file.load(tmp_path / "groq.json").model(MODEL)
    assert {m: r.verdicts for m, r in replayed.modes.items()} == {m: r.verdicts for m, r in original.modes.items()}
    assert all(r.verdicts == EXPECTED_VERDICTS for r in replayed.modes.values())  # not vacuous: a full battery


def test_replay_without_recording_is_one_clear_line(tmp_path):
    cfg = config(tmp_path, "https://api.groq.com/openai/v1")
    result = invoke("run", "-p", "groq", "--config", str(cfg), "--out", str(tmp_path / "out"), "--replay", str(tmp_path / "empty"))
    assert result.exit_code == 2
    assert result.output.startswith("llmprobe: error: no recordings to replay: ")
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_results_file_follows_the_interface(recorded):
    tmp, _, _ = recorded
    data = json.loads((tmp / "out" / "groq.json").read_text())
    jsonschema.validate(data, RESULTS_SCHEMA)
    listed = [m for m in data["models"] if m["id"] == "whisper-large-v3"]
    assert listed == [
        {"id": "whisper-large-v3", "reason": False, "tier": None, "probed": False, "in": {}, "out": {}, "modes": {}}
    ]
    assert data["incomplete"] == []


def test_missing_key_names_the_variable_and_sends_nothing(tmp_path):
    cfg = config(tmp_path, "http://127.0.0.1:9/never")
    result = invoke("run", "-p", "groq", "--config", str(cfg), "--out", str(tmp_path / "out"), key=None)
    assert result.exit_code == 2
    assert "GROQ_API_KEY" in result.output
    assert not (tmp_path / "out").exists()


def test_unknown_provider_and_model_are_one_line_errors(tmp_path):
    cfg = config(tmp_path, "http://127.0.0.1:9/never")
    result = invoke("run", "-p", "nope", "--config", str(cfg))
    assert result.exit_code == 2
    assert result.output.strip() == f"llmprobe: error: unknown provider 'nope' in {cfg} (configured: groq)"
    result = invoke("run", "-p", "groq", "-m", "gpt-9", "--config", str(cfg))
    assert result.exit_code == 2
    assert result.output.strip() == "llmprobe: error: --model 'gpt-9' is not configured for groq"


def test_interrupted_save_leaves_the_previous_file_intact(recorded, tmp_path, monkeypatch):
    tmp, _, _ = recorded
    path = tmp_path / "groq.json"
    path.write_bytes((tmp / "out" / "groq.json").read_bytes())
    before = path.read_bytes()
    result = results_file.load(path)

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    result.generated_at = "2030-01-01T00:00:00Z"
    with pytest.raises(KeyboardInterrupt):
        results_file.save(result, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["groq.json"]


def test_render_survives_a_broken_config_by_reading_the_results_alone(recorded, tmp_path):
    tmp, _, _ = recorded
    broken = write_providers(tmp_path, {"groq": {"api": "martian", "base_url": "https://example.invalid"}})
    result = CliRunner().invoke(app, ["render", "--config", str(broken), "--out", str(tmp / "out")])
    assert result.exit_code == 0, result.output
    assert "providers.groq.api: 'martian' is not one of" in result.stderr
    assert MODEL in result.stdout and "whisper-large-v3" in result.stdout
    missing = CliRunner().invoke(app, ["render", "-p", "nobody", "--config", str(broken), "--out", str(tmp / "out")])
    assert missing.exit_code == 2 and "no results in" in missing.stderr
