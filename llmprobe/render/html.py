"""The scoreboard as one self-contained HTML page: sort, filter, and open the evidence of any cell.

The cells, columns and legend are the markdown's own (tables, cells, legend); this module only
lays them out and adds the evidence, so the page can never disagree with SCOREBOARD.md.
Everything taken from results files is escaped: a model id is data, never markup. The page
loads nothing (its Content-Security-Policy forbids it), so it works offline and from a file.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any, TextIO

from llmprobe import __version__
from llmprobe.battery import load_battery
from llmprobe.capabilities import CAPABILITIES, NAMES
from llmprobe.claims import Claims, judge
from llmprobe.dialects.declared import INPUT
from llmprobe.render import cells, legend
from llmprobe.render.cells import Line
from llmprobe.render.evidence import Column, cell_evidence, layout_columns
from llmprobe.render.markdown import provenance
from llmprobe.render.page import Page
from llmprobe.render.tables import Table, model_lines, provider_title, scoreboard
from llmprobe.results import ModelResult, ProviderResult, Verdict

#: What the capability filter offers, best first; also the order cells sort in.
_CHOICES = (
    (Verdict.TRUE, "works"),
    (Verdict.FLAKY, "flaky"),
    (Verdict.FALSE, "no"),
    (Verdict.UNKNOWN, "unknown"),
    (Verdict.INEXPRESSIBLE, "cannot be asked"),
)
#: The capability filter's names for the verdicts (the column titles group several).
CAPABILITY_LABELS = {c.name: c.label for c in CAPABILITIES}
#: Evidence fields the page shows, in `Evidence`'s order; `cassette` is a path on the prober's machine.
_EVIDENCE_FIELDS = (
    "probe",
    "outcome",
    "reason",
    "status",
    "latency_ms",
    "ttfb_ms",
    "ttft_ms",
    "tokens_in",
    "tokens_out",
    "finish_reason",
    "attempts",
    "trial",
)


def render_html(page: Page, out: TextIO) -> None:
    """The page: provenance, the summary (as in markdown), filters, one table of every model
    and mode of every provider, the legend, and the evidence as data for the cells to open.
    The speed section is markdown's: the evidence here holds every request's timings. The page's
    claims (as `llmprobe models --claims` kept them) mark the cells whose verdict contradicts what
    the provider's own listing declares.

    Raises ValueError for an unknown layout or an empty provider list.
    """
    layout = page.layout
    board = scoreboard(page.providers, layout, lambda p: p.provider, page.summary)
    columns = layout_columns(layout)
    rows: list[tuple[ProviderResult, ModelResult, Line, tuple[str, ...]]] = []
    for provider, table in board.sections:
        lines = [(model, line) for model in provider.models for line in model_lines(model)]
        # provider_table draws exactly one row per model line, in this order.
        rows += [(provider, model, line, row) for (model, line), row in zip(lines, table.rows, strict=True)]
    header = ("Provider", *board.sections[0][1].header)
    results = [provider for provider, _ in board.sections]
    media = frozenset(probe.name for probe in load_battery().media)
    marks = [_contradicted(page.claims, provider, model, line, columns, media) for provider, model, line, _ in rows]
    data = {
        "columns": [_column_data(column) for column in columns],
        "labels": CAPABILITY_LABELS,
        "rank": [cells.VERDICT_CELL[verdict] for verdict, _ in _CHOICES] + [cells.UNMEASURED],
        "rows": [
            _row_data(provider, model, line, columns, marked)
            for (provider, model, line, _), marked in zip(rows, marks, strict=True)
        ],
    }
    parts = {
        "STYLE": _asset("scoreboard.css"),
        "PROVENANCE": _provenance(results),
        "SUMMARY": "" if board.summary is None else _summary(board.summary),
        "FILTERS": _filters(results),
        "UNTESTED": str(sum(not line.modes for _, _, line, _ in rows)),
        "HEADER": _header(header),
        "ROWS": "\n".join(
            _row(i, provider, line, row, marked)
            for i, ((provider, _, line, row), marked) in enumerate(zip(rows, marks, strict=True))
        ),
        "NOTES": _notes(board.sections) + _claims_note(page.claims, results),
        "LEGEND": _legend(layout),
        "DATA": _script_json(data),
        "SCRIPT": _asset("scoreboard.js"),
    }
    # One pass, so nothing substituted is ever searched for a placeholder again.
    out.write(re.sub(r"<!--([A-Z]+)-->", lambda match: parts[match.group(1)], _asset("scoreboard.html")))


def _asset(name: str) -> str:
    return (resources.files("llmprobe.render") / "assets" / name).read_text(encoding="utf-8")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _script_json(data: Any) -> str:
    """JSON safe inside <script>: no '<', '>' or '&' survives to end the element early."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _column_data(column: Column) -> dict[str, Any]:
    return {"title": column.title, "verdicts": list(column.verdicts), "probes": list(column.probes)}


