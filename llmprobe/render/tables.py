"""Merged results to tables of cell strings: rows, columns and the summary, for every output.

Markdown and terminal only differ in how they draw a Table, never in what it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from llmprobe.battery import load_battery
from llmprobe.capabilities import FAULTS, NAMES, RATED, capability
from llmprobe.claims import Claims, contradictions
from llmprobe.config import TIERS, ProviderConfig
from llmprobe.render import cells
from llmprobe.render.cells import Cell, Line
from llmprobe.render.merge import merge
from llmprobe.results import (
    MODES,
    Modality,
    ModelResult,
    ModeResult,
    ProviderResult,
    Rate,
    Spread,
    Verdict,
)
from llmprobe.verdicts import gate_failure

#: The columns both layouts end with, in the reference's order.
_COMMON_TAIL = (
    ("Batch", cells.not_probed),
    ("File", cells.not_probed),
    ("Cite", cells.verdict("citations")),
    ("Text", cells.text),
    ("Probs", cells.verdict("topLogprobs")),
    ("Limits", cells.verdict("reportRateLimits")),
    ("Usage", cells.verdict("reportTokenUsage")),
    ("Finish", cells.verdict("reportFinishReason")),
    # llmprobe's own questions, after the reference's columns.
    ("Parallel", cells.parallel),
    ("Think", cells.thinking),
)

COLUMNS: dict[str, tuple[tuple[str, Cell], ...]] = {
    # The reference's a3d5d616 columns (Groq seed).
    "detailed": (
        ("Mode", cells.mode_emoji),
        ("➛In", cells.inputs),
        ("Out➛", cells.outputs),
        ("JSON", cells.verdict("json")),
        ("Schema", cells.schema),
        ("Tool", cells.tool_detailed),
        *_COMMON_TAIL,
    ),
    # The reference's f5496bb2 columns (Cloudflare seed).
    "compact": (
        ("Mode", cells.mode_word),
        ("➛In", cells.inputs),
        ("Out➛", cells.outputs),
        ("Tool", cells.tool_compact),
        ("JSON", cells.json_merged),
        *_COMMON_TAIL,
    ),
}
LAYOUTS: tuple[str, ...] = tuple(COLUMNS)


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    #: What the rows alone cannot say, one line each: the gates that failed, and how.
    notes: tuple[str, ...] = ()


def columns(layout: str) -> tuple[tuple[str, Cell], ...]:
    try:
        return COLUMNS[layout]
    except KeyError:
        raise ValueError(f"unknown layout {layout!r}: expected one of {', '.join(LAYOUTS)}") from None


def provider_title(provider: ProviderResult) -> str:
    """The provider's name as headings show it; 🏠 marks a model running on this machine."""
    return provider.provider + (f" {cells.LOCAL}" if provider.local else "")


def _medals(models: Sequence[ModelResult]) -> dict[tuple[str, bool], str]:
    """Only the first model of each tier gets the medal: it points at the one to pick (a model
    listed twice, with and without reasoning, is two rows, and only one of them is picked)."""
    firsts = {tier: next(((m.id, m.reason) for m in models if m.tier == tier), None) for tier in TIERS}
    return {row: cells.medal(tier) for tier, row in firsts.items() if row is not None}


def model_lines(model: ModelResult, rates: bool = False) -> list[Line]:
    """The model's rows, one per mode it was probed in (sync first), a mode whose gate failed
    included; one empty Line when there is none. `rates`: with the pass rates of repeated
    trials, for the views that show them; the rates of the capabilities whose verdict is a share
    (`RATED`) are always carried, since every view shows those."""
    battery = load_battery()
    found = {m: (model.modes[m], gate_failure(model.modes[m], battery)) for m in MODES if model.probed and m in model.modes}

    def shown(mode: ModeResult) -> dict[str, Rate]:
        return dict(mode.rates) if rates else {name: rate for name, rate in mode.rates.items() if name in RATED}

    lines = [
        Line((m,), model.reason, model.in_, model.out, mode.verdicts, shown(mode), gate)
        for m, (mode, gate) in found.items()
        if mode.verdicts or gate is not None
    ]
    return lines or [Line()]


def gate_note(model_id: str, line: Line) -> str | None:
    """The line that says why a row was not measured, as every output prints it; None for a measured row."""
    if line.gate is None:
        return None
    return f"{model_id} ({cells.mode_word(line)}): {line.gate}"


def _row(first: Sequence[str], line: Line, layout_columns: tuple[tuple[str, Cell], ...]) -> tuple[str, ...]:
    if not line.modes:
        return (*first, *(cells.UNMEASURED for _ in layout_columns))
    return (*first, *(cell(line) for _, cell in layout_columns))


