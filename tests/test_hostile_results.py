"""Results files are read back by render, show, diff and run --resume, and they are edited,
merged, truncated and copied between versions: each broken one is refused in one line,
exit status 2, never a traceback and never a misleading scoreboard."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmprobe import results_file
from llmprobe.cli import app
from llmprobe.results import Evidence, Modality, ModelResult, ModeResult, ProviderResult
from llmprobe.results_file import SCHEMA_VERSION, to_json
from support.configs import write_providers

#: A provider nothing answers for: these commands read results files, never the network.
FAKE = {"fake": {"api": "openai", "base_url": "http://127.0.0.1:9/v1", "models": ["m"]}}


def valid() -> dict[str, Any]:
    model = ModelResult(
        id="m",
        tier="good",
        in_={"text": Modality(inline=True)},
        out={"text": Modality(inline=True)},
        modes={
            "sync": ModeResult(
                verdicts={"json": "true", "tools": "flaky"},
                probes=[Evidence(probe="Text", outcome="pass", reason="'Hello.'", status=200, latency_ms=12.5, attempts=1)],
            )
        },
    )
    return to_json(ProviderResult(provider="fake", generated_at="2025-01-01T00:00:00Z", llmprobe_version="0", models=[model]))


def edit(change: Callable[[dict[str, Any]], object]) -> bytes:
    data = copy.deepcopy(valid())
    change(data)
    return json.dumps(data).encode()


def model(data: dict[str, Any]) -> dict[str, Any]:
    return data["models"][0]


def sync(data: dict[str, Any]) -> dict[str, Any]:
    return data["models"][0]["modes"]["sync"]


def text_evidence(data: dict[str, Any]) -> dict[str, Any]:
    return sync(data)["probes"][0]


GOOD = json.dumps(valid(), indent=2).encode()

#: (id, file bytes, a phrase of the message)
BROKEN: list[tuple[str, bytes, str]] = [
    ("not-utf8", GOOD.replace(b"Hello.", b"H\xe9llo\xff"), "(line 36: not UTF-8 text)"),
    ("utf16", GOOD.decode().encode("utf-16"), "not UTF-8 text"),
    ("empty", b"", "not valid JSON (line 1: Expecting value)"),
    ("truncated", GOOD[: len(GOOD) // 2], "not valid JSON"),
    ("trailing-garbage", GOOD + b"}", "Extra data"),
    ("utf8-bom", b"\xef\xbb\xbf" + GOOD, "not valid JSON"),
    ("json-null", b"null", "the top level is null, not an object"),
    ("json-list", b"[]", "the top level is a list, not an object"),
    ("json-string", b'"results"', "the top level is a string"),
    ("deep-nesting", b"[" * 100_000 + b"]" * 100_000, "nested deeper than 64 levels"),
    ("deep-inside", edit(lambda d: d.update(source=json.loads("[" * 60 + "]" * 60))).replace(b"[]", b"[" * 70 + b"]" * 70), "nested deeper"),
    ("nan", GOOD.replace(b"12.5", b"NaN"), "NaN is not a JSON number"),
    ("infinity", GOOD.replace(b"12.5", b"-Infinity"), "-Infinity is not a JSON number"),
    ("1000-digit-number", GOOD.replace(b"12.5", b"9" * 1000), "a number of 1000 digits"),
    ("verdicts-a-string", edit(lambda d: sync(d).update(verdicts="all true")), "models[0].modes.sync.verdicts: expected an object, got a string"),
    ("verdict-unknown-value", edit(lambda d: sync(d)["verdicts"].update(json="yes")), "verdicts.json: 'yes' is not one of true, false, flaky, unknown"),
    ("verdict-a-boolean", edit(lambda d: sync(d)["verdicts"].update(json=True)), "verdicts.json: True is not one of true, false, flaky, unknown"),
    ("model-id-a-number", edit(lambda d: model(d).update(id=42)), "models[0].id: expected a string, got an integer"),
    ("model-id-null", edit(lambda d: model(d).update(id=None)), "models[0].id: expected a string, got null"),
    ("model-id-missing", edit(lambda d: model(d).pop("id")), "models[0].id: missing"),
    ("generated-at-a-number", edit(lambda d: d.update(generated_at=1735689600)), "generated_at: expected a string, got an integer"),
    ("provider-missing", edit(lambda d: d.pop("provider")), "missing 'provider'"),
    ("models-an-object", edit(lambda d: d.update(models={"m": {}})), "models: expected a list, got an object"),
    ("model-a-string", edit(lambda d: d.update(models=["m"])), "models[0]: expected an object, got a string"),
    ("newer-schema", edit(lambda d: d.update(schema_version=SCHEMA_VERSION + 1)), f"written by a newer llmprobe (schema_version {SCHEMA_VERSION + 1}"),
    ("schema-a-string", edit(lambda d: d.update(schema_version="1")), "schema_version: expected a positive integer, got '1'"),
    ("schema-zero", edit(lambda d: d.update(schema_version=0)), "schema_version: expected a positive integer, got 0"),
    ("schema-a-boolean", edit(lambda d: d.update(schema_version=True)), "schema_version: expected a positive integer, got True"),
    ("reason-a-string", edit(lambda d: model(d).update(reason="false")), "models[0].reason: expected true or false, got a string"),
    ("probed-a-string", edit(lambda d: model(d).update(probed="yes")), "models[0].probed: expected true or false"),
    ("tier-a-list", edit(lambda d: model(d).update(tier=["good"])), "models[0].tier: expected a string, got a list"),
    ("modes-a-list", edit(lambda d: model(d).update(modes=["sync"])), "models[0].modes: expected an object, got a list"),
    ("unknown-mode", edit(lambda d: model(d)["modes"].update(batch=model(d)["modes"]["sync"])), "unknown mode 'batch'"),
    ("probes-an-object", edit(lambda d: sync(d).update(probes={"Text": {}})), "modes.sync.probes: expected a list"),
    ("evidence-unknown-key", edit(lambda d: text_evidence(d).update(secret="x")), "probes[0].secret: unknown key"),
    ("evidence-outcome-invalid", edit(lambda d: text_evidence(d).update(outcome="maybe")), "probes[0].outcome: 'maybe' is not one of pass"),
    ("evidence-latency-a-string", edit(lambda d: text_evidence(d).update(latency_ms="fast")), "probes[0].latency_ms: expected a number, got a string"),
    ("evidence-attempts-a-float", edit(lambda d: text_evidence(d).update(attempts=1.5)), "probes[0].attempts: expected an integer, got a number"),
    ("evidence-status-a-boolean", edit(lambda d: text_evidence(d).update(status=True)), "probes[0].status: expected an integer, got true or false"),
    ("modality-formats-a-string", edit(lambda d: model(d)["in"].update(image={"formats": "png"})), "in.image.formats: expected a list"),
    ("modality-a-list", edit(lambda d: model(d).update(out=["text"])), "models[0].out: expected an object"),
    ("incomplete-a-string", edit(lambda d: d.update(incomplete="m")), "incomplete: expected a list, got a string"),
    ("incomplete-of-numbers", edit(lambda d: d.update(incomplete=[1])), "incomplete: 1 is neither a model id nor {id, reason}"),
    (
        "incomplete-row-reason-a-string",
        edit(lambda d: d.update(incomplete=[{"id": "m", "reason": "yes"}])),
        "incomplete: {'id': 'm', 'reason': 'yes'} is neither a model id nor {id, reason}",
    ),
    ("local-a-string", edit(lambda d: d.update(local="true")), "local: expected true or false, got a string"),
    ("unknown-top-key", edit(lambda d: d.update(verdicts={})), "verdicts: unknown key"),
    ("in-underscore-key", edit(lambda d: model(d).update(in_={})), "models[0].in_: unknown key"),
]


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={})


def assert_one_line_refusal(ran: Any, path: Path, phrase: str) -> None:
    # Without a usable providers file, render warns first (one line), then refuses.
    output = "".join(line for line in ran.output.splitlines(keepends=True) if not line.startswith("llmprobe: warning: "))
    assert ran.exception is None or isinstance(ran.exception, SystemExit), ran.output
    assert "Traceback" not in ran.output
    assert ran.exit_code == 2, ran.output
    assert output.startswith(f"llmprobe: error: {path}: ") and output.count("\n") == 1, ran.output
    assert phrase in output, ran.output


@pytest.mark.parametrize(("data", "phrase"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_a_broken_results_file_is_refused_by_every_reader_in_one_line(tmp_path: Path, data: bytes, phrase: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    broken, good = out / "fake.json", tmp_path / "good.json"
    broken.write_bytes(data)
    good.write_bytes(GOOD)
    config = write_providers(tmp_path, FAKE)
    for args in (
        ["render", "--config", str(config), "--out", str(out)],
        ["render", "--format", "json", "--config", str(tmp_path / "absent.yaml"), "--out", str(out)],
        ["show", "-p", "fake", "--config", str(config), "--out", str(out)],
        ["run", "-p", "fake", "--resume", "--config", str(config), "--out", str(out)],
    ):
        assert_one_line_refusal(run(*args), broken, phrase)
    assert_one_line_refusal(run("diff", str(good), str(broken)), broken, phrase)
    assert_one_line_refusal(run("diff", str(broken), str(good)), broken, phrase)


def test_the_suite_is_as_large_as_promised() -> None:
    assert len(BROKEN) >= 30
    assert len({b[0] for b in BROKEN}) == len(BROKEN)


def test_the_valid_file_they_are_made_from_is_read() -> None:
    assert results_file.from_json(json.loads(GOOD)).models[0].modes["sync"].verdicts == {"json": "true", "tools": "flaky"}


def test_a_file_without_schema_version_is_read_as_version_1(tmp_path: Path) -> None:
    data = valid()
    del data["schema_version"]
    path = tmp_path / "fake.json"
    path.write_text(json.dumps(data))
    assert results_file.load(path) == results_file.from_json(valid())


def test_lone_surrogates_in_a_results_file_are_read_as_replacement_characters_and_render(tmp_path: Path) -> None:
    (tmp_path / "fake.json").write_bytes(GOOD.replace(b"'Hello.'", b"'Hel\\ud800lo'"))
    assert results_file.load(tmp_path / "fake.json").models[0].modes["sync"].probes[0].reason == "'Hel\ufffdlo'"
    config = write_providers(tmp_path, FAKE)
    ran = run("render", "--config", str(config), "--out", str(tmp_path))
    assert ran.exit_code == 0, ran.output


def test_what_the_writer_writes_is_strict_json_and_utf8_whatever_it_holds(tmp_path: Path) -> None:
    result = results_file.from_json(valid())
    evidence = result.models[0].modes["sync"].probes[0]
    evidence.reason = "lone \ud800 surrogate and the key sk-live-PLANTED0123456789"
    evidence.latency_ms = float("nan")
    path = tmp_path / "fake.json"
    results_file.ResultsWriter(path, redact=lambda text: text.replace("sk-live-PLANTED0123456789", "REDACTED")).save(result)
    text = path.read_bytes().decode("utf-8")
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} written"))
    assert "lone \ufffd surrogate and the key REDACTED" in text and '"latency_ms": null' in text
