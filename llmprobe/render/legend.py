"""What every symbol means, kept as data so markdown and terminal explain them identically.

Each layout's legend covers every symbol its tables can show, the summary's included,
and nothing the layout never shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmprobe import capabilities
from llmprobe.capabilities import capability, in_column

SUMMARY = "Legend: what the columns and symbols mean"


@dataclass(frozen=True)
class Entry:
    text: str
    children: tuple[str, ...] = ()


_MODEL = Entry(
    "Model: the id the provider's API knows the model by. 🥇 🥈 🥉 follow the first state-of-the-art, "
    "the first good all-rounder and the first cheap model of the provider's list: the ones to try first."
)
_MODE_INTRO = "Mode: every way of asking is measured on its own, so the two rows of a model can differ."
_THINKING = "🧠 a thinking model: it reasons before it answers."
_MODE = {
    "detailed": Entry(
        _MODE_INTRO,
        ("🕰️ one request, one complete answer.", "📡 the answer is streamed while it is generated.", _THINKING),
    ),
    "compact": Entry(
        _MODE_INTRO,
        ("Sync: one request, one complete answer.", "Stream: the answer is streamed while it is generated.", _THINKING),
    ),
}


def _modalities() -> Entry:
    """Read when the legend is drawn, so a modality declared later (a test's) is explained too."""
    listed = ", ".join(f"{m.symbol} {m.legend}" for m in capabilities.MODALITIES)
    return Entry(
        "➛In and Out➛: what the model takes in and gives back; ➛In counts a medium when the model named what it "
        "shows or says (a banana, the word orange) without saying it cannot see or hear it, sent inline or by URL.",
        (listed + ".",),
    )


def _column(name: str) -> Entry:
    """The column of one capability, as the capability explains itself."""
    c = capability(name)
    return Entry(f"{c.column}: {c.legend}")


def _marker(name: str) -> str:
    c = capability(name)
    return f"{c.symbol} {c.legend}"


_JSON = {
    "detailed": (_column("json"), Entry(_column("jsonSchema").text, (_marker("jsonSchemaStrict"),))),
    "compact": (
        Entry(
            "JSON: asked for JSON, free-form or following a schema.",
            (
                "✅ both kinds work.",
                "☁️ only free-form JSON works.",
                "📐 only JSON following a schema works.",
                _marker("jsonSchemaStrict"),
            ),
        ),
    ),
}
_CANNOT_FORCE = (
    "➖ the provider's API has no way to require a tool call, so forcing was not asked; "
    "tool calling was measured by offering the tool."
)
_TOOL_MARKERS = {
    "detailed": (
        _marker("toolCallRequired"),
        _CANNOT_FORCE,
        _marker("webSearch"),
        _marker("toolsBiased"),
        _marker("toolsIndecisive"),
        _marker("toolAccuracy"),
    ),
    "compact": (_marker("toolCallRequired"), _CANNOT_FORCE, _marker("webSearch"), _marker("toolAccuracy")),
}
_TOOL_INTRO = _column("tools").text
_REST = (
    Entry(
        "Batch and File: discounted off-peak batch jobs, and files uploaded once and reused across requests. "
        "llmprobe does not measure either, so both always show ❌, whatever the provider offers."
    ),
    _column("citations"),
    Entry("Text: options that shape the generated text.", tuple(_marker(c.name) for c in in_column("Text"))),
    _column("topLogprobs"),
    _column("reportRateLimits"),
    _column("reportTokenUsage"),
    _column("reportFinishReason"),
)
_FEATURE_LISTS = {"detailed": "Text", "compact": "Text and JSON"}


def _symbols(layout: str) -> Entry:
    return Entry(
        "In every column:",
        (
            "✅ works, every time it was tried.",
            "💨 flaky: works only some of the time.",
            "❌ does not work, is refused, or is not offered.",
            "❔ unknown: not measured, because its requests kept failing (network or server errors, "
            "even after retries) or a step it depends on never happened; nothing is concluded either way.",
            "➖ cannot be asked: the provider's API has no field for it, so nothing was sent and nothing "
            "is concluded about the model (docs/methodology.md lists each case and its source).",
            f"In {_FEATURE_LISTS[layout]}, the symbols listed worked every time; a 💨, ❔ or ➖ after them "
            "means another of the column's features is flaky, unknown or cannot be asked.",
            "? the model is listed but was not probed, or there are no results for it yet.",
            "A row whose Text probe failed is ❌ throughout when the provider refused it (nothing else was asked "
            "in that mode), ❔ when it could not be measured (server error, timeout, rate limit, refused key); "
            "a note under the table quotes the provider's answer.",
        ),
    )


_SUMMARY_BEST = "Each cell is the best any of the provider's models reached, in any mode."
_SUMMARY_TOOL = {
    "detailed": " Tool: 🧐 when at least one model that calls tools is not biased, 💥 only when all of them are indecisive.",
    "compact": "",
}


def _summary_table(layout: str) -> Entry:
    return Entry(
        "Summary table, on pages with several providers:",
        (
            "Provider: links to the provider's own table.",
            "🌐 where the provider is based: 🇺🇸 USA, 🇨🇦 Canada, 🇨🇳 China, 🇩🇪 Germany, 🇫🇷 France; "
            "any other country as configured, N/A when none is.",
            "🏠 runs locally, on this machine; also shown after the provider's name in its heading.",
            _SUMMARY_BEST + _SUMMARY_TOOL[layout],
        ),
    )


def entries(layout: str) -> tuple[Entry, ...]:
    """Raises KeyError for an unknown layout (callers validate it first)."""
    tool = Entry(_TOOL_INTRO, _TOOL_MARKERS[layout])
    json_entries = _JSON[layout]
    order = (tool, *json_entries) if layout == "compact" else (*json_entries, tool)
    return (_MODEL, _MODE[layout], _modalities(), *order, *_REST, _symbols(layout), _summary_table(layout))
