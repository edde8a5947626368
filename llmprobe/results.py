"""`out/NAME.json`: the results file, its types, and how it is read and written.

This file is the boundary between probing and rendering: rendering reads only
this (plus providers.yaml for order and labels), never the network.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from llmprobe.budget import Cost
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
MODES: tuple[str, ...] = ("sync", "stream")
#: Capabilities that name a fault: for these, "true" is the bad end (a model biased towards
#: the first enum value, or calling a tool for every option, is worse for it).
FAULTS = frozenset({"toolsBiased", "toolsIndecisive"})


class Verdict(str, Enum):
    """What was found about one capability. A str, so the results file holds the plain words.

    Three outcomes are kept apart: the feature works (true) or not (false), it works only
    some of the time (flaky), or it could not be measured at all (unknown, never a "no").
    """

    TRUE = "true"
    FALSE = "false"
    FLAKY = "flaky"
    UNKNOWN = "unknown"

    # A str compares, hashes and prints as its value, so "true" and Verdict.TRUE are one dict key.
    __hash__ = str.__hash__
    __format__ = str.__format__

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of(cls, passed: bool) -> Verdict:
        return cls.TRUE if passed else cls.FALSE

    @classmethod
    def over(cls, samples: Iterable[bool]) -> Verdict:
        """All true → true, none → false, a mix → flaky (and no samples → false)."""
        seen = list(samples)
        if seen and all(seen):
            return cls.TRUE
        return cls.FLAKY if any(seen) else cls.FALSE

    @property
    def works(self) -> bool:
        """The feature answered right at least sometimes."""
        return self in (Verdict.TRUE, Verdict.FLAKY)

    def goodness(self, capability: str) -> int | None:
        """How good this verdict is for `capability`, higher is better; None when unmeasured.

        Unknown has no place on the scale: a question that could not be asked is neither
        better nor worse than any answer. For a fault (FAULTS), "true" is the bad end.
        """
        scale = (Verdict.FALSE, Verdict.FLAKY, Verdict.TRUE)
        if self not in scale:
            return None
        rank = scale.index(self)
        return len(scale) - 1 - rank if capability in FAULTS else rank

    @classmethod
    def best(cls, capability: str, verdicts: Iterable[Verdict], default: Verdict) -> Verdict:
        """The best of `verdicts` for `capability`; unknown only when nothing was measured."""
        return max(verdicts, key=lambda v: -1 if (g := v.goodness(capability)) is None else g, default=default)


#: Every verdict, as the results file spells them.
VERDICTS: tuple[str, ...] = tuple(v.value for v in Verdict)


@dataclass
class Evidence:
    """What one probe request did; kept so a verdict can always be traced to its reply."""

    probe: str
    outcome: Outcome
    reason: str = ""
    status: int | None = None
    latency_ms: float | None = None
    ttfb_ms: float | None = None
    #: Streams only: time to the first streamed event, the first token.
    ttft_ms: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    finish_reason: str | None = None
    #: Requests sent for this probe, retries included.
    attempts: int = 0
    #: The cassette file holding the exchange, when recording.
    cassette: str | None = None
    #: Which trial of the mode this request belongs to (1-based; `run --repeat N` runs N).
    trial: int = 1


@dataclass(frozen=True)
class Rate:
    """How often a capability's verdict was "true" over a mode's repeated trials.

    `trials` counts the trials that measured it (unknown ones do not count); `low` and
    `high` bound the true rate with 95% confidence (Wilson score interval), so two rates
    are told apart only when their intervals do not overlap.
    """

    passes: int
    trials: int
    low: float
    high: float

    @classmethod
    def of(cls, passes: int, trials: int) -> Rate:
        low, high = wilson_interval(passes, trials)
        return cls(passes, trials, low, high)

    def overlaps(self, other: Rate) -> bool:
        return self.low <= other.high and other.low <= self.high

    def __str__(self) -> str:
        return f"{self.passes}/{self.trials}"


def wilson_interval(passes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a pass rate, rounded to 3 decimals; (0, 1) for no trials.

    Unlike passes/trials ± a normal error, it stays inside [0, 1] and is not a single point
    for 0/n or n/n, which is exactly where a few trials must not sound certain."""
    if trials <= 0:
        return 0.0, 1.0
    p = passes / trials
    centre = p + z * z / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    scale = 1 + z * z / trials
    return max(0.0, round((centre - spread) / scale, 3)), min(1.0, round((centre + spread) / scale, 3))