def _row_data(
    provider: ProviderResult, model: ModelResult, line: Line, columns: Sequence[Column], contradicted: Mapping[int, str]
) -> dict[str, Any]:
    """What the page needs to filter the row and explain its cells: its verdicts' symbols,
    the evidence of its mode, for each column which of that evidence decided it, and the
    listing's claims a cell contradicts (by column index)."""
    mode = line.modes[0] if line.modes else ""
    evidence = model.modes[mode].probes if mode else []
    position = {id(e): i for i, e in enumerate(evidence)}
    return {
        "provider": provider.provider,
        "model": model.id,
        "mode": mode,
        "thinking": model.reason,
        "local": provider.local,
        # The symbol alone, as the capability filter offers it (a cell may add a rate or a word).
        "verdicts": {name: cells.VERDICT_CELL[line.verdict(name)] for name in NAMES} if mode else {},
        "probes": [{k: v for k in _EVIDENCE_FIELDS if (v := getattr(e, k)) is not None} for e in evidence],
        "cells": [[position[id(e)] for e in cell_evidence(model.modes[mode], column.probes)] for column in columns]
        if mode
        else [],
        "claims": {str(c): text for c, text in contradicted.items()},
    }


def _provenance(results: Sequence[ProviderResult]) -> str:
    runs = "".join(f"<li>{_e(run)}</li>" for run in provenance(results))
    made = f"<p>Made by <code>llmprobe render --format html</code> (llmprobe {_e(__version__)}) from the results files:</p>"
    return f"{made}<ul>{runs}</ul>"


def _summary(table: Table) -> str:
    """The markdown's summary table; a provider's name filters the big table to it."""
    head = "".join(f'<th scope="col">{_e(title)}</th>' for title in table.header)
    body = "".join(
        f'<tr><th scope="row"><button type="button" data-provider="{_e(row[0])}">{_e(row[0])}</button></th>'
        + "".join(f"<td>{_e(cell)}</td>" for cell in row[1:])
        + "</tr>"
        for row in table.rows
    )
    table_html = f'<table id="summary"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return f'<h2>Providers</h2><div class="scroll">{table_html}</div>'


def _filters(results: Sequence[ProviderResult]) -> str:
    providers = "".join(f'<option value="{_e(p.provider)}">{_e(provider_title(p))}</option>' for p in results)
    choices = '<option value="">any</option>' + "".join(
        f'<option value="{_e(cells.VERDICT_CELL[verdict])}">{_e(cells.VERDICT_CELL[verdict])} {word}</option>'
        for verdict, word in _CHOICES
    )
    capabilities = "".join(
        f'<label>{_e(label)} <select name="{_e(name)}" data-verdict="{_e(name)}">{choices}</select></label>'
        for name, label in CAPABILITY_LABELS.items()
    )
    return (
        f'<label>Provider <select name="provider"><option value="">all</option>{providers}</select></label>'
        '<label>Model <input name="q" type="search" placeholder="model or provider" autocomplete="off"></label>'
        f'<label><input name="thinking" type="checkbox"> thinking {_e(cells.REASON)}</label>'
        f'<label><input name="local" type="checkbox"> local {_e(cells.LOCAL)}</label>'
        f'<details class="capabilities"><summary>Capabilities</summary><div>{capabilities}</div></details>'
    )


