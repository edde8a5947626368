"""`out/NAME.json`: the results file, its types, and how it is read and written.

This file is the boundary between probing and rendering: rendering reads only
this (plus providers.yaml for order and labels), never the network.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Literal

from llmprobe.errors import LlmprobeError
from llmprobe.files import write_atomically

Outcome = Literal["pass", "fail", "unsupported", "error"]

#: The capability names, as the reference scoreboard spells them (so the two compare).
VERDICT_NAMES: tuple[str, ...] = (
    "json",
    "jsonSchema",
    "tools",
    "toolCallRequired",
    "toolsBiased",
    "toolsIndecisive",
    "seed",
    "topLogprobs",
    "maxTokens",
    "stopSequence",
    "citations",
    "reportRateLimits",
    "reportTokenUsage",
    "reportFinishReason",
)
VERDICTS: tuple[str, ...] = ("true", "false", "flaky", "unknown")
MODES: tuple[str, ...] = ("sync", "stream")

#: A scoreboard row: a model id, and whether the row is the model probed with its reasoning on.
RowKey = tuple[str, bool]


@dataclass
class Evidence:
    """What one probe request did; kept so a verdict can always be traced to its reply."""

    probe: str
    outcome: Outcome
    reason: str = ""
    status: int | None = None
    latency_ms: float | None = None
    ttfb_ms: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    finish_reason: str | None = None
    #: Requests sent for this probe, retries included.
    attempts: int = 0
    #: The cassette file holding the exchange, when recording.
    cassette: str | None = None


@dataclass
class ModeResult:
    verdicts: dict[str, str] = field(default_factory=dict)
    probes: list[Evidence] = field(default_factory=list)


@dataclass
class Modality:
    inline: bool = False
    url: bool = False
    formats: list[str] = field(default_factory=list)


@dataclass
class ModelResult:
    id: str
    reason: bool = False
    tier: str | None = None
    probed: bool = True
    #: Modalities accepted as input / produced as output ("text", "image", ...).
    in_: dict[str, Modality] = field(default_factory=dict)
    out: dict[str, Modality] = field(default_factory=dict)
    modes: dict[str, ModeResult] = field(default_factory=dict)


@dataclass
class ProviderResult:
    provider: str
    generated_at: str
    llmprobe_version: str
    models: list[ModelResult] = field(default_factory=list)
    country: str = ""
    dashboard: str = ""
    local: bool = False
    #: Rows that were probed in this run but not finished (interrupted); `run --resume` picks them up.
    #: In the file, a row is its id, or `{"id": …, "reason": true}` for a `reason: true` row.
    incomplete: list[RowKey] = field(default_factory=list)
    #: Where the answers came from when not from the provider's configured URL:
    #: "replay of DIR" or "--base-url URL". Empty for a live run.
    source: str = ""

    def model(self, model_id: str, reason: bool | None = None) -> ModelResult | None:
        """The first row of `model_id`; of a model listed twice, the one with this `reason`."""
        return next((m for m in self.models if m.id == model_id and reason in (None, m.reason)), None)


def twinned(*listings: Iterable[str]) -> frozenset[str]:
    """The ids listed twice in one listing: a model probed both with and without its reasoning on."""
    twice: set[str] = set()
    for ids in listings:
        seen: set[str] = set()
        for model_id in ids:
            (twice if model_id in seen else seen).add(model_id)
    return frozenset(twice)


def row_key(model_id: str, reason: bool, twins: frozenset[str]) -> RowKey:
    """What identifies a row: its id, and `reason` too when the id is twinned.

    A model listed once is found by its id alone, because its `reason` may have been
    detected from its replies (🧠 for a model that reasons on its own), so a results
    file and the config may disagree about it without meaning another row.
    """
    return (model_id, reason and model_id in twins)


def row_label(model_id: str, reason: bool, twins: frozenset[str]) -> str:
    """A row's name where only text fits (cassette paths, logs, diffs): `_thinking` marks the
    reasoning twin, as the reference names its recordings."""
    return f"{model_id}_thinking" if reason and model_id in twins else model_id


class ResultsError(LlmprobeError):
    """An out/ file is missing, unreadable or not in the expected shape."""


def to_json(result: ProviderResult) -> dict[str, Any]:
    data = asdict(replace(result, models=[]))
    # Keep the documented keys first, in the documented order.
    ordered = {k: data.pop(k) for k in ("provider", "generated_at", "llmprobe_version", "models")}
    ordered.update(data)
    ordered["incomplete"] = [_row_json(row) for row in result.incomplete]
    ordered["models"] = [_model_json(model) for model in result.models]
    return ordered


def _row_json(row: RowKey) -> str | dict[str, Any]:
    """A plain id, as files have always had it, unless the row is a `reason: true` one."""
    model_id, reason = row
    return {"id": model_id, "reason": True} if reason else model_id


def _row(data: Any) -> RowKey:
    if isinstance(data, str):
        return (data, False)
    if isinstance(data, dict) and isinstance(data.get("id"), str) and isinstance(data.get("reason", False), bool):
        return (data["id"], data.get("reason", False))
    raise ResultsError(f"incomplete: {data!r} is neither a model id nor {{id, reason}}")


def _model_json(model: ModelResult) -> dict[str, Any]:
    data = asdict(model)
    data["in"] = data.pop("in_")
    ordered = {k: data.pop(k) for k in ("id", "reason", "tier", "probed", "in", "out", "modes")}
    ordered.update(data)
    return ordered


def _modality(data: Any) -> Modality:
    return Modality(
        inline=bool(data.get("inline", False)),
        url=bool(data.get("url", False)),
        formats=list(data.get("formats", [])),
    )


def from_json(data: Any) -> ProviderResult:
    """Raises ResultsError with the offending key when the shape is wrong."""
    try:
        models = []
        for m in data["models"]:
            modes = {}
            for name, mode in (m.get("modes") or {}).items():
                if name not in MODES:
                    raise ResultsError(f"unknown mode {name!r} for model {m['id']!r}")
                verdicts = dict(mode.get("verdicts") or {})
                for key, value in verdicts.items():
                    if value not in VERDICTS:
                        raise ResultsError(f"model {m['id']!r} {name}: verdict {key}={value!r} is not one of {VERDICTS}")
                modes[name] = ModeResult(
                    verdicts=verdicts,
                    probes=[Evidence(**e) for e in mode.get("probes") or []],
                )
            models.append(
                ModelResult(
                    id=m["id"],
                    reason=bool(m.get("reason", False)),
                    tier=m.get("tier"),
                    probed=bool(m.get("probed", True)),
                    in_={k: _modality(v) for k, v in (m.get("in") or {}).items()},
                    out={k: _modality(v) for k, v in (m.get("out") or {}).items()},
                    modes=modes,
                )
            )
        return ProviderResult(
            provider=data["provider"],
            generated_at=data["generated_at"],
            llmprobe_version=data["llmprobe_version"],
            models=models,
            country=data.get("country", ""),
            dashboard=data.get("dashboard", ""),
            local=bool(data.get("local", False)),
            incomplete=[_row(row) for row in data.get("incomplete", [])],
            source=str(data.get("source", "")),
        )
    except ResultsError:
        raise
    except (KeyError, TypeError, AttributeError) as exc:
        raise ResultsError(f"not an llmprobe results file: missing or wrong {exc}") from None


def load(path: Path) -> ProviderResult:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    try:
        return from_json(data)
    except ResultsError as exc:
        raise ResultsError(f"{path}: {exc}") from None


def save(result: ProviderResult, path: Path) -> None:
    """Write `result` to `path` once; a run saving again and again uses a ResultsWriter."""
    ResultsWriter(path).save(result)


class ResultsWriter:
    """Writes one provider's results file, again each time a model finishes, encoding each model once.

    Re-encoding every finished model at every save made a run's saving quadratic in
    its models (about 3.5 ms per model per save, blocking the event loop): 0.5 ms of
    CPU per request with 10 models, 3 ms with 100. A saved ModelResult must not be
    changed afterwards: its text is reused for as long as it is the same object.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._encoded: dict[RowKey, tuple[ModelResult, str]] = {}

    def save(self, result: ProviderResult) -> None:
        """Write atomically: a temporary file in the same folder renamed into place.

        An interrupted run therefore leaves either the previous file or the new one,
        never half of one. The text is `json.dumps(to_json(result), indent=2)`'s, byte for byte.
        """
        models = [self._model_text(model) for model in result.models]
        head = json.dumps(to_json(replace(result, models=[])), indent=2, ensure_ascii=False)
        # JSON strings hold no raw line breaks, so this matches the top-level key and nothing else.
        listed = "[\n" + ",\n".join(models) + "\n  ]" if models else "[]"
        write_atomically(self.path, head.replace('\n  "models": []', '\n  "models": ' + listed, 1) + "\n")

    def _model_text(self, model: ModelResult) -> str:
        """The model's JSON, indented to its depth in the file (an item of the top-level list)."""
        cached = self._encoded.get((model.id, model.reason))
        if cached is None or cached[0] is not model:
            text = json.dumps(_model_json(model), indent=2, ensure_ascii=False)
            cached = (model, "\n".join("    " + line for line in text.split("\n")))
            self._encoded[(model.id, model.reason)] = cached
        return cached[1]


