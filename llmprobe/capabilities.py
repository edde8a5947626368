"""Every capability llmprobe judges, declared once: its verdict name, where it shows, what it means.

Results, verdicts, the legend, the markdown, terminal and HTML tables and `explain` all read
this table, so adding a capability is one entry here plus the probes or logic that decide it,
and a capability can never be explained one way in the legend and shown another way in a cell.
A name that is not declared here is an error wherever it is used (`capability`): a misspelt
name must fail loudly rather than read as a missing verdict, which renders as ❌.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from llmprobe.errors import LlmprobeError


class UnknownCapability(LlmprobeError, KeyError):
    """A capability name that is not declared in CAPABILITIES."""

    def __str__(self) -> str:
        return str(self.args[0])


class Decided(str, Enum):
    """Which probes' replies decide a capability (what `explain` and the HTML page open)."""

    #: The battery's probes that name it (`verdict:` in probes/battery.yaml).
    OWN = "own"
    #: The tool chain: force → fallback → follow-up → bias, each step after the one before.
    TOOL_CHAIN = "tool_chain"
    #: The gate's reply (Text), read for something it carries (the rate-limit headers).
    GATE = "gate"
    #: Every reply the battery's `report:` counts.
    REPORTING = "reporting"


class Combined(str, Enum):
    """How the replies of a capability's own probes (`Decided.OWN`) make its verdict."""

    #: The probe's pass, or with `verdict_from: any_reply` any reply's (`verdicts`).
    PASS = "pass"
    #: Every tool call of every reply checked on its own: the verdict is the share of valid calls,
    #: a rate over the calls that is shown wherever the capability is (`RATED`).
    EACH_CALL = "each_call"
    #: Every reply checked against the schema it was sent with, a refusal of the option kept apart:
    #: true when every reply was valid, flaky when one was not, false when the option was refused.
    EACH_REPLY = "each_reply"


@dataclass(frozen=True)
class Capability:
    #: The verdict's name, as the reference scoreboard spells it (so the two compare).
    name: str
    #: The column of the detailed layout that shows it.
    column: str
    #: Its name where capabilities are listed one by one (the HTML page's filter).
    label: str
    #: What the capability is, completing "<symbol or column>: …" in the legend.
    legend: str
    decided_by: Decided
    #: Its mark inside a column that lists several ("" for a column of its own).
    symbol: str = ""
    #: True when the capability names a fault: "true" is then the bad end.
    fault: bool = False
    #: False for a capability the reference scoreboard does not have: it is never compared with the
    #: reference, and a results file without it did not measure it (❔, never the reference's ❌).
    reference: bool = True
    combined: Combined = Combined.PASS
    #: The verdicts' own words, where true / flaky / false would say less (verdict value → word).
    words: tuple[tuple[str, str], ...] = ()


