"""Verdicts to cell strings: the one place a symbol's meaning is decided, for every output.

Markdown, terminal and the summary all draw their cells from these functions, so a
symbol can never mean one thing in the terminal and another on SCOREBOARD.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from llmprobe import capabilities
from llmprobe.capabilities import capability, in_column
from llmprobe.results import Modality, Rate, Verdict
from llmprobe.verdicts import GateFailure

#: Every cell of a model that is listed but has nothing measured (not probed, or no results).
UNMEASURED = "?"
LOCAL = "🏠"
VERDICT_CELL = {
    Verdict.TRUE: "✅",
    Verdict.FLAKY: "💨",
    Verdict.FALSE: "❌",
    Verdict.UNKNOWN: "❔",
    Verdict.INEXPRESSIBLE: "➖",
}
MEDALS = {"sota": "🥇", "good": "🥈", "cheap": "🥉"}
#: The 🌐 cell, by lower-cased country; any other country shows as written.
COUNTRIES = {"us": "🇺🇸", "ca": "🇨🇦", "cn": "🇨🇳", "de": "🇩🇪", "fr": "🇫🇷", "local": LOCAL}
MODE_EMOJI = {"sync": "🕰️", "stream": "📡"}
MODE_WORD = {"sync": "Sync", "stream": "Stream"}
REASON = "🧠"
#: Text features, in the order the Text cell lists them.
TEXT_FEATURES = tuple((c.name, c.symbol) for c in in_column("Text"))
FORCED = capability("toolCallRequired").symbol
NOT_BIASED = capability("toolsBiased").symbol
INDECISIVE = capability("toolsIndecisive").symbol
SEARCHES = capability("webSearch").symbol
ACCURACY = capability("toolAccuracy")
STRICTNESS = capability("jsonSchemaStrict")
#: The reference's JSON column when merged: both / free-form only / schema only.
JSON_BOTH, JSON_FREE_FORM, JSON_SCHEMA = "✅", "☁️", "📐"


@dataclass(frozen=True)
class Line:
    """What one table row shows: one model in one mode, or (summary) a whole provider.

    `modes` empty means nothing was measured: the row is all UNMEASURED.
    """

    modes: tuple[str, ...] = ()
    reason: bool = False
    in_: Mapping[str, Modality] = field(default_factory=dict)
    out: Mapping[str, Modality] = field(default_factory=dict)
    verdicts: Mapping[str, Verdict] = field(default_factory=dict)
    #: Pass rates over repeated trials, for the views that show them (terminal); empty elsewhere.
    rates: Mapping[str, Rate] = field(default_factory=dict)
    #: Why nothing was measured in this mode, when its gate (Text) was never answered: its verdicts
    #: are then none (every cell ❌) or all unknown (every cell ❔), and the tables say why in a note.
    gate: GateFailure | None = None

    def verdict(self, name: str) -> Verdict:
        """A missing verdict reads as "false", as in the reference's scoreboard.json, except for a
        capability the reference does not have: a results file without it did not measure it
        (unknown), unless the row's gate was refused (nothing was asked: false throughout). A name
        that is no capability raises UnknownCapability rather than reading as that "false"."""
        c = capability(name)
        refused = self.gate is not None and self.gate.refused
        return Verdict(self.verdicts.get(c.name, Verdict.FALSE if c.reference or refused else Verdict.UNKNOWN))


Cell = Callable[[Line], str]


def verdict(name: str) -> Cell:
    """A column that is exactly one capability; with its rate (`💨 7/10`) when the line carries rates.

    Raises UnknownCapability for a name that is not declared, when the column is made."""
    capability(name)

    def cell(line: Line) -> str:
        rate = line.rates.get(name)
        return VERDICT_CELL[line.verdict(name)] + ("" if rate is None else f" {rate}")

    return cell


def not_probed(line: Line) -> str:
    """Batch and File: llmprobe does not measure them, so it claims nothing (the legend says so)."""
    return "❌"


def _modalities(line: Line, modalities: Mapping[str, Modality]) -> str:
    """A mode whose gate failed took nothing in and gave nothing back that was measured: ❌ when
    refused, ❔ when it could not be asked, whatever another mode found."""
    if line.gate is not None:
        return VERDICT_CELL[Verdict.FALSE if line.gate.refused else Verdict.UNKNOWN]
    symbols = {m.name: m.symbol for m in capabilities.MODALITIES}
    # Sorted by code point, as the reference does (🎤🎥💬📄📸); an undeclared one shows as written.
    usable = (symbols.get(name, name) for name, m in modalities.items() if m.inline or m.url)
    return "".join(sorted(usable)) or "❌"


def inputs(line: Line) -> str:
    return _modalities(line, line.in_)


def outputs(line: Line) -> str:
    return _modalities(line, line.out)


def mode_emoji(line: Line) -> str:
    return "".join(MODE_EMOJI[m] for m in line.modes) + (REASON if line.reason else "")


def mode_word(line: Line) -> str:
    return ", ".join(MODE_WORD[m] for m in line.modes) + (REASON if line.reason else "")


def _with_doubt(symbols: str, verdicts: list[Verdict]) -> str:
    """A cell listing several features only names those that always worked; 💨, ❔ and ➖ after
    them keep a flaky, unmeasured or unaskable one from passing as simply absent."""
    for doubt in (Verdict.FLAKY, Verdict.UNKNOWN, Verdict.INEXPRESSIBLE):
        if doubt in verdicts:
            symbols += VERDICT_CELL[doubt]
    return symbols or "❌"


def text(line: Line) -> str:
    verdicts = [line.verdict(name) for name, _ in TEXT_FEATURES]
    symbols = "".join(symbol for (_, symbol), v in zip(TEXT_FEATURES, verdicts, strict=False) if v is Verdict.TRUE)
    return _with_doubt(symbols, verdicts)


def json_merged(line: Line) -> str:
    free_form, schema = line.verdict("json"), line.verdict("jsonSchema")
    if free_form is Verdict.TRUE and schema is Verdict.TRUE:
        symbol = JSON_BOTH
    elif free_form is Verdict.TRUE:
        symbol = JSON_FREE_FORM
    elif schema is Verdict.TRUE:
        symbol = JSON_SCHEMA
    else:
        symbol = ""
    return _with_doubt(symbol, [free_form, schema]) + _strictness(line)


def _tool_base(line: Line) -> str:
    """🪨 when a call can be forced; ➖ when the API has no way to ask for one (then tool calling
    was measured by offering the tool); then 🕸️ when the model searched the web, after 🪨 as the
    reference writes them."""
    tools = VERDICT_CELL[line.verdict("tools")]
    marks = {Verdict.TRUE: FORCED, Verdict.INEXPRESSIBLE: VERDICT_CELL[Verdict.INEXPRESSIBLE]}
    forced = marks.get(line.verdict("toolCallRequired"), "")
    return tools + forced + (SEARCHES if line.verdict("webSearch") is Verdict.TRUE else "")


def tool_detailed(line: Line) -> str:
    """🧐 is shown for *not* biased (the reference legend's meaning, not its code's: D3)."""
    cell = _tool_base(line)
    if line.verdict("toolsBiased") is Verdict.FALSE and line.verdict("tools").works:
        cell += NOT_BIASED
    if line.verdict("toolsIndecisive").works:
        cell += INDECISIVE
    return cell + _accuracy(line)


def tool_compact(line: Line) -> str:
    return _tool_base(line) + _accuracy(line)


def _measured_here(line: Line, name: str) -> bool:
    """Whether the row's results hold the capability: a capability the reference does not have adds
    nothing to a cell listing several when a results file was written without it (or its row's
    gate failed, which the row already says), so such a cell reads as it always did."""
    return line.gate is None and name in line.verdicts


def _accuracy(line: Line) -> str:
    """` 🛠️ 47/50`: the valid calls of the tool-call accuracy suite over all its calls; the verdict's
    symbol where there is no rate (no call was checked, or a summary of several models)."""
    if not _measured_here(line, ACCURACY.name):
        return ""
    rate = line.rates.get(ACCURACY.name)
    shown = f" {rate}" if rate is not None else VERDICT_CELL[line.verdict(ACCURACY.name)]
    return f" {ACCURACY.symbol}{shown}"


def _strictness(line: Line) -> str:
    """` 🔒 enforced`: the strictness verdict in its own words (`capabilities`); its symbol when unmeasured."""
    if not _measured_here(line, STRICTNESS.name):
        return ""
    found = line.verdict(STRICTNESS.name)
    word = dict(STRICTNESS.words).get(found.value)
    return f" {STRICTNESS.symbol} {word}" if word else f" {STRICTNESS.symbol}{VERDICT_CELL[found]}"


def schema(line: Line) -> str:
    """The JSON schema verdict (with its rate where the line carries rates), then its strictness."""
    return verdict("jsonSchema")(line) + _strictness(line)


def medal(tier: str | None) -> str:
    return MEDALS.get(tier or "", "")


def country(code: str, local: bool) -> str:
    if local:
        return LOCAL
    return COUNTRIES.get(code.lower(), code) or "N/A"
