"""A model listed twice, once with `reason: true`: two rows, probed, stored, resumed and compared apart."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmprobe import results, results_file
from llmprobe.battery import load_battery
from llmprobe.cli import app
from llmprobe.config import ModelConfig, ProviderConfig
from llmprobe.diff import diff_results
from llmprobe.neutral import Exchange, Reply, Request, ToolCall
from llmprobe.render.merge import merge
from llmprobe.results import ModelResult, ModeResult, ProviderResult, row_key, row_label, twinned
from llmprobe.runner import ModelProber
from support.configs import write_providers
from support.passing_provider import EXPECTED_VERDICTS, PassingProvider


def measured(model_id: str, reason: bool, json_verdict: str = "true") -> ModelResult:
    return ModelResult(id=model_id, reason=reason, modes={"sync": ModeResult(verdicts={"json": json_verdict})})


def result(*models: ModelResult, incomplete: list[results.RowKey] | None = None) -> ProviderResult:
    return ProviderResult("p", "2026-01-01T00:00:00Z", "0", models=list(models), incomplete=incomplete or [])


# --- identity -----------------------------------------------------------------------------------------


def test_reason_tells_rows_apart_only_for_a_twinned_id() -> None:
    twins = twinned(["a", "b", "a"], ["c"])
    assert twins == {"a"}
    assert row_key("a", True, twins) != row_key("a", False, twins)
    # Listed once, a model is found by id whatever its `reason` (it may have been detected).
    assert row_key("b", True, twins) == row_key("b", False, twins)
    assert (row_label("a", True, twins), row_label("a", False, twins), row_label("b", True, twins)) == (
        "a_thinking",
        "a",
        "b",
    )


# --- the results file ------------------------------------------------------------------------------------


def test_incomplete_rows_keep_the_plain_id_form_and_mark_reasoning_rows(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    results_file.save(result(incomplete=[("a", False), ("a", True)]), path)
    assert json.loads(path.read_text())["incomplete"] == ["a", {"id": "a", "reason": True}]
    assert results_file.load(path).incomplete == [("a", False), ("a", True)]


def test_files_written_before_thinking_rows_still_load(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"provider": "p", "generated_at": "", "llmprobe_version": "0", "models": [], "incomplete": ["a"]}))
    assert results_file.load(path).incomplete == [("a", False)]


@pytest.mark.parametrize("entry", [3, {"reason": True}, {"id": "a", "reason": "yes"}])
def test_a_bad_incomplete_entry_is_a_results_error(tmp_path: Path, entry: object) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"provider": "p", "generated_at": "", "llmprobe_version": "0", "models": [], "incomplete": [entry]}))
    with pytest.raises(results_file.ResultsError, match="incomplete"):
        results_file.load(path)


def test_model_lookup_can_name_the_twin() -> None:
    both = result(measured("a", False), measured("a", True, "false"))
    assert both.model("a") is both.models[0]
    assert both.model("a", reason=True) is both.models[1]


# --- rendering and diff --------------------------------------------------------------------------------


def test_merge_finds_each_twin_by_reason_in_config_order() -> None:
    config = ProviderConfig("p", "anthropic", "", models=(ModelConfig("a", tier="good"), ModelConfig("a", reason=True)))
    merged = merge(config, result(measured("a", True, "false"), measured("a", False)))
    assert [(m.id, m.reason, m.tier, m.modes["sync"].verdicts["json"]) for m in merged.models] == [
        ("a", False, "good", "true"),
        ("a", True, None, "false"),
    ]


def test_merge_still_finds_a_model_listed_once_whose_reasoning_was_detected() -> None:
    config = ProviderConfig("p", "openai", "", models=(ModelConfig("a"),))
    (row,) = merge(config, result(measured("a", True))).models
    assert row.reason and row.probed


def test_diff_compares_each_twin_with_itself() -> None:
    old = result(measured("a", False), measured("a", True))
    new = result(measured("a", False), measured("a", True, "false"))
    (change,) = diff_results(old, new).changes
    assert (change.model, change.old, change.new, change.change) == ("a_thinking", "true", "false", "worse")


# --- probing ---------------------------------------------------------------------------------------------


class RecordingClient:
    """Answers every probe with the same passing text, remembering the requests."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Request]] = []

    async def generate(self, model: str, request: Request, *, name: str = "", **scheduling: object) -> Exchange:
        self.requests.append((name, request))
        calls = [ToolCall("c", "square_root", '{"number": 132413}')] if request.tools and request.tool_choice != "none" else []
        return Exchange(reply=Reply(text="Hello", tool_calls=calls, finish_reason="stop"))


@pytest.mark.parametrize("reason", [False, True])
def test_every_request_of_a_reason_row_asks_for_thinking(reason: bool) -> None:
    client = RecordingClient()
    prober = ModelProber(client, load_battery(), "p", ModelConfig("a", reason=reason), label="a_thinking")  # type: ignore[arg-type]
    asyncio.run(prober.probe(("sync", "stream")))
    assert len(client.requests) > 20
    assert {request.thinking for _, request in client.requests} == {reason}
    assert all(name.startswith("p/a_thinking/") for name, _ in client.requests)


def write_config(tmp: Path, base_url: str) -> Path:
    models = [{"id": "m", "tier": "good"}, {"id": "m", "reason": True}, "n"]
    return write_providers(tmp, {"fake": {"api": "openai", "base_url": base_url, "models": models}})


def test_a_twinned_model_is_probed_as_two_rows_and_resumed_by_row(tmp_path: Path) -> None:
    out, cassettes = tmp_path / "out", tmp_path / "cassettes"
    with PassingProvider(latency=0.0) as server:
        config = write_config(tmp_path, server.base_url)
        run = CliRunner().invoke(app, ["run", "-p", "fake", "--config", str(config), "--out", str(out), "--record", str(cassettes)])
        assert run.exit_code == 0, run.output
        first = results_file.load(out / "fake.json")
        assert [(m.id, m.reason, m.tier) for m in first.models] == [("m", False, "good"), ("m", True, None), ("n", False, None)]
        assert all(mode.verdicts == EXPECTED_VERDICTS for m in first.models for mode in m.modes.values())
        assert first.incomplete == []
        assert {p.name for p in (cassettes / "fake").iterdir()} == {"m", "m_thinking", "n"}

        # An interrupted run left only the reasoning twin unfinished: --resume probes that row alone.
        interrupted = result(first.models[0], incomplete=[("m", True)])
        interrupted.provider = "fake"
        results_file.save(interrupted, out / "fake.json")
        sent = len(server.requests)
        again = CliRunner().invoke(app, ["run", "-p", "fake", "--config", str(config), "--out", str(out), "--resume"])
        assert again.exit_code == 0, again.output
        models_asked = [r.json["model"] for r in server.requests[sent:]]
    resumed = results_file.load(out / "fake.json")
    # The plain twin was kept as it was, "n" (never probed) and the reasoning twin were probed.
    assert resumed.models[0] == first.models[0]
    assert [(m.id, m.reason) for m in resumed.models] == [("m", False), ("m", True), ("n", False)]
    assert models_asked.count("m") == models_asked.count("n") > 0
    assert resumed.incomplete == []