#: In the reference's order, which is the results file's; those it does not have after its own.
CAPABILITIES: tuple[Capability, ...] = (
    Capability("json", "JSON", "JSON", "asked for free-form JSON, a JSON object came back.", Decided.OWN),
    Capability(
        "jsonSchema",
        "Schema",
        "JSON schema",
        "asked for JSON following a schema, a reply valid against that schema came back.",
        Decided.OWN,
    ),
    Capability(
        "tools",
        "Tool",
        "Tool calls",
        "the model calls a function offered in the request, with the right arguments: "
        "✅ every time, 💨 only sometimes, ❌ not at all.",
        Decided.TOOL_CHAIN,
    ),
    Capability(
        "toolCallRequired",
        "Tool",
        "Tool call forced 🪨",
        "the call can be forced: a request that requires a tool call gets one.",
        Decided.TOOL_CHAIN,
        symbol="🪨",
    ),
    Capability(
        "toolsBiased",
        "Tool",
        "Tool choice biased",
        # The mark is shown for *not* biased, as the reference's legend says (D3).
        "not biased: offered enum values to choose from, it picks the one asked for, not whichever "
        "is listed first. Without 🧐, mind the order of your enum values.",
        Decided.TOOL_CHAIN,
        symbol="🧐",
        fault=True,
    ),
    Capability(
        "toolsIndecisive",
        "Tool",
        "Tool calls indecisive 💥",
        "indecisive: asked to choose one value, it calls the tool once for each.",
        Decided.TOOL_CHAIN,
        symbol="💥",
        fault=True,
    ),
    Capability(
        "webSearch",
        "Tool",
        "Web search 🕸️",
        "searches the web: asked to, it runs the provider's own search tool and the reply shows the search "
        "(the sources found or the queries run).",
        Decided.OWN,
        symbol="🕸️",
    ),
    Capability("seed", "Text", "Seed 🌱", "a seed is accepted, for repeatable answers.", Decided.OWN, symbol="🌱"),
    Capability(
        "topLogprobs", "Probs", "Log-probabilities", "the log-probabilities of the generated tokens come back.", Decided.OWN
    ),
    Capability(
        "maxTokens",
        "Text",
        "Max tokens 📏",
        "a cap on the number of generated tokens is respected.",
        Decided.OWN,
        symbol="📏",
    ),
    Capability("stopSequence", "Text", "Stop word 🛑", "generation stops at the given stop word.", Decided.OWN, symbol="🛑"),
    Capability(
        "citations",
        "Cite",
        "Citations",
        "asked about a supplied document, the answer cites the passages it used.",
        Decided.OWN,
    ),
    Capability(
        "reportRateLimits",
        "Limits",
        "Rate-limit headers",
        "the response headers tell the rate limits and how much quota is left.",
        Decided.GATE,
    ),
    Capability("reportTokenUsage", "Usage", "Token usage", "the reply counts the input and output tokens.", Decided.REPORTING),
    Capability(
        "reportFinishReason",
        "Finish",
        "Finish reason",
        "the reply says, correctly, why generation stopped (done, token cap, tool call).",
        Decided.REPORTING,
    ),
    # --- beyond the reference: each call and each structured reply checked on its own (issue 30)
    Capability(
        "toolAccuracy",
        "Tool",
        "Tool-call accuracy 🛠️",
        "tool-call accuracy, as valid calls of those checked (🛠️ 47/50): asked to use a suite of tools (nested "
        "objects, enums, arrays, an optional field, two tools to choose from, one that must not be called), each "
        "call must have JSON arguments, name a tool offered, match its schema and be the right tool; no call "
        "where one is wanted, or one where none is, counts as a wrong call.",
        Decided.OWN,
        symbol="🛠️",
        reference=False,
        combined=Combined.EACH_CALL,
    ),
    Capability(
        "jsonSchemaStrict",
        "Schema",
        "JSON schema strictness 🔒",
        "schema strictness, asked for JSON following a schema (an enum, required keys, no other keys) by a prompt "
        "that asks to break it: enforced, every reply was valid; prompted, some reply was not (the schema only "
        "asks the model); refused, the provider refused the schema.",
        Decided.OWN,
        symbol="🔒",
        reference=False,
        combined=Combined.EACH_REPLY,
        words=(("true", "enforced"), ("flaky", "prompted"), ("false", "refused")),
    ),
)

_BY_NAME = {c.name: c for c in CAPABILITIES}


def capability(name: str) -> Capability:
    """The declared capability `name`. Raises UnknownCapability for any other name."""
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(_BY_NAME)
        raise UnknownCapability(f"unknown capability {name!r}: declared are {known}") from None


def in_column(column: str) -> tuple[Capability, ...]:
    """The capabilities the detailed layout's column `column` shows, in declaration order."""
    return tuple(c for c in CAPABILITIES if c.column == column)


#: The capability names, in the results file's order.
NAMES: tuple[str, ...] = tuple(_BY_NAME)
#: Capabilities that name a fault: for these, "true" is the bad end.
FAULTS: frozenset[str] = frozenset(c.name for c in CAPABILITIES if c.fault)
#: The capabilities the reference scoreboard has, in the results file's order: the ones compared with it.
REFERENCE_NAMES: tuple[str, ...] = tuple(c.name for c in CAPABILITIES if c.reference)
#: Capabilities whose verdict is a share, shown with its rate (`🛠️ 47/50`) wherever they are shown.
RATED: frozenset[str] = frozenset(c.name for c in CAPABILITIES if c.combined is Combined.EACH_CALL)


@dataclass(frozen=True)
class Medium:
    """A modality a model may take in or give back, as the ➛In and Out➛ columns show it."""

    #: As the reference's scoreboard.json names it (the keys of `in` and `out`).
    name: str
    symbol: str
    #: Its name in the legend.
    legend: str


#: In the reference's order, which is the order the ➛In and Out➛ cells list them in.
MODALITIES: tuple[Medium, ...] = (
    Medium("text", "💬", "text"),
    Medium("image", "📸", "image"),
    Medium("audio", "🎤", "audio"),
    Medium("video", "🎥", "video"),
    Medium("document", "📄", "document (PDF)"),
)


def medium(name: str) -> Medium:
    """The declared modality `name`. Raises UnknownCapability for any other name."""
    found = next((m for m in MODALITIES if m.name == name), None)
    if found is None:
        raise UnknownCapability(f"unknown modality {name!r}: declared are {', '.join(m.name for m in MODALITIES)}")
    return found