def _header(titles: Sequence[str]) -> str:
    """Sortable through a button in each heading, so the keyboard reaches it; the first two
    (provider, model) sort as text, the others by symbol."""
    return "".join(
        f'<th scope="col"{" data-text" if i < 2 else ""}><button type="button">{_e(title)}</button></th>'
        for i, title in enumerate(titles)
    )


def _row(index: int, provider: ProviderResult, line: Line, row: tuple[str, ...], contradicted: Mapping[int, str]) -> str:
    """Provider, model, then one focusable cell per column that opens its evidence; a cell whose
    verdict contradicts the provider's listing is marked, with the claims in its title."""
    untested = ' class="untested"' if not line.modes else ""
    model, *values = row
    cells_html = "".join(
        f'<td data-c="{c}" tabindex="-1"'
        + (f' class="contradicted" title="{_e(contradicted[c])}"' if c in contradicted else "")
        + f">{_e(value)}</td>"
        for c, value in enumerate(values)
    )
    heading = f'<td>{_e(provider_title(provider))}</td><th scope="row">{_e(model)}</th>'
    return f'<tr data-i="{index}"{untested}>{heading}{cells_html}</tr>'


def _contradicted(
    claims: Mapping[str, Claims],
    provider: ProviderResult,
    model: ModelResult,
    line: Line,
    columns: Sequence[Column],
    media: frozenset[str],
) -> dict[int, str]:
    """Column index → what the listing declares that this row's verdict there contradicts.

    A capability's claim marks the columns that read its verdict; an input medium's, the columns
    the media probes decide (➛In); a token limit is no cell's verdict and marks none."""
    kept = claims.get(provider.provider)
    if kept is None or not line.modes:
        return {}
    marks: dict[int, list[str]] = {}
    for finding in judge({model.id: kept.models.get(model.id, [])}, provider):
        if (model.reason, line.modes[0]) not in finding.contradicting:
            continue
        for c, column in enumerate(columns):
            if finding.measured_by in column.verdicts or (finding.measured_by.startswith(INPUT) and media & set(column.probes)):
                marks.setdefault(c, []).append(f"{finding.claim} (declared {finding.declared}, fetched {kept.fetched_at})")
    return {c: "contradicts the provider's listing: " + "; ".join(listed) for c, listed in marks.items()}


def _claims_note(claims: Mapping[str, Claims], results: Sequence[ProviderResult]) -> str:
    """What the ≠ mark means, and where the claims it holds against come from."""
    kept = [f"{p.provider} (fetched {claims[p.provider].fetched_at})" for p in results if p.provider in claims]
    if not kept:
        return ""
    text = (
        "≠ marks a cell whose verdict contradicts what the provider's own model listing declares "
        f"(llmprobe models --claims; its title names the claim): {', '.join(kept)}."
    )
    return f'<p id="claims">{_e(text)}</p>'


def _notes(sections: Sequence[tuple[ProviderResult, Table]]) -> str:
    """The tables' notes (the gates that failed, and how), each after its provider's name."""
    items = "".join(f"<li>{_e(provider.provider)} · {_e(note)}</li>" for provider, table in sections for note in table.notes)
    return f'<ul id="notes">{items}</ul>' if items else ""


def _legend(layout: str) -> str:
    items = "".join(
        f"<li>{_e(entry.text)}"
        + ("<ul>" + "".join(f"<li>{_e(child)}</li>" for child in entry.children) + "</ul>" if entry.children else "")
        + "</li>"
        for entry in legend.entries(layout)
    )
    return f"<details id=\"legend\"><summary>{_e(legend.SUMMARY)}</summary><ul>{items}</ul></details>"