def over_trials(trials: Sequence[dict[str, Verdict]]) -> tuple[dict[str, Verdict], dict[str, Rate]]:
    """One mode's verdicts over repeated trials, and each verdict's rate.

    A verdict is true when every trial that measured it found it true, false when none
    did, flaky otherwise (a trial that was itself flaky included); unknown when no trial
    measured it. A trial whose gate was refused (no verdicts) says nothing about the rest.
    A single trial is returned as it is, without rates: its verdict is the whole fact.
    """
    measured = [t for t in trials if t]
    if len(trials) <= 1 or not measured:
        return (dict(trials[0]) if trials else {}), {}
    verdicts: dict[str, Verdict] = {}
    rates: dict[str, Rate] = {}
    for name in measured[0]:
        seen = [t[name] for t in measured if t.get(name, Verdict.UNKNOWN) is not Verdict.UNKNOWN]
        if not seen:
            verdicts[name] = Verdict.UNKNOWN
            continue
        passes = sum(1 for v in seen if v is Verdict.TRUE)
        verdicts[name] = Verdict.over(v is Verdict.TRUE for v in seen)
        if verdicts[name] is Verdict.FALSE and any(v is Verdict.FLAKY for v in seen):
            verdicts[name] = Verdict.FLAKY
        rates[name] = Rate.of(passes, len(seen))
    return verdicts, rates


@dataclass(frozen=True)
class Spread:
    """The median and 90th percentile of one measure over a mode's answered requests."""

    median: float
    p90: float
    #: Requests measured.
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread | None:
        """None for no values; the 90th percentile by nearest rank, so it is a value that was seen."""
        if not values:
            return None
        ordered = sorted(values)
        p90 = ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]
        return cls(round(statistics.median(ordered), 1), round(p90, 1), len(ordered))


#: The measures of `speed_of`, in the order tables show them.
SPEED_MEASURES = ("ttft_ms", "latency_ms", "tokens_per_s")


def speed_of(probes: Iterable[Evidence]) -> dict[str, Spread]:
    """Latency and throughput of a mode, from its probes' own requests (no extra request).

    Only answered requests count (a 2xx status): an error's latency says nothing about the
    model. `ttft_ms` is the time to the first streamed event; `tokens_per_s` is the streamed
    output speed, output tokens after the first divided by the time after the first token,
    for replies of at least two output tokens.
    """
    answered = [e for e in probes if e.status is not None and 200 <= e.status < 300 and e.latency_ms is not None]
    ttft = [e.ttft_ms for e in answered if e.ttft_ms is not None]
    rates = [
        (e.tokens_out - 1) / ((e.latency_ms - e.ttft_ms) / 1000)
        for e in answered
        if e.ttft_ms is not None and e.latency_ms is not None and e.tokens_out and e.tokens_out > 1 and e.latency_ms > e.ttft_ms
    ]
    found = {
        "ttft_ms": Spread.of(ttft),
        "latency_ms": Spread.of([e.latency_ms for e in answered if e.latency_ms is not None]),
        "tokens_per_s": Spread.of(rates),
    }
    return {name: spread for name, spread in found.items() if spread is not None}


@dataclass
class ModeResult:
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    probes: list[Evidence] = field(default_factory=list)
    #: Per verdict, its rate over repeated trials; empty for a single trial.
    rates: dict[str, Rate] = field(default_factory=dict)
    #: Latency and throughput (`speed_of` the probes), kept for readers of the file.
    speed: dict[str, Spread] = field(default_factory=dict)


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
    #: Tokens its probes used in the run that made these results, and their price when known.
    cost: Cost | None = None


