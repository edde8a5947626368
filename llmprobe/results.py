"""`out/NAME.json`: the results file, its types, and how it is read and written.

This file is the boundary between probing and rendering: rendering reads only
this (plus providers.yaml for order and labels), never the network.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import statistics
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from llmprobe import capabilities, safejson
from llmprobe.budget import Cost
from llmprobe.errors import LlmprobeError
from llmprobe.files import write_atomically

#: The version of this file's layout. A reader refuses a file of a later version (it cannot know
#: what its fields mean) and reads files without one as version 1, the layout before the field.
#: 2 added the verdict "inexpressible".
SCHEMA_VERSION = 2

Outcome = Literal["pass", "fail", "unsupported", "error"]

#: The capability names the reference's scoreboard has (compared with it), and those that name a
#: fault, as `capabilities` declares them; `capabilities.NAMES` lists every verdict of a mode.
VERDICT_NAMES: tuple[str, ...] = capabilities.REFERENCE_NAMES
MODES: tuple[str, ...] = ("sync", "stream")
FAULTS = capabilities.FAULTS


class Verdict(str, Enum):
    """What was found about one capability. A str, so the results file holds the plain words.

    Four outcomes are kept apart: the feature works (true) or not (false), it works only
    some of the time (flaky), it could not be measured at all (unknown, never a "no"), or
    the provider's API has no way to ask for it (inexpressible: no such field on its wire,
    so nothing was sent and nothing is concluded about the model).
    """

    TRUE = "true"
    FALSE = "false"
    FLAKY = "flaky"
    UNKNOWN = "unknown"
    INEXPRESSIBLE = "inexpressible"

    # A str compares, hashes and prints as its value, so "true" and Verdict.TRUE are one dict key.
    __hash__ = str.__hash__
    __format__ = str.__format__  # type: ignore[assignment]  # str's, on purpose: see above

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

        Unknown and inexpressible have no place on the scale: a question that could not be
        asked is neither better nor worse than any answer. For a fault (FAULTS), "true" is
        the bad end.
        """
        scale = (Verdict.FALSE, Verdict.FLAKY, Verdict.TRUE)
        if self not in scale:
            return None
        rank = scale.index(self)
        return len(scale) - 1 - rank if capability in FAULTS else rank

    @classmethod
    def best(cls, capability: str, verdicts: Iterable[Verdict], default: Verdict) -> Verdict:
        """The best of `verdicts` for `capability`; unknown only when nothing was measured.

        Below every answer, unknown (it might be anything) ranks over inexpressible (it cannot
        be asked), so the choice never depends on the order of `verdicts`."""
        unmeasured = {Verdict.UNKNOWN: -1, Verdict.INEXPRESSIBLE: -2}
        return max(
            verdicts, key=lambda v: unmeasured.get(v, -1) if (g := v.goodness(capability)) is None else g, default=default
        )


