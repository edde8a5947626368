"""ResultsWriter reuses each model's encoded text; the file must still be exactly what encoding it whole gives."""

from __future__ import annotations

import json
from pathlib import Path

from llmprobe.results import Evidence, Modality, ModelResult, ModeResult, ProviderResult
from llmprobe.results_file import ResultsWriter, load, to_json


def whole(result: ProviderResult) -> str:
    return json.dumps(to_json(result), indent=2, ensure_ascii=False) + "\n"


def model(model_id: str, verdict: str = "true") -> ModelResult:
    return ModelResult(
        id=model_id,
        tier="good",
        in_={"text": Modality(inline=True), "image": Modality(url=True, formats=["image/png"])},
        out={"text": Modality(inline=True)},
        modes={
            "sync": ModeResult(
                verdicts={"json": verdict, "tools": "flaky"},
                probes=[Evidence(probe="Text", outcome="pass", reason="'Grüße, 世界 🍌\\n'", latency_ms=201.5, attempts=1)],
            )
        },
    )


def test_each_save_writes_what_encoding_the_whole_result_gives(tmp_path: Path) -> None:
    path = tmp_path / "out" / "fake.json"
    writer = ResultsWriter(path)
    result = ProviderResult(provider="fake", generated_at="2025-01-01T00:00:00Z", llmprobe_version="0", incomplete=[("a", False), ("b", True)])
    first_a = model("a")
    steps = [
        [],
        [first_a],
        [first_a, ModelResult(id="unprobed", probed=False)],
        # "a" replaced by a new result, "b" added: the old text of "a" must not be reused.
        [model("a", "false"), ModelResult(id="unprobed", probed=False), model("b")],
    ]
    for models in steps:
        result.models = models
        writer.save(result)
        assert path.read_text(encoding="utf-8") == whole(result)
    assert load(path) == result