@dataclass
class ProviderResult:
    provider: str
    generated_at: str
    llmprobe_version: str
    models: list[ModelResult] = field(default_factory=list)
    country: str = ""
    dashboard: str = ""
    local: bool = False
    #: Models that were probed in this run but not finished (interrupted); `run --resume` picks them up.
    incomplete: list[str] = field(default_factory=list)
    #: Where the answers came from when not from the provider's configured URL:
    #: "replay of DIR" or "--base-url URL". Empty for a live run.
    source: str = ""
    #: The models' costs added up (None until some model has one).
    cost: Cost | None = None

    def model(self, model_id: str) -> ModelResult | None:
        return next((m for m in self.models if m.id == model_id), None)


class ResultsError(LlmprobeError):
    """An out/ file is missing, unreadable or not in the expected shape."""


def to_json(result: ProviderResult) -> dict[str, Any]:
    data = asdict(replace(result, models=[]))
    # Keep the documented keys first, in the documented order.
    ordered = {k: data.pop(k) for k in ("provider", "generated_at", "llmprobe_version", "models")}
    ordered.update(data)
    if ordered["cost"] is None:
        del ordered["cost"]
    ordered["models"] = [_model_json(model) for model in result.models]
    return ordered


def _model_json(model: ModelResult) -> dict[str, Any]:
    data = asdict(model)
    data["in"] = data.pop("in_")
    ordered = {k: data.pop(k) for k in ("id", "reason", "tier", "probed", "in", "out", "modes")}
    ordered.update(data)
    if ordered["cost"] is None:
        del ordered["cost"]
    for mode in ordered["modes"].values():
        # A single trial's file reads as it always did: no rates, no trial numbers.
        for derived in ("rates", "speed"):
            if not mode[derived]:
                del mode[derived]
        for evidence in mode["probes"]:
            if evidence["trial"] == 1:
                del evidence["trial"]
    return ordered


def _rate(where: str, data: Any) -> Rate:
    passes, trials = data.get("passes"), data.get("trials")
    if not (isinstance(passes, int) and isinstance(trials, int) and 0 <= passes <= trials):
        raise ResultsError(f"{where}: rate {data!r} is not passes/trials")
    return Rate.of(passes, trials)


def _cost(data: Any) -> Cost | None:
    if data is None:
        return None
    tokens_in, tokens_out, usd = data.get("tokens_in"), data.get("tokens_out"), data.get("usd")
    if not (isinstance(tokens_in, int) and isinstance(tokens_out, int) and (usd is None or isinstance(usd, (int, float)))):
        raise ResultsError(f"cost {data!r} is not tokens_in, tokens_out and usd")
    return Cost(tokens_in, tokens_out, usd)


def _spread(where: str, data: Any) -> Spread:
    values = [data.get(k) for k in ("median", "p90", "n")]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise ResultsError(f"{where}: {data!r} is not a median, p90 and n")
    return Spread(float(values[0]), float(values[1]), int(values[2]))


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
                verdicts = {}
                for key, value in dict(mode.get("verdicts") or {}).items():
                    if value not in VERDICTS:
                        raise ResultsError(f"model {m['id']!r} {name}: verdict {key}={value!r} is not one of {VERDICTS}")
                    verdicts[key] = Verdict(value)
                modes[name] = ModeResult(
                    verdicts=verdicts,
                    probes=[Evidence(**e) for e in mode.get("probes") or []],
                    rates={k: _rate(f"model {m['id']!r} {name} {k}", r) for k, r in dict(mode.get("rates") or {}).items()},
                    speed={k: _spread(f"model {m['id']!r} {name} {k}", r) for k, r in dict(mode.get("speed") or {}).items()},
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
                    cost=_cost(m.get("cost")),
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
            incomplete=list(data.get("incomplete", [])),
            source=str(data.get("source", "")),
            cost=_cost(data.get("cost")),
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
        self._encoded: dict[str, tuple[ModelResult, str]] = {}

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
        cached = self._encoded.get(model.id)
        if cached is None or cached[0] is not model:
            text = json.dumps(_model_json(model), indent=2, ensure_ascii=False)
            cached = (model, "\n".join("    " + line for line in text.split("\n")))
            self._encoded[model.id] = cached
        return cached[1]