#: Every verdict, as the results file spells them.
VERDICTS: tuple[str, ...] = tuple(v.value for v in Verdict)

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
    measured it, inexpressible when the dialect could not ask for it in any trial. A trial
    whose gate was refused (no verdicts) says nothing about the rest.
    A single trial is returned as it is, without rates: its verdict is the whole fact.
    """
    measured = [t for t in trials if t]
    if len(trials) <= 1 or not measured:
        return (dict(trials[0]) if trials else {}), {}
    verdicts: dict[str, Verdict] = {}
    rates: dict[str, Rate] = {}
    for name in measured[0]:
        asked = [t.get(name, Verdict.UNKNOWN) for t in measured]
        seen = [v for v in asked if v not in (Verdict.UNKNOWN, Verdict.INEXPRESSIBLE)]
        if not seen:
            verdicts[name] = Verdict.INEXPRESSIBLE if Verdict.INEXPRESSIBLE in asked else Verdict.UNKNOWN
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


def speed_of(probes: Iterable[Evidence]) -> dict[str, Spread]:
    """Latency and throughput of a mode, from its probes' own requests (no extra request).

    Only answered requests count (a 2xx status with a reply, `finish_reason` set): an error's
    latency, or an empty stream's, says nothing about the model. `ttft_ms` is the time to the
    first streamed event; `tokens_per_s` is the streamed output speed, output tokens after the
    first divided by the time after the first token, for replies of at least two output tokens.
    """
    answered = [
        e
        for e in probes
        if e.status is not None and 200 <= e.status < 300 and e.finish_reason is not None and e.latency_ms is not None
    ]
    ttft = [e.ttft_ms for e in answered if e.ttft_ms is not None]
    rates = [
        (tokens - 1) / ((e.latency_ms - e.ttft_ms) / 1000)
        for e in answered
        if e.ttft_ms is not None and e.latency_ms is not None and (tokens := e.tokens_out or 0) > 1 and e.latency_ms > e.ttft_ms
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
    #: Rows that were probed in this run but not finished (interrupted); `run --resume` picks them up.
    #: In the file, a row is its id, or `{"id": …, "reason": true}` for a `reason: true` row.
    incomplete: list[RowKey] = field(default_factory=list)
    #: Where the answers came from when not from the provider's configured URL:
    #: "replay of DIR" or "--base-url URL". Empty for a live run.
    source: str = ""
    #: The models' costs added up (None until some model has one).
    cost: Cost | None = None

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
    ordered: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    ordered.update({k: data.pop(k) for k in ("provider", "generated_at", "llmprobe_version", "models")})
    ordered.update(data)
    ordered["incomplete"] = [_row_json(row) for row in result.incomplete]
    if ordered["cost"] is None:
        del ordered["cost"]
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
    raise ResultsError(f"incomplete: {_shown(data)} is neither a model id nor {{id, reason}}")


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


def from_json(data: Any) -> ProviderResult:
    """The results in `data`, checked key by key and type by type against the dataclasses above.

    A results file is edited by hand, merged, truncated, or written by another version:
    a wrong type (a verdict as a string, a numeric id, `reason: "false"`) is refused
    here with where it is, rather than crashing or misleading whoever renders it.
    Raises ResultsError.
    """
    if not isinstance(data, dict):
        raise ResultsError(f"not an llmprobe results file: the top level is {_kind(data)}, not an object")
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ResultsError(f"schema_version: expected a positive integer, got {_shown(version)}")
    if version > SCHEMA_VERSION:
        raise ResultsError(
            f"written by a newer llmprobe (schema_version {version}, this one reads up to {SCHEMA_VERSION}); upgrade llmprobe"
        )
    for key in ("provider", "generated_at", "llmprobe_version", "models"):
        if key not in data:
            raise ResultsError(f"not an llmprobe results file: missing '{key}'")
    # `incomplete` holds ids and {id, reason} rows, a union the type-driven reader does not model.
    result = _read(ProviderResult, {k: v for k, v in data.items() if k not in ("schema_version", "incomplete")}, "")
    rows = data.get("incomplete", [])
    if not isinstance(rows, list):
        raise ResultsError(f"incomplete: expected a list, got {_kind(rows)}")
    result.incomplete = [_row(row) for row in rows]
    for index, model in enumerate(result.models):
        for name in model.modes:
            if name not in MODES:
                raise ResultsError(f"models[{index}].modes: unknown mode {name!r} for model {model.id!r}")
    return result


#: Keys spelled differently in the file than in the dataclass (`in` is a Python keyword).
_KEYS_IN_FILE = {"in": "in_"}


@functools.cache
def _shape(cls: type) -> tuple[dict[str, dataclasses.Field[Any]], dict[str, Any]]:
    """A dataclass's fields and resolved type hints, once per class: resolving the hints compiles
    every annotation, and a file of 500 models holds tens of thousands of records."""
    return {f.name: f for f in dataclasses.fields(cls)}, get_type_hints(cls)


def _read(cls: type, data: Any, where: str) -> Any:
    """A dataclass instance from a JSON object: every key known, every required one present, every value of its type."""
    if not isinstance(data, dict):
        raise ResultsError(f"{where or 'the file'}: expected an object, got {_kind(data)}")
    fields, hints = _shape(cls)
    values = {}
    for key, value in data.items():
        name = _KEYS_IN_FILE.get(key, key)
        path = f"{where}.{key}" if where else key
        if name not in fields or name in _KEYS_IN_FILE.values() and name == key:
            raise ResultsError(f"{path}: unknown key")
        values[name] = _value(hints[name], value, path)
    for name, f in fields.items():
        if name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            missing = next((k for k, v in _KEYS_IN_FILE.items() if v == name), name)
            raise ResultsError(f"{where + '.' if where else ''}{missing}: missing")
    return cls(**values)


def _value(hint: Any, value: Any, where: str) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _read(hint, value, where)  # type: ignore[arg-type]
    if origin is Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        (kind,) = [a for a in args if a is not type(None)]
        return _value(kind, value, where)
    if origin is Literal:
        if isinstance(value, str) and value in args:
            return value
        raise ResultsError(f"{where}: {_shown(value)} is not one of {', '.join(map(str, args))}")
    if origin is list:
        if not isinstance(value, list):
            raise ResultsError(f"{where}: expected a list, got {_kind(value)}")
        return [_value(args[0], item, f"{where}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ResultsError(f"{where}: expected an object, got {_kind(value)}")
        return {key: _value(args[1], item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            raise ResultsError(f"{where}: {_shown(value)} is not one of {', '.join(str(m.value) for m in hint)}") from None
    expected = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}[hint]
    if not isinstance(value, expected) or (isinstance(value, bool) and hint is not bool):
        raise ResultsError(f"{where}: expected {_KINDS[hint]}, got {_kind(value)}")
    return value


_KINDS: dict[Any, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
    type(None): "null",
}


def _kind(value: Any) -> str:
    return _KINDS.get(float if isinstance(value, float) else type(value), type(value).__name__)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


#: Results files are larger than replies (one holds every model's evidence), never this large.
MAX_RESULTS_BYTES = 256 * 1024 * 1024


def load(path: Path) -> ProviderResult:
    try:
        if path.stat().st_size > MAX_RESULTS_BYTES:
            raise ResultsError(f"{path}: larger than {MAX_RESULTS_BYTES} bytes, not a results file")
        data = path.read_bytes()
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        decoded = safejson.loads(data, max_bytes=MAX_RESULTS_BYTES)
    except safejson.UnsafeJson as exc:
        where = f"line {exc.line}: " if exc.line else ""
        raise ResultsError(f"{path}: not valid JSON ({where}{exc})") from None
    try:
        return from_json(decoded)
    except ResultsError as exc:
        raise ResultsError(f"{path}: {exc}") from None


def save(result: ProviderResult, path: Path) -> None:
    """Write `result` to `path` once; a run saving again and again uses a ResultsWriter."""
    ResultsWriter(path).save(result)


class ResultsWriter:
    """Writes one provider's results file, again each time a model finishes, encoding each model once.

    Re-encoding every finished model at every save would make a run's saving quadratic
    in its models, blocking the event loop. Each model is kept as UTF-8 bytes, so a save
    is one join of them rather than building and encoding the whole text of a file that
    grows to megabytes with hundreds of models. A saved ModelResult
    must not be changed afterwards: its bytes are reused for as long as it is the same object.
    """

    def __init__(self, path: Path, redact: Callable[[str], str] | None = None) -> None:
        self.path = path
        #: Applied to every string written (the provider's secrets), whatever a reply held.
        self._redact = redact
        self._encoded: dict[RowKey, tuple[ModelResult, bytes]] = {}

    def save(self, result: ProviderResult) -> None:
        """Write atomically: a temporary file in the same folder renamed into place.

        An interrupted run therefore leaves either the previous file or the new one,
        never half of one. The text is `json.dumps(to_json(result), indent=2)`'s, byte for byte,
        for a result that holds nothing to clean (see `safejson.clean`) or redact.
        """
        models = [self._model_bytes(model) for model in result.models]
        head = safejson.dumps(to_json(replace(result, models=[])), text=self._redact, indent=2, ensure_ascii=False)
        # JSON strings hold no raw line breaks, so this splits at the top-level key and nowhere else.
        before, after = head.encode().split(b'\n  "models": []', 1)
        listed = [b"[\n", b",\n".join(models), b"\n  ]"] if models else [b"[]"]
        write_atomically(self.path, b"".join([before, b'\n  "models": ', *listed, after, b"\n"]))

    def _model_bytes(self, model: ModelResult) -> bytes:
        """The model's JSON, indented to its depth in the file (an item of the top-level list)."""
        cached = self._encoded.get((model.id, model.reason))
        if cached is None or cached[0] is not model:
            text = safejson.dumps(_model_json(model), text=self._redact, indent=2, ensure_ascii=False)
            cached = (model, "\n".join("    " + line for line in text.split("\n")).encode())
            self._encoded[(model.id, model.reason)] = cached
        return cached[1]


