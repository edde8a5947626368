"""`llmprobe diff`: verdict changes between two results files, and the exit status CI relies on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmprobe import results_file
from llmprobe.cli import app
from llmprobe.diff import VerdictChange, diff_results
from llmprobe.results import ModelResult, ModeResult, ProviderResult

runner = CliRunner()


Verdicts = dict[str, dict[str, dict[str, str]]]


def provider(models: Verdicts, *, name: str = "groq", when: str = "2026-01-01T00:00:00Z") -> ProviderResult:
    """Results from {model: {mode: {capability: verdict}}}."""
    return ProviderResult(
        provider=name,
        generated_at=when,
        llmprobe_version="0.1.0",
        models=[
            ModelResult(id=model, modes={mode: ModeResult(verdicts=dict(v)) for mode, v in modes.items()})
            for model, modes in models.items()
        ],
    )


def write(tmp_path: Path, name: str, result: ProviderResult) -> Path:
    path = tmp_path / name
    results_file.save(result, path)
    return path


def run_diff(tmp_path: Path, old: ProviderResult, new: ProviderResult, *args: str):
    return runner.invoke(app, ["diff", str(write(tmp_path, "old.json", old)), str(write(tmp_path, "new.json", new)), *args])


@pytest.mark.parametrize(
    ("old", "new", "change"),
    [
        ("true", "false", "worse"),
        ("true", "flaky", "worse"),
        ("flaky", "false", "worse"),
        ("false", "true", "better"),
        ("flaky", "true", "better"),
        ("false", "flaky", "better"),
        ("true", "unknown", "unmeasured"),
        ("unknown", "false", "unmeasured"),
        # A refusal of 2025 becoming a measurement (D21) is not an improvement of the model, nor the reverse.
        ("false", "inexpressible", "unmeasured"),
        ("inexpressible", "true", "unmeasured"),
        ("true", None, "unmeasured"),
        (None, "false", "unmeasured"),
    ],
)
def test_direction_of_each_transition(old: str | None, new: str | None, change: str) -> None:
    assert VerdictChange("m", "sync", "json", old, new).change == change


@pytest.mark.parametrize(
    "capability, old, new, change",
    [
        ("toolsBiased", "false", "true", "worse"),  # became biased towards the first enum value
        ("toolsBiased", "true", "flaky", "better"),
        ("toolsIndecisive", "false", "flaky", "worse"),
        ("toolsIndecisive", "true", "false", "better"),
        ("tools", "true", "flaky", "worse"),
    ],
)
def test_bias_and_indecision_are_faults_so_true_is_the_bad_end(capability, old, new, change) -> None:
    assert VerdictChange("m", "sync", capability, old, new).change == change


def test_unchanged_verdicts_are_not_listed() -> None:
    same = {"m": {"sync": {"json": "true", "seed": "unknown"}}}
    diff = diff_results(provider(same), provider(same))
    assert diff.changes == [] and not diff.worse


def test_changes_in_model_mode_and_capability_order() -> None:
    old = provider(
        {"b": {"stream": {"json": "true"}, "sync": {"seed": "true", "json": "true"}}, "a": {"sync": {"tools": "false"}}}
    )
    new = provider(
        {"b": {"stream": {"json": "false"}, "sync": {"seed": "flaky", "json": "unknown"}}, "a": {"sync": {"tools": "true"}}}
    )
    diff = diff_results(old, new)
    assert [(c.model, c.mode, c.capability, c.change) for c in diff.changes] == [
        ("a", "sync", "tools", "better"),
        ("b", "sync", "json", "unmeasured"),
        ("b", "sync", "seed", "worse"),
        ("b", "stream", "json", "worse"),
    ]
    assert diff.worse


def test_models_and_modes_added_and_removed() -> None:
    old = provider({"kept": {"sync": {"json": "true"}, "stream": {"json": "true"}}, "gone": {"sync": {}}})
    new = provider({"kept": {"sync": {"json": "true"}}, "fresh": {"sync": {}}})
    diff = diff_results(old, new)
    assert diff.models_added == ["fresh"] and diff.models_removed == ["gone"]
    assert [(m.model, m.mode) for m in diff.modes_removed] == [("kept", "stream")]
    assert diff.modes_added == [] and diff.changes == [] and not diff.worse


def test_table_and_exit_status_1_when_something_got_worse(tmp_path: Path) -> None:
    old = provider({"llama": {"sync": {"tools": "true", "seed": "false"}}, "gone": {}})
    new = provider({"llama": {"sync": {"tools": "false", "seed": "true"}, "stream": {"json": "true"}}, "fresh": {}})
    result = run_diff(tmp_path, old, new)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith("1 worse, 1 better, 0 unmeasured")
    rows = [line.split() for line in lines[2:5]]
    assert rows == [
        ["model", "mode", "capability", "old", "new", "change"],
        ["llama", "sync", "tools", "true", "false", "worse"],
        ["llama", "sync", "seed", "false", "true", "better"],
    ]
    text = result.stdout
    assert "models added:\n  fresh" in text and "models removed:\n  gone" in text
    assert "modes added:\n  llama (stream)" in text


def test_exit_status_0_when_only_better_or_unmeasured(tmp_path: Path) -> None:
    old = provider({"m": {"sync": {"tools": "false", "json": "true"}}})
    new = provider({"m": {"sync": {"tools": "true", "json": "unknown"}}})
    result = run_diff(tmp_path, old, new)
    assert result.exit_code == 0, result.output
    assert "0 worse, 1 better, 1 unmeasured" in result.stdout


def test_exit_status_0_and_no_table_when_nothing_changed(tmp_path: Path) -> None:
    same = provider({"m": {"sync": {"json": "true"}}})
    result = run_diff(tmp_path, same, same)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["groq: 2026-01-01T00:00:00Z -> 2026-01-01T00:00:00Z: 0 worse, 0 better, 0 unmeasured"]


def test_json_shape(tmp_path: Path) -> None:
    old = provider({"m": {"sync": {"tools": "true"}, "stream": {}}, "gone": {}}, when="2026-01-01T00:00:00Z")
    new = provider({"m": {"sync": {"tools": "flaky", "seed": "true"}}}, when="2026-01-08T00:00:00Z")
    result = run_diff(tmp_path, old, new, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "provider": "groq",
        "old_generated_at": "2026-01-01T00:00:00Z",
        "new_generated_at": "2026-01-08T00:00:00Z",
        "worse": True,
        "counts": {"worse": 1, "better": 0, "unmeasured": 1, "noise": 0},
        "changes": [
            {"model": "m", "mode": "sync", "capability": "tools", "old": "true", "new": "flaky", "old_rate": None, "new_rate": None, "change": "worse"},
            {"model": "m", "mode": "sync", "capability": "seed", "old": None, "new": "true", "old_rate": None, "new_rate": None, "change": "unmeasured"},
        ],
        "models_added": [],
        "models_removed": ["gone"],
        "modes_added": [],
        "modes_removed": [{"model": "m", "mode": "stream"}],
    }


def test_missing_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    new = write(tmp_path, "new.json", provider({}))
    result = runner.invoke(app, ["diff", str(tmp_path / "absent.json"), str(new)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"llmprobe: error: {tmp_path / 'absent.json'}: cannot read: No such file or directory"]


def test_file_that_is_not_results_is_one_line_and_exit_2(tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text('{"provider": "groq"', encoding="utf-8")
    new = write(tmp_path, "new.json", provider({}))
    result = runner.invoke(app, ["diff", str(old), str(new)])
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and "not valid JSON" in result.stderr


def test_different_providers_are_refused(tmp_path: Path) -> None:
    result = run_diff(tmp_path, provider({}, name="groq"), provider({}, name="cloudflare"))
    assert result.exit_code == 2
    assert result.stderr.strip() == "llmprobe: error: the files hold results of different providers (groq and cloudflare)"


def test_help_documents_the_unknown_choice() -> None:
    result = runner.invoke(app, ["diff", "--help"], terminal_width=200)
    assert "unmeasured" in result.stdout and "a network failure is not a regression" in " ".join(result.stdout.split())
