"""`out/NAME.json`'s model: the verdicts, the evidence behind them, and a row's identity.

This file is the boundary between probing and rendering: rendering reads only
this (plus providers.yaml for order and labels), never the network. How it is read
and written is `results_file`'s job; how repeated trials are summed up, `trials`'.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

from llmprobe import capabilities
from llmprobe.budget import Cost

Outcome = Literal["pass", "fail", "unsupported", "error"]

MODES: tuple[str, ...] = ("sync", "stream")


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
        asked is neither better nor worse than any answer. For a fault (capabilities.FAULTS), "true" is
        the bad end.
        """
        scale = (Verdict.FALSE, Verdict.FLAKY, Verdict.TRUE)
        if self not in scale:
            return None
        rank = scale.index(self)
        return len(scale) - 1 - rank if capability in capabilities.FAULTS else rank

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
    """How often a capability's verdict was "true" over a mode's repeated trials; for a capability
    that checks each call on its own (`capabilities.RATED`), how many of the mode's calls were valid.

    `trials` counts the trials (or calls) that measured it (unknown ones do not count); `low` and
    `high` bound the true rate with 95% confidence (Wilson score interval), so two rates
    are told apart only when their intervals do not overlap. Made by `trials.rate`.
    """

    passes: int
    trials: int
    low: float
    high: float

    def overlaps(self, other: Rate) -> bool:
        return self.low <= other.high and other.low <= self.high

    def __str__(self) -> str:
        return f"{self.passes}/{self.trials}"


@dataclass(frozen=True)
class Spread:
    """The median and 90th percentile of one measure over a mode's answered requests (`trials.spread`)."""

    median: float
    p90: float
    #: Requests measured.
    n: int


@dataclass
class ModeResult:
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    probes: list[Evidence] = field(default_factory=list)
    #: Per verdict, its rate over repeated trials; empty for a single trial.
    rates: dict[str, Rate] = field(default_factory=dict)
    #: Latency and throughput (`trials.speed_of` the probes), kept for readers of the file.
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