def provider_table(provider: ProviderResult, layout: str, rates: bool = False, claims: Claims | None = None) -> Table:
    """One row per model and measured mode (sync first), in the merged order of `merge`; its notes
    say which gates failed, and which claims of the provider's own listing (`claims`) a verdict contradicts."""
    layout_columns = columns(layout)
    medals = _medals(provider.models)
    lines = [(model, line) for model in provider.models for line in model_lines(model, rates)]
    rows = tuple(_row((model.id + medals.get((model.id, model.reason), ""),), line, layout_columns) for model, line in lines)
    notes = tuple(note for model, line in lines if (note := gate_note(model.id, line)) is not None)
    return Table(("Model", *(title for title, _ in layout_columns)), rows, notes + contradictions(claims, provider))


def _union(modalities: Sequence[Mapping[str, Modality]]) -> dict[str, Modality]:
    names = dict.fromkeys(name for group in modalities for name in group)
    return {
        name: Modality(
            inline=any(g[name].inline for g in modalities if name in g),
            url=any(g[name].url for g in modalities if name in g),
        )
        for name in names
    }


def best_seen(lines: Sequence[Line]) -> Line:
    """The summary's rule: every capability at the best verdict any model reached in any mode.

    Unlike the reference's summary, the result does not depend on model order. Modes, reasoning
    and modalities are unions. The tool traits (biased, indecisive) are judged only on lines
    where tool calling works at all, and "not biased" / "not indecisive" count as best, so 🧐
    means some working model is not biased and 💥 means every working model is indecisive.
    """
    measured = [line for line in lines if line.modes]
    if not measured:
        return Line()
    with_tools = [line for line in measured if line.verdict("tools").works]
    verdicts: dict[str, Verdict] = {}
    for name in NAMES:
        pool = with_tools if name in FAULTS else measured
        if not capability(name).reference:
            # Beyond the reference: only the rows whose results hold it (`cells`, "measured here").
            pool = [line for line in pool if name in line.verdicts and line.gate is None]
            if not pool:
                continue
        verdicts[name] = Verdict.best(name, (line.verdict(name) for line in pool), default=Verdict.FALSE)
    return Line(
        modes=tuple(m for m in MODES if any(m in line.modes for line in measured)),
        reason=any(line.reason for line in measured),
        in_=_union([line.in_ for line in measured]),
        out=_union([line.out for line in measured]),
        verdicts=verdicts,
    )


def summary_table(
    providers: Sequence[ProviderResult], layout: str, name: Callable[[ProviderResult], str]
) -> Table:
    """One row per provider, in the order given; `name` draws the Provider cell (a link in markdown)."""
    layout_columns = columns(layout)
    rows = tuple(
        _row(
            (name(p), cells.country(p.country, p.local)),
            best_seen([line for model in p.models for line in model_lines(model)]),
            layout_columns,
        )
        for p in providers
    )
    return Table(("Provider", "🌐", *(title for title, _ in layout_columns)), rows)


@dataclass(frozen=True)
class Scoreboard:
    """A page's tables: a summary only when there are several providers, then one per provider."""

    summary: Table | None
    sections: tuple[tuple[ProviderResult, Table], ...]


def scoreboard(
    providers: Sequence[tuple[ProviderConfig, ProviderResult | None]],
    layout: str,
    name: Callable[[ProviderResult], str],
    summary: bool | None = None,
    rates: bool = False,
    claims: Mapping[str, Claims] | None = None,
) -> Scoreboard:
    """`summary`: a summary table before the sections; by default when there are several.
    `rates`: cells of one capability show its pass rate over repeated trials (`💨 7/10`).
    `claims`: per provider, what its listing declares (`llmprobe models --claims`), for the notes.

    Raises ValueError for an unknown layout or an empty provider list."""
    columns(layout)
    if not providers:
        raise ValueError("no providers to render")
    merged = [merge(config, result) for config, result in providers]
    wanted = len(merged) > 1 if summary is None else summary
    table = summary_table(merged, layout, name) if wanted else None
    kept = claims or {}
    return Scoreboard(table, tuple((p, provider_table(p, layout, rates, kept.get(p.provider))) for p in merged))


#: The speed section's columns after provider, model and mode.
SPEED_HEADER = ("First token ms (median / p90)", "Latency ms (median / p90)", "Output tokens/s (median)", "Requests")


def _spread(spread: Spread | None, p90: bool = True) -> str:
    if spread is None:
        return "-"
    return f"{spread.median:.0f} / {spread.p90:.0f}" if p90 else f"{spread.median:.0f}"


def speed_table(providers: Sequence[ProviderResult]) -> Table | None:
    """Latency and throughput per model and mode, as recorded with its results (`trials.speed_of`);
    None when no mode of any provider has any."""
    rows = tuple(
        (
            provider.provider,
            model.id,
            mode,
            _spread(speed.get("ttft_ms")),
            _spread(speed.get("latency_ms")),
            _spread(speed.get("tokens_per_s"), p90=False),
            str(speed["latency_ms"].n) if "latency_ms" in speed else "-",
        )
        for provider in providers
        for model in provider.models
        for mode in MODES
        if model.probed and mode in model.modes and (speed := model.modes[mode].speed)
    )
    return Table(("Provider", "Model", "Mode", *SPEED_HEADER), rows) if rows else None
